/**
 * Benchmark for many sources (issue 14). Run: node --import tsx/esm scripts/bench/sources.ts
 * (BENCH_SECONDS per run, default 30; BENCH_GENERATE generated patients besides the 70 shared, default 200).
 *
 * Part 1, 7 sources: a sandbox region (scripts/sandbox/region.ts) of 3 GP systems (80 ms), 2 trusts
 * (120 ms) and 2 councils (60 ms), ±10 ms, in its own process; the service in its own process with the
 * region's registry; 16 closed-loop clients. $everything p95 against 1.10 × the slowest source's p95 +
 * 10 ms; throughput against a bare fan-out making the same 7 source calls; service CPU per request beside
 * the JSON floor (JSON.parse of the sources' answers + JSON.stringify of the response, measured here).
 * Part 2, GP paging: one GP system giving pages of 20 (then 100) at 80 ms a page; $everything p95 against
 * 1.10 × the p95 of walking the same patient's GP pages one after another + 10 ms.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { loadavg, tmpdir } from 'node:os';
import { join } from 'node:path';
import { DEMO_AUDIENCE, DEMO_ISSUER, ensureDemoKeys, mintToken } from '../../server/demo-keys.js';
import { SERVICE_NODE_FLAGS } from '../../server/runtime-flags.js';
import { cpuSeconds, fmt, line, load, percentile, startChild, startPolled, type Child, type LoadResult } from './lib.js';
import { CONCURRENCY, pick, SYNTHEA_DIR } from './stack.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 30);
const BASE_PORT = Number(process.env.BENCH_BASE_PORT ?? 8700);
interface RegionPatient { nhsNumber: string; gpPatientId: string; hospitalPatientId?: string; socialCarePersonId?: string; gp: string; hospitals: string[]; council?: string }
interface RegionInfo { registry: string; sources: { id: string; kind: string; baseUrl: string }[]; patients: RegionPatient[] }

async function startStack(counts: [number, number, number], extraEnv: Record<string, string> = {}) {
  const dir = mkdtempSync(join(tmpdir(), 'ipr-bench-sources-'));
  const region = await startChild('scripts/sandbox/main.ts', {
    SANDBOX_BUNDLE_DIRS: SYNTHEA_DIR, SANDBOX_GENERATE: process.env.BENCH_GENERATE ?? '200',
    SANDBOX_GP_COUNT: String(counts[0]), SANDBOX_HOSPITAL_COUNT: String(counts[1]), SANDBOX_SOCIAL_CARE_COUNT: String(counts[2]),
    SANDBOX_GP_LATENCY_MS: '80', SANDBOX_HOSPITAL_LATENCY_MS: '120', SANDBOX_SOCIAL_CARE_LATENCY_MS: '60',
    SANDBOX_GP_JITTER_MS: '10', SANDBOX_HOSPITAL_JITTER_MS: '10', SANDBOX_SOCIAL_CARE_JITTER_MS: '10',
    SANDBOX_REGISTRY_FILE: join(dir, 'sources.json'),
    // Ports: BENCH_BASE_PORT (default 8700): the sources from it, the service at +20, the bare fan-out at +21.
    SANDBOX_REGION_BASE_PORT: String(BASE_PORT), ...extraEnv,
  }, (l) => (l.startsWith('{"region"') ? (JSON.parse(l).region as RegionInfo) : undefined));
  const port = BASE_PORT + 20;
  const service = await startPolled('server/main.ts', {
    SOURCES_FILE: region.value.registry, PORT: String(port), DATA_DIR: dir, AUTH_MODE: 'demo', LOG_LEVEL: 'warn', SOURCE_DEADLINE_MS: '3000', DATABASE_URL: '',
    ...(extraEnv.SANDBOX_MAX_PAGE_SIZE ? { SOURCE_MAX_PAGES: '1000' } : {}),
  }, `http://127.0.0.1:${port}/healthz`, [...SERVICE_NODE_FLAGS], 600_000).catch(async (e: unknown) => {
    await region.child.stop();
    rmSync(dir, { recursive: true, force: true });
    throw e;
  });
  const base = `http://127.0.0.1:${port}`;
  const keys = await ensureDemoKeys(dir);
  const mint = (org: string) => mintToken(keys.privateJwk, keys.kid, { sub: `bench-${org}`, role: 'clinician', org }, { issuer: DEMO_ISSUER, audience: DEMO_AUDIENCE });
  const info = region.value;
  const url = (id: string) => info.sources.find((s) => s.id === id)!.baseUrl;
  const indexed: { id: string; p: RegionPatient; auth: Record<string, string> }[] = [];
  const search = { authorization: `Bearer ${await mint('A81001')}` };
  for (const p of info.patients) {
    const b = (await (await fetch(`${base}/fhir/Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|${p.nhsNumber}`, { headers: search })).json()) as { entry?: { resource: { id: string } }[] };
    const gp = (await (await fetch(`${url(p.gp)}/Patient/${p.gpPatientId}`)).json()) as { generalPractitioner?: { identifier?: { value?: string } }[] };
    const org = gp.generalPractitioner?.[0]?.identifier?.value ?? 'A81001';
    if (b.entry?.[0]) indexed.push({ id: b.entry[0].resource.id, p, auth: { authorization: `Bearer ${await mint(org)}` } });
  }
  /** The source calls the service makes for one patient: the holders' records, the others asked by NHS number. */
  const sourceCalls = (p: RegionPatient) =>
    info.sources.map((s) => {
      if (s.id === p.gp) return `${s.baseUrl}/Patient/${p.gpPatientId}/$everything?_count=1000`;
      if (p.hospitals.includes(s.id)) return `${s.baseUrl}/Patient/${p.hospitalPatientId}/$everything?_count=1000`;
      if (s.id === p.council) return `${s.baseUrl}/api/v1/people/${p.socialCarePersonId}/case`;
      return s.kind === 'fhir' ? `${s.baseUrl}/Patient?identifier=https://fhir.nhs.uk/Id/nhs-number|${p.nhsNumber}&_count=1000` : `${s.baseUrl}/api/v1/people?nhsNumber=${p.nhsNumber}`;
    });
  return {
    info, base, indexed, sourceCalls, service, region: region.child,
    async stop() {
      await Promise.all([service.stop(), region.child.stop()]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

const check = (ok: boolean) => (ok ? 'PASS' : 'FAIL');
/** The machine's load beside the figures: on 2 shared cores the latencies follow everything else running. */
const contention = () => `load average while running: ${loadavg().map((n) => n.toFixed(2)).join(' ')} (2 cores shared with other work: figures are indicative only)`;

// BENCH_PARTS=sources,paging (default both).
const PARTS = (process.env.BENCH_PARTS ?? 'sources,paging').split(',');
let stack: Awaited<ReturnType<typeof startStack>> | undefined;
let bare: { child: Child; value: string } | undefined;
// Part 1: 7 sources.
if (PARTS.includes('sources')) try {
  stack = await startStack([3, 2, 2]);
  const { indexed, base, sourceCalls, info } = stack;
  const facade = () => {
    const x = pick(indexed);
    return { url: `${base}/fhir/Patient/${x.id}/$everything`, headers: x.auth };
  };
  await load(facade, CONCURRENCY, 5);
  const perSource: Record<string, LoadResult> = {};
  for (const [i, s] of info.sources.entries()) {
    perSource[s.id] = await load(() => ({ url: sourceCalls(pick(indexed.filter((x) => x.p.gp === s.id || x.p.hospitals.includes(s.id) || x.p.council === s.id)).p)[i]! }), CONCURRENCY, Math.max(5, Math.round(SECONDS / 6)));
  }
  const pid = stack.service.proc.pid!;
  const cpu0 = cpuSeconds(pid);
  const everything = await load(facade, CONCURRENCY, SECONDS);
  const serviceCpuMs = ((cpuSeconds(pid) - cpu0) * 1000) / everything.requests;
  bare = await startChild('scripts/bench/bare-fanout-urls.ts', { BARE_PORT: String(BASE_PORT + 21) }, (l) => (l.startsWith('{"bare"') ? (JSON.parse(l).bare as string) : undefined));
  const bareRun = await load(() => ({ url: `${bare!.value}/bare?${new URLSearchParams(sourceCalls(pick(indexed).p).map((u) => ['u', u]))}` }), CONCURRENCY, SECONDS);

  // The JSON floor: parsing the 7 sources' answers and serialising the response, for a sample of patients.
  let parseMs = 0;
  let stringifyMs = 0;
  const sample = indexed.slice(0, 40);
  for (const x of sample) {
    const bodies = await Promise.all(sourceCalls(x.p).map((u) => fetch(u).then((r) => r.text())));
    const response = await (await fetch(`${base}/fhir/Patient/${x.id}/$everything`, { headers: x.auth })).text();
    const t0 = performance.now();
    for (const b of bodies) JSON.parse(b);
    const parsed = JSON.parse(response) as unknown;
    const t1 = performance.now();
    JSON.stringify(parsed);
    const t2 = performance.now();
    parseMs += t1 - t0;
    stringifyMs += t2 - t1;
  }
  const slowest = Math.max(...Object.values(perSource).map((r) => r.p95));
  console.log(`\n7 sources (3 GP 80 ms, 2 trusts 120 ms, 2 councils 60 ms, ±10 ms), ${indexed.length} patients, ${CONCURRENCY} clients, ${SECONDS} s`);
  for (const [id, r] of Object.entries(perSource)) console.log(line(`source ${id}`, r));
  console.log(line('facade $everything', everything));
  console.log(line('bare fan-out (same 7 calls)', bareRun));
  console.log(`service CPU per $everything: ${fmt(serviceCpuMs)} ms; JSON floor (parse answers ${fmt(parseMs / sample.length)} ms + stringify response ${fmt(stringifyMs / sample.length)} ms) = ${fmt((parseMs + stringifyMs) / sample.length)} ms`);
  console.log(`p95 ${fmt(everything.p95)} ms vs 1.10 × ${fmt(slowest)} + 10 = ${fmt(1.1 * slowest + 10)} ms: ${check(everything.p95 <= 1.1 * slowest + 10)}`);
  console.log(`throughput ${fmt(everything.rps)} vs bare ${fmt(bareRun.rps)} req/s = ${fmt((100 * everything.rps) / bareRun.rps)} % (target ≥ 80 %): ${check(everything.rps >= 0.8 * bareRun.rps)}`);
  console.log(contention());
} finally {
  await bare?.child.stop();
  await stack?.stop();
}

// Part 2: GP paging at 20 and 100 entries a page (80 ms a page), one source of each kind.
for (const pageSize of PARTS.includes('paging') ? [20, 100] : []) {
  stack = await startStack([1, 1, 1], { SANDBOX_MAX_PAGE_SIZE: String(pageSize), SANDBOX_GENERATE: '0' });
  try {
    const { indexed, base, info } = stack;
    const gpBase = info.sources.find((s) => s.id === 'gp-1')!.baseUrl;
    // A fixed set of patients with several pages of GP data; the page walk measured on the same patients.
    const chosen = indexed.slice(0, 20);
    const walk: number[] = [];
    const pages: number[] = [];
    const deadline = Date.now() + Math.max(10, SECONDS / 2) * 1000;
    while (Date.now() < deadline) {
      await Promise.all(Array.from({ length: CONCURRENCY }, async () => {
        const x = pick(chosen);
        const t = performance.now();
        let next: string | undefined = `${gpBase}/Patient/${x.p.gpPatientId}/$everything?_count=${pageSize}`;
        let n = 0;
        while (next) {
          const b = (await (await fetch(next)).json()) as { link?: { relation: string; url: string }[] };
          n++;
          next = b.link?.find((l) => l.relation === 'next')?.url;
        }
        walk.push(performance.now() - t);
        pages.push(n);
      }));
    }
    walk.sort((a, b) => a - b);
    const facade = await load(() => {
      const x = pick(chosen);
      return { url: `${base}/fhir/Patient/${x.id}/$everything`, headers: x.auth };
    }, CONCURRENCY, SECONDS);
    const walkP95 = percentile(walk, 95);
    console.log(`\nGP paging at ${pageSize} a page (80 ms ±10 a page): mean ${fmt(pages.reduce((a, b) => a + b, 0) / pages.length)} pages a record, ${chosen.length} patients`);
    console.log(`GP page walk: p50 ${fmt(percentile(walk, 50))} p95 ${fmt(walkP95)} ms`);
    console.log(line('facade $everything', facade));
    console.log(`p95 ${fmt(facade.p95)} ms vs 1.10 × ${fmt(walkP95)} + 10 = ${fmt(1.1 * walkP95 + 10)} ms: ${check(facade.p95 <= 1.1 * walkP95 + 10)}`);
    console.log(contention());
  } finally {
    await stack.stop();
  }
}
