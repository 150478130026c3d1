/**
 * Binomial, Poisson, beta and gamma distributions for the indicator statistics — written here, no dependency.
 *
 * Pure functions, no I/O. Used by `funnel.ts` (control limits, confidence intervals) and `standardise.ts`.
 *
 *  - `dbinom(k, n, p)`, `dpois(k, lambda)`: probability mass, computed with Loader's saddle-point form
 *    (C. Loader, "Fast and accurate computation of binomial probabilities", 2000 — the method of R's dbinom):
 *    exp(-stirlerr - bd0) instead of a ratio of factorials, so it stays accurate for n up to 10^6 and beyond and for
 *    p near 0 or 1 (no lgamma(n) - lgamma(k) cancellation).
 *  - `binomTails(k, n, p)` → { lower: P(X ≤ k), upper: P(X > k) } and `poisTails(k, lambda)`: both tails are
 *    returned so that a caller never forms 1 - (something close to 1); the smaller tail is computed directly.
 *  - `regIncBeta(x, a, b)` / `regIncGamma(a, x)` → { lower, upper }: regularised incomplete beta I_x(a,b) and gamma
 *    P(a,x) with their complements (continued fractions by the modified Lentz method, series for the gamma when
 *    x < a + 1; Numerical Recipes §6.2/6.4 structure, with the Loader prefactor above).
 *  - `binomQuantile(prob, n, p)`, `poisQuantile(prob, lambda)`: the smallest r with P(X ≤ r) ≥ prob (bisection over
 *    the integers, using the upper tail when prob > 0.5).
 *  - `betaQuantile(prob, a, b)`, `gammaQuantile(prob, a)`: inverse of the continuous CDFs by bisection (to the last
 *    representable double), used for Clopper–Pearson and Garwood intervals.
 *  - `normalQuantile(prob)`: Acklam's rational approximation refined by one Halley step (|error| < 1e-13).
 */

const LN_SQRT_2PI = 0.5 * Math.log(2 * Math.PI);

/** ln Γ(x) for x > 0 (Lanczos, g = 7, n = 9; relative error ~1e-15). */
export function lnGamma(x: number): number {
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - lnGamma(1 - x);
  const c = [
    0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7,
  ];
  const z = x - 1;
  let a = c[0];
  const t = z + 7.5;
  for (let i = 1; i < 9; i++) a += c[i] / (z + i);
  return LN_SQRT_2PI + (z + 0.5) * Math.log(t) - t + Math.log(a);
}

/** stirlerr(n) = ln Γ(n+1) − [(n + ½) ln n − n + ln √(2π)], the error of Stirling's formula. */
function stirlerr(n: number): number {
  if (n > 15) {
    const nn = n * n;
    return (1 / 12 - (1 / 360 - (1 / 1260 - (1 / 1680 - 1 / (1188 * nn)) / nn) / nn) / nn) / n;
  }
  return lnGamma(n + 1) - (n + 0.5) * Math.log(n) + n - LN_SQRT_2PI;
}

/** bd0(x, m) = x ln(x/m) + m − x, computed without cancellation when x ≈ m. */
function bd0(x: number, m: number): number {
  if (Math.abs(x - m) < 0.1 * (x + m)) {
    const v = (x - m) / (x + m);
    let s = (x - m) * v;
    let ej = 2 * x * v;
    const v2 = v * v;
    for (let j = 1; j < 1000; j++) {
      ej *= v2;
      const s1 = s + ej / (2 * j + 1);
      if (s1 === s) return s1;
      s = s1;
    }
    return s;
  }
  return x * Math.log(x / m) + m - x;
}

/** Binomial probability P(X = k), X ~ Bin(n, p); k and n may be non-integer (used for beta prefactors). */
export function dbinom(k: number, n: number, p: number): number {
  const q = 1 - p;
  if (p === 0) return k === 0 ? 1 : 0;
  if (q === 0) return k === n ? 1 : 0;
  if (k < 0 || k > n) return 0;
  if (k === 0) return Math.exp(n * Math.log1p(-p));
  if (k === n) return Math.exp(n * Math.log(p));
  const lc = stirlerr(n) - stirlerr(k) - stirlerr(n - k) - bd0(k, n * p) - bd0(n - k, n * q);
  return Math.exp(lc) * Math.sqrt(n / (2 * Math.PI * k * (n - k)));
}

/** Poisson probability P(X = k), X ~ Poisson(lambda); k may be non-integer (used for gamma prefactors). */
export function dpois(k: number, lambda: number): number {
  if (lambda === 0) return k === 0 ? 1 : 0;
  if (k < 0) return 0;
  if (k === 0) return Math.exp(-lambda);
  return Math.exp(-stirlerr(k) - bd0(k, lambda)) / Math.sqrt(2 * Math.PI * k);
}

const TINY = 1e-300;
const EPS = 1e-16;
const MAX_ITER = 1_000_000;

export interface Tails {
  /** P(X ≤ x) (lower regularised function). */
  lower: number;
  /** 1 − lower, computed without cancellation. */
  upper: number;
}

/** Continued fraction for I_x(a, b) (modified Lentz). */
function betaCf(x: number, a: number, b: number): number {
  const qab = a + b;
  const qap = a + 1;
  const qam = a - 1;
  let c = 1;
  let d = 1 - (qab * x) / qap;
  if (Math.abs(d) < TINY) d = TINY;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= MAX_ITER; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((qam + m2) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < TINY) d = TINY;
    c = 1 + aa / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (qab + m) * x) / ((a + m2) * (qap + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < TINY) d = TINY;
    c = 1 + aa / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < EPS) return h;
  }
  throw new Error(`incomplete beta did not converge (a=${a}, b=${b}, x=${x})`);
}

/** Regularised incomplete beta I_x(a, b) and its complement, a, b > 0. */
export function regIncBeta(x: number, a: number, b: number): Tails {
  if (!(a > 0 && b > 0)) throw new RangeError('regIncBeta needs a > 0 and b > 0');
  if (x <= 0) return { lower: 0, upper: 1 };
  if (x >= 1) return { lower: 1, upper: 0 };
  // x^a (1-x)^b / B(a,b) = ab/(a+b) · dbinom(a; a+b, x); the fraction converges fast for x < (a+1)/(a+b+2)
  const front = ((a * b) / (a + b)) * dbinom(a, a + b, x);
  if (x < (a + 1) / (a + b + 2)) {
    const lower = (front * betaCf(x, a, b)) / a;
    return { lower, upper: 1 - lower };
  }
  const upper = (front * betaCf(1 - x, b, a)) / b;
  return { lower: 1 - upper, upper };
}

/** Regularised incomplete gamma P(a, x) and Q(a, x) = 1 − P, a > 0. */
export function regIncGamma(a: number, x: number): Tails {
  if (!(a > 0)) throw new RangeError('regIncGamma needs a > 0');
  if (x <= 0) return { lower: 0, upper: 1 };
  if (x < a + 1) {
    // P = x^a e^-x / Γ(a+1) · Σ x^n / ((a+1)…(a+n))
    let term = 1;
    let sum = 1;
    for (let n = 1; n <= MAX_ITER; n++) {
      term *= x / (a + n);
      sum += term;
      if (term < sum * EPS) {
        const lower = dpois(a, x) * sum;
        return { lower, upper: 1 - lower };
      }
    }
    throw new Error(`incomplete gamma series did not converge (a=${a}, x=${x})`);
  }
  // Q = x^a e^-x / Γ(a) · CF  (x^a e^-x / Γ(a) = a · dpois(a; x))
  let b = x + 1 - a;
  let c = 1 / TINY;
  let d = 1 / b;
  let h = d;
  for (let i = 1; i <= MAX_ITER; i++) {
    const an = -i * (i - a);
    b += 2;
    d = an * d + b;
    if (Math.abs(d) < TINY) d = TINY;
    c = b + an / c;
    if (Math.abs(c) < TINY) c = TINY;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < EPS) {
      const upper = a * dpois(a, x) * h;
      return { lower: 1 - upper, upper };
    }
  }
  throw new Error(`incomplete gamma fraction did not converge (a=${a}, x=${x})`);
}

/** Tails of X ~ Bin(n, p) at integer k: lower = P(X ≤ k), upper = P(X > k). */
export function binomTails(k: number, n: number, p: number): Tails {
  if (k < 0) return { lower: 0, upper: 1 };
  if (k >= n) return { lower: 1, upper: 0 };
  if (p <= 0) return { lower: 1, upper: 0 };
  if (p >= 1) return { lower: 0, upper: 1 };
  // P(X ≤ k) = I_{1-p}(n-k, k+1); P(X > k) = I_p(k+1, n-k)
  const t = regIncBeta(p, k + 1, n - k);
  return { lower: t.upper, upper: t.lower };
}

/** Tails of X ~ Poisson(lambda) at integer k: lower = P(X ≤ k), upper = P(X > k). */
export function poisTails(k: number, lambda: number): Tails {
  if (k < 0) return { lower: 0, upper: 1 };
  if (lambda <= 0) return { lower: 1, upper: 0 };
  // P(X ≤ k) = Q(k+1, λ)
  const t = regIncGamma(k + 1, lambda);
  return { lower: t.upper, upper: t.lower };
}

/** Smallest integer r in [lo, hi] with P(X ≤ r) ≥ prob, given the tails function. */
function discreteQuantile(prob: number, tails: (k: number) => Tails, lo: number, hi: number): number {
  const reached = (r: number): boolean => {
    const t = tails(r);
    return prob > 0.5 ? t.upper <= 1 - prob : t.lower >= prob;
  };
  while (lo < hi) {
    const mid = Math.floor((lo + hi) / 2);
    if (reached(mid)) hi = mid;
    else lo = mid + 1;
  }
  return lo;
}

/** Smallest integer r with P(X ≤ r) ≥ prob, X ~ Bin(n, p). */
export function binomQuantile(prob: number, n: number, p: number): number {
  checkProb(prob);
  return discreteQuantile(prob, (k) => binomTails(k, n, p), 0, n);
}

/** Smallest integer r with P(X ≤ r) ≥ prob, X ~ Poisson(lambda). */
export function poisQuantile(prob: number, lambda: number): number {
  checkProb(prob);
  if (lambda <= 0) return 0;
  let hi = Math.ceil(lambda + 20 * Math.sqrt(lambda) + 50);
  while (poisTails(hi, lambda).upper > 1 - prob) hi *= 2;
  return discreteQuantile(prob, (k) => poisTails(k, lambda), 0, hi);
}

/** Bisection on a continuous CDF given as tails; runs to the last representable double. */
function continuousQuantile(prob: number, tails: (x: number) => Tails, lo: number, hi: number): number {
  for (let i = 0; i < 2000; i++) {
    const mid = lo > 0 && hi / lo > 4 ? Math.sqrt(lo * hi) : (lo + hi) / 2; // geometric steps for tiny values
    if (mid <= lo || mid >= hi) break;
    const t = tails(mid);
    const below = prob > 0.5 ? t.upper > 1 - prob : t.lower < prob;
    if (below) lo = mid;
    else hi = mid;
  }
  return (lo + hi) / 2;
}

/** x with I_x(a, b) = prob (beta distribution quantile), a, b > 0. */
export function betaQuantile(prob: number, a: number, b: number): number {
  checkProb(prob);
  if (prob === 0) return 0;
  if (prob === 1) return 1;
  return continuousQuantile(prob, (x) => regIncBeta(x, a, b), Number.MIN_VALUE, 1);
}

/** x with P(a, x) = prob (gamma distribution with shape a, scale 1), a > 0. */
export function gammaQuantile(prob: number, a: number): number {
  checkProb(prob);
  if (prob === 0) return 0;
  let hi = a + 20 * Math.sqrt(a) + 50;
  while (regIncGamma(a, hi).upper > 1 - prob) hi *= 2;
  return continuousQuantile(prob, (x) => regIncGamma(a, x), Number.MIN_VALUE, hi);
}

/** Standard normal quantile (Acklam's approximation + one Halley refinement). */
export function normalQuantile(prob: number): number {
  checkProb(prob);
  if (prob === 0) return -Infinity;
  if (prob === 1) return Infinity;
  const a = [-3.969683028665376e1, 2.209460984245205e2, -2.759285104469687e2, 1.38357751867269e2, -3.066479806614716e1, 2.506628277459239];
  const b = [-5.447609879822406e1, 1.615858368580409e2, -1.556989798598866e2, 6.680131188771972e1, -1.328068155288572e1];
  const c = [-7.784894002430293e-3, -3.223964580411365e-1, -2.400758277161838, -2.549732539343734, 4.374664141464968, 2.938163982698783];
  const d = [7.784695709041462e-3, 3.224671290700398e-1, 2.445134137142996, 3.754408661907416];
  const pl = 0.02425;
  let x: number;
  if (prob < pl) {
    const q = Math.sqrt(-2 * Math.log(prob));
    x = (((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  } else if (prob <= 1 - pl) {
    const q = prob - 0.5;
    const r = q * q;
    x = ((((((a[0] * r + a[1]) * r + a[2]) * r + a[3]) * r + a[4]) * r + a[5]) * q) /
      (((((b[0] * r + b[1]) * r + b[2]) * r + b[3]) * r + b[4]) * r + 1);
  } else {
    const q = Math.sqrt(-2 * Math.log(1 - prob));
    x = -(((((c[0] * q + c[1]) * q + c[2]) * q + c[3]) * q + c[4]) * q + c[5]) / ((((d[0] * q + d[1]) * q + d[2]) * q + d[3]) * q + 1);
  }
  // Halley step with Φ(x) = P(½, x²/2)-based erfc
  const e = normalCdf(x) - prob;
  const u = e * Math.sqrt(2 * Math.PI) * Math.exp((x * x) / 2);
  return x - u / (1 + (x * u) / 2);
}

/** Standard normal CDF Φ(x), via the incomplete gamma (Φ(x) = ½ Q(½, x²/2) for x < 0). */
export function normalCdf(x: number): number {
  if (x === 0) return 0.5;
  const t = regIncGamma(0.5, (x * x) / 2);
  return x < 0 ? t.upper / 2 : 1 - t.upper / 2;
}

function checkProb(prob: number): void {
  if (!(prob >= 0 && prob <= 1)) throw new RangeError(`probability out of range: ${prob}`);
}
