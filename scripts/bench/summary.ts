/**
 * Benchmark for Patient/$summary (issue 4). Run: `npm run bench:summary` (BENCH_SECONDS=20 by default).
 *
 * Sandbox sources in their own process with injected latency (GP 80 ms, hospital 120 ms, social care
 * 60 ms, ±10 ms jitter), the service in its own process on embedded PGlite, as scripts/bench/everything.ts.
 * Prints
 *  (a) summary size over the shared Synthea patients: median, p95, max (KB uncompressed, gzip, br);
 *  (b) summary assembly CPU (buildSummary alone) on the largest shared patient's merged record, p50/p95;
 *  (c) end to end $summary p50/p95/p99 with 16 concurrent clients, against each source's own p95, and
 *      $everything on the same patients as a control (the machine is shared with other work).
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { brotliCompressSync, constants, gzipSync } from 'node:zlib';
import type { Bundle, Resource } from 'fhir/r4.js';
import { SOURCE_DISPLAY, SOURCE_TAG_SYSTEM } from '../../adapters/merge.js';
import { hasCategory } from '../../consent/sensitivity.js';
import { buildSummary } from '../../record/summary.js';
import { fmt, line, load, percentile } from './lib.js';
import { CONCURRENCY, pick, startBenchStack, SYNTHEA_DIR } from './stack.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 20);
/** Accept-Encoding of the end-to-end clients (BENCH_ENCODING=identity to compare without compression). */
const ENCODING = process.env.BENCH_ENCODING ?? 'gzip';
const hasShared = existsSync(SYNTHEA_DIR);
const kb = (n: number) => (n / 1024).toFixed(1);

/**
 * Generated patients besides the 70 shared Synthea ones: 100 by default, a heavier mix than `npm run
 * bench`'s 200 (41 % of requests hit a large Synthea record instead of 26 %); BENCH_GENERATE=200 runs the
 * federated-record benchmark's population.
 */
const GENERATE = Number(process.env.BENCH_GENERATE ?? 100);
const stack = await startBenchStack({ generate: GENERATE, name: 'summary' });
const { urls, base, manifest } = stack;

try {
  const sharedIds = new Set(
    hasShared
      ? readdirSync(SYNTHEA_DIR).filter((f) => f.endsWith('.json')).map((f) => (JSON.parse(readFileSync(join(SYNTHEA_DIR, f), 'utf8')) as Bundle).entry!.find((e) => e.resource!.resourceType === 'Patient')!.resource!.id!)
      : [],
  );
  // Every patient indexed, with a crew token at each patient's registered practice.
  const patients = await stack.indexPatients('ambulance-crew');

  // (a) Sizes over the shared Synthea patients (or every patient when the shared data is absent).
  const sized = sharedIds.size ? patients.filter((p) => sharedIds.has(p.m.syntheaPatientId ?? '')) : patients;
  const plain: number[] = [];
  const gz: number[] = [];
  const br: number[] = [];
  let largest: { p: (typeof patients)[0]; count: number } | undefined;
  for (const p of sized) {
    const text = await (await fetch(`${base}/fhir/Patient/${p.id}/$summary`, { headers: { ...p.auth, 'accept-encoding': 'identity' } })).text();
    const buf = Buffer.from(text);
    plain.push(buf.length);
    gz.push(gzipSync(buf).length);
    br.push(brotliCompressSync(buf, { params: { [constants.BROTLI_PARAM_QUALITY]: 4 } }).length); // the compression package's default quality
    const all = (await (await fetch(`${base}/fhir/Patient/${p.id}/$everything?_count=1000`, { headers: p.auth })).json()) as Bundle;
    const count = all.entry?.length ?? 0;
    if (!largest || count > largest.count) largest = { p, count };
  }
  for (const xs of [plain, gz, br]) xs.sort((a, b) => a - b);

  // (b) Assembly CPU on the largest shared patient's record (as the guard returns it).
  const record = (await (await fetch(`${base}/fhir/Patient/${largest!.p.id}/$everything?_count=1000`, { headers: largest!.p.auth })).json()) as Bundle;
  const resources = (record.entry ?? []).filter((e) => e.search?.mode === 'match').map((e) => e.resource as Resource);
  const opts = {
    patientId: largest!.p.id,
    resources,
    warnings: [],
    sourceTagSystem: SOURCE_TAG_SYSTEM,
    sourceNames: SOURCE_DISPLAY,
    software: { name: 'integrated-patient-record', version: 'bench' },
    isSafeguarding: (r: Resource) => hasCategory(r, 'safeguarding'),
  };
  for (let i = 0; i < 200; i++) buildSummary({ ...opts, now: new Date() }); // warm-up (JIT)
  // Wall time, and CPU time of this process (process.cpuUsage: not inflated when the shared machine
  // preempts us, but it includes GC helper threads).
  const wall: number[] = [];
  const cpu: number[] = [];
  for (let i = 0; i < 2000; i++) {
    const c = process.cpuUsage();
    const t = performance.now();
    JSON.stringify(buildSummary({ ...opts, now: new Date() }));
    wall.push(performance.now() - t);
    const d = process.cpuUsage(c);
    cpu.push((d.user + d.system) / 1000);
  }
  wall.sort((a, b) => a - b);
  cpu.sort((a, b) => a - b);

  // (c) End to end, 16 clients over every patient, against each source.
  const summary = () => {
    const p = pick(patients);
    return { url: `${base}/fhir/Patient/${p.id}/$summary`, headers: { ...p.auth, 'accept-encoding': ENCODING } };
  };
  await load(summary, CONCURRENCY, 5);
  const withHospital = manifest.filter((m) => m.hospitalPatientId);
  const withSocial = manifest.filter((m) => m.socialCarePersonId);
  const sourceSeconds = Math.max(5, Math.round(SECONDS / 3));
  const src = {
    gp: await load(() => ({ url: `${urls.gp}/Patient/${pick(manifest).gpPatientId}/$everything` }), CONCURRENCY, sourceSeconds),
    hospital: await load(() => ({ url: `${urls.hospital}/Patient/${pick(withHospital).hospitalPatientId}/$everything` }), CONCURRENCY, sourceSeconds),
    socialCare: await load(() => ({ url: `${urls.socialCare}/api/v1/people/${pick(withSocial).socialCarePersonId}/case` }), CONCURRENCY, sourceSeconds),
  };
  const e2e = await load(summary, CONCURRENCY, SECONDS);
  // Control under the same conditions (the machine is shared): $everything on the same patients.
  const control = await load(() => {
    const p = pick(patients);
    return { url: `${base}/fhir/Patient/${p.id}/$everything`, headers: { ...p.auth, 'accept-encoding': ENCODING } };
  }, CONCURRENCY, SECONDS);

  const row = (label: string, xs: number[]) => `  ${label.padEnd(14)} median ${kb(percentile(xs, 50)).padStart(6)} KB  p95 ${kb(percentile(xs, 95)).padStart(6)} KB  max ${kb(xs[xs.length - 1]!).padStart(6)} KB`;
  const slowestP95 = Math.max(src.gp.p95, src.hospital.p95, src.socialCare.p95);
  const limit = 1.1 * slowestP95 + 10;
  const check = (ok: boolean) => (ok ? 'PASS' : 'FAIL');
  console.log(`\n(a) $summary size over ${sized.length} ${sharedIds.size ? 'shared Synthea' : 'generated'} patients`);
  console.log(row('uncompressed', plain));
  console.log(row('gzip', gz));
  console.log(row('br (q4)', br));
  console.log(`  target median ≤ 30 KB uncompressed: ${check(percentile(plain, 50) <= 30 * 1024)}`);
  console.log(`\n(b) summary assembly (buildSummary + JSON.stringify) on the largest shared patient (${resources.length} resources), 2000 runs after warm-up`);
  console.log(`  CPU   p50 ${percentile(cpu, 50).toFixed(2)} ms  p95 ${percentile(cpu, 95).toFixed(2)} ms  p99 ${percentile(cpu, 99).toFixed(2)} ms  (target p95 ≤ 10 ms: ${check(percentile(cpu, 95) <= 10)})`);
  console.log(`  wall  p50 ${percentile(wall, 50).toFixed(2)} ms  p95 ${percentile(wall, 95).toFixed(2)} ms  p99 ${percentile(wall, 99).toFixed(2)} ms`);
  console.log(`\n(c) end to end, ${patients.length} patients, ${CONCURRENCY} concurrent clients, ${SECONDS} s (sources ${sourceSeconds} s each), Accept-Encoding: ${ENCODING}`);
  console.log(line('source GP (80 ms)', src.gp));
  console.log(line('source hospital (120 ms)', src.hospital));
  console.log(line('source social care (60 ms)', src.socialCare));
  console.log(line('facade $summary', e2e));
  console.log(line('facade $everything (control)', control));
  console.log(`  $summary p95 ${fmt(e2e.p95)} ms ≤ 1.10 × slowest source p95 (${fmt(slowestP95)}) + 10 = ${fmt(limit)} ms: ${check(e2e.p95 <= limit)}`);
} finally {
  await stack.stop();
}
