import { createAggregateClient } from '../adapters/aggregate-client.js';
import { Transport } from '../adapters/transport.js';
import { createIndicatorComputer } from '../indicators/compute.js';
import { startSandbox } from './sandbox/start.js';
const sb = await startSandbox({ useEnv: false, extract: { databaseUrl: 'postgres://postgres@127.0.0.1:5432/ipr_bench_indicators', prebuilt: true } });
const mk = (source: 'gp' | 'hospital' | 'social-care', baseUrl: string) => createAggregateClient({ source, baseUrl, deadlineMs: 120_000, transport: new Transport(source, { deadlineMs: 120_000, retries: 0, retryBaseMs: 25, breaker: { failureThreshold: 5, openMs: 1000 } }) });
const computer = createIndicatorComputer({
  sources: { gp: mk('gp', sb.admin.gp), hospital: mk('hospital', sb.admin.hospital), 'social-care': mk('social-care', sb.admin.socialCare) },
  secret: Buffer.from('x'.repeat(40)),
  optedOutNhsNumbers: async () => (process.env.OPTOUT ? ['9990000018'] : []),
  concurrency: Number(process.env.CONC ?? 4),
});
for (const id of process.env.EACH ? computer.catalogue.map((d) => d.id) : []) {
  const t = Date.now();
  const r = await computer.compute({ start: '2025-04-01', end: '2026-03-31' }, [id]);
  console.log(id.padEnd(36), Date.now() - t, 'ms', r.complete);
}
const t = Date.now();
const rss0 = process.memoryUsage().rss;
const run = await computer.compute({ start: '2025-04-01', end: '2026-03-31' });
console.log('full refresh', Date.now() - t, 'ms complete', run.complete, 'rss MiB', Math.round(process.memoryUsage().rss / 2 ** 20), 'from', Math.round(rss0 / 2 ** 20), run.sources.map((s) => s.status + (s.reason ?? '')).join(','));
await sb.close();
