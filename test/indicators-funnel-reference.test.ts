import { expect } from 'chai';
import { readFileSync } from 'node:fs';
import { confidenceInterval, controlLimits } from '../indicators/funnel.js';

/**
 * Funnel limits and confidence intervals against reference values computed independently (Python / SciPy, not the
 * project code) and committed as data: test/fixtures/funnel-reference-scipy.json names the method of each.
 */
interface Fixture {
  method: { limits: string; intervals: string };
  limits: Array<{ kind: 'proportion' | 'poisson'; target: number; denominator: number; lower998: number; lower95: number; upper95: number; upper998: number }>;
  intervals: Array<{ kind: 'proportion' | 'poisson'; numerator: number; denominator: number; lower: number; upper: number }>;
}
const fixture = JSON.parse(readFileSync(new URL('./fixtures/funnel-reference-scipy.json', import.meta.url), 'utf8')) as Fixture;

describe('funnel limits and intervals against independently computed reference values (SciPy)', () => {
  it('the fixture names its method and holds both kinds', () => {
    expect(fixture.method.limits).to.match(/Spiegelhalter/);
    expect(new Set(fixture.limits.map((l) => l.kind))).to.deep.equal(new Set(['proportion', 'poisson']));
  });

  for (const l of fixture.limits) {
    it(`${l.kind} limits at target ${l.target}, denominator ${l.denominator}`, () => {
      const got = controlLimits(l.kind, l.target, l.denominator);
      for (const k of ['lower998', 'lower95', 'upper95', 'upper998'] as const) {
        expect(Math.abs(got[k] - l[k]), `${k}: ${got[k]} vs ${l[k]}`).to.be.below(1e-9);
      }
    });
  }

  for (const c of fixture.intervals) {
    it(`${c.kind} 95 % interval of ${c.numerator} / ${c.denominator}`, () => {
      const got = confidenceInterval(c.kind, c.numerator, c.denominator);
      expect(Math.abs(got.lower - c.lower), `lower ${got.lower} vs ${c.lower}`).to.be.below(1e-9);
      expect(Math.abs(got.upper - c.upper), `upper ${got.upper} vs ${c.upper}`).to.be.below(1e-9);
    });
  }
});
