import { expect } from 'chai';
import { byarInterval, coveredWeights, ESP2013_WEIGHTS, standardisedRate, type StratumInput } from '../indicators/standardise.js';
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

describe('standardising over the strata the indicator covers (issue 18, defect 1)', () => {
  it('weights only the ESP 2013 groups inside the age range, sharing a cut 5-year group by its single years', () => {
    // 65+: 60-69 keeps only 65-69 (5,500); 70-79 9,000; 80-89 4,000; 90+ 1,000; younger bands 0.
    const w65 = coveredWeights({ min: 65 });
    expect(AGE_BANDS.map((b) => w65[b])).to.deep.equal([0, 0, 0, 0, 0, 0, 5500, 9000, 4000, 1000]);
    // 18+: 10-19 keeps 18 and 19, i.e. 2 of the 5 years of 15-19: 5,500 × 2/5 = 2,200.
    expect(coveredWeights({ min: 18 })['10-19']).to.equal(2200);
    // 40-74: 40-49 14,000, 50-59 13,500, 60-69 11,500, 70-79 only 70-74 = 5,000; 80+ 0.
    const mid = coveredWeights({ min: 40, max: 74 });
    expect(AGE_BANDS.map((b) => mid[b])).to.deep.equal([0, 0, 0, 0, 14000, 13500, 11500, 5000, 0, 0]);
    // Everyone: the ten collapsed bands.
    expect(coveredWeights()).to.deep.equal({ ...ESP2013_WEIGHTS });
  });

  it('flu vaccination at 65+: the DSR is the covered-weight average and lies within the stratum rates (hand-worked)', () => {
    // Stratum (events / people, rate):
    //   female 65-69 100/500 0.20, 70-79 120/400 0.30, 80-89 50/200 0.25, 90+ 5/50 0.10
    //   male   65-69  50/500 0.10, 70-79  80/400 0.20, 80-89 30/100 0.30, 90+ 4/20 0.20
    // Weights (65+, each sex): 5,500, 9,000, 4,000, 1,000 → Σw = 2 × 19,500 = 39,000.
    //   Σ w·rate: female 1,100 + 2,700 + 1,000 + 100 = 4,900; male 550 + 1,800 + 1,200 + 200 = 3,750; total 8,650
    //   DSR = 8,650 / 39,000 = 0.2217949 (the defect divided by 200,000 instead: 0.04325, below every stratum rate)
    // Dobson: Σ (w/n)²·O: female 11²·100 + 22.5²·120 + 20²·50 + 20²·5 = 12,100 + 60,750 + 20,000 + 2,000 = 94,850;
    //   male 11²·50 + 22.5²·80 + 40²·30 + 50²·4 = 6,050 + 40,500 + 48,000 + 10,000 = 104,550; total 199,400
    //   var = 199,400 / 39,000² = 1.3109796e-4; O = 439 (≥ 389: Byar's limits)
    //   Byar at 439: 439·(1 − 1/3951 − 1.959964/(3·√439))³ = 398.88858, 440·(1 − 1/3960 + 1.959964/(3·√440))³ = 482.05200
    //   √(var/O) = √(2.98629e-7) = 5.46470e-4 → lower 0.2217949 + 5.46470e-4 · (398.88858 − 439) = 0.1998752,
    //   upper 0.2217949 + 5.46470e-4 · (482.05200 − 439) = 0.2453215.
    // Cross-checked independently (Python/SciPy: the same formula, and exact chi-square limits 398.8894/482.0514).
    const strata: StratumInput[] = [
      { ageBand: '60-69', sex: 'female', numerator: 100, denominator: 500 },
      { ageBand: '70-79', sex: 'female', numerator: 120, denominator: 400 },
      { ageBand: '80-89', sex: 'female', numerator: 50, denominator: 200 },
      { ageBand: '90+', sex: 'female', numerator: 5, denominator: 50 },
      { ageBand: '60-69', sex: 'male', numerator: 50, denominator: 500 },
      { ageBand: '70-79', sex: 'male', numerator: 80, denominator: 400 },
      { ageBand: '80-89', sex: 'male', numerator: 30, denominator: 100 },
      { ageBand: '90+', sex: 'male', numerator: 4, denominator: 20 },
      // the under-65 strata exist but hold nobody
      ...AGE_BANDS.slice(0, 6).flatMap((ageBand) => (['female', 'male'] as const).map((sex) => ({ ageBand, sex, numerator: 0, denominator: 0 }))),
    ];
    const r = standardisedRate(strata, { coverage: { age: { min: 65 } } });
    close(r.value, 8650 / 39000, 1e-12, 'DSR');
    close(r.lower, 0.1998752, 1e-6, 'lower');
    close(r.upper!, 0.2453215, 1e-6, 'upper');
    expect(r.observed).to.equal(439);
    expect(r.emptyStrata).to.equal(0); // the 12 under-65 strata are outside the coverage, not empty covered strata
    const rates = strata.filter((s) => s.denominator > 0).map((s) => s.numerator / s.denominator);
    expect(r.value).to.be.within(Math.min(...rates), Math.max(...rates));
    expect(r.method).to.match(/ages 65\+/);
  });

  it('gives the common rate back when every covered stratum has it (any age range, one sex)', () => {
    // Same rate 0.3 everywhere: Σ w·0.3 / Σ w = 0.3 whatever the weights.
    const strata: StratumInput[] = AGE_BANDS.slice(2).map((ageBand, i) => ({ ageBand, sex: 'female', numerator: 3 * (i + 1), denominator: 10 * (i + 1) }));
    close(standardisedRate(strata, { coverage: { age: { min: 25 }, sexes: ['female'] } }).value, 0.3, 1e-15, 'DSR');
  });

  it('weights a cut band by the covered years only (18+, hand-worked)', () => {
    // 10-19 (only 18-19 covered) rate 0.5 with weight 2,200; 20-29 rate 0.1 with weight 12,000; nothing older.
    // One sex (female): DSR = (2,200·0.5 + 12,000·0.1) / (Σ covered weights 2,200 + 12,000 + 13,500 + 14,000 + 13,500
    //   + 11,500 + 9,000 + 4,000 + 1,000 = 80,700) = 2,300 / 80,700 = 0.02850062 (older bands empty: rate 0)
    const strata: StratumInput[] = [
      { ageBand: '10-19', sex: 'female', numerator: 10, denominator: 20 },
      { ageBand: '20-29', sex: 'female', numerator: 10, denominator: 100 },
    ];
    const r = standardisedRate(strata, { coverage: { age: { min: 18 }, sexes: ['female'] } });
    close(r.value, 2300 / 80700, 1e-12, 'DSR');
    expect(r.emptyStrata).to.equal(7);
  });

  it('refuses strata with people outside the coverage (the strata and the definition disagree)', () => {
    expect(() => standardisedRate([{ ageBand: '40-49', sex: 'female', numerator: 1, denominator: 10 }], { coverage: { age: { min: 65 } } }))
      .to.throw(/outside the indicator's coverage/);
    expect(() => standardisedRate([{ ageBand: '40-49', sex: 'male', numerator: 0, denominator: 10 }], { coverage: { sexes: ['female'] } }))
      .to.throw(/outside the indicator's coverage/);
  });

  it('checks the Dobson limits of a small count against exact Poisson limits computed independently', () => {
    // One stratum, 12 events among 400 people (rate 0.03), everyone covered by 70-79 only (coverage 70-79):
    // with a single stratum the DSR is the crude rate and the Dobson interval reduces to the exact Poisson interval
    // of 12 divided by 400. Exact limits of 12 (chi-square, SciPy: chi2.ppf(0.025, 24)/2, chi2.ppf(0.975, 26)/2):
    // 6.200575, 20.961585 → 0.01550144, 0.05240396.
    const r = standardisedRate([{ ageBand: '70-79', sex: 'male', numerator: 12, denominator: 400 }], { coverage: { age: { min: 70, max: 79 }, sexes: ['male'] } });
    close(r.value, 0.03, 1e-15, 'DSR');
    close(r.lower, 6.200575 / 400, 1e-8, 'lower');
    close(r.upper!, 20.961585 / 400, 1e-8, 'upper');
  });
});
