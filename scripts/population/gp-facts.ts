import { POPULATION_CODES as C, MEDICINES } from './codes.js';
import { sqlText, sqlArray, type GenerationContext } from './generation-context.js';

/** The GP extract: registered persons and their coded facts (conditions, observations, medicines, immunisations…). */
export async function generateGpRecords(ctx: GenerationContext): Promise<void> {
  const { s, REF, u, step, facts, life, fact, summary } = ctx;
  // ---- GP ----
  summary.persons.gp = await step(
    'gp persons',
    `INSERT INTO ${s.gp}.person (person_id, nhs_number, sex, birth_date, org_code, deceased_date)
     SELECT id, nhs, sex, birth_date, practice, deceased_date FROM gen_person`,
  );
  const gpFact = (label: string, select: string) => step(label, facts(s.gp, select)).then((n) => (summary.facts.gp += n));
  await gpFact(
    'gp conditions',
    `SELECT g.id AS person_id, 'condition' AS kind, ${sqlText(C.snomed)} AS system, c.code,
            greatest(g.birth_date + 3650, ${REF} - floor(${u('g.id * 4 + c.k', 22)} * 5475)::int) AS start_date,
            NULL::date AS end_date, NULL::float8 AS value, NULL::text AS value_code, NULL AS class, g.practice AS org_code, ${life}
     FROM gen_person g
     CROSS JOIN LATERAL (VALUES
       (0, CASE WHEN g.diabetes THEN ${sqlText(C.diabetes)} END),
       (2, CASE WHEN g.hypertension THEN ${sqlText(C.hypertension)} END),
       (1, CASE WHEN g.dementia THEN (CASE WHEN ${u('g.id', 23)} < 0.7 THEN ${sqlText(C.dementia[0])} ELSE ${sqlText(C.dementia[1])} END) END)
     ) AS c(k, code)
     WHERE c.code IS NOT NULL`,
  );
  await gpFact(
    'gp BMI observations',
    `SELECT g.id AS person_id, ${fact('observation', C.loinc, sqlText(C.bmi))},
            ${REF} - floor(${u('g.id * 4 + j', 24)} * 1095)::int AS start_date, NULL::date AS end_date,
            round(least(70, greatest(14, exp(ln(CASE WHEN g.age BETWEEN 40 AND 74 THEN 28 ELSE 26.5 END)
                  + 0.17 * sqrt(-2 * ln(1 - ${u('g.id * 4 + j', 25)})) * cos(2 * pi() * ${u('g.id * 4 + j', 26)}))))::numeric, 1)::float8 AS value, NULL::text AS value_code,
            NULL AS class, g.practice AS org_code, ${life}
     FROM gen_person g CROSS JOIN LATERAL generate_series(1, floor(${u('g.id', 27)} * 3)::int) j
     WHERE g.age >= 18`,
  );
  await gpFact(
    'gp smoking status',
    `SELECT g.id AS person_id, ${fact('observation', C.loinc, sqlText(C.smokingStatus))},
            ${REF} - floor(${u('g.id * 4 + j', 35)} * 1095)::int AS start_date, NULL::date AS end_date, NULL::float8 AS value,
            (CASE WHEN ${u('g.id', 33)} < 0.13 THEN ${sqlText(C.smoking.current)} WHEN ${u('g.id', 33)} < 0.38 THEN ${sqlText(C.smoking.ex)} ELSE ${sqlText(C.smoking.never)} END) AS value_code,
            NULL AS class, g.practice AS org_code, ${life}
     FROM gen_person g CROSS JOIN LATERAL generate_series(1, CASE WHEN ${u('g.id', 34)} < 0.4 THEN 2 ELSE 1 END) j
     WHERE g.age >= 16 AND ${u('g.id', 36)} < 0.85`,
  );
  await gpFact(
    'gp HbA1c observations',
    `SELECT g.id AS person_id, ${fact('observation', C.loinc, sqlText(C.hba1c))},
            ${REF} - floor(${u('g.id * 4 + j', 37)} * (CASE WHEN j = 1 AND g.diabetes AND ${u('g.id', 38)} < 0.88 THEN 365 ELSE 730 END))::int AS start_date,
            NULL::date AS end_date,
            round((CASE WHEN g.diabetes THEN exp(ln(55) + 0.18 * sqrt(-2 * ln(1 - ${u('g.id * 4 + j', 39)})) * cos(2 * pi() * ${u('g.id * 4 + j', 42)}))
                        ELSE 36 + 8 * ${u('g.id * 4 + j', 39)} END)::numeric)::float8 AS value, NULL::text AS value_code,
            NULL AS class, g.practice AS org_code, ${life}
     FROM gen_person g CROSS JOIN LATERAL generate_series(1, CASE WHEN g.diabetes THEN 1 + floor(${u('g.id', 43)} * 3)::int ELSE 1 END) j
     WHERE g.diabetes OR (g.age >= 40 AND ${u('g.id', 44)} < 0.05)`,
  );
  await gpFact(
    'gp blood pressure observations',
    `SELECT g.id AS person_id, ${fact('observation', C.loinc, sqlText(C.bloodPressure))},
            ${REF} - floor(${u('g.id * 4 + j', 54)} * (CASE WHEN j = 1 AND g.hypertension AND ${u('g.id', 55)} < 0.8 THEN 365 ELSE 730 END))::int AS start_date,
            NULL::date AS end_date, round(115 + 45 * ${u('g.id * 4 + j', 56)} + (CASE WHEN g.hypertension THEN 10 ELSE 0 END))::float8 AS value, NULL::text AS value_code,
            NULL AS class, g.practice AS org_code, ${life}
     FROM gen_person g CROSS JOIN LATERAL generate_series(1, CASE WHEN g.hypertension THEN 1 + floor(${u('g.id', 57)} * 3)::int ELSE 1 END) j
     WHERE g.hypertension OR (g.age >= 40 AND ${u('g.id', 58)} < 0.25)`,
  );
  await gpFact(
    'gp flu immunisations',
    `SELECT g.id AS person_id, ${fact('immunization', C.cvx, sqlText(C.flu))},
            make_date(extract(year FROM ${REF})::int - 3 + s, 9, 1) + floor(${u('g.id * 4 + s', 45)} * 120)::int AS start_date,
            NULL::date AS end_date, NULL::float8 AS value, NULL::text AS value_code, NULL AS class, g.practice AS org_code, ${life}
     FROM gen_person g CROSS JOIN generate_series(0, 3) s
     WHERE ${u('g.id * 4 + s', 46)} < (CASE WHEN g.age >= 65 THEN 0.78 WHEN g.age >= 2 THEN 0.18 ELSE 0 END)`,
  );
  await gpFact(
    'gp medications',
    `SELECT g.id AS person_id, 'medication' AS kind, ${sqlText(C.rxnorm)} AS system,
            (${sqlArray(MEDICINES)})[1 + (floor(${u('g.id', 31)} * ${MEDICINES.length})::int + j) % ${MEDICINES.length}] AS code,
            m.start_date,
            CASE WHEN ${u('g.id * 32 + j', 48)} < 0.2 THEN m.start_date + 14 + floor(${u('g.id * 32 + j', 49)} * 365)::int END AS end_date,
            NULL::float8 AS value, NULL::text AS value_code, NULL AS class, g.practice AS org_code, ${life}
     FROM gen_person g CROSS JOIN LATERAL generate_series(1, g.n_meds) j
     CROSS JOIN LATERAL (SELECT ${REF} - floor(${u('g.id * 32 + j', 47)} * 1825)::int AS start_date) m
     WHERE g.n_meds > 0`,
  );
  await gpFact(
    'gp medication reviews',
    `SELECT g.id AS person_id, ${fact('procedure', C.snomed, sqlText(C.medicationReview))},
            CASE WHEN ${u('g.id', 51)} < (CASE WHEN g.n_meds >= 4 THEN 0.72 ELSE 0.2 END) THEN ${REF} - floor(${u('g.id', 52)} * 365)::int
                 ELSE ${REF} - 395 - floor(${u('g.id', 52)} * 540)::int END AS start_date,
            NULL::date AS end_date, NULL::float8 AS value, NULL::text AS value_code, NULL AS class, g.practice AS org_code, ${life}
     FROM gen_person g
     WHERE (g.n_meds >= 4 OR g.age >= 65) AND ${u('g.id', 53)} < 0.9`,
  );
}
