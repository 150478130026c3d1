/**
 * Benchmark for type-level search (issue 4): `Observation?patient=&category=laboratory&_sort=-date&_count=20`.
 * Run: `npm run bench:search` (BENCH_SECONDS=20 by default: the machine is shared, keep runs short).
 *
 * Same set-up as scripts/bench/everything.ts: sandbox sources in their own process with injected latency
 * (GP 80 ms, hospital 120 ms, social care 60 ms, ±10 ms), the service in its own process on embedded
 * PGlite (BENCH_DATABASE_URL for PostgreSQL), 16 concurrent clients over randomised patients after a
 * warm-up, each request by a clinician at the patient's registered practice. The sources are measured
 * with the requests the facade makes to them for this search (the filtered type search; the social-care
 * case). Target: facade p95 ≤ 1.10 × slowest source p95 + 10 ms.
 */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DEMO_AUDIENCE, DEMO_ISSUER, ensureDemoKeys, mintToken } from '../../server/demo-keys.js';
import { fmt, line, load, startChild, startPolled } from './lib.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 20);
const CONCURRENCY = 16;
const LATENCY = { gp: 80, hospital: 120, socialCare: 60 };
const QUERY = 'category=laboratory&_sort=-date&_count=20';
const synthea = fileURLToPath(new URL('../../../shared/data/synthea', import.meta.url));

interface Manifest {
  nhsNumber: string;
  gpPatientId: string;
  hospitalPatientId?: string;
  socialCarePersonId?: string;
}

const dataDir = mkdtempSync(join(tmpdir(), 'ipr-bench-search-'));
const pick = <T>(xs: T[]): T => xs[Math.floor(Math.random() * xs.length)]!;

const sandbox = await startChild(
  'scripts/sandbox/main.ts',
  {
    SANDBOX_BUNDLE_DIRS: existsSync(synthea) ? synthea : '',
    SANDBOX_GENERATE: '200',
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
  (l) => (l.startsWith('{"sandbox"') ? (JSON.parse(l).sandbox as { gp: string; hospital: string; socialCare: string; admin: Record<string, string> }) : undefined),
);
const urls = sandbox.value;
const port = 19000 + Math.floor(Math.random() * 1000);
const service = await startPolled(
  'server/main.ts',
  {
    GP_FHIR_URL: urls.gp,
    HOSPITAL_FHIR_URL: urls.hospital,
    SOCIAL_CARE_URL: urls.socialCare,
    PORT: String(port),
    DATA_DIR: dataDir,
    AUTH_MODE: 'demo',
    LOG_LEVEL: 'info',
    SOURCE_DEADLINE_MS: '3000',
    DATABASE_URL: process.env.BENCH_DATABASE_URL ?? '',
  },
  `http://127.0.0.1:${port}/healthz`,
  // e.g. BENCH_SERVICE_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" to profile the service
  process.env.BENCH_SERVICE_NODE_ARGS?.split(' ').filter(Boolean) ?? [],
).catch(async (e) => {
  await sandbox.child.stop();
  throw e;
});

try {
  const base = `http://127.0.0.1:${port}`;
  const keys = await ensureDemoKeys(dataDir);
  const token = await mintToken(keys.privateJwk, keys.kid, { sub: 'bench', role: 'clinician', org: 'A81001' }, { issuer: DEMO_ISSUER, audience: DEMO_AUDIENCE });
  const manifest = (await (await fetch(`${urls.admin.gp}/__admin/manifest`)).json()) as Manifest[];

  // Index every patient once (the clinician's patient search); each search is then made by a clinician
  // at the patient's registered practice, so the consent guard permits it.
  const patients: { id: string; m: Manifest; auth: Record<string, string> }[] = [];
  for (const m of manifest) {
    const r = await fetch(`${base}/fhir/Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|${m.nhsNumber}`, { headers: { authorization: `Bearer ${token}` } });
    const b = (await r.json()) as { entry?: { resource: { id: string } }[] };
    const gp = (await (await fetch(`${urls.gp}/Patient/${m.gpPatientId}`)).json()) as { generalPractitioner?: { identifier?: { value?: string } }[] };
    const org = gp.generalPractitioner?.[0]?.identifier?.value ?? 'A81001';
    const t = await mintToken(keys.privateJwk, keys.kid, { sub: `gp-${org}`, role: 'clinician', org }, { issuer: DEMO_ISSUER, audience: DEMO_AUDIENCE });
    if (b.entry?.[0]) patients.push({ id: b.entry[0].resource.id, m, auth: { authorization: `Bearer ${t}` } });
  }
  const facade = () => {
    const p = pick(patients);
    return { url: `${base}/fhir/Observation?patient=Patient/${p.id}&${QUERY}`, headers: p.auth };
  };
  const warm = await load(facade, CONCURRENCY, 3);
  if (!warm.statuses[200]) throw new Error(`search is not answering 200: ${JSON.stringify(warm.statuses)}`);

  const withHospital = manifest.filter((m) => m.hospitalPatientId);
  const withSocial = manifest.filter((m) => m.socialCarePersonId);
  const sourceSeconds = Math.max(5, Math.round(SECONDS / 2));
  const pushed = 'category=laboratory';
  const src = {
    gp: await load(() => ({ url: `${urls.gp}/Observation?patient=${pick(manifest).gpPatientId}&${pushed}` }), CONCURRENCY, sourceSeconds),
    hospital: await load(() => ({ url: `${urls.hospital}/Observation?patient=${pick(withHospital).hospitalPatientId}&${pushed}` }), CONCURRENCY, sourceSeconds),
    socialCare: await load(() => ({ url: `${urls.socialCare}/api/v1/people/${pick(withSocial).socialCarePersonId}/case` }), CONCURRENCY, sourceSeconds),
  };
  const run = await load(facade, CONCURRENCY, SECONDS);
  // BENCH_COMPARE_EVERYTHING=1: $everything on the same patients right after, for context on a busy machine.
  const everything = process.env.BENCH_COMPARE_EVERYTHING
    ? await load(() => {
        const p = pick(patients);
        return { url: `${base}/fhir/Patient/${p.id}/$everything`, headers: p.auth };
      }, CONCURRENCY, SECONDS)
    : undefined;
  const slowest = Math.max(src.gp.p95, src.hospital.p95, src.socialCare.p95);
  const limit = 1.1 * slowest + 10;

  console.log(`\nSearch benchmark: Observation?patient=&${QUERY}; ${patients.length} patients, ${CONCURRENCY} concurrent clients, ${SECONDS} s (sources ${sourceSeconds} s each)`);
  console.log(line('source GP (80 ms)', src.gp));
  console.log(line('source hospital (120 ms)', src.hospital));
  console.log(line('source social care (60 ms)', src.socialCare));
  console.log(line('facade Observation search', run));
  if (everything) console.log(line('facade $everything (context)', everything));
  console.log('\nTarget');
  console.log(`  facade p95 ${fmt(run.p95)} ms ≤ 1.10 × slowest source p95 (${fmt(slowest)}) + 10 = ${fmt(limit)} ms: ${run.p95 <= limit ? 'PASS' : 'FAIL'}`);
} finally {
  await Promise.all([service.stop(), sandbox.child.stop()]);
  rmSync(dataDir, { recursive: true, force: true });
}
