import { readFileSync } from 'node:fs';
import { packageFile } from '../../store/package-files.js';
import type { Queryable } from '../../store/db.js';
import { populationOrganisations, practiceBounds, type PopulationOrganisations } from './organisations.js';
import { generateGpRecords } from './gp-facts.js';
import { sqlArray, sqlText, type GenerationContext } from './generation-context.js';
import { generateHospitalRecords } from './hospital-facts.js';
import { generateOrganisationReturns } from './organisation-returns.js';
import { generateSocialCareRecords } from './social-care-facts.js';

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

  const ctx: GenerationContext = { q, o, s, REF, u, step, facts, life, fact, summary, asOf, orgs, trusts };
  await generateGpRecords(ctx);
  await generateHospitalRecords(ctx);
  await generateSocialCareRecords(ctx);
  await generateOrganisationReturns(ctx);

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
export { quarterEndsBefore } from './organisation-returns.js';
