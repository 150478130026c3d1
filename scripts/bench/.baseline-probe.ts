import pg from 'pg';
import { baselineStatements } from './indicator-baseline-sql.js';
const c = new pg.Client({ connectionString: 'postgres://postgres@127.0.0.1:5432/ipr_bench_indicators' });
await c.connect();
const st = baselineStatements({ end: '2026-03-31', schemas: { gp: 'src_gp', hospital: 'src_hospital', socialCare: 'src_social_care' } });
const only = process.argv[2];
for (const [id, s] of Object.entries(st)) {
  if (only && id !== only) continue;
  const t = performance.now();
  const r = await c.query(s);
  console.log(id.padEnd(36), ((performance.now() - t) / 1000).toFixed(2), r.rowCount);
  if (only) { const e = await c.query('EXPLAIN ANALYZE ' + s); console.log(e.rows.map((x) => x['QUERY PLAN']).join('\n')); }
}
await c.end();
