/**
 * The indicator benchmark's baseline (issue #5): ONE hand-written SQL statement per indicator, run directly
 * in PostgreSQL over the same source extracts (src_gp, src_hospital, src_social_care), giving the counts
 * the pipeline should compute — per organisation and, where the pipeline stratifies, per age band and sex.
 *
 * Written from the catalogue's published definitions (indicators/catalogue.ts), not from the pipeline's SQL
 * compiler, so that agreement means something. Cross-source indicators join the two sources' person
 * tables on NHS number (which the pipeline never does: it links keyed pseudonyms in the service). People who
 * opted out of secondary use are listed by NHS number in the table `optOutTable` (when given) and left out
 * of every person the statements count, at every source (people without an NHS number cannot opt out).
 *
 * Every statement returns rows (org, age_band, sex, numerator, denominator); age_band and sex are NULL for
 * indicators the pipeline does not stratify.
 */

export interface BaselineContext {
  /** Period end, YYYY-MM-DD. */
  end: string;
  schemas: { gp: string; hospital: string; socialCare: string };
  /** A table (nhs_number text) of the people who opted out of secondary use. */
  optOutTable?: string;
}

export interface BaselineRow {
  org: string;
  age_band: string | null;
  sex: string | null;
  numerator: number;
  denominator: number;
}

const lit = (d: string) => {
  if (!/^\d{4}-\d{2}-\d{2}$/.test(d)) throw new Error('dates must be YYYY-MM-DD');
  return `DATE '${d}'`;
};
const codes = (xs: string[]) => `ARRAY[${xs.map((c) => `'${c}'`).join(',')}]`;

const DIABETES = ['44054006', '73211009', '46635009'];
const HBA1C = ['4548-4', '17856-6'];
const HYPERTENSION = ['59621000', '38341003'];
const BLOOD_PRESSURE = ['55284-4', '85354-9', '8480-6'];
const BMI = ['39156-5'];
const SMOKING_STATUS = ['72166-2'];
const CURRENT_SMOKER = ['449868002', '77176002', '65568007', '428041000124106'];
const FLU = ['140', '141', '135', '150', '153', '155', '158', '161', '185', '186', '197', '205', '88', '111'];
const DEMENTIA = ['52448006', '26929004', '230265002'];
const MEDICATION_REVIEW = ['430193006', '428191000124101', '314530002', '1239511000000100'];

/** Statement per indicator id. */
export function baselineStatements(ctx: BaselineContext): Record<string, string> {
  const E = lit(ctx.end);
  /** First day of the window of m months ending at E. */
  const W = (m: number) => `((${E} - interval '${m} months')::date + 1)`;
  const { gp, hospital, socialCare: sc } = ctx.schemas;
  /** Born on or before the day `years` before E: aged at least `years` at E (plain date comparisons, index- and CPU-friendly). */
  const agedAtLeast = (alias: string, years: number) => `${alias}.birth_date <= (${E} - interval '${years} years')::date`;
  const band = (alias: string) =>
    `(CASE ${[90, 80, 70, 60, 50, 40, 30, 20, 10]
      .map((y) => `WHEN ${agedAtLeast(alias, y)} THEN '${y === 90 ? '90+' : `${y}-${y + 9}`}'`)
      .join(' ')} ELSE '0-9' END)`;
  /** Not opted out of secondary use. */
  const counted = (alias: string) =>
    ctx.optOutTable ? `NOT EXISTS (SELECT 1 FROM ${ctx.optOutTable} x WHERE x.nhs_number = ${alias}.nhs_number)` : 'TRUE';
  const alive = (alias: string) =>
    `${alias}.birth_date <= ${E} AND (${alias}.deceased_date IS NULL OR ${alias}.deceased_date > ${E}) AND ${counted(alias)}`;
  const activeAtEnd = (alias: string) => `${alias}.start_date <= ${E} AND (${alias}.end_date IS NULL OR ${alias}.end_date > ${E})`;
  const inWindow = (alias: string, m: number) => `${alias}.start_date BETWEEN ${W(m)} AND ${E}`;
  const strata = (alias: string) => `${alias}.org_code AS org, ${band(alias)} AS age_band, ${alias}.sex AS sex`;
  /** NHS numbers the hospital holds for people with an emergency (EMER) encounter starting in the 12-month window. */
  const emergencyNhs = `(SELECT DISTINCT hp.nhs_number FROM ${hospital}.person hp JOIN ${hospital}.fact he ON he.person_id = hp.person_id
       WHERE he.kind = 'encounter' AND he.class = 'EMER' AND ${inWindow('he', 12)} AND hp.nhs_number IS NOT NULL AND ${counted('hp')})`;
  /** A GP person-proportion: population filter (over p) and numerator predicate. */
  const gpProportion = (population: string, numerator: string, joins = '') =>
    `SELECT ${strata('p')}, count(*) FILTER (WHERE ${numerator})::int AS numerator, count(*)::int AS denominator
     FROM ${gp}.person p ${joins}
     WHERE ${alive('p')} AND ${population}
     GROUP BY 1, 2, 3`;
  const has = (schema: string, where: string) => `EXISTS (SELECT 1 FROM ${schema}.fact f WHERE f.person_id = p.person_id AND ${where})`;
  /** Latest-in-window observation per person (same day: the larger value, then the first value code). */
  const latest = (obs: string[], m: number) => {
    const order = 'ORDER BY o.start_date DESC, o.value DESC NULLS LAST, o.value_code';
    return `(SELECT o.person_id, (array_agg(o.value ${order}))[1] AS value, (array_agg(o.value_code ${order}))[1] AS value_code
      FROM ${gp}.fact o WHERE o.kind = 'observation' AND o.code = ANY(${codes(obs)}) AND o.start_date BETWEEN ${W(m)} AND ${E}
      GROUP BY o.person_id)`;
  };
  /** Social-care adults alive at E with a care package active at E. */
  const withPackage = (alias: string) =>
    `${alive(alias)} AND ${agedAtLeast(alias, 18)} AND EXISTS (SELECT 1 FROM ${sc}.fact k WHERE k.person_id = ${alias}.person_id AND k.kind = 'care-package' AND ${activeAtEnd('k')})`;
  const stays = (numerator: string) =>
    `SELECT coalesce(s.org_code, p.org_code) AS org, ${band('p')} AS age_band, p.sex AS sex, ${numerator} AS numerator, count(*)::int AS denominator
     FROM ${hospital}.fact s JOIN ${hospital}.person p ON p.person_id = s.person_id
     WHERE s.kind = 'encounter' AND s.class = 'IMP' AND s.start_date <= ${E} AND s.end_date BETWEEN ${W(12)} AND ${E} AND ${counted('p')}
     GROUP BY 1, 2, 3`;
  /** Latest return (period end in the 12-month window) per organisation holding `item`. */
  const latestReturn = (schema: string, where: string) =>
    `(SELECT DISTINCT ON (org_code) org_code, period_end FROM ${schema}.org_return
      WHERE ${where} AND period_end BETWEEN ${W(12)} AND ${E} ORDER BY org_code, period_end DESC)`;

  return {
    'emergency-readmission-30d': stays(
      `count(*) FILTER (WHERE EXISTS (SELECT 1 FROM ${hospital}.fact r WHERE r.person_id = s.person_id AND r.kind = 'encounter' AND r.class IN ('EMER', 'IMP')
         AND r.start_date > s.start_date AND r.start_date >= s.end_date AND r.start_date <= s.end_date + 30))::int`,
    ),
    'polypharmacy-75-no-review': gpProportion(
      `${agedAtLeast('p', 75)} AND p.person_id IN (SELECT m.person_id FROM ${gp}.fact m WHERE m.kind = 'medication' AND ${activeAtEnd('m')} GROUP BY m.person_id HAVING count(DISTINCT m.code) >= 10)`,
      `NOT ${has(gp, `f.kind = 'procedure' AND f.code = ANY(${codes(MEDICATION_REVIEW)}) AND ${inWindow('f', 12)}`)}`,
    ),
    'dementia-emergency-admission': gpProportion(
      `p.nhs_number IS NOT NULL AND ${has(gp, `f.kind = 'condition' AND f.code = ANY(${codes(DEMENTIA)}) AND ${activeAtEnd('f')}`)}`,
      `p.nhs_number IN ${emergencyNhs}`,
    ),
    'mean-length-of-stay': stays(`sum(s.end_date - s.start_date)::int`),
    'emergency-attendance-registered': gpProportion(`p.nhs_number IS NOT NULL`, `e.nhs_number IS NOT NULL`, `LEFT JOIN ${emergencyNhs} e ON e.nhs_number = p.nhs_number`),
    'diabetes-hba1c-recorded': gpProportion(
      has(gp, `f.kind = 'condition' AND f.code = ANY(${codes(DIABETES)}) AND ${activeAtEnd('f')}`),
      has(gp, `f.kind = 'observation' AND f.code = ANY(${codes(HBA1C)}) AND ${inWindow('f', 12)}`),
    ),
    'hypertension-bp-recorded': gpProportion(
      has(gp, `f.kind = 'condition' AND f.code = ANY(${codes(HYPERTENSION)}) AND ${activeAtEnd('f')}`),
      has(gp, `f.kind = 'observation' AND f.code = ANY(${codes(BLOOD_PRESSURE)}) AND ${inWindow('f', 12)}`),
    ),
    'current-smokers': gpProportion(agedAtLeast('p', 18), `l.value_code = ANY(${codes(CURRENT_SMOKER)})`, `JOIN ${latest(SMOKING_STATUS, 24)} l ON l.person_id = p.person_id`),
    'obesity-bmi-30': gpProportion(agedAtLeast('p', 18), `l.value >= 30`, `JOIN ${latest(BMI, 24)} l ON l.person_id = p.person_id`),
    'flu-vaccination-65': gpProportion(agedAtLeast('p', 65), has(gp, `f.kind = 'immunization' AND f.code = ANY(${codes(FLU)}) AND ${inWindow('f', 12)}`)),
    'long-term-support-per-100k': `SELECT d.org_code AS org, NULL::text AS age_band, NULL::text AS sex, coalesce(n.people, 0)::int AS numerator, d.value::float8 AS denominator
       FROM (SELECT r.org_code, r.value FROM ${sc}.org_return r JOIN ${latestReturn(sc, `item = 'population:18+'`)} l USING (org_code, period_end) WHERE r.item = 'population:18+') d
       LEFT JOIN (SELECT p.org_code, count(*) AS people FROM ${sc}.person p WHERE ${withPackage('p')} GROUP BY p.org_code) n ON n.org_code = d.org_code`,
    'care-packages-reviewed': `SELECT ${strata('p')},
         count(*) FILTER (WHERE EXISTS (SELECT 1 FROM ${sc}.fact v WHERE v.person_id = p.person_id AND v.kind = 'care-review' AND ${inWindow('v', 12)}))::int AS numerator,
         count(*)::int AS denominator
       FROM ${sc}.person p WHERE ${withPackage('p')} GROUP BY 1, 2, 3`,
    'care-package-emergency-attendance': `SELECT ${strata('p')}, count(*) FILTER (WHERE p.nhs_number IN ${emergencyNhs})::int AS numerator, count(*)::int AS denominator
       FROM ${sc}.person p WHERE p.nhs_number IS NOT NULL AND ${withPackage('p')} GROUP BY 1, 2, 3`,
    'food-standards-compliance': `SELECT r.org_code AS org, NULL::text AS age_band, NULL::text AS sex, sum(r.value)::float8 AS numerator, count(*)::int AS denominator
       FROM ${hospital}.org_return r JOIN ${latestReturn(hospital, `item LIKE 'food:%'`)} l USING (org_code, period_end)
       WHERE r.item LIKE 'food:%' GROUP BY r.org_code`,
    'food-survey-positive': `SELECT l.org_code AS org, NULL::text AS age_band, NULL::text AS sex,
         max(r.value) FILTER (WHERE r.item = 'food-survey:positive')::float8 AS numerator, max(r.value) FILTER (WHERE r.item = 'food-survey:responses')::float8 AS denominator
       FROM ${latestReturn(hospital, `item IN ('food-survey:positive', 'food-survey:responses')`)} l
       JOIN ${hospital}.org_return r USING (org_code, period_end)
       WHERE r.item IN ('food-survey:positive', 'food-survey:responses') GROUP BY l.org_code`,
  };
}
