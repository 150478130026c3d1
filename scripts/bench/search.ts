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
import { fmt, line, load } from './lib.js';
import { CONCURRENCY, pick, startBenchStack } from './stack.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 20);
const QUERY = 'category=laboratory&_sort=-date&_count=20';

const stack = await startBenchStack({ generate: 200, name: 'search' });
const { urls, base, manifest } = stack;

try {
  const patients = await stack.indexPatients('clinician');
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
  await stack.stop();
}
