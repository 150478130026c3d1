import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { Federation } from '../adapters/federation.js';
import { createFhirSourceAdapter } from '../adapters/fhir-source.js';
import { createSocialCareAdapter } from '../adapters/social-care.js';
import { Transport } from '../adapters/transport.js';
import { createAggregateClient, type AggregateClient } from '../adapters/aggregate-client.js';
import type { SourceAdapter, SourceId } from '../adapters/types.js';
import { AuditLog } from '../audit/audit-log.js';
import { EmergencyAccess } from '../consent/emergency.js';
import { ConsentGuard } from '../consent/guard.js';
import { ConsentStore } from '../consent/store.js';
import { openDb, type Db } from '../store/db.js';
import { migrate } from '../store/migrate.js';
import { PatientIndex } from '../store/patient-index.js';
import { createIndicatorComputer, type IndicatorComputer } from '../indicators/compute.js';
import { listOptedOutNhsNumbers } from '../indicators/opt-outs.js';
import { loadPseudonymSecret } from '../indicators/pseudonyms.js';
import { SnapshotStore } from '../indicators/snapshots.js';
import { FeedbackStore } from '../indicators/feedback.js';
import type { IndicatorSource } from '../indicators/types.js';
import { createApp } from './app.js';
import { createTokenVerifier, type TokenVerifier } from './auth.js';
import { smartConfiguration } from './smart-routes.js';
import type { Config } from './config.js';
import { DEMO_AUDIENCE, DEMO_ISSUER, ensureDemoKeys } from './demo-keys.js';
import { createWeb } from '../web/app.js';
import { patientPages } from '../web/patient/index.js';
import { staffPages } from '../web/staff/index.js';

const SOFTWARE = { name: 'integrated-patient-record', version: '0.1.0' };

export interface Service {
  app: ReturnType<typeof createApp>;
  db: Db;
  federation: Federation;
  audit: AuditLog;
  /** Computes the transparency indicators from the sources' aggregate APIs (indicators/compute.ts). */
  indicators: IndicatorComputer;
  close(): Promise<void>;
}

export function createAdapters(config: Pick<Config, 'sources' | 'sourceDeadlineMs' | 'sourceRetries' | 'circuitFailureThreshold' | 'circuitOpenMs'>): SourceAdapter[] {
  const transport = (id: SourceId) =>
    new Transport(id, {
      deadlineMs: config.sourceDeadlineMs,
      retries: config.sourceRetries,
      retryBaseMs: 25,
      breaker: { failureThreshold: config.circuitFailureThreshold, openMs: config.circuitOpenMs },
    });
  return [
    createFhirSourceAdapter({ id: 'gp', displayName: 'GP practice system', baseUrl: config.sources.gp, transport: transport('gp') }),
    createFhirSourceAdapter({ id: 'hospital', displayName: 'Hospital system', baseUrl: config.sources.hospital, transport: transport('hospital') }),
    createSocialCareAdapter({ baseUrl: config.sources.socialCare, transport: transport('social-care') }),
  ];
}

/** One aggregate client per source, each with its own transport (breaker) and the aggregate deadline. */
export function createAggregateClients(
  config: Pick<Config, 'aggregateSources' | 'aggregateDeadlineMs' | 'sourceRetries' | 'circuitFailureThreshold' | 'circuitOpenMs'>,
): Record<IndicatorSource, AggregateClient> {
  const client = (source: IndicatorSource, baseUrl: string) =>
    createAggregateClient({
      source,
      baseUrl,
      deadlineMs: config.aggregateDeadlineMs,
      transport: new Transport(source, {
        deadlineMs: config.aggregateDeadlineMs,
        retries: config.sourceRetries,
        retryBaseMs: 25,
        breaker: { failureThreshold: config.circuitFailureThreshold, openMs: config.circuitOpenMs },
      }),
    });
  return {
    gp: client('gp', config.aggregateSources.gp),
    hospital: client('hospital', config.aggregateSources.hospital),
    'social-care': client('social-care', config.aggregateSources.socialCare),
  };
}

export async function createVerifier(config: Config): Promise<TokenVerifier> {
  if (config.auth.mode === 'demo') {
    const keys = await ensureDemoKeys(config.dataDir);
    return createTokenVerifier({ issuer: DEMO_ISSUER, audience: DEMO_AUDIENCE, jwks: keys.publicJwks });
  }
  const { issuer, audience, jwksUrl, jwksFile, algorithms } = config.auth;
  return createTokenVerifier({
    issuer,
    audience,
    ...(algorithms ? { algorithms } : {}),
    ...(jwksUrl ? { jwksUrl } : { jwks: JSON.parse(readFileSync(jwksFile!, 'utf8')) }),
  });
}

/** Wires configuration into a ready application: database (migrated), adapters, federation, auth. */
export async function createService(config: Config, logger: Logger, given: { db?: Db; verifier?: TokenVerifier } = {}): Promise<Service> {
  const verifier = given.verifier;
  const db = given.db ?? (await openDb(config.databaseUrl ? { databaseUrl: config.databaseUrl } : { dataDir: `${config.dataDir}/pglite` }));
  try {
    await migrate(db);
    const federation = new Federation(createAdapters(config), new PatientIndex(db), config.providerOrganisations);
    const consents = new ConsentStore(db);
    const emergency = new EmergencyAccess(db, config.emergencyGrantMinutes);
    const audit = new AuditLog(db, config.auditDeferMs);
    const indicators = createIndicatorComputer({
      sources: createAggregateClients(config),
      secret: await loadPseudonymSecret({ secret: config.indicatorPseudonymSecret, dataDir: config.dataDir, production: config.production }),
      optedOutNhsNumbers: (now) => listOptedOutNhsNumbers(consents, new PatientIndex(db), now),
      logger,
    });
    const guard = new ConsentGuard({ repo: federation, consents, emergency, audit, providerOrganisations: config.providerOrganisations });
    const web = await createWeb({
      db,
      config: config.web,
      baseUrl: config.publicBaseUrl,
      providerOrganisations: config.providerOrganisations,
      pageSets: [
        staffPages({ guard, emergency, audit, software: SOFTWARE, fhirBaseUrl: `${config.publicBaseUrl}/fhir`, grantMinutes: config.emergencyGrantMinutes }),
        patientPages({ guard, consents, emergency, audit, providerOrganisations: config.providerOrganisations }),
      ],
    });
    const app = createApp({
      guard,
      consents,
      emergency,
      audit,
      verifyToken: verifier ?? (await createVerifier(config)),
      logger,
      publicBaseUrl: config.publicBaseUrl,
      maxBodyBytes: config.maxBodyBytes,
      validateResponses: config.validateResponses,
      everythingPageSize: config.everythingPageSize,
      smart: smartConfiguration(config),
      web,
      indicators: {
        computer: indicators,
        snapshots: new SnapshotStore(db),
        feedback: new FeedbackStore(db),
        disclosure: config.disclosure,
        feedbackPerMinute: config.feedbackRatePerMinute,
      },
      readiness: async () => {
        const dbCheck = await db.query('SELECT 1').then(
          () => ({ name: 'database', ok: true }),
          () => ({ name: 'database', ok: false, detail: 'query failed' }),
        );
        const sources = (await federation.health()).map((h) => ({ name: h.source, ok: h.ok, ...(h.detail ? { detail: h.detail } : {}) }));
        return [dbCheck, ...sources];
      },
    });
    return { app, db, federation, audit, indicators, close: () => db.close() };
  } catch (e) {
    await db.close();
    throw e;
  }
}
