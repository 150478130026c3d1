import { openExtractDb } from './sandbox/extract/store.js';
import { indicatorById } from '../indicators/catalogue.js';
import { compilePopulationMembers, compileCriterionMembers } from './sandbox/extract/compile.js';
const db = await openExtractDb('postgres://postgres@127.0.0.1:5432/ipr_bench_indicators');
const d = indicatorById('emergency-attendance-registered')!;
if (d.spec.shape !== 'person-proportion') throw 0;
for (let i = 0; i < 2; i++) {
  let q = compilePopulationMembers(d.spec.population, [], { periodEnd: '2026-03-31', windowMonths: 12, schema: 'src_gp', sessionId: 'x' });
  let t = Date.now();
  const r = await db.query(q.sql, q.params);
  console.log('pop sql', Date.now() - t, r.rows.length);
  q = compilePopulationMembers(d.spec.population, [], { periodEnd: '2026-03-31', windowMonths: 12, schema: 'src_gp', sessionId: 'x' });
  t = Date.now();
  await db.query(q.sql.replace(" ORDER BY p.nhs_number", ''), q.params);
  console.log('pop sql unordered', Date.now() - t);
  q = compileCriterionMembers(d.spec.numerator, { periodEnd: '2026-03-31', windowMonths: 12, schema: 'src_hospital', sessionId: 'x' });
  t = Date.now();
  const c = await db.query<{ nhs_numbers: string }>(q.sql, q.params);
  console.log('crit sql', Date.now() - t, c.rows[0]!.nhs_numbers.length);
}
await db.close();
