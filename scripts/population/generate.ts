import { readFileSync } from 'node:fs';
import { packageFile } from '../../store/package-files.js';
import type { Queryable } from '../../store/db.js';
import { yearsBefore } from '../../indicators/spec.js';
import { populationOrganisations, practiceBounds, type PopulationOrganisations } from './organisations.js';
import { POPULATION_CODES as C, FOOD_STANDARDS, MEDICINES } from './codes.js';

/**
 * Bulk synthetic population for the indicator benchmark (issue #5), generated set-based INSIDE the database
 * (INSERT … SELECT … FROM generate_series) into the three source extracts of
 * scripts/sandbox/extract/schema.sql: `<prefix>gp`, `<prefix>hospital`, `<prefix>social_care`.
 *
 * Everything is a pure function of (seed, person id, salt): pseudo-random numbers come from PostgreSQL's
 * `hashint8extended(key, seed)` (the platform-independent hash used for hash partitioning, identical on
 * PostgreSQL and PGlite), so a seed always gives the same rows regardless of plan or order.
 *
 * Who is in it (person i = GP person i; hospital and social care hold subsets, with their own ids, linked
 * only by NHS number):
 *  - GP: everyone, registered at one of ~200 practices; England-like age/sex structure; some deceased in
 *    the two years before `asOf`. NHS numbers are valid (modulus 11) and never issued: the 999 test range
 *    while it lasts (900,000 people), then downward from 998 99999.
 *  - hospital: people with a hospital contact in the last two years (~14 %, more for the old, people with
 *    dementia and social-care clients); encounters EMER (A&E) and IMP (admissions) with length of stay and
 *    30-day readmissions; 0.5 % without NHS number.
 *  - social care: adults receiving care (~1.5 %, mostly 75+ and people with dementia), two-thirds with an
 *    NHS number; care packages (long- and short-term) and reviews; population returns `population:18+` per
 *    local authority equal to the generated residents aged 18+ (alive) at each quarter end.
 *  - hospital food standards returns `food:<standard>` per trust per quarter end.
 */

export interface PopulationOptions {
  count: number;
  seed: number;
  /** The extract date: no fact is dated after it (YYYY-MM-DD; default 2026-03-31). */
  asOf?: string;
  /** Schema name prefix (default 'src_'): schemas <prefix>gp, <prefix>hospital, <prefix>social_care. */
  schemaPrefix?: string;
  log?: (message: string) => void;
}

export interface PopulationSummary {
  version: string;
  persons: { gp: number; hospital: number; socialCare: number };
  facts: { gp: number; hospital: number; socialCare: number };
  orgReturns: number;
  seconds: number;
}

export const DEFAULT_AS_OF = '2026-03-31';
const SCHEMA_SQL = readFileSync(packageFile('scripts', 'sandbox', 'extract', 'schema.sql'), 'utf8');

/** The version recorded in each schema's extract_info: a re-run with the same options can be skipped. */
export function populationVersion(o: PopulationOptions): string {
  return `population:v2;count=${o.count};seed=${o.seed};asOf=${o.asOf ?? DEFAULT_AS_OF}`;
}

/** Schema names used for the three sources. */
export function populationSchemas(prefix = 'src_'): { gp: string; hospital: string; socialCare: string } {
  return { gp: `${prefix}gp`, hospital: `${prefix}hospital`, socialCare: `${prefix}social_care` };
}

/** True when all three schemas hold an extract built with exactly these options. */
export async function populationExists(q: Queryable, o: PopulationOptions): Promise<boolean> {
  const s = populationSchemas(o.schemaPrefix);
  for (const schema of Object.values(s)) {
    const t = await q.query<{ n: string | number }>(`SELECT count(*) AS n FROM information_schema.tables WHERE table_schema = $1 AND table_name = 'extract_info'`, [schema]);
    if (Number(t.rows[0]?.n) === 0) return false;
    const v = await q.query<{ version: string }>(`SELECT version FROM ${schema}.extract_info`);
    if (v.rows.length !== 1 || v.rows[0]!.version !== populationVersion(o)) return false;
  }
  return true;
}

// England population by 10-year age band (ONS mid-2021, rounded; the last band is 90+).
const AGE_BAND_SHARE = [11.6, 11.7, 12.6, 13.4, 12.4, 13.6, 11.0, 9.0, 4.2, 0.9];

const sqlText = (s: string) => `'${s.replace(/'/g, "''")}'`;
const sqlArray = (xs: readonly string[]) => `ARRAY[${xs.map(sqlText).join(',')}]::text[]`;

/**
 * Generates the population into the three schemas (dropped and recreated). `q` must be ONE session
 * (a pg.Client or PGlite): temporary tables and search_path are used.
 */
export async function generatePopulation(q: Queryable, o: PopulationOptions): Promise<PopulationSummary> {
  const started = performance.now();
  const log = o.log ?? (() => undefined);
  const asOf = o.asOf ?? DEFAULT_AS_OF;
  if (!/^\d{4}-\d{2}-\d{2}$/.test(asOf)) throw new Error('asOf must be YYYY-MM-DD');
  if (!Number.isInteger(o.count) || o.count < 1 || o.count > 5_000_000) throw new Error('count must be an integer from 1 to 5,000,000');
  if (!Number.isInteger(o.seed) || o.seed < 0 || o.seed > 2 ** 31) throw new Error('seed must be a non-negative integer');
  const s = populationSchemas(o.schemaPrefix);
  for (const name of Object.values(s)) if (!/^[a-z_][a-z0-9_]*$/.test(name)) throw new Error('schemaPrefix must be a lower-case SQL identifier');
  const orgs = populationOrganisations(o.seed);
  const REF = `DATE ${sqlText(asOf)}`;
  /** Uniform [0, 1) from (seed, key, salt). */
  const u = (key: string, salt: number) =>
    `(((hashint8extended((${key})::bigint, ${o.seed * 1000 + salt}::bigint) >> 11) & 9007199254740991)::float8 / 9007199254740992.0)`;

  let stepAt = performance.now();
  const step = async (label: string, sql: string): Promise<number> => {
    const r = (await q.query(sql)) as { rows: unknown[]; affectedRows?: number; rowCount?: number | null };
    const rows = Number(r.rowCount ?? r.affectedRows ?? 0);
    const now = performance.now();
    log(`${label.padEnd(34)} ${String(rows).padStart(9)} rows ${((now - stepAt) / 1000).toFixed(1).padStart(6)} s`);
    stepAt = now;
    return rows;
  };

  // ---- schemas: fixed DDL, secondary indexes and the foreign key dropped during the bulk load ----
  for (const schema of Object.values(s)) {
    await q.query(`DROP SCHEMA IF EXISTS ${schema} CASCADE`);
    await q.query(`CREATE SCHEMA ${schema}`);
    await applySchema(q, schema);
    for (const idx of ['person_org_idx', 'person_nhs_idx', 'fact_kind_code_idx', 'fact_person_idx']) await q.query(`DROP INDEX ${schema}.${idx}`);
    await q.query(`ALTER TABLE ${schema}.fact DROP CONSTRAINT fact_person_id_fkey`);
  }
  await q.query(`DROP TABLE IF EXISTS pg_temp.gen_person`);
  await q.query(`DROP TABLE IF EXISTS pg_temp.gen_practice`);
  await q.query(`CREATE TEMP TABLE gen_practice (idx int PRIMARY KEY, code text NOT NULL, la_code text NOT NULL, trust_code text NOT NULL)`);
  await q.query(
    `INSERT INTO gen_practice VALUES ${orgs.practices
      .map((p, i) => `(${i + 1}, ${sqlText(p.code)}, ${sqlText(orgs.localAuthorities[p.la]!)}, ${sqlText(orgs.trusts[p.trust]!)})`)
      .join(',')}`,
  );
  const total = AGE_BAND_SHARE.reduce((a, b) => a + b, 0);
  const bandBounds = AGE_BAND_SHARE.map((_, i) => AGE_BAND_SHARE.slice(0, i).reduce((a, b) => a + b, 0) / total);
  const trusts = sqlArray(orgs.trusts);

  // ---- everyone: one working row per person with the flags every source derives from ----
  await step(
    'people (working table)',
    `CREATE TEMP TABLE gen_person AS
     WITH b AS (
       SELECT g AS id,
              width_bucket(${u('g', 1)}, ARRAY[${bandBounds.join(',')}]::float8[]) AS band,
              width_bucket(${u('g', 5)}, ARRAY[${practiceBounds(orgs).join(',')}]::float8[]) AS pr,
              nn.nhs
       FROM generate_series(1, ${o.count}) g ${nhsNumberLateral('g')}
     ), n AS (
       SELECT id, pr, nhs,
              (CASE WHEN band = 10 THEN 90 + least(14, floor(-4 * ln(1 - ${u('id', 2)})))::int
                    ELSE (band - 1) * 10 + floor(${u('id', 2)} * 10)::int END) AS age
       FROM b
     ), p AS (
       SELECT id, pr, age, nhs,
              CASE WHEN ${u('id', 3)} < (CASE WHEN age < 60 THEN 0.49 WHEN age < 80 THEN 0.52 WHEN age < 90 THEN 0.58 ELSE 0.68 END)
                   THEN 'female' ELSE 'male' END AS sex,
              ${REF} - (floor(age * 365.25) + floor(${u('id', 4)} * 365))::int AS birth_date,
              ${u('id', 20)} < (CASE WHEN age >= 90 THEN 0.25 WHEN age >= 80 THEN 0.12 WHEN age >= 65 THEN 0.025 WHEN age >= 40 THEN 0.001 ELSE 0 END) AS dementia,
              ${u('id', 21)} < (CASE WHEN age < 18 THEN 0.001 WHEN age < 40 THEN 0.012 WHEN age < 60 THEN 0.06 WHEN age < 80 THEN 0.14 ELSE 0.16 END) AS diabetes,
              ${u('id', 19)} < (CASE WHEN age < 18 THEN 0 WHEN age < 40 THEN 0.02 WHEN age < 60 THEN 0.12 WHEN age < 80 THEN 0.35 ELSE 0.5 END) AS hypertension,
              least(25, floor(-(CASE WHEN age < 18 THEN 0.3 WHEN age < 40 THEN 0.8 WHEN age < 65 THEN 2.2 WHEN age < 75 THEN 4.5 ELSE 6.5 END) * ln(1 - ${u('id', 30)})))::int AS n_meds,
              ${u('id', 6)} < (CASE WHEN age < 50 THEN 0.002 WHEN age < 70 THEN 0.01 WHEN age < 80 THEN 0.04 WHEN age < 90 THEN 0.12 ELSE 0.3 END) AS dies
       FROM n
     ), f AS (
       SELECT p.*, dementia OR (age >= 18 AND ${u('id', 40)} < (CASE WHEN age >= 85 THEN 0.18 WHEN age >= 75 THEN 0.07 WHEN age >= 65 THEN 0.025 WHEN age >= 18 THEN 0.006 ELSE 0 END)) AS social_care_any
       FROM p
     )
     SELECT f.id, f.nhs, f.sex, f.age, f.birth_date,
            CASE WHEN dies THEN greatest(f.birth_date, ${REF} - floor(${u('f.id', 7)} * 730)::int) END AS deceased_date,
            f.dementia, f.diabetes, f.hypertension, f.n_meds,
            (age >= 18 AND social_care_any AND (NOT dementia OR ${u('f.id', 41)} < 0.45)) AS social_care,
            ${u('f.id', 50)} < least(0.9, (CASE WHEN age < 18 THEN 0.07 WHEN age < 65 THEN 0.09 WHEN age < 80 THEN 0.2 ELSE 0.35 END)
                                        * (CASE WHEN dementia OR social_care_any THEN 2.5 ELSE 1 END)) AS hospital,
            gp.code AS practice, gp.la_code, gp.trust_code
     FROM f JOIN gen_practice gp ON gp.idx = f.pr`,
  );
  await q.query(`ALTER TABLE gen_person ADD PRIMARY KEY (id)`);
  await q.query(`ANALYZE gen_person`);

  const summary: PopulationSummary = {
    version: populationVersion(o),
    persons: { gp: 0, hospital: 0, socialCare: 0 },
    facts: { gp: 0, hospital: 0, socialCare: 0 },
    orgReturns: 0,
    seconds: 0,
  };
  /** Inserts facts from `select` (columns of fact plus b = birth date, l = last date alive), keeping only dates in life. */
  const facts = (schema: string, select: string) =>
    `INSERT INTO ${schema}.fact (person_id, kind, system, code, start_date, end_date, value, value_code, class, org_code)
     SELECT person_id, kind, system, code, start_date, end_date, value, value_code, class, org_code
     FROM (${select}) f WHERE f.start_date >= f.b AND f.start_date <= f.l`;
  const life = `g.birth_date AS b, least(coalesce(g.deceased_date, ${REF}), ${REF}) AS l`;
  const fact = (kind: string, system: string, code: string) => `${sqlText(kind)} AS kind, ${sqlText(system)} AS system, ${code} AS code`;

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

  // ---- social care ----
  const socialId = (id: string) => `(3000000000 + ${id})`;
  summary.persons.socialCare = await step(
    'social care persons',
    `INSERT INTO ${s.socialCare}.person (person_id, nhs_number, sex, birth_date, org_code, deceased_date)
     SELECT ${socialId('id')}, CASE WHEN ${u('id', 80)} < 2.0 / 3 THEN nhs END, sex, birth_date, la_code, deceased_date
     FROM gen_person WHERE social_care`,
  );
  // Packages: 85 % of clients have a long-term one (most ongoing), 30 % a short-term (reablement) one.
  summary.facts.socialCare += await step(
    'social care packages',
    facts(
      s.socialCare,
      `SELECT ${socialId('g.id')} AS person_id, 'care-package' AS kind, ${sqlText(C.careSystem)} AS system, p.code,
              p.start_date, p.end_date, NULL::float8 AS value, NULL::text AS value_code, NULL AS class, g.la_code AS org_code, ${life}
       FROM gen_person g
       CROSS JOIN LATERAL (
         SELECT (${sqlArray(C.longTermPackages)})[1 + floor(${u('g.id', 82)} * ${C.longTermPackages.length})::int] AS code,
                greatest(g.birth_date + 6575, ${REF} - floor(${u('g.id', 83)} * 1825)::int) AS start_date,
                NULL::date AS end_date, ${u('g.id', 81)} < 0.85 AS keep
         UNION ALL
         SELECT ${sqlText(C.shortTermPackage)}, ${REF} - floor(${u('g.id', 85)} * 730)::int,
                least(${REF}, ${REF} - floor(${u('g.id', 85)} * 730)::int + 42), ${u('g.id', 84)} < 0.3
       ) p
       WHERE g.social_care AND p.keep`,
    ),
  );
  // A tenth of long-term packages ended (moved, died, or no longer needed) after at least 3 months.
  await step(
    'social care package ends',
    `UPDATE ${s.socialCare}.fact f SET end_date = least(${REF}, f.start_date + 90 + floor(${u('f.person_id', 86)} * 700)::int)
     WHERE f.kind = 'care-package' AND f.code <> ${sqlText(C.shortTermPackage)} AND ${u('f.person_id', 87)} < 0.1`,
  );
  summary.facts.socialCare += await step(
    'social care reviews',
    facts(
      s.socialCare,
      `SELECT p.person_id, 'care-review' AS kind, ${sqlText(C.careReviewSystem)} AS system, ${sqlText(C.careReview)} AS code,
              CASE WHEN ${u('p.person_id * 2 + j', 88)} < 0.68 THEN ${REF} - floor(${u('p.person_id * 2 + j', 89)} * 365)::int
                   ELSE p.start_date + 42 + floor(${u('p.person_id * 2 + j', 89)} * 300)::int END AS start_date,
              NULL::date AS end_date, NULL::float8 AS value, NULL::text AS value_code, NULL AS class, p.org_code,
              greatest(g.birth_date, p.start_date) AS b, least(coalesce(g.deceased_date, ${REF}), coalesce(p.end_date, ${REF}), ${REF}) AS l
       FROM ${s.socialCare}.fact p
       JOIN gen_person g ON ${socialId('g.id')} = p.person_id
       CROSS JOIN generate_series(1, 2) j
       WHERE p.kind = 'care-package' AND p.code <> ${sqlText(C.shortTermPackage)} AND (j = 1 OR ${u('p.person_id', 90)} < 0.3)`,
    ),
  );

  // ---- organisation returns ----
  const quarterEnds = quarterEndsBefore(asOf, 12);
  const quarters = `(SELECT unnest(ARRAY[${quarterEnds.map((d) => `DATE ${sqlText(d)}`).join(',')}]) AS pe)`;
  // One pass over everyone with one filtered count per quarter end (not a 12-fold join).
  summary.orgReturns += await step(
    'LA population returns',
    `INSERT INTO ${s.socialCare}.org_return (org_code, period_end, item, value)
     SELECT c.la_code, v.pe, 'population:18+', v.n
     FROM (SELECT la_code, ${quarterEnds
       .map((pe, k) => `count(*) FILTER (WHERE birth_date <= DATE ${sqlText(yearsBefore(pe, 18))} AND (deceased_date IS NULL OR deceased_date > DATE ${sqlText(pe)})) AS n${k}`)
       .join(',\n             ')}
           FROM gen_person GROUP BY la_code) c
     CROSS JOIN LATERAL (VALUES ${quarterEnds.map((pe, k) => `(DATE ${sqlText(pe)}, c.n${k})`).join(', ')}) AS v(pe, n)`,
  );
  summary.orgReturns += await step(
    'trust food-standards returns',
    `INSERT INTO ${s.hospital}.org_return (org_code, period_end, item, value)
     SELECT t.code, q.pe, 'food:' || f.standard,
            CASE WHEN ${u(`t.k * 1000 + f.k * 50 + extract(year FROM q.pe)::int % 40 + extract(month FROM q.pe)::int`, 91)} < 0.55 + 0.4 * ${u('t.k', 92)} THEN 1 ELSE 0 END
     FROM unnest(${trusts}) WITH ORDINALITY t(code, k)
     CROSS JOIN unnest(${sqlArray(FOOD_STANDARDS)}) WITH ORDINALITY f(standard, k)
     CROSS JOIN ${quarters} q`,
  );

  // Inpatient food survey: responses and positive ratings per trust per quarter.
  summary.orgReturns += await step(
    'trust food-survey returns',
    `INSERT INTO ${s.hospital}.org_return (org_code, period_end, item, value)
     SELECT x.code, x.pe, v.item, v.value
     FROM (SELECT t.code, q.pe, 80 + floor(${u(`t.k * 100000 + (q.pe - DATE '2000-01-01')`, 93)} * 320) AS responses,
                  0.55 + 0.3 * ${u('t.k', 94)} AS p, ${u(`t.k * 100000 + (q.pe - DATE '2000-01-01')`, 95)} AS r
           FROM unnest(${trusts}) WITH ORDINALITY t(code, k) CROSS JOIN ${quarters} q) x
     CROSS JOIN LATERAL (VALUES (${sqlText(C.foodSurvey.responses)}, x.responses),
                                (${sqlText(C.foodSurvey.positive)}, least(x.responses, round(x.responses * (x.p + 0.1 * (x.r - 0.5)))))) AS v(item, value)`,
  );

  // ---- indexes, foreign keys, statistics, version ----
  for (const schema of Object.values(s)) {
    await applySchema(q, schema);
    await q.query(`ALTER TABLE ${schema}.fact ADD CONSTRAINT fact_person_id_fkey FOREIGN KEY (person_id) REFERENCES ${schema}.person (person_id)`);
    await q.query(`ANALYZE ${schema}.person`);
    await q.query(`ANALYZE ${schema}.fact`);
    await q.query(`ANALYZE ${schema}.org_return`);
    await q.query(`INSERT INTO ${schema}.extract_info (version) VALUES ($1)`, [summary.version]);
  }
  log(`${'indexes, keys, ANALYZE'.padEnd(34)} ${((performance.now() - stepAt) / 1000).toFixed(1).padStart(21)} s`);
  await q.query(`DROP TABLE gen_person`);
  await q.query(`DROP TABLE gen_practice`);
  summary.seconds = (performance.now() - started) / 1000;
  return summary;
}

/**
 * `CROSS JOIN LATERAL (…) nn` giving nn.nhs: a valid NHS number (modulus 11) for person index `id` (1-based),
 * distinct for distinct ids. Nine ids share each eight-digit prefix, and the ninth digit skips the one value
 * that has no check digit; prefixes run 99900000 upward (the 999 test range, 900,000 people), then
 * 99899999 downward (998…, also never issued: English numbers are issued from the 4xx and 6xx–7xx ranges).
 */
export function nhsNumberLateral(id: string): string {
  const digits = [10, 9, 8, 7, 6, 5, 4, 3].map((w, i) => `(x.p8 / ${10 ** (7 - i)}) % 10 * ${w}`).join(' + ');
  return `CROSS JOIN LATERAL (
    SELECT z.p8::text || z.d9::text || ((11 - (z.r + 2 * z.d9) % 11) % 11)::text AS nhs
    FROM (SELECT y.p8, y.r, CASE WHEN ((12 - y.r) % 11 * 6) % 11 <= y.j THEN y.j + 1 ELSE y.j END AS d9
          FROM (SELECT x.p8, x.j, (${digits}) % 11 AS r
                FROM (SELECT CASE WHEN (${id} - 1) / 9 < 100000 THEN 99900000 + (${id} - 1) / 9 ELSE 99899999 - ((${id} - 1) / 9 - 100000) END AS p8,
                             (${id} - 1) % 9 AS j) x) y) z) nn`;
}

/** The last days of the `n` calendar quarters up to `asOf` (those not after it), newest first. */
export function quarterEndsBefore(asOf: string, n: number): string[] {
  const [y, m] = asOf.split('-').map(Number) as [number, number];
  const out: string[] = [];
  for (let k = 0; out.length < n && k <= n; k++) {
    const q = Math.floor((m - 1) / 3) - k; // quarter index relative to year y (may go negative)
    const end = new Date(Date.UTC(y, (q + 1) * 3, 0)).toISOString().slice(0, 10);
    if (end <= asOf) out.push(end);
  }
  return out;
}

/** Applies scripts/sandbox/extract/schema.sql inside `schema` (idempotent: IF NOT EXISTS throughout). */
async function applySchema(q: Queryable, schema: string): Promise<void> {
  const statements = SCHEMA_SQL.split(/;\s*$/m)
    .map((st) => st.replace(/^\s*--.*$/gm, '').trim())
    .filter(Boolean);
  await q.query(`SET search_path TO ${schema}`);
  try {
    for (const st of statements) await q.query(st);
  } finally {
    await q.query(`SET search_path TO DEFAULT`);
  }
}

export type { PopulationOrganisations };
