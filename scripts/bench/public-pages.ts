/**
 * Benchmark for the public site's pages (issue 18). Run: `npm run bench:public-pages` (BENCH_SECONDS=15,
 * BENCH_PRACTICES=6500, BENCH_PORT=8660, BENCH_CLIENTS=32).
 *
 * The service runs in its own process (scripts/bench/public-pages-server.ts) over a fresh embedded database
 * seeded through the real disclosure control and SnapshotStore with two snapshots of every GP-practice indicator
 * for BENCH_PRACTICES practices. Then, as a browser asks for them (Accept: text/html, gzip/br):
 *  - the indicator page (funnel of every practice + the first 1,000 rows of the table) and the organisation page
 *    (every indicator for one practice, random among all), each at BENCH_CLIENTS clients for BENCH_SECONDS:
 *    p50/p95/p99 server time (request to last byte), throughput, CPU per request, RSS;
 *  - the indicator page's weight: the HTML as sent with gzip and with br (the design-system CSS, ~21 KB
 *    compressed, is cached as immutable), against 300 KB compressed.
 * Targets: p95 ≤ 50 ms at 32 clients; ≤ 300 KB compressed. The machine may be shared: the load average is printed.
 */
import http from 'node:http';
import { cpus, loadavg } from 'node:os';
import { cpuSeconds, fmt, line, load, rssMiB, startChild, withRssSampling } from './lib.js';

const SECONDS = Number(process.env.BENCH_SECONDS ?? 15);
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 32);
const PORT = Number(process.env.BENCH_PORT ?? 8660);
const PRACTICES = Number(process.env.BENCH_PRACTICES ?? 6500);
const HTML = { accept: 'text/html,application/xhtml+xml,*/*;q=0.8' };
const IND = process.env.BENCH_INDICATOR ?? 'diabetes-hba1c-recorded';
const kb = (n: number) => (n / 1024).toFixed(1);

/** Bytes of a response body as sent (not decoded) for an Accept-Encoding. */
function sentBytes(url: string, encoding: string): Promise<{ status: number; bytes: number; encoding: string }> {
  return new Promise((resolve, reject) => {
    http.get(url, { headers: { ...HTML, 'accept-encoding': encoding } }, (res) => {
      let bytes = 0;
      res.on('data', (c: Buffer) => (bytes += c.length));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, bytes, encoding: String(res.headers['content-encoding'] ?? 'identity') }));
      res.on('error', reject);
    }).on('error', reject);
  });
}

const started = Date.now();
const { child, value } = await startChild(
  'scripts/bench/public-pages-server.ts',
  { BENCH_PORT: String(PORT), BENCH_PRACTICES: String(PRACTICES) },
  (l) => (l.startsWith('ready ') ? l.split(' ')[2]!.split(',') : undefined),
  (process.env.BENCH_SERVICE_NODE_ARGS ?? '').split(' ').filter(Boolean),
);
const codes = value;
const pid = child.proc.pid!;
const base = `http://127.0.0.1:${PORT}`;
const pick = () => codes[Math.floor(Math.random() * codes.length)]!;
try {
  const seeded = (Date.now() - started) / 1000;
  const indicatorUrl = `${base}/indicators/${IND}`;
  const first = performance.now();
  const check = await sentBytes(indicatorUrl, 'identity');
  const firstMs = performance.now() - first;
  if (check.status !== 200) throw new Error(`indicator page: ${check.status}`);
  const gzip = await sentBytes(indicatorUrl, 'gzip');
  const br = await sentBytes(indicatorUrl, 'br');
  const html = await (await fetch(indicatorUrl, { headers: HTML })).text();
  const circles = html.match(/<circle /g)?.length ?? 0;
  const rows = html.match(/<tr/g)?.length ?? 0;

  const measure = async (label: string, make: () => { url: string; headers?: Record<string, string> }) => {
    await load(make, CLIENTS, 2); // warm-up (caches filled as in steady state)
    const cpu0 = cpuSeconds(pid);
    const { result, maxRssMiB } = await withRssSampling(pid, () => load(make, CLIENTS, SECONDS));
    const cpu = cpuSeconds(pid) - cpu0;
    return { label, result, maxRssMiB, cpuMsPerRequest: (cpu * 1000) / Math.max(1, result.requests) };
  };
  const load0 = loadavg()[0]!;
  const ind = await measure(`page GET /indicators/${IND}`, () => ({ url: indicatorUrl, headers: HTML }));
  const org = await measure('page GET /organisations/{code}', () => ({ url: `${base}/organisations/${pick()}`, headers: HTML }));
  const load1 = loadavg()[0]!;

  const out = [
    '',
    `public pages: ${PRACTICES} practices × ${2} periods seeded in ${fmt(seeded)} s; ${CLIENTS} clients, ${SECONDS} s each; load average ${load0.toFixed(1)} → ${load1.toFixed(1)} on ${cpus().length} cores`,
    `  indicator page: ${circles} points in the funnel, ${rows} table rows (incl. header); first (uncached) render ${fmt(firstMs)} ms`,
    `  indicator page weight, HTML as sent       identity ${kb(check.bytes)} KB   gzip ${kb(gzip.bytes)} KB (${gzip.encoding})   br ${kb(br.bytes)} KB (${br.encoding})   (target ≤ 300 KB compressed)`,
    ...[ind, org].flatMap((m) => [
      line(`  ${m.label}`, m.result),
      `    CPU per request ${fmt(m.cpuMsPerRequest)} ms   max RSS ${fmt(m.maxRssMiB)} MiB   (target p95 ≤ 50 ms)`,
    ]),
    `  RSS at the end ${fmt(rssMiB(pid))} MiB`,
    '',
  ];
  process.stdout.write(out.join('\n'));
} finally {
  await child.stop();
}
