import pg from 'pg';
import { CATALOGUE } from '../../indicators/catalogue.js';
import { compileCounts } from '../sandbox/extract/compile.js';
const c = new pg.Client({ connectionString: 'postgres://postgres@127.0.0.1:5432/ipr_bench_indicators' });
await c.connect();
const only = process.argv[2];
for (const d of CATALOGUE) {
  if (d.sources.length > 1) continue;
  if (only && d.id !== only) continue;
  const schema = { gp: 'src_gp', hospital: 'src_hospital', 'social-care': 'src_social_care' }[d.sources[0]!];
  const q = compileCounts(d.spec, { periodEnd: '2026-03-31', windowMonths: d.windowMonths, schema });
  const t = performance.now();
  const r = await c.query(q.sql, q.params);
  console.log(d.id.padEnd(36), ((performance.now() - t) / 1000).toFixed(2), r.rowCount);
  if (only) { const e = await c.query('EXPLAIN ANALYZE ' + q.sql, q.params); console.log(e.rows.map((x) => x['QUERY PLAN']).join('\n')); }
}
await c.end();
