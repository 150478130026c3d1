/**
 * Directly age-sex standardised rates (DSR) with 95 % confidence intervals. Pure functions, no I/O.
 *
 * Standard population: the 2013 European Standard Population (ESP 2013; Eurostat, "Revision of the European
 * Standard Population — Report of Eurostat's task force", 2013 edition — the standard used by ONS and
 * OHID/PHE since 2014), whose 5-year weights (0-4 … 85-89, 90+; total 100,000) are collapsed here to the 10-year
 * `AGE_BANDS` of types.ts by adding adjacent bands (0-4 5,000 + 5-9 5,500 = 10,500, and so on; 90+ stays 1,000).
 * The same weights are used for each sex, so the age-sex standard population totals 200,000.
 *
 *   band   0-9    10-19  20-29  30-39  40-49  50-59  60-69  70-79  80-89  90+
 *   weight 10500  11000  12000  13500  14000  13500  11500   9000   4000  1000
 *
 * DSR = Σ w_i·O_i/n_i / Σ w_i over the age-sex strata (O events, n denominator). The 95 % interval uses Dobson et al.
 * (1991, Stat Med 10:457–462): with O = Σ O_i and var(DSR) = Σ (w_i/n_i)²·O_i / (Σ w_i)²,
 *   limits = DSR + √(var/O) · (O_L − O)  and  DSR + √(var/O) · (O_U − O),
 * where (O_L, O_U) is the 95 % interval for a Poisson count O: exact (Garwood) for O < 389 and Byar's approximation
 * from 389 upwards (the switch point used by OHID's PHEindicatormethods; the two agree to < 0.1 % there, tested).
 * For O = 0 the value is 0, the lower limit 0 and the upper limit undefined (null). OHID does not publish DSRs with
 * fewer than 10 events: `reliable` is false then, and the publisher should say so.
 *
 * Strata with a zero denominator contribute a rate of 0 (they have no events either) and are counted in
 * `emptyStrata`; a stratum with events but no denominator is an error.
 *
 * API: `ESP2013_WEIGHTS`, `STANDARD_POPULATION_TEXT`, `standardisedRate(strata, { per, level })` → StandardisedRate
 * (value and limits multiplied by `per`, default 1, i.e. a ratio), `byarInterval(O, level)`.
 *
 * Disclosure: publish an organisation's DSR only when its crude numerator and denominator are publishable. If the
 * strata themselves are published too, publish the DSR only when every stratum count is published (disclosure.ts
 * reports this as `standardisedPublishable`), because a DSR plus published strata is one more equation on the
 * suppressed strata.
 */
import { AGE_BANDS, type AgeBand, type Interval, type Sex } from './types.js';
import { garwood } from './funnel.js';
import { normalQuantile } from './distributions.js';

/** ESP 2013 weights collapsed to the 10-year AGE_BANDS (per 100,000 of each sex). */
export const ESP2013_WEIGHTS: Readonly<Record<AgeBand, number>> = Object.freeze({
  '0-9': 10500,
  '10-19': 11000,
  '20-29': 12000,
  '30-39': 13500,
  '40-49': 14000,
  '50-59': 13500,
  '60-69': 11500,
  '70-79': 9000,
  '80-89': 4000,
  '90+': 1000,
});

export const STANDARD_POPULATION_TEXT =
  '2013 European Standard Population (Eurostat 2013), 5-year bands collapsed to 10-year bands 0-9 … 80-89 and 90+, same weights for males and females';

export interface StratumInput {
  ageBand: AgeBand;
  sex: Sex;
  numerator: number;
  denominator: number;
}

export interface StandardisedRate {
  /** The DSR (× per). */
  value: number;
  /** 95 % limits (× per); the upper limit is null when no events were observed. */
  lower: number;
  upper: number | null;
  /** Total observed events. */
  observed: number;
  /** False below 10 events (OHID does not publish DSRs then). */
  reliable: boolean;
  emptyStrata: number;
  method: string;
}

/** Byar's approximation to the Poisson interval for a count O > 0. */
export function byarInterval(observed: number, level = 0.95): Interval {
  const z = normalQuantile(1 - (1 - level) / 2);
  const o = observed;
  const lower = o === 0 ? 0 : o * (1 - 1 / (9 * o) - z / (3 * Math.sqrt(o))) ** 3;
  const o1 = o + 1;
  const upper = o1 * (1 - 1 / (9 * o1) + z / (3 * Math.sqrt(o1))) ** 3;
  return { lower, upper };
}

function poissonInterval(observed: number, level: number): Interval {
  return observed < 389 ? garwood(observed, level) : byarInterval(observed, level);
}

/**
 * The DSR of one organisation from its age-sex strata (every band × sex present is used; a missing stratum counts as
 * an empty one). Weights: ESP 2013 by age band, identical for both sexes.
 */
export function standardisedRate(strata: StratumInput[], options: { per?: number; level?: number } = {}): StandardisedRate {
  const per = options.per ?? 1;
  const level = options.level ?? 0.95;
  const cells = new Map<string, { o: number; n: number }>();
  for (const s of strata) {
    if (!(AGE_BANDS as readonly string[]).includes(s.ageBand)) throw new RangeError(`unknown age band ${s.ageBand}`);
    if (s.numerator < 0 || s.denominator < 0) throw new RangeError('stratum counts must be ≥ 0');
    if (s.numerator > 0 && s.denominator === 0) throw new RangeError(`stratum ${s.sex} ${s.ageBand} has events but no denominator`);
    const key = `${s.sex}|${s.ageBand}`;
    const c = cells.get(key) ?? { o: 0, n: 0 };
    c.o += s.numerator;
    c.n += s.denominator;
    cells.set(key, c);
  }
  let totalWeight = 0;
  let weighted = 0;
  let variance = 0;
  let observed = 0;
  let emptyStrata = 0;
  for (const sex of ['female', 'male'] as const) {
    for (const band of AGE_BANDS) {
      const w = ESP2013_WEIGHTS[band];
      totalWeight += w;
      const c = cells.get(`${sex}|${band}`);
      if (!c || c.n === 0) {
        emptyStrata++;
        continue;
      }
      weighted += (w * c.o) / c.n;
      variance += (w / c.n) ** 2 * c.o;
      observed += c.o;
    }
  }
  const dsr = weighted / totalWeight;
  const v = variance / totalWeight ** 2;
  const method = `directly standardised (${STANDARD_POPULATION_TEXT}); 95 % CI Dobson with ${observed < 389 ? 'exact Poisson' : "Byar's"} limits`;
  if (observed === 0) {
    return { value: 0, lower: 0, upper: null, observed, reliable: false, emptyStrata, method };
  }
  const poi = poissonInterval(observed, level);
  const k = Math.sqrt(v / observed);
  return {
    value: dsr * per,
    lower: Math.max(0, dsr + k * (poi.lower - observed)) * per,
    upper: (dsr + k * (poi.upper - observed)) * per,
    observed,
    reliable: observed >= 10,
    emptyStrata,
    method,
  };
}
