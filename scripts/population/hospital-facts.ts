import { POPULATION_CODES as C } from './codes.js';
import { sqlText, type GenerationContext } from './generation-context.js';

/** The hospital extract: persons seen by a trust, encounters with lengths of stay, and readmissions. */
export async function generateHospitalRecords(ctx: GenerationContext): Promise<void> {
  const { q, s, REF, u, step, facts, life, summary, trusts, orgs } = ctx;
  // ---- hospital ----
  const hospitalId = (id: string) => `(2000000000 + ${id})`;
  summary.persons.hospital = await step(
    'hospital persons',
    `INSERT INTO ${s.hospital}.person (person_id, nhs_number, sex, birth_date, org_code, deceased_date)
     SELECT ${hospitalId('id')}, CASE WHEN ${u('id', 60)} < 0.005 THEN NULL ELSE nhs END, sex, birth_date, trust_code, deceased_date
     FROM gen_person WHERE hospital`,
  );
  const los = (key: string) =>
    `least(90, floor(-(CASE WHEN g.age >= 75 THEN 8 WHEN g.age >= 65 THEN 5.5 ELSE 3 END) * ln(1 - ${u(key, 64)})))::int`;
  summary.facts.hospital += await step(
    'hospital encounters',
    facts(
      s.hospital,
      `SELECT ${hospitalId('g.id')} AS person_id, 'encounter' AS kind, ${sqlText(C.snomed)} AS system,
              CASE WHEN e.class = 'EMER' THEN ${sqlText(C.encounter.emergencyAttendance)}
                   WHEN ${u('g.id * 16 + j', 63)} < 0.7 THEN ${sqlText(C.encounter.emergencyAdmission)}
                   ELSE ${sqlText(C.encounter.electiveAdmission)} END AS code,
              e.start_date,
              CASE WHEN e.start_date + e.los <= ${REF} THEN e.start_date + e.los END AS end_date,
              NULL::float8 AS value, NULL::text AS value_code, e.class,
              CASE WHEN ${u('g.id * 16 + j', 65)} < 0.88 THEN g.trust_code ELSE (${trusts})[1 + floor(${u('g.id * 16 + j', 66)} * ${orgs.trusts.length})::int] END AS org_code,
              ${life}
       FROM gen_person g
       CROSS JOIN LATERAL generate_series(1, 1 + least(11, floor(-1.3 * ln(1 - ${u('g.id', 61)})))::int) j
       CROSS JOIN LATERAL (
         SELECT c.class, ${REF} - floor(${u('g.id * 16 + j', 62)} * 730)::int AS start_date,
                CASE WHEN c.class = 'EMER' THEN 0 ELSE ${los('g.id * 16 + j')} END AS los
         FROM (SELECT CASE WHEN ${u('g.id * 16 + j', 67)} < (CASE WHEN g.age >= 65 THEN 0.45 ELSE 0.65 END) THEN 'EMER' ELSE 'IMP' END AS class) c
       ) e
       WHERE g.hospital`,
    ),
  );
  // Readmissions: an emergency admission or A&E attendance 1-30 days after an inpatient discharge.
  await q.query(`ANALYZE ${s.hospital}.fact`);
  summary.facts.hospital += await step(
    'hospital readmissions',
    facts(
      s.hospital,
      `SELECT x.person_id, 'encounter' AS kind, ${sqlText(C.snomed)} AS system,
              CASE WHEN x.r < 0.7 THEN ${sqlText(C.encounter.emergencyAdmission)} ELSE ${sqlText(C.encounter.emergencyAttendance)} END AS code,
              x.start_date,
              CASE WHEN x.r >= 0.7 THEN x.start_date WHEN x.start_date + x.los <= ${REF} THEN x.start_date + x.los END AS end_date,
              NULL::float8 AS value, NULL::text AS value_code, CASE WHEN x.r < 0.7 THEN 'IMP' ELSE 'EMER' END AS class, x.org_code, ${life}
       FROM (
         SELECT e.person_id, e.org_code, e.end_date + 1 + floor(${u(`e.person_id * 4096 + (${REF} - e.start_date)`, 70)} * 30)::int AS start_date,
                ${u(`e.person_id * 4096 + (${REF} - e.start_date)`, 71)} AS r,
                least(60, floor(-6 * ln(1 - ${u(`e.person_id * 4096 + (${REF} - e.start_date)`, 72)})))::int AS los,
                ${u(`e.person_id * 4096 + (${REF} - e.start_date)`, 73)} AS p
         FROM ${s.hospital}.fact e
         WHERE e.class = 'IMP' AND e.end_date IS NOT NULL
       ) x JOIN gen_person g ON ${hospitalId('g.id')} = x.person_id
       WHERE x.p < (CASE WHEN g.age >= 65 THEN 0.14 ELSE 0.08 END)`,
    ),
  );
}
