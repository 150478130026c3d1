/**
 * The set-up the end-to-end benchmarks share: sandbox sources in their own process with injected latency
 * (GP 80 ms, hospital 120 ms, social care 60 ms, ±10 ms jitter), the service in its own process (embedded
 * PGlite, or PostgreSQL with BENCH_DATABASE_URL), and every sandbox patient indexed once, each with a token
 * for a clinician (or crew) at the patient's registered practice, so the consent guard permits the reads.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEMO_AUDIENCE, DEMO_ISSUER, ensureDemoKeys, mintToken } from '../../server/demo-keys.js';
import type { Role } from '../../identity/principal.js';
import { SERVICE_NODE_FLAGS } from '../../server/runtime-flags.js';
import { startChild, startPolled, type Child } from './lib.js';

export const CONCURRENCY = 16;
export const LATENCY = { gp: 80, hospital: 120, socialCare: 60 };
export const SYNTHEA_DIR = fileURLToPath(new URL('../../../shared/data/synthea', import.meta.url));

/** One row of the GP sandbox's `/__admin/manifest`. */
export interface Manifest {
  syntheaPatientId?: string;
  nhsNumber: string;
  gpPatientId: string;
  hospitalPatientId?: string;
  socialCarePersonId?: string;
}

export interface SandboxUrls {
  gp: string;
  hospital: string;
  socialCare: string;
  admin: Record<string, string>;
}

export interface BenchPatient {
  id: string;
  m: Manifest;
  auth: Record<string, string>;
}

export interface BenchStack {
  urls: SandboxUrls;
  /** The service's base URL. */
  base: string;
  sandbox: Child;
  service: Child;
  manifest: Manifest[];
  /** The service's DATA_DIR (its demo signing keys live there). */
  dataDir: string;
  /** Indexes every sandbox patient through the Patient search; tokens for `role` at each registered practice. */
  indexPatients(role: Extract<Role, 'clinician' | 'ambulance-crew'>): Promise<BenchPatient[]>;
  /** Another service instance with the same settings (same database, sources and demo keys) on `port`; the caller stops it. */
  startInstance(port: number): Promise<{ base: string; child: Child }>;
  stop(): Promise<void>;
}

export const pick = <T>(xs: T[]): T => xs[Math.floor(Math.random() * xs.length)]!;

export async function startBenchStack(opts: { generate: number; name: string; serviceEnv?: Record<string, string>; port?: number }): Promise<BenchStack> {
  const dataDir = mkdtempSync(join(tmpdir(), `ipr-bench-${opts.name}-`));
  const sandbox = await startChild(
    'scripts/sandbox/main.ts',
    {
      SANDBOX_BUNDLE_DIRS: existsSync(SYNTHEA_DIR) ? SYNTHEA_DIR : '',
      SANDBOX_GENERATE: String(opts.generate),
      SANDBOX_GP_PORT: '0',
      SANDBOX_HOSPITAL_PORT: '0',
      SANDBOX_SOCIAL_CARE_PORT: '0',
      SANDBOX_GP_LATENCY_MS: String(LATENCY.gp),
      SANDBOX_HOSPITAL_LATENCY_MS: String(LATENCY.hospital),
      SANDBOX_SOCIAL_CARE_LATENCY_MS: String(LATENCY.socialCare),
      SANDBOX_GP_JITTER_MS: '10',
      SANDBOX_HOSPITAL_JITTER_MS: '10',
      SANDBOX_SOCIAL_CARE_JITTER_MS: '10',
    },
    (l) => (l.startsWith('{"sandbox"') ? (JSON.parse(l).sandbox as SandboxUrls) : undefined),
    // e.g. BENCH_SANDBOX_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof-sandbox" to profile the sources
    process.env.BENCH_SANDBOX_NODE_ARGS?.split(' ').filter(Boolean),
  );
  const urls = sandbox.value;
  const port = opts.port ?? 18000 + Math.floor(Math.random() * 2000);
  // Request logs at info go to the service's stdout (discarded here) as they would in production.
  const serviceEnv = {
    GP_FHIR_URL: urls.gp,
    HOSPITAL_FHIR_URL: urls.hospital,
    SOCIAL_CARE_URL: urls.socialCare,
    DATA_DIR: dataDir,
    AUTH_MODE: 'demo',
    LOG_LEVEL: 'info',
    SOURCE_DEADLINE_MS: '3000',
    // BENCH_DATABASE_URL=postgres://… runs the service on PostgreSQL instead of embedded PGlite.
    DATABASE_URL: process.env.BENCH_DATABASE_URL ?? '',
    ...(process.env.VALIDATE_RESPONSES ? { VALIDATE_RESPONSES: process.env.VALIDATE_RESPONSES } : {}),
    ...opts.serviceEnv,
  };
  const startService = (p: number) =>
    startPolled(
      'server/main.ts',
      { ...serviceEnv, PORT: String(p) },
      `http://127.0.0.1:${p}/healthz`,
      // As in production (server/runtime-flags.ts), plus e.g. BENCH_SERVICE_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" to profile
      [...SERVICE_NODE_FLAGS, ...(process.env.BENCH_SERVICE_NODE_ARGS?.split(' ').filter(Boolean) ?? [])],
    );
  const service = await startService(port).catch(async (e) => {
    await sandbox.child.stop();
    rmSync(dataDir, { recursive: true, force: true });
    throw e;
  });
  const base = `http://127.0.0.1:${port}`;
  const keys = await ensureDemoKeys(dataDir);
  const mint = (sub: string, role: Role, org: string) => mintToken(keys.privateJwk, keys.kid, { sub, role, org }, { issuer: DEMO_ISSUER, audience: DEMO_AUDIENCE });
  const manifest = (await (await fetch(`${urls.admin.gp}/__admin/manifest`)).json()) as Manifest[];

  return {
    urls,
    base,
    sandbox: sandbox.child,
    service,
    manifest,
    dataDir,
    async indexPatients(role) {
      const searchAuth = { authorization: `Bearer ${await mint('bench', 'clinician', 'A81001')}` };
      const patients: BenchPatient[] = [];
      for (const m of manifest) {
        const r = await fetch(`${base}/fhir/Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|${m.nhsNumber}`, { headers: searchAuth });
        const b = (await r.json()) as { entry?: { resource: { id: string } }[] };
        const gp = (await (await fetch(`${urls.gp}/Patient/${m.gpPatientId}`)).json()) as { generalPractitioner?: { identifier?: { value?: string } }[] };
        const org = gp.generalPractitioner?.[0]?.identifier?.value ?? 'A81001';
        if (b.entry?.[0]) patients.push({ id: b.entry[0].resource.id, m, auth: { authorization: `Bearer ${await mint(`${role}-${org}`, role, org)}` } });
      }
      return patients;
    },
    async startInstance(p) {
      return { base: `http://127.0.0.1:${p}`, child: await startService(p) };
    },
    async stop() {
      await Promise.all([service.stop(), sandbox.child.stop()]);
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}
