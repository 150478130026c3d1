import { yearsBefore } from '../../indicators/spec.js';
import { POPULATION_CODES as C, FOOD_STANDARDS } from './codes.js';
import { sqlText, sqlArray, type GenerationContext } from './generation-context.js';

/** Organisation-level returns: local-authority populations and trust food-standards and food-survey returns per quarter end. */
export async function generateOrganisationReturns(ctx: GenerationContext): Promise<void> {
  const { q, s, u, step, summary, asOf, trusts } = ctx;
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
