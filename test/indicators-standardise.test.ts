import { expect } from 'chai';
import { byarInterval, ESP2013_WEIGHTS, standardisedRate, type StratumInput } from '../indicators/standardise.js';
import { garwood } from '../indicators/funnel.js';
import { AGE_BANDS } from '../indicators/types.js';

const close = (actual: number, expected: number, tol: number, what: string) =>
  expect(Math.abs(actual - expected), `${what}: ${actual} vs ${expected}`).to.be.at.most(tol);

describe('European Standard Population 2013 collapsed to 10-year bands', () => {
  it('has the published 5-year weights added in pairs, 100,000 in all', () => {
    // ESP 2013 5-year weights, 0-4 … 85-89, then 90+ (Eurostat 2013)
    const esp5 = [5000, 5500, 5500, 5500, 6000, 6000, 6500, 7000, 7000, 7000, 7000, 6500, 6000, 5500, 5000, 4000, 2500, 1500];
    const collapsed = AGE_BANDS.map((band, i) => (band === '90+' ? 1000 : esp5[2 * i] + esp5[2 * i + 1]));
    expect(AGE_BANDS.map((b) => ESP2013_WEIGHTS[b])).to.deep.equal(collapsed);
    expect(Object.values(ESP2013_WEIGHTS).reduce((a, b) => a + b)).to.equal(100_000);
  });
});

describe('directly age-sex standardised rates (Dobson limits)', () => {
  it('matches a hand-worked example', () => {
    // Every stratum has a population of 1,000; band i (0 = "0-9" … 9 = "90+") has i events among females and 2i
    // among males. By hand:
    //   DSR = Σ w_b·(b + 2b)/1000 / 200,000 = 3·Σ w_b·b / (1000 · 200,000)
    //   Σ w_b·b = 11000 + 24000 + 40500 + 56000 + 67500 + 69000 + 63000 + 32000 + 9000 = 372,000
    //   DSR = 1,116,000 / 200,000,000 = 0.00558 → 558 per 100,000
    //   O = 3·(0+1+…+9) = 135
    //   var = Σ (w/1000)²·O_i / 200,000² = 3·Σ w_b²·b / 10^6 / (4·10^10)
    //   Σ w_b²·b = 1.21e8 + 2.88e8 + 5.4675e8 + 7.84e8 + 9.1125e8 + 7.935e8 + 5.67e8 + 1.28e8 + 9e6 = 4.1485e9
    //   var = 1.24455e10 / 10^6 / 4e10 = 3.111375e-7
    //   limits = DSR + √(var/O)·(O_L − O), DSR + √(var/O)·(O_U − O), (O_L, O_U) exact Poisson limits of 135
    const strata: StratumInput[] = AGE_BANDS.flatMap((ageBand, b) => [
      { ageBand, sex: 'female' as const, numerator: b, denominator: 1000 },
      { ageBand, sex: 'male' as const, numerator: 2 * b, denominator: 1000 },
    ]);
    const r = standardisedRate(strata, { per: 100_000 });
    close(r.value, 558, 1e-9, 'DSR');
    expect(r.observed).to.equal(135);
    const k = Math.sqrt(3.111375e-7 / 135);
    const poisson = garwood(135);
    close(r.lower, (0.00558 + k * (poisson.lower - 135)) * 100_000, 1e-7, 'lower');
    close(r.upper!, (0.00558 + k * (poisson.upper - 135)) * 100_000, 1e-7, 'upper');
    // the exact Poisson limits of 135 are about 113.2 and 159.8; √(var/O) = 4.8007e-5, so the interval is about
    // 558 − 21.8 × 4.8 ≈ 453 to 558 + 24.8 × 4.8 ≈ 677 per 100,000
    expect(poisson.lower).to.be.within(113.1, 113.3);
    expect(poisson.upper).to.be.within(159.7, 159.9);
    expect(r.lower).to.be.within(452, 455);
    expect(r.upper!).to.be.within(675, 679);
    expect(r.reliable).to.equal(true);
    expect(r.method).to.match(/European Standard Population/);
  });

  it('removes the effect of age structure: same age-specific rates give the same DSR, not the same crude rate', () => {
    const rates = AGE_BANDS.map((_, b) => 0.001 * (b + 1)); // rising with age
    const population = (old: boolean): StratumInput[] =>
      AGE_BANDS.flatMap((ageBand, b) => {
        const n = old ? 200 + 400 * b : 4000 - 350 * b;
        return (['female', 'male'] as const).map((sex) => ({ ageBand, sex, numerator: Math.round(rates[b] * n * 10), denominator: n * 10 }));
      });
    const young = population(false);
    const older = population(true);
    const crude = (s: StratumInput[]) => s.reduce((a, x) => a + x.numerator, 0) / s.reduce((a, x) => a + x.denominator, 0);
    expect(crude(older)).to.be.greaterThan(crude(young) * 1.5);
    close(standardisedRate(older).value, standardisedRate(young).value, 2e-5, 'DSR');
  });

  it('equals the common rate when every stratum has the same rate', () => {
    const strata = AGE_BANDS.flatMap((ageBand, b) => (['female', 'male'] as const).map((sex) => ({ ageBand, sex, numerator: 5 * (b + 1), denominator: 100 * (b + 1) })));
    close(standardisedRate(strata).value, 0.05, 1e-15, 'DSR');
  });

  it('has no upper limit with no events, and flags fewer than 10 events as unreliable', () => {
    const none = standardisedRate([{ ageBand: '40-49', sex: 'female', numerator: 0, denominator: 500 }]);
    expect(none.value).to.equal(0);
    expect(none.upper).to.equal(null);
    expect(none.emptyStrata).to.equal(19);
    const few = standardisedRate([{ ageBand: '40-49', sex: 'female', numerator: 4, denominator: 500 }]);
    expect(few.reliable).to.equal(false);
    expect(() => standardisedRate([{ ageBand: '40-49', sex: 'male', numerator: 2, denominator: 0 }])).to.throw(/male 40-49 has events but no denominator/);
  });

  it("uses Byar's approximation from 389 events, where it agrees with the exact limits", () => {
    const exact = garwood(400);
    const byar = byarInterval(400);
    expect(Math.abs(byar.lower - exact.lower) / exact.lower).to.be.lessThan(1e-3);
    expect(Math.abs(byar.upper - exact.upper) / exact.upper).to.be.lessThan(1e-3);
    const strata: StratumInput[] = [{ ageBand: '60-69', sex: 'male', numerator: 400, denominator: 10_000 }];
    expect(standardisedRate(strata).method).to.match(/Byar/);
  });
});
