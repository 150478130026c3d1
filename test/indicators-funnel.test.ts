import { expect } from 'chai';
import {
  classify,
  clopperPearson,
  confidenceInterval,
  controlLimits,
  estimateOverdispersion,
  funnel,
  funnelCurve,
  garwood,
  wilsonInterval,
  type FunnelUnit,
} from '../indicators/funnel.js';
import { binomTails, normalQuantile } from '../indicators/distributions.js';

/**
 * Independent reference: the probability mass summed term by term in log space (no incomplete beta / gamma), then
 * Spiegelhalter's interpolated limit (r_p − α)/n with α = (F(r_p) − p)/(F(r_p) − F(r_p − 1)).
 */
function referenceLimit(logPmf: (k: number) => number, kMax: number, p: number, n: number): number {
  let cdf = 0;
  let prev = 0;
  for (let k = 0; k <= kMax; k++) {
    const mass = Math.exp(logPmf(k));
    prev = cdf;
    cdf += mass;
    if (cdf >= p) {
      const alpha = (cdf - p) / (cdf - prev);
      return Math.max(0, (k - alpha) / n);
    }
  }
  return kMax / n;
}

/**
 * Tabulate log pmf by a ratio recurrence started at the mode (value 0 there, so no large numbers accumulate rounding
 * error), then normalise so that the masses sum to 1.
 */
function tabulate(kMax: number, mode: number, logRatio: (k: number) => number): (k: number) => number {
  const table = new Float64Array(kMax + 1);
  for (let k = mode; k < kMax; k++) table[k + 1] = table[k] + logRatio(k); // log pmf(k+1) − log pmf(k)
  for (let k = mode; k > 0; k--) table[k - 1] = table[k] - logRatio(k - 1);
  let z = 0;
  for (let k = 0; k <= kMax; k++) z += Math.exp(table[k]);
  const logZ = Math.log(z);
  return (k) => table[k] - logZ;
}

/** log Bin(k; n, θ): pmf(k+1)/pmf(k) = (n−k)/(k+1)·θ/(1−θ). */
function binomialLogPmf(n: number, theta: number): (k: number) => number {
  const odds = Math.log(theta) - Math.log1p(-theta);
  return tabulate(n, Math.min(n, Math.floor((n + 1) * theta)), (k) => Math.log((n - k) / (k + 1)) + odds);
}

/** log Poisson(k; λ): pmf(k+1)/pmf(k) = λ/(k+1). */
function poissonLogPmf(lambda: number, kMax: number): (k: number) => number {
  return tabulate(kMax, Math.floor(lambda), (k) => Math.log(lambda / (k + 1)));
}

const close = (actual: number, expected: number, tol: number, what: string) =>
  expect(Math.abs(actual - expected), `${what}: ${actual} vs ${expected}`).to.be.at.most(tol);

describe('funnel limits: exact binomial, checked against pmf sums', () => {
  const cases: Array<[number, number]> = [[20, 0.1], [200, 0.3], [5000, 0.02], [1_000_000, 0.5], [1_000_000, 1e-5], [100_000, 0.9999]];
  for (const [n, theta] of cases) {
    it(`n = ${n}, θ = ${theta}`, function () {
      this.timeout(60_000);
      const limits = controlLimits('proportion', theta, n);
      const logPmf = binomialLogPmf(n, theta);
      const ref = (p: number) => referenceLimit(logPmf, n, p, n);
      const tol = 1e-12; // measured agreement is ~1e-14 or better
      close(limits.lower998, ref(0.001), tol, 'lower 99.8 %');
      close(limits.lower95, ref(0.025), tol, 'lower 95 %');
      close(limits.upper95, ref(0.975), tol, 'upper 95 %');
      close(limits.upper998, ref(0.999), tol, 'upper 99.8 %');
      expect(limits.lower998).to.be.at.most(limits.lower95);
      expect(limits.lower95).to.be.at.most(theta);
      expect(limits.upper95).to.be.at.least(theta);
      expect(limits.upper95).to.be.at.most(limits.upper998);
    });
  }

  it('matches the normal approximation for large n (θ = 0.5, n = 10^6)', () => {
    const l = controlLimits('proportion', 0.5, 1_000_000);
    const sd = Math.sqrt(0.25 / 1_000_000);
    close(l.upper95, 0.5 + 1.959964 * sd, 2e-6, 'upper 95 %');
    close(l.lower998, 0.5 - 3.090232 * sd, 2e-6, 'lower 99.8 %');
  });

  it('interpolates: the limits move smoothly with the denominator (no jumps at quantile steps)', () => {
    let prev = controlLimits('proportion', 0.2, 50).upper95 * 50;
    for (let n = 51; n <= 400; n++) {
      const r = controlLimits('proportion', 0.2, n).upper95 * n; // the limit on the count scale
      expect(r - prev, `n = ${n}`).to.be.within(0, 1.2);
      prev = r;
    }
  });

  it('draws a curve along the denominator axis that narrows as the denominator grows', () => {
    const curve = funnelCurve('proportion', 0.3, 10_000, 30);
    expect(curve[0].denominator).to.equal(1);
    expect(curve[curve.length - 1].denominator).to.equal(10_000);
    const widths = curve.map((c) => c.upper998 - c.lower998);
    expect(widths[widths.length - 1]).to.be.lessThan(widths[5]);
  });
});

describe('funnel limits: Poisson, checked against pmf sums', () => {
  const cases: Array<[number, number]> = [[0.005, 1000], [0.25, 1000], [0.02, 1_000_000], [3e-6, 1_000_000]];
  for (const [theta, d] of cases) {
    it(`rate ${theta} per unit at denominator ${d} (λ = ${theta * d})`, () => {
      const lambda = theta * d;
      const kMax = Math.ceil(lambda + 40 * Math.sqrt(lambda) + 60);
      const logPmf = poissonLogPmf(lambda, kMax);
      const limits = controlLimits('poisson', theta, d);
      const tol = 1e-12;
      close(limits.lower998, referenceLimit(logPmf, kMax, 0.001, d), tol, 'lower 99.8 %');
      close(limits.lower95, referenceLimit(logPmf, kMax, 0.025, d), tol, 'lower 95 %');
      close(limits.upper95, referenceLimit(logPmf, kMax, 0.975, d), tol, 'upper 95 %');
      close(limits.upper998, referenceLimit(logPmf, kMax, 0.999, d), tol, 'upper 99.8 %');
    });
  }
});

describe('confidence intervals against published values', () => {
  it('Clopper–Pearson for 5/20 is 0.0866 to 0.4910 (as R binom.test(5, 20): 0.08657147, 0.49104587)', () => {
    const ci = clopperPearson(5, 20);
    close(ci.lower, 0.08657147, 5e-9, 'lower');
    close(ci.upper, 0.49104587, 5e-9, 'upper');
    // and by definition: P(X ≥ 5 | p = lower) = P(X ≤ 5 | p = upper) = 2.5 %, summed directly
    const tail = (p: number, from: number, to: number) => {
      const lp = binomialLogPmf(20, p);
      let s = 0;
      for (let k = from; k <= to; k++) s += Math.exp(lp(k));
      return s;
    };
    close(tail(ci.lower, 5, 20), 0.025, 1e-12, 'upper tail at lower limit');
    close(tail(ci.upper, 0, 5), 0.025, 1e-12, 'lower tail at upper limit');
  });

  it('Clopper–Pearson at the edges: 0/n and n/n, and a tiny p with n = 10^6', () => {
    expect(clopperPearson(0, 10).lower).to.equal(0);
    close(clopperPearson(0, 10).upper, 0.30849710, 5e-8, '0/10 upper'); // 1 − 0.025^(1/10)
    expect(clopperPearson(10, 10).upper).to.equal(1);
    close(clopperPearson(0, 1_000_000).upper, 1 - Math.pow(0.025, 1e-6), 1e-15, '0/10^6 upper');
    const ci = clopperPearson(1, 1_000_000);
    expect(ci.lower).to.be.within(2.5e-8, 2.6e-8); // ≈ 0.0253/10^6 (Poisson limit of 1 event)
    expect(ci.upper).to.be.within(5.57e-6, 5.58e-6);
  });

  it('Garwood exact Poisson limits for 0, 1 and 10 events (Garwood 1936 tables; R poisson.test)', () => {
    const g0 = garwood(0);
    expect(g0.lower).to.equal(0);
    close(g0.upper, 3.688879, 1e-6, '0 upper');
    const g1 = garwood(1);
    close(g1.lower, 0.02531781, 1e-8, '1 lower');
    close(g1.upper, 5.57164339, 1e-8, '1 upper');
    const g10 = garwood(10);
    close(g10.lower, 4.795389, 1e-6, '10 lower');
    close(g10.upper, 18.390356, 1e-6, '10 upper');
  });

  it('reports rates per unit of denominator and rejects impossible counts', () => {
    const ci = confidenceInterval('poisson', 10, 1000);
    close(ci.lower, 0.004795389, 1e-9, 'lower');
    close(ci.upper, 0.018390356, 1e-9, 'upper');
    expect(() => confidenceInterval('proportion', 5, 4)).to.throw(/numerator ≤ denominator/);
    expect(() => confidenceInterval('poisson', 1, 0)).to.throw(/denominator must be > 0/);
  });

  it('Wilson interval (offered, not used) agrees with the hand-computed 5/20 value 0.1119 to 0.4687', () => {
    const w = wilsonInterval(5, 20);
    close(w.lower, 0.1119, 1e-4, 'lower');
    close(w.upper, 0.4687, 1e-4, 'upper');
  });

  it('distribution tails stay accurate far out (no 1 − x cancellation)', () => {
    // P(X > 600) for Bin(1000, 0.5): tiny but positive, and the lower tail is 1 to double precision
    const t = binomTails(600, 1000, 0.5);
    expect(t.upper).to.be.within(1e-11, 1e-9);
    expect(normalQuantile(0.999)).to.be.closeTo(3.090232306, 1e-9);
  });
});

describe('classification against the limits', () => {
  const limits = { lower95: 0.2, upper95: 0.4, lower998: 0.1, upper998: 0.5 };
  it('names the five classes, with values on a limit counted as within', () => {
    expect(classify(0.3, limits)).to.equal('within-expected');
    expect(classify(0.4, limits)).to.equal('within-expected');
    expect(classify(0.45, limits)).to.equal('above-alert');
    expect(classify(0.51, limits)).to.equal('above-alarm');
    expect(classify(0.15, limits)).to.equal('below-alert');
    expect(classify(0.05, limits)).to.equal('below-alarm');
  });

  it('classifies each unit of a funnel against the overall value, keeping the input order (no ranking)', () => {
    const units: FunnelUnit[] = [
      { numerator: 50, denominator: 500 }, // 10 %
      { numerator: 100, denominator: 500 }, // 20 %, far above
      { numerator: 10, denominator: 500 }, // 2 %, far below
      { numerator: 0, denominator: 0 }, // no value
    ];
    const f = funnel('proportion', units);
    close(f.target, 160 / 1500, 1e-15, 'target');
    expect(f.units.map((u) => u?.classification ?? null)).to.deep.equal(['within-expected', 'above-alarm', 'below-alarm', null]);
    expect(f.units[0]!.value).to.equal(0.1);
    expect(f.method).to.match(/exact binomial/);
  });
});

describe('over-dispersion (multiplicative φ, Pearson z-scores winsorised at 10 %)', () => {
  it('computes φ as the mean of the winsorised squared z-scores', () => {
    const theta = 0.2;
    const counts = [10, 14, 18, 20, 22, 26, 30, 40, 45, 50].map((n) => ({ numerator: n, denominator: 100 }));
    const od = estimateOverdispersion('proportion', theta, counts);
    // by hand: z = (n/100 − 0.2)/√(0.2·0.8/100) = (n − 20)/4
    const z = counts.map((c) => (c.numerator - 20) / 4).sort((a, b) => a - b); // −2.5 −1.5 −0.5 0 0.5 1.5 2.5 5 6.25 7.5
    const p10 = z[0] + 0.9 * (z[1] - z[0]); // 10th percentile (type 7): −1.6
    const p90 = z[8] + 0.1 * (z[9] - z[8]); // 90th: 6.375
    const phi = z.map((v) => Math.min(p90, Math.max(p10, v)) ** 2).reduce((a, b) => a + b) / 10;
    close(od.phi, phi, 1e-12, 'phi');
    expect(od.units).to.equal(10);
    expect(od.pValue).to.be.lessThan(0.001);
  });

  it('widens the limits when asked and φ > 1, and leaves them alone otherwise', () => {
    // over-dispersed: true rates vary between organisations
    const units: FunnelUnit[] = Array.from({ length: 40 }, (_, i) => {
      const d = 200 + 50 * (i % 7);
      return { numerator: Math.round(d * (0.1 + 0.1 * ((i * 37) % 11) / 10)), denominator: d };
    });
    const plain = funnel('proportion', units);
    const adjusted = funnel('proportion', units, { overdispersion: true });
    expect(plain.overdispersion.applied).to.equal(false);
    expect(adjusted.overdispersion.applied).to.equal(true);
    const phi = adjusted.overdispersion.phi;
    expect(phi).to.be.greaterThan(2);
    const u = adjusted.units[0]!;
    const sd = Math.sqrt((phi * adjusted.target * (1 - adjusted.target)) / units[0].denominator);
    close(u.limits.upper95, adjusted.target + 1.959964 * sd, 1e-6, 'adjusted upper 95 %');
    close(u.limits.lower998, adjusted.target - 3.090232 * sd, 1e-6, 'adjusted lower 99.8 %');
    const outside = (f: typeof plain) => f.units.filter((x) => x!.classification !== 'within-expected').length;
    expect(outside(plain)).to.be.greaterThan(5);
    expect(outside(adjusted)).to.be.lessThan(outside(plain));
    expect(adjusted.method).to.match(/over-dispersion \(φ = /);
  });

  it('does not narrow the limits when there is less variation than chance (φ < 1)', () => {
    const units: FunnelUnit[] = Array.from({ length: 20 }, () => ({ numerator: 30, denominator: 300 }));
    const f = funnel('poisson', units, { overdispersion: true });
    expect(f.overdispersion.phi).to.equal(0);
    expect(f.overdispersion.applied).to.equal(false);
    expect(f.units[0]!.limits).to.deep.equal(controlLimits('poisson', 0.1, 300));
  });
});
