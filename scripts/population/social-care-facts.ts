import { POPULATION_CODES as C } from './codes.js';
import { sqlText, sqlArray, type GenerationContext } from './generation-context.js';

/** The social-care extract: clients, care packages (long- and short-term) and reviews. */
export async function generateSocialCareRecords(ctx: GenerationContext): Promise<void> {
  const { s, REF, u, step, facts, life, summary } = ctx;
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
}
