import pg from 'pg';
import { indicatorById } from '../indicators/catalogue.js';
import { compileCounts } from './sandbox/extract/compile.js';
const settings: Record<string, string[]> = {
  default: [],
  nojit: ['SET jit = off'],
  nojit_wm: ['SET jit = off', "SET work_mem = '64MB'"],
  nojit_wm_nopar: ['SET jit = off', "SET work_mem = '64MB'", 'SET max_parallel_workers_per_gather = 0'],
  nojit_nopar: ['SET jit = off', 'SET max_parallel_workers_per_gather = 0'],
};
const ids = process.argv.slice(2);
for (const round of [1, 2]) for (const [name, sets] of Object.entries(settings)) {
  const c = new pg.Client({ connectionString: 'postgres://postgres@127.0.0.1:5432/ipr_bench_indicators' });
  await c.connect();
  for (const s of sets) await c.query(s);
  let total = 0;
  for (const id of ids) {
    const d = indicatorById(id)!;
    const q = compileCounts(d.spec, { periodEnd: '2026-03-31', windowMonths: d.windowMonths, schema: 'src_gp', sessionId: 'x' });
    const t = Date.now();
    await c.query(q.sql, q.params);
    total += Date.now() - t;
  }
  console.log(round, name.padEnd(16), total, 'ms');
  await c.end();
}
