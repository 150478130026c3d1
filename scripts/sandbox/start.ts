import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Bundle, Patient } from 'fhir/r4.js';
import express, { type Express } from 'express';
import { ODS_SYSTEM } from '../../fhir/nhs-number.js';
import { generatePatients } from '../generate-patients.js';
import { Faults, faultsFromEnv, type FaultConfig } from './faults.js';
import { createFhirSourceApp } from './fhir-server.js';
import { loadBundles, readBundleDir, type SandboxData } from './loader.js';
import { createSocialCareApp } from './social-care-server.js';
import { buildExtracts } from './extract/build.js';
import { createAggregateRouter } from './extract/routes.js';
import { applyExtractSchema, extractVersion, loadExtractRows, openExtractDb, type ExtractRows } from './extract/store.js';
import type { Db } from '../../store/db.js';
import type { IndicatorSource } from '../../indicators/types.js';
import { listen as listenOrExplain } from '../../server/http-server.js';

/** Starts the three sandbox source systems on loopback. */

export type SandboxSource = 'gp' | 'hospital' | 'socialCare';
export const SANDBOX_SOURCES: readonly SandboxSource[] = ['gp', 'hospital', 'socialCare'];
const ENV_PREFIX = { gp: 'GP', hospital: 'HOSPITAL', socialCare: 'SOCIAL_CARE' } as const;

export interface SandboxOptions {
  bundleDirs?: string[];
  generate?: { count: number; seed: number };
  /** Default 127.0.0.1. */
  host?: string;
  /** 0 (the default) = ephemeral. */
  ports?: Partial<Record<SandboxSource, number>>;
  /** Initial latency (ms) per source; overrides SANDBOX_<SOURCE>_LATENCY_MS. */
  latency?: Partial<Record<SandboxSource, number>>;
  /** Initial faults per source; override env. */
  faults?: Partial<Record<SandboxSource, Partial<FaultConfig>>>;
  /** Read SANDBOX_<SOURCE>_FAULT/_LATENCY_MS/_JITTER_MS (default true). */
  useEnv?: boolean;
  /** Largest page a FHIR source gives (its default page size too); default 1000 or SANDBOX_MAX_PAGE_SIZE. */
  maxPageSize?: number;
  /** The sources' analytic extracts behind /aggregate/v1 (issue #5); see extract/schema.sql. */
  extract?: ExtractOptions;
}

export interface ExtractOptions {
  /** PostgreSQL holding the extracts (default: an in-memory PGlite). Env SANDBOX_EXTRACT_DATABASE_URL. */
  databaseUrl?: string;
  /** Schemas are <prefix>gp, <prefix>hospital, <prefix>social_care (default 'src_'). */
  schemaPrefix?: string;
  /** Use the schemas as they are (e.g. 1,000,000 generated people); do not load anything. */
  prebuilt?: boolean;
  /** Hand-built rows per source, instead of rows built from the loaded FHIR/social-care data. */
  rows?: Partial<Record<SandboxSource, ExtractRows>>;
}

export const EXTRACT_SCHEMA_SUFFIX: Record<SandboxSource, string> = { gp: 'gp', hospital: 'hospital', socialCare: 'social_care' };
export const INDICATOR_SOURCE: Record<SandboxSource, IndicatorSource> = { gp: 'gp', hospital: 'hospital', socialCare: 'social-care' };

export interface Sandbox {
  /** gp/hospital: FHIR base incl. /fhir; socialCare: API root (paths start /api/v1). */
  urls: Record<SandboxSource, string>;
  /** Server roots (for /health and /__admin/faults). */
  admin: Record<SandboxSource, string>;
  data: SandboxData;
  /** The live fault settings (same objects /__admin/faults changes). */
  faults: Record<SandboxSource, Faults>;
  /** The extract database (opened and loaded on first use) and each source's schema. */
  extract: { db(): Promise<Db>; schemas: Record<SandboxSource, string> };
  close(): Promise<void>;
}

/** The environment variable that sets each source's port (scripts/sandbox/main.ts). */
const PORT_SETTING: Record<SandboxSource, string> = { gp: 'SANDBOX_GP_PORT', hospital: 'SANDBOX_HOSPITAL_PORT', socialCare: 'SANDBOX_SOCIAL_CARE_PORT' };

/** Listens; a busy port rejects with PortUnavailableError naming the source's port variable. */
async function listenOn(app: Express, source: SandboxSource, port: number, host: string): Promise<Server> {
  const server = createServer(app);
  await listenOrExplain(server, port, host, PORT_SETTING[source]);
  return server;
}

function closeServer(server: Server): Promise<void> {
  return new Promise((resolve) => {
    server.close(() => resolve());
    server.closeAllConnections(); // also ends hanging (fault mode "hang") and keep-alive sockets
  });
}

/**
 * Loading the sandbox's own data into a PostgreSQL schema replaces what is there: refuse when the schema
 * holds an extract someone else built (e.g. the 1,000,000-person population), which is meant to be used
 * with SANDBOX_EXTRACT_PREBUILT=1.
 */
async function refuseToOverwrite(db: Db, schema: string): Promise<void> {
  const exists = await db.query<{ n: number }>(
    `SELECT count(*)::int AS n FROM information_schema.tables WHERE table_schema = $1 AND table_name = 'extract_info'`,
    [schema],
  );
  if (!exists.rows[0]?.n) return;
  const { version } = await extractVersion(db, schema);
  if (version !== 'empty' && !version.startsWith('sha256:')) {
    throw new Error(`schema ${schema} holds another extract (${version}): set SANDBOX_EXTRACT_PREBUILT=1 to use it, or another SANDBOX_EXTRACT_SCHEMA_PREFIX`);
  }
}

export async function startSandbox(opts: SandboxOptions = {}): Promise<Sandbox> {
  const host = opts.host ?? '127.0.0.1';
  const bundles: Bundle[] = [];
  for (const dir of opts.bundleDirs ?? []) bundles.push(...readBundleDir(dir));
  if (opts.generate) bundles.push(...generatePatients(opts.generate));
  const data = loadBundles(bundles);

  const faults = {} as Record<SandboxSource, Faults>;
  SANDBOX_SOURCES.forEach((source, i) => {
    const fromEnv = opts.useEnv === false ? {} : faultsFromEnv(ENV_PREFIX[source]);
    const latency = opts.latency?.[source];
    faults[source] = new Faults({ ...fromEnv, ...(latency !== undefined ? { latencyMs: latency } : {}), ...opts.faults?.[source] }, i + 1);
  });

  const prefix = opts.extract?.schemaPrefix ?? 'src_';
  const schemas = Object.fromEntries(SANDBOX_SOURCES.map((src) => [src, `${prefix}${EXTRACT_SCHEMA_SUFFIX[src]}`])) as Record<SandboxSource, string>;
  let extractDb: Promise<Db> | undefined;
  const openExtract = async (): Promise<Db> => {
    const db = await openExtractDb(opts.extract?.databaseUrl);
    try {
      const built = opts.extract?.prebuilt || SANDBOX_SOURCES.every((src) => opts.extract?.rows?.[src]) ? undefined : buildExtracts(data);
      for (const src of SANDBOX_SOURCES) {
        if (opts.extract?.prebuilt) await applyExtractSchema(db, schemas[src]);
        else {
          if (opts.extract?.databaseUrl && !opts.extract.rows?.[src]) await refuseToOverwrite(db, schemas[src]);
          await loadExtractRows(db, schemas[src], opts.extract?.rows?.[src] ?? built![src]);
        }
      }
      return db;
    } catch (e) {
      await db.close();
      throw e;
    }
  };
  const extract = {
    schemas,
    db: (): Promise<Db> => {
      extractDb ??= openExtract();
      extractDb.catch(() => (extractDb = undefined));
      return extractDb;
    },
  };
  // Loaded now when the caller gave rows or a database (tests, benchmark); otherwise on the first aggregate call.
  if (opts.extract?.rows || opts.extract?.databaseUrl) await extract.db();
  const aggregate = (src: SandboxSource) => createAggregateRouter({ db: extract.db, schema: schemas[src], source: INDICATOR_SOURCE[src] });

  // The GP server also lists the loaded people (synthetic test data) so a demo user can find an NHS number.
  const gpRoot = express();
  // Each entry also names the registered practice (ODS code): a clinician token for that organisation
  // has a legitimate relationship with the patient.
  const practiceOf = new Map(
    data.gp
      .filter((r): r is Patient => r.resourceType === 'Patient')
      .map((p) => [p.id, p.generalPractitioner?.find((g) => g.identifier?.system === ODS_SYSTEM)?.identifier?.value]),
  );
  gpRoot.get('/__admin/manifest', (_req, res) => {
    res.json(data.manifest.map((m) => ({ ...m, registeredPractice: practiceOf.get(m.gpPatientId) ?? null })));
  });
  const envPage = opts.useEnv === false ? undefined : Number(process.env.SANDBOX_MAX_PAGE_SIZE) || undefined;
  const maxPageSize = opts.maxPageSize ?? envPage;
  gpRoot.use(createFhirSourceApp('Sandbox GP system', data.gp, faults.gp, aggregate('gp'), maxPageSize));
  const apps: Record<SandboxSource, Express> = {
    gp: gpRoot,
    hospital: createFhirSourceApp('Sandbox hospital system', data.hospital, faults.hospital, aggregate('hospital'), maxPageSize),
    socialCare: createSocialCareApp(data.socialCare, faults.socialCare, aggregate('socialCare')),
  };
  const servers: Server[] = [];
  const admin = {} as Record<SandboxSource, string>;
  try {
    for (const source of SANDBOX_SOURCES) {
      const server = await listenOn(apps[source], source, opts.ports?.[source] ?? 0, host);
      servers.push(server);
      const { port } = server.address() as AddressInfo;
      admin[source] = `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
    }
  } catch (e) {
    await Promise.all(servers.map(closeServer));
    throw e;
  }

  return {
    urls: { gp: `${admin.gp}/fhir`, hospital: `${admin.hospital}/fhir`, socialCare: admin.socialCare },
    admin,
    data,
    faults,
    extract,
    close: async () => {
      await Promise.all(servers.map(closeServer));
      const db = await extractDb?.catch(() => undefined);
      extractDb = undefined;
      await db?.close();
    },
  };
}
