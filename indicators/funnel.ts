/**
 * Fair comparison: confidence intervals, funnel-plot control limits, over-dispersion and classification.
 * Pure functions, no I/O. Organisations are compared with what chance alone would produce at their size — never ranked.
 *
 * All values here are on the RATIO scale (numerator / denominator). For an indicator "per 100,000", multiply the
 * value, the interval and the limits by `per` when publishing; the statistics do not change.
 *
 * API
 *  - `confidenceInterval(kind, numerator, denominator, level = 0.95)` → Interval
 *      proportion: exact Clopper–Pearson (beta quantiles); `wilsonInterval` is exported as an alternative but not used;
 *      poisson (rates, counts, and the `mean` measure — a sum compared on the Poisson scale): exact Garwood limits on the
 *      count divided by the denominator: [Γ⁻¹(α/2; O), Γ⁻¹(1−α/2; O+1)] / d (for O = 0 the lower limit is 0).
 *  - `controlLimits(kind, target, denominator, { phi }?)` → ControlLimits (95 % "alert" and 99.8 % "alarm").
 *      Without over-dispersion: Spiegelhalter (2005) "Funnel plots for comparing institutional performance",
 *      Stat Med 24:1185–1202, Appendix A.1.1: with r_p the p-quantile of the count (Bin(n, θ) for proportions,
 *      Poisson(θ·n) for rates) and F its CDF, the limit is (r_p − α)/n with
 *      α = (F(r_p) − p) / (F(r_p) − F(r_p − 1)), which interpolates the discrete quantile so the limits are smooth in
 *      n; p = 0.025/0.975 (95 %) and 0.001/0.999 (99.8 %). Lower limits are floored at 0 (and proportions' upper
 *      at 1).
 *      With over-dispersion φ > 1 (see below): θ ± z_p·√(φ·V(θ)/n), V(θ) = θ(1−θ) (proportion) or θ (Poisson),
 *      z = 1.959964 / 3.090232 — Spiegelhalter 2005 §3.2 (the exact discrete limits cannot be inflated by φ).
 *  - `estimateOverdispersion(kind, target, units)` → { phi, units, pValue }: multiplicative over-dispersion from
 *      Pearson z-scores z_i = (y_i − θ)/√(V(θ)/n_i) winsorised at 10 % (z below the 10th / above the 90th percentile
 *      set to those percentiles), φ = Σ z_i² / I (Spiegelhalter 2005 §3.2). pValue = P(χ²_{I−1} ≥ I·φ).
 *      `funnel()` adjusts only when the caller asks for it AND φ > 1 (φ < 1 means no extra variation: no narrowing).
 *      Chosen over the additive DerSimonian–Laird τ² because it keeps the funnel shape and needs no weights. Its known
 *      weakness: the widened limits still close in on the target as n grows, so very large organisations can be
 *      flagged for differences that an additive τ² (a floor on the variance) would absorb.
 *  - `classify(observed, limits)` → Classification: above upper99.8 → above-alarm; above upper95 → above-alert;
 *      below lower99.8 → below-alarm; below lower95 → below-alert; on or within the limits → within-expected.
 *  - `funnel(kind, units, { overdispersion })` → target, φ, and for every unit its value, CI, limits and class
 *      (units keep the caller's order; no rank is produced). The target is Σ numerator / Σ denominator over the units.
 *  - `funnelCurve(kind, target, maxDenominator, points, phi?)` → limits along the denominator axis for drawing.
 *
 * Disclosure: publish.ts passes the PUBLISHED (keyed-rounded) counts and the published total's value as target, and
 * publishes a unit's value, CI, limits and class only when its numerator and denominator are both publishable
 * (disclosure.ts) — a figure computed from exact counts would give them away (issue 18).
 */
import type { Classification, ControlLimits, Interval } from './types.js';
import { betaQuantile, binomQuantile, binomTails, dbinom, dpois, gammaQuantile, normalQuantile, poisQuantile, poisTails, regIncGamma } from './distributions.js';

/** proportion: exact binomial; poisson: rates per exposure, counts, and the `mean` measure. */
export type ComparisonKind = 'proportion' | 'poisson';

/** One organisation's counts (as published, when publishing). */
export interface FunnelUnit {
  numerator: number;
  denominator: number;
}

export const ALERT_LEVEL = 0.95;
export const ALARM_LEVEL = 0.998;

function checkCounts(kind: ComparisonKind, numerator: number, denominator: number): void {
  if (!(Number.isFinite(numerator) && numerator >= 0)) throw new RangeError(`numerator must be a count ≥ 0, got ${numerator}`);
  if (!(Number.isFinite(denominator) && denominator > 0)) throw new RangeError(`denominator must be > 0, got ${denominator}`);
  if (kind === 'proportion' && (numerator > denominator || !Number.isInteger(numerator) || !Number.isInteger(denominator))) {
    throw new RangeError(`a proportion needs integer counts with numerator ≤ denominator, got ${numerator}/${denominator}`);
  }
}

/** Exact Clopper–Pearson interval for x events out of n. */
export function clopperPearson(x: number, n: number, level = 0.95): Interval {
  checkCounts('proportion', x, n);
  const a = (1 - level) / 2;
  return {
    lower: x === 0 ? 0 : betaQuantile(a, x, n - x + 1),
    upper: x === n ? 1 : betaQuantile(1 - a, x + 1, n - x),
  };
}

/** Wilson score interval (offered for comparison; the published CI is Clopper–Pearson). */
export function wilsonInterval(x: number, n: number, level = 0.95): Interval {
  checkCounts('proportion', x, n);
  const z = normalQuantile(1 - (1 - level) / 2);
  const p = x / n;
  const z2n = (z * z) / n;
  const centre = (p + z2n / 2) / (1 + z2n);
  const half = (z * Math.sqrt((p * (1 - p)) / n + z2n / (4 * n))) / (1 + z2n);
  return { lower: Math.max(0, centre - half), upper: Math.min(1, centre + half) };
}

/** Exact (Garwood) Poisson interval for an observed count O: [Γ⁻¹(α/2; O), Γ⁻¹(1−α/2; O+1)]. */
export function garwood(observed: number, level = 0.95): Interval {
  if (!(Number.isInteger(observed) && observed >= 0)) throw new RangeError(`observed must be an integer ≥ 0, got ${observed}`);
  const a = (1 - level) / 2;
  return { lower: observed === 0 ? 0 : gammaQuantile(a, observed), upper: gammaQuantile(1 - a, observed + 1) };
}

/** Confidence interval of numerator/denominator on the ratio scale. */
export function confidenceInterval(kind: ComparisonKind, numerator: number, denominator: number, level = 0.95): Interval {
  checkCounts(kind, numerator, denominator);
  if (kind === 'proportion') return clopperPearson(numerator, denominator, level);
  const g = garwood(Math.round(numerator), level);
  return { lower: g.lower / denominator, upper: g.upper / denominator };
}

/** Spiegelhalter's interpolated discrete limit for probability p (ratio scale). */
function exactLimit(kind: ComparisonKind, target: number, n: number, p: number): number {
  if (kind === 'proportion') {
    const r = binomQuantile(p, n, target);
    const t = binomTails(r, n, target);
    const above = p > 0.5 ? 1 - p - t.upper : t.lower - p; // F(r) − p without cancellation
    const alpha = above / dbinom(r, n, target);
    return Math.min(1, Math.max(0, (r - alpha) / n));
  }
  const lambda = target * n;
  const r = poisQuantile(p, lambda);
  const t = poisTails(r, lambda);
  const above = p > 0.5 ? 1 - p - t.upper : t.lower - p;
  const alpha = above / dpois(r, lambda);
  return Math.max(0, (r - alpha) / n);
}

/** Control limits around `target` at `denominator`; `phi` > 1 switches to the over-dispersed normal limits. */
export function controlLimits(kind: ComparisonKind, target: number, denominator: number, options: { phi?: number } = {}): ControlLimits {
  if (!(denominator > 0)) throw new RangeError(`denominator must be > 0, got ${denominator}`);
  if (!(target >= 0) || (kind === 'proportion' && target > 1)) throw new RangeError(`target out of range: ${target}`);
  const n = kind === 'proportion' ? Math.round(denominator) : denominator;
  const phi = options.phi ?? 1;
  if (phi > 1) {
    const sd = Math.sqrt((phi * (kind === 'proportion' ? target * (1 - target) : target)) / n);
    const hi = kind === 'proportion' ? 1 : Infinity;
    const lim = (p: number) => Math.min(hi, Math.max(0, target + normalQuantile(p) * sd));
    return { lower95: lim(0.025), upper95: lim(0.975), lower998: lim(0.001), upper998: lim(0.999) };
  }
  if (target === 0 || (kind === 'proportion' && target === 1)) {
    return { lower95: target, upper95: target, lower998: target, upper998: target };
  }
  return {
    lower95: exactLimit(kind, target, n, 0.025),
    upper95: exactLimit(kind, target, n, 0.975),
    lower998: exactLimit(kind, target, n, 0.001),
    upper998: exactLimit(kind, target, n, 0.999),
  };
}

/** Where an observed value (ratio scale) lies against its limits. Values on a limit count as within. */
export function classify(observed: number, limits: ControlLimits): Classification {
  if (observed > limits.upper998) return 'above-alarm';
  if (observed > limits.upper95) return 'above-alert';
  if (observed < limits.lower998) return 'below-alarm';
  if (observed < limits.lower95) return 'below-alert';
  return 'within-expected';
}

export interface Overdispersion {
  /** Winsorised multiplicative over-dispersion factor (1 = as expected by chance). */
  phi: number;
  /** Number of units that entered the estimate. */
  units: number;
  /** P(χ²_{I−1} ≥ I·φ): small means more variation between organisations than chance explains. */
  pValue: number;
}

/** Percentile by linear interpolation between order statistics (type 7). */
function percentile(sorted: number[], q: number): number {
  const h = (sorted.length - 1) * q;
  const lo = Math.floor(h);
  return sorted[lo] + (h - lo) * ((sorted[Math.min(lo + 1, sorted.length - 1)] ?? sorted[lo]) - sorted[lo]);
}

/** Multiplicative over-dispersion φ from Pearson z-scores winsorised at 10 % (Spiegelhalter 2005 §3.2). */
export function estimateOverdispersion(kind: ComparisonKind, target: number, units: FunnelUnit[]): Overdispersion {
  const variance = kind === 'proportion' ? target * (1 - target) : target;
  const z = units
    .filter((u) => u.denominator > 0)
    .map((u) => (u.numerator / u.denominator - target) / Math.sqrt(variance / u.denominator));
  if (z.length < 2 || !(variance > 0)) return { phi: 1, units: z.length, pValue: 1 };
  const sorted = [...z].sort((a, b) => a - b);
  const lo = percentile(sorted, 0.1);
  const hi = percentile(sorted, 0.9);
  const phi = z.reduce((s, v) => s + Math.min(hi, Math.max(lo, v)) ** 2, 0) / z.length;
  const pValue = regIncGamma((z.length - 1) / 2, (z.length * phi) / 2).upper;
  return { phi, units: z.length, pValue };
}

export interface FunnelResult {
  kind: ComparisonKind;
  target: number;
  /** The over-dispersion estimate (always reported) and whether it was applied to the limits. */
  overdispersion: Overdispersion & { applied: boolean };
  method: string;
  units: Array<{ value: number; ci95: Interval; limits: ControlLimits; classification: Classification } | null>;
}

/**
 * The whole comparison for one indicator and period. Units with a zero denominator get null (no value).
 * `overdispersion: true` applies φ when it exceeds 1. `target` overrides Σ numerator / Σ denominator (publishing
 * passes the published total's value, so that nothing is computed from counts it does not publish).
 */
export function funnel(kind: ComparisonKind, units: FunnelUnit[], options: { overdispersion?: boolean; target?: number } = {}): FunnelResult {
  const num = units.reduce((s, u) => s + u.numerator, 0);
  const den = units.reduce((s, u) => s + u.denominator, 0);
  if (!(den > 0)) throw new RangeError('funnel needs at least one unit with a positive denominator');
  const target = options.target ?? num / den;
  const od = estimateOverdispersion(kind, target, units);
  const applied = options.overdispersion === true && od.phi > 1;
  const phi = applied ? od.phi : 1;
  return {
    kind,
    target,
    overdispersion: { ...od, applied },
    method: describeMethod(kind, applied ? phi : undefined),
    units: units.map((u) => {
      if (!(u.denominator > 0)) return null;
      const value = u.numerator / u.denominator;
      const limits = controlLimits(kind, target, u.denominator, { phi });
      return { value, ci95: confidenceInterval(kind, u.numerator, u.denominator), limits, classification: classify(value, limits) };
    }),
  };
}

/** The limits along the denominator axis (1 … maxDenominator, `points` values spaced evenly on a log scale). */
export function funnelCurve(kind: ComparisonKind, target: number, maxDenominator: number, points = 50, phi?: number) {
  const out: Array<{ denominator: number } & ControlLimits> = [];
  for (let i = 0; i < points; i++) {
    const d = Math.max(1, Math.round(Math.exp((Math.log(maxDenominator) * i) / Math.max(1, points - 1))));
    if (out.length && out[out.length - 1].denominator === d) continue;
    out.push({ denominator: d, ...controlLimits(kind, target, d, { phi }) });
  }
  return out;
}

/** Plain-English description of the limits, for the published methodology. */
export function describeMethod(kind: ComparisonKind, phi?: number): string {
  const base = kind === 'proportion'
    ? 'exact binomial funnel limits (Spiegelhalter 2005, interpolated) around the overall value; 95 % CI Clopper–Pearson'
    : 'exact Poisson funnel limits (Spiegelhalter 2005, interpolated) around the overall value; 95 % CI exact Poisson (Garwood)';
  return phi && phi > 1
    ? `${base}; limits widened for over-dispersion (φ = ${phi.toFixed(3)}, Pearson z-scores winsorised at 10 %, normal approximation)`
    : base;
}
