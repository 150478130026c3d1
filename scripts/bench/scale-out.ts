/**
 * Scale-out benchmark (issue 15): Patient/$everything with the bench's source latencies (scripts/bench/stack.ts:
 * GP 80 ms, hospital 120 ms, social care 60 ms, ±10 ms jitter) at 48 concurrent clients, first spread
 * round-robin over THREE service instances on one PostgreSQL database, then on ONE of them, in the same run.
 * Prints p50/p95/p99, throughput, audit events written per second (rows added to `audit_event` during the
 * run) and the machine's load average, since on a shared machine the figures depend on what else runs.
 *
 * Run: `npm run bench:scale-out` (BENCH_SECONDS=60 per run by default). Needs PostgreSQL: BENCH_DATABASE_URL
 * (or DATABASE_URL; default postgres://postgres@127.0.0.1:5432/postgres) names a server on which a fresh
 * database is created for the run and dropped afterwards. Service ports: BENCH_PORT_BASE (default 8910) and
 * the next two.
 */
import { randomBytes } from 'node:crypto';
import { availableParallelism, loadavg } from 'node:os';
import pg from 'pg';
import { cpuSeconds, fmt, line, load, type LoadResult } from './lib.js';
import { pick, startBenchStack } from './stack.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 60);
const CLIENTS = 48;
const PORT_BASE = Number(process.env.BENCH_PORT_BASE ?? 8910);
const serverUrl = process.env.BENCH_DATABASE_URL ?? process.env.DATABASE_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

const dbName = `ipr_bench_scaleout_${randomBytes(4).toString('hex')}`;
const admin = async (sql: string) => {
  const c = new pg.Client({ connectionString: serverUrl });
  await c.connect();
  try {
    await c.query(sql);
  } finally {
    await c.end();
  }
};
await admin(`CREATE DATABASE ${dbName}`);
const dbUrl = new URL(serverUrl);
dbUrl.pathname = `/${dbName}`;
process.env.BENCH_DATABASE_URL = dbUrl.toString();
const auditDb = new pg.Client({ connectionString: dbUrl.toString() });
const auditRows = async () => Number((await auditDb.query<{ n: string }>('SELECT count(*) AS n FROM audit_event')).rows[0]!.n);

const stack = await startBenchStack({ generate: 200, name: 'scale-out', port: PORT_BASE }).catch(async (e) => {
  await admin(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
  throw e;
});
const extra: { base: string; child: { stop(): Promise<void>; proc: { pid?: number } } }[] = [];

try {
  await auditDb.connect();
  extra.push(await stack.startInstance(PORT_BASE + 1), await stack.startInstance(PORT_BASE + 2));
  const instances = [{ base: stack.base, pid: stack.service.proc.pid! }, ...extra.map((e) => ({ base: e.base, pid: e.child.proc.pid! }))];
  const patients = await stack.indexPatients('clinician');
  let turn = 0;
  const over = (n: number) => () => {
    const p = pick(patients);
    const i = turn++ % n;
    return { url: `${instances[i]!.base}/fhir/Patient/${p.id}/$everything`, headers: p.auth };
  };
  /** One measured run: the load result, audit events/s and the CPU seconds each process used. */
  const measure = async (n: number) => {
    await load(over(n), CLIENTS, 5); // warm-up (connections, JIT)
    const before = await auditRows();
    const cpu0 = [...instances.map((x) => cpuSeconds(x.pid)), cpuSeconds(stack.sandbox.proc.pid!)];
    const load0 = loadavg()[0]!;
    const result = await load(over(n), CLIENTS, SECONDS);
    const events = (await auditRows()) - before;
    const cpu = [...instances.map((x) => cpuSeconds(x.pid)), cpuSeconds(stack.sandbox.proc.pid!)].map((c, i) => c - cpu0[i]!);
    return { result, auditPerSecond: events / result.seconds, cpu, load: [load0, loadavg()[0]!] };
  };
  const three = await measure(3);
  const one = await measure(1);

  const fivexx = (r: LoadResult) => Object.entries(r.statuses).filter(([s]) => Number(s) >= 500).reduce((a, [, k]) => a + k, 0);
  console.log(`\nScale-out benchmark: $everything, ${patients.length} patients, ${CLIENTS} concurrent clients, ${SECONDS} s per run, one PostgreSQL database`);
  for (const [label, m] of [['three instances (round-robin)', three], ['one instance', one]] as const) {
    console.log(line(label, m.result));
    console.log(
      `${''.padEnd(34)} audit events ${fmt(m.auditPerSecond)}/s; 5xx ${fivexx(m.result)}; CPU s: instances ${m.cpu.slice(0, 3).map(fmt).join(' / ')}, sandbox ${fmt(m.cpu[3]!)}; load average (1 min) ${fmt(m.load[0]!)} → ${fmt(m.load[1]!)} on ${availableParallelism()} cores`,
    );
  }
  console.log(`three/one: throughput ×${(three.result.rps / one.result.rps).toFixed(2)}, p95 ×${(three.result.p95 / one.result.p95).toFixed(2)}`);
} finally {
  await Promise.all([...extra.map((e) => e.child.stop()), stack.stop()]);
  await auditDb.end().catch(() => undefined);
  await admin(`DROP DATABASE IF EXISTS ${dbName} WITH (FORCE)`);
}
