/**
 * Service CPU per request, for each end-to-end operation, under the benchmarks' load (16 closed-loop
 * clients, sources with their injected latency): the quick figure to watch while optimising, since on
 * this 2-core machine the latency percentiles follow it. Run: node --import tsx/esm scripts/bench/service-cpu.ts
 * (BENCH_SECONDS per operation, default 15; BENCH_OPS=everything,summary,search to choose; BENCH_GENERATE
 * generated patients besides the 70 shared ones, default 200 as in `npm run bench`, 100 as in `npm run bench:summary`).
 */
import { cpuSeconds, fmt, line, load } from './lib.js';
import { CONCURRENCY, pick, startBenchStack } from './stack.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 15);
const OPS = (process.env.BENCH_OPS ?? 'everything,summary,search').split(',');
const paths: Record<string, (id: string) => string> = {
  everything: (id) => `/fhir/Patient/${id}/$everything`,
  summary: (id) => `/fhir/Patient/${id}/$summary`,
  search: (id) => `/fhir/Observation?patient=${id}&category=laboratory&_sort=-date&_count=20`,
};

const stack = await startBenchStack({ generate: Number(process.env.BENCH_GENERATE ?? 200), name: 'service-cpu' });
try {
  const patients = await stack.indexPatients('clinician');
  const pid = stack.service.proc.pid!;
  const sandboxPid = stack.sandbox.proc.pid!;
  for (const op of OPS) {
    const make = () => {
      const p = pick(patients);
      return { url: `${stack.base}${paths[op]!(p.id)}`, headers: p.auth };
    };
    await load(make, CONCURRENCY, 3);
    const c0 = cpuSeconds(pid);
    const s0 = cpuSeconds(sandboxPid);
    const r = await load(make, CONCURRENCY, SECONDS);
    console.log(line(op, r));
    const perRequest = (c: number) => fmt((c * 1000) / r.requests);
    console.log(`  CPU per request: service ${perRequest(cpuSeconds(pid) - c0)} ms, sandbox sources ${perRequest(cpuSeconds(sandboxPid) - s0)} ms`);
  }
} finally {
  await stack.stop();
}
