import pg from 'pg';
import { CATALOGUE } from '../indicators/catalogue.js';
import { compileCounts, compilePopulationMembers, compileCriterionMembers } from './sandbox/extract/compile.js';
const c = new pg.Client({ connectionString: 'postgres://postgres@127.0.0.1:5432/ipr_bench_indicators' });
await c.connect();
if (process.env.NOJIT) { await c.query('SET jit = off'); await c.query("SET work_mem = '64MB'"); }
const schema = { gp: 'src_gp', hospital: 'src_hospital', 'social-care': 'src_social_care' } as const;
let total = 0;
for (const d of CATALOGUE) {
  const t = Date.now();
  let n = 0;
  if (d.sources.length === 1) {
    const q = compileCounts(d.spec, { periodEnd: '2026-03-31', windowMonths: d.windowMonths, schema: schema[d.sources[0]!], sessionId: 'x' });
    n = (await c.query(q.sql, q.params)).rows.length;
  } else if (d.spec.shape === 'person-proportion') {
    const p = d.spec.population;
    const q = compilePopulationMembers(p, [], { periodEnd: '2026-03-31', windowMonths: d.windowMonths, schema: schema[p.source], sessionId: 'x' });
    n = (await c.query(q.sql, q.params)).rows.length;
    const q2 = compileCriterionMembers(d.spec.numerator, { periodEnd: '2026-03-31', windowMonths: d.windowMonths, schema: 'src_hospital', sessionId: 'x' });
    n += (await c.query(q2.sql, q2.params)).rows.length;
  }
  total += Date.now() - t;
  console.log(d.id.padEnd(36), String(Date.now() - t).padStart(6), 'ms', n, 'rows');
}
console.log('total', total);
await c.end();
