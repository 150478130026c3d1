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
 * COVERAGE. An indicator restricted to an age range or a sex (e.g. flu vaccination at 65+) is standardised over the
 * strata it covers only: the standard population is the part of the ESP 2013 inside the range. A 10-year band the
 * range cuts takes the weights of the 5-year ESP groups inside the range, and a 5-year group the range cuts takes
 * its weight in proportion to the single years covered (ESP weights spread evenly over the years of a group; 90+ is
 * one group). So 65+ uses 65-69 5,500, 70-79 9,000, 80-89 4,000, 90+ 1,000 (19,500 per sex), and 18+ gives the
 * 10-19 band 2 × 5,500 / 5 = 2,200. Dividing by the whole ESP instead (strata outside the range counted as rate 0)
 * shrinks the value by the share of the standard population outside the range: that was defect 1 of issue 18.
 * A stratum outside the coverage must have no people (RangeError otherwise: the strata and the definition disagree).
 *
 * DSR = Σ w_i·O_i/n_i / Σ w_i over the covered age-sex strata (O events, n denominator). The 95 % interval uses Dobson et al.
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
 * suppressed strata. publish.ts passes strata keyed-rounded and scaled to the published counts, never exact ones
 * (issue 18; docs/indicators-disclosure.md).
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

/** ESP 2013 5-year weights 0-4 … 85-89, then 90+ (Eurostat 2013), per 100,000. */
export const ESP2013_FIVE_YEAR: readonly number[] = Object.freeze([
  5000, 5500, 5500, 5500, 6000, 6000, 6500, 7000, 7000, 7000, 7000, 6500, 6000, 5500, 5000, 4000, 2500, 1500, 1000,
]);

/** Which strata an indicator covers: its age range (whole years, inclusive) and sexes (default both). */
export interface Coverage {
  age?: { min?: number; max?: number };
  sexes?: readonly Sex[];
}

/**
 * Standard-population weight of each 10-year band inside an age range (ESP 2013; a cut 5-year group is shared out
 * evenly over its single years; 90+ is covered when the range reaches 90). Bands outside the range weigh 0.
 */
export function coveredWeights(age: Coverage['age'] = {}): Record<AgeBand, number> {
  const min = age.min ?? 0;
  const max = age.max ?? Infinity;
  const out = {} as Record<AgeBand, number>;
  AGE_BANDS.forEach((band, b) => {
    let w = 0;
    if (band === '90+') w = max >= 90 ? ESP2013_FIVE_YEAR[18]! : 0;
    else {
      for (let year = 10 * b; year < 10 * b + 10; year++) {
        if (year >= min && year <= max) w += ESP2013_FIVE_YEAR[Math.floor(year / 5)]! / 5;
      }
    }
    out[band] = Math.round(w * 1e9) / 1e9;
  });
  return out;
}

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
 * The DSR of one organisation from its age-sex strata, over the strata `coverage` covers (default: all ages, both
 * sexes); a missing covered stratum counts as an empty one. Weights: ESP 2013 inside the age range, identical for
 * both sexes.
 */
export function standardisedRate(
  strata: StratumInput[],
  options: { per?: number; level?: number; coverage?: Coverage } = {},
): StandardisedRate {
  const per = options.per ?? 1;
  const level = options.level ?? 0.95;
  const weights = coveredWeights(options.coverage?.age);
  const sexes = options.coverage?.sexes ?? (['female', 'male'] as const);
  const cells = new Map<string, { o: number; n: number }>();
  for (const s of strata) {
    if (!(AGE_BANDS as readonly string[]).includes(s.ageBand)) throw new RangeError(`unknown age band ${s.ageBand}`);
    if (s.numerator < 0 || s.denominator < 0) throw new RangeError('stratum counts must be ≥ 0'); // whole or scaled
    if (s.numerator > 0 && s.denominator === 0) throw new RangeError(`stratum ${s.sex} ${s.ageBand} has events but no denominator`);
    const key = `${s.sex}|${s.ageBand}`;
    const c = cells.get(key) ?? { o: 0, n: 0 };
    c.o += s.numerator;
    c.n += s.denominator;
    cells.set(key, c);
    if ((s.denominator > 0 || s.numerator > 0) && (weights[s.ageBand] === 0 || !sexes.includes(s.sex))) {
      throw new RangeError(`stratum ${s.sex} ${s.ageBand} has people but is outside the indicator's coverage`);
    }
  }
  let totalWeight = 0;
  let weighted = 0;
  let variance = 0;
  let observed = 0;
  let emptyStrata = 0;
  for (const sex of sexes) {
    for (const band of AGE_BANDS) {
      const w = weights[band];
      if (w === 0) continue;
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
  observed = Math.round(observed * 1e6) / 1e6; // strata scaled to published counts (publish.ts) add up to a whole number
  if (totalWeight === 0) throw new RangeError('the coverage holds no standard population');
  const dsr = weighted / totalWeight;
  const v = variance / totalWeight ** 2;
  const method = `directly standardised (${STANDARD_POPULATION_TEXT}${coverageText(options.coverage)}); 95 % CI Dobson with ${observed < 389 ? 'exact Poisson' : "Byar's"} limits`;
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

/** The coverage in words for the method text ("" when it is everyone). */
export function coverageText(coverage: Coverage | undefined): string {
  const parts: string[] = [];
  const a = coverage?.age;
  if (a && (a.min !== undefined || a.max !== undefined)) {
    parts.push(a.max === undefined ? `ages ${a.min}+` : `ages ${a.min ?? 0}-${a.max}`);
  }
  if (coverage?.sexes && coverage.sexes.length === 1) parts.push(`${coverage.sexes[0]}s only`);
  return parts.length ? `, restricted to the strata the indicator covers: ${parts.join(', ')}` : '';
}
