import { createHmac } from 'node:crypto';
import { readFileSync } from 'node:fs';
import type { Logger } from 'pino';
import { Federation } from '../adapters/federation.js';
import { createFhirSourceAdapter } from '../adapters/fhir-source.js';
import { createSocialCareAdapter } from '../adapters/social-care.js';
import { Transport } from '../adapters/transport.js';
import { demoPeople } from '../adapters/demo-people.js';
import { relationshipOrganisations, type RegistrySource } from '../adapters/source-registry.js';
import { createSmartBackendAuth, readKeyFile } from '../adapters/smart-backend-auth.js';
import { createAggregateClient, type AggregateClient } from '../adapters/aggregate-client.js';
import type { SourceAdapter, SourceId } from '../adapters/types.js';
import { AuditLog } from '../audit/audit-log.js';
import { EmergencyAccess } from '../consent/emergency.js';
import { ConsentGuard } from '../consent/guard.js';
import { ConsentStore } from '../consent/store.js';
import { openDb, withUnavailable, type Db } from '../store/db.js';
import { migrate } from '../store/migrate.js';
import { sharedRateLimiter } from '../store/rate-limits.js';
import { PatientIndex } from '../store/patient-index.js';
import { createIndicatorComputer, type IndicatorComputer } from '../indicators/compute.js';
import { listOptedOutNhsNumbers } from '../indicators/opt-outs.js';
import { loadPseudonymSecret } from '../indicators/pseudonyms.js';
import { cellKeyFrom } from '../indicators/cell-key.js';
import type { SnapshotMeta } from '../indicators/types.js';
import { computeAtStartup } from '../indicators/refresh.js';
import { SnapshotStore } from '../indicators/snapshots.js';
import { FeedbackStore } from '../indicators/feedback.js';
import { createApp } from './app.js';
import { createTokenVerifier, type TokenVerifier } from './auth.js';
import { smartConfiguration } from './smart-routes.js';
import type { Config } from './config.js';
import { DEMO_AUDIENCE, DEMO_ISSUER, ensureDemoKeys } from './demo-keys.js';
import { createWeb } from '../web/app.js';
import { patientPages, type OrganisationChoice } from '../web/patient/index.js';
import { staffPages } from '../web/staff/index.js';
import { publicPages } from '../web/public/index.js';

const SOFTWARE = { name: 'integrated-patient-record', version: '0.1.0' };

export interface Service {
  app: ReturnType<typeof createApp>;
  db: Db;
  federation: Federation;
  audit: AuditLog;
  /** Computes the transparency indicators from the sources' aggregate APIs (indicators/compute.ts). */
  indicators: IndicatorComputer;
  /** Computes the indicators for the periods the sources' data covers unless stored already (indicators/refresh.ts). */
  computeIndicatorsAtStartup(): Promise<SnapshotMeta[]>;
  close(): Promise<void>;
}

/** One adapter per source of the registry, each with its own transport (deadline, retry, breaker) and outbound auth. */
export function createAdapters(
  config: Pick<Config, 'sourceRegistry' | 'sourceDeadlineMs' | 'sourceRetries' | 'circuitFailureThreshold' | 'circuitOpenMs' | 'sourcePaging' | 'sourceMaxBodyBytes'>,
): SourceAdapter[] {
  const transport = (id: SourceId, deadlineMs?: number) =>
    new Transport(id, {
      deadlineMs: deadlineMs ?? config.sourceDeadlineMs,
      retries: config.sourceRetries,
      retryBaseMs: 25,
      breaker: { failureThreshold: config.circuitFailureThreshold, openMs: config.circuitOpenMs },
    });
  const { pageSize, maxPages, maxEntries } = config.sourcePaging;
  const fhir = { pageSize, paging: { maxPages, maxEntries }, maxBodyBytes: config.sourceMaxBodyBytes };
  return config.sourceRegistry.map((s) => {
    const common = { id: s.id, displayName: s.displayName, organisations: relationshipOrganisations(s), transport: transport(s.id, s.deadlineMs) };
    if (s.kind === 'social-care-api') return createSocialCareAdapter({ ...common, baseUrl: s.baseUrl, maxBodyBytes: config.sourceMaxBodyBytes });
    const auth =
      s.auth.type === 'smart-backend'
        ? createSmartBackendAuth({ ...s.auth, privateKey: readKeyFile(s.auth.privateKeyFile) })
        : undefined;
    return createFhirSourceAdapter({ ...common, kind: s.category, baseUrl: s.baseUrl, ...fhir, ...(auth ? { auth } : {}) });
  });
}

/** One aggregate client per aggregate source (config.aggregateSources), each with its own transport (breaker) and the aggregate deadline. */
export function createAggregateClients(
  config: Pick<Config, 'aggregateSources' | 'aggregateDeadlineMs' | 'sourceRetries' | 'circuitFailureThreshold' | 'circuitOpenMs'>,
): AggregateClient[] {
  return config.aggregateSources.map((s) =>
    createAggregateClient({
      source: s.kind,
      id: s.id,
      name: s.name,
      baseUrl: s.baseUrl,
      deadlineMs: config.aggregateDeadlineMs,
      transport: new Transport(s.id, {
        deadlineMs: config.aggregateDeadlineMs,
        retries: config.sourceRetries,
        retryBaseMs: 25,
        breaker: { failureThreshold: config.circuitFailureThreshold, openMs: config.circuitOpenMs },
      }),
    }),
  );
}

/** The trusts and councils behind the registry's sources (once each), as the patient's choices offer them. */
function patientChoiceOrganisations(registry: readonly RegistrySource[]): OrganisationChoice[] {
  const seen = new Map<string, OrganisationChoice>();
  for (const s of registry) {
    for (const o of s.organisations) {
      if (o.type === 'gp-practice' || seen.has(o.ods)) continue;
      seen.set(o.ods, { ods: o.ods, type: o.type, ...(o.name ? { name: o.name } : {}) });
    }
  }
  return [...seen.values()];
}

export async function createVerifier(config: Config): Promise<TokenVerifier> {
  const policy = { maxLifetimeSec: config.tokens.maxLifetimeSec, clockToleranceSec: config.tokens.clockSkewSec };
  if (config.auth.mode === 'demo') {
    const keys = await ensureDemoKeys(config.dataDir);
    return createTokenVerifier({ issuer: DEMO_ISSUER, audience: DEMO_AUDIENCE, jwks: keys.publicJwks, ...policy });
  }
  const { issuer, audience, jwksUrl, jwksFile, algorithms } = config.auth;
  return createTokenVerifier({
    ...policy,
    issuer,
    audience,
    ...(algorithms ? { algorithms } : {}),
    ...(jwksUrl ? { jwksUrl } : { jwks: JSON.parse(readFileSync(jwksFile!, 'utf8')) }),
  });
}

/** Wires configuration into a ready application: database (migrated), adapters, federation, auth. */
export async function createService(config: Config, logger: Logger, given: { db?: Db; verifier?: TokenVerifier } = {}): Promise<Service> {
  const verifier = given.verifier;
  // A lost database connection surfaces as DatabaseUnavailableError (→ 503 database-unavailable), also for a given Db.
  const db = withUnavailable(given.db ?? (await openDb(config.databaseUrl ? { databaseUrl: config.databaseUrl, poolSize: config.databasePoolSize } : { dataDir: `${config.dataDir}/pglite` })));
  try {
    await migrate(db);
    const federation = new Federation(createAdapters(config), new PatientIndex(db));
    const consents = new ConsentStore(db);
    const emergency = new EmergencyAccess(db, config.emergencyGrantMinutes);
    const audit = new AuditLog(db, config.auditDeferMs);
    const secret = await loadPseudonymSecret({ secret: config.indicatorPseudonymSecret, dataDir: config.dataDir, production: config.production });
    const aggregateClients = createAggregateClients(config);
    const indicators = createIndicatorComputer({
      sources: aggregateClients,
      secret,
      optedOutNhsNumbers: (now) => listOptedOutNhsNumbers(consents, new PatientIndex(db), now),
      logger,
    });
    const snapshots = new SnapshotStore(db);
    const cellKey = cellKeyFrom(secret);
    const feedback = new FeedbackStore(db);
    const feedbackLimiter = sharedRateLimiter(db, { bucket: 'indicator-feedback', limit: config.feedbackRatePerMinute, windowMs: 60_000, secret });
    const guard = new ConsentGuard({ repo: federation, consents, emergency, audit, sourceOrganisations: Object.fromEntries(config.sourceRegistry.map((s) => [s.id, relationshipOrganisations(s)])) });
    const web = config.web.signIn.mode === 'off' ? undefined : await createWeb({
      db,
      config: config.web,
      baseUrl: config.publicBaseUrl,
      providerOrganisations: config.providerOrganisations,
      demoPatients: {
        list: () => demoPeople(federation.adapters, 6),
        known: async (nhsNumber) => !!(await federation.patientIdForNhsNumber(nhsNumber)) || (await federation.findPatients({ kind: 'nhs-number', nhsNumber })).patients.length > 0,
      },
      // Anonymous forms' CSRF key, from the shared secret so every instance accepts every instance's forms.
      formKey: createHmac('sha256', secret).update('web-anonymous-form-key', 'utf8').digest(),
      pageSets: [
        staffPages({ guard, emergency, audit, software: SOFTWARE, fhirBaseUrl: `${config.publicBaseUrl}/fhir`, grantMinutes: config.emergencyGrantMinutes }),
        patientPages({ guard, consents, emergency, audit, organisations: patientChoiceOrganisations(config.sourceRegistry) }),
        publicPages({
          defs: [...indicators.catalogue],
          snapshots,
          feedback,
          feedbackLimiter,
          feedbackPerMinute: config.feedbackRatePerMinute,
          refresh: { computer: indicators, snapshots, audit, disclosure: config.disclosure, cellKey },
        }),
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
      sourceNames: config.sourceRegistry.map((s) => s.displayName),
      smart: smartConfiguration(config),
      ...(config.trustProxy !== undefined ? { trustProxy: config.trustProxy } : {}),
      ...(web ? { web } : {}),
      indicators: {
        computer: indicators,
        snapshots,
        feedback,
        disclosure: config.disclosure,
        cellKey,
        feedbackPerMinute: config.feedbackRatePerMinute,
        feedbackLimiter,
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
    const computeIndicatorsAtStartup = () =>
      computeAtStartup({
        computer: indicators,
        snapshots,
        audit,
        disclosure: config.disclosure,
        cellKey,
        defs: [...indicators.catalogue],
        // the latest event any source holds (a source that does not answer is left out)
        dataThrough: async () => {
          const dates = await Promise.all(aggregateClients.map((c) => c.version().then((v) => v.dataThrough, () => undefined)));
          return dates.filter((d): d is string => !!d).sort().at(-1);
        },
        log: (msg, extra) => logger.info(extra ?? {}, msg),
      });
    return { app, db, federation, audit, indicators, computeIndicatorsAtStartup, close: () => db.close() };
  } catch (e) {
    await db.close();
    throw e;
  }
}
