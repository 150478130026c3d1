import pg from 'pg';
import { CATALOGUE } from '../indicators/catalogue.js';
import { compileCounts, compilePopulationMembers, compileCriterionMembers } from './sandbox/extract/compile.js';
const c = new pg.Client({ connectionString: 'postgres://postgres@127.0.0.1:5432/ipr_bench_indicators' });
await c.connect();
const schema = { gp: 'src_gp', hospital: 'src_hospital', 'social-care': 'src_social_care' } as const;
const only = process.argv[2];
for (const d of CATALOGUE) {
  if (only && d.id !== only) continue;
  if (d.sources.length > 1) continue;
  const q = compileCounts(d.spec, { periodEnd: '2026-03-31', windowMonths: d.windowMonths, schema: schema[d.sources[0]!], sessionId: 'x' });
  const r = await c.query('EXPLAIN ' + q.sql, q.params);
  const plan = r.rows.map((x: any) => x['QUERY PLAN']).join('\n');
  console.log('==', d.id, plan.split('\n')[0]);
  if (process.argv[3]) console.log(plan);
  if (/Nested Loop/.test(plan)) console.log('   NESTED LOOP present');
}
await c.end();
