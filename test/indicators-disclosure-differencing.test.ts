import { expect } from 'chai';
import { keyedRound } from '../indicators/cell-key.js';
import { indicatorById } from '../indicators/catalogue.js';
import { roundCount } from '../indicators/disclosure.js';
import { confidenceInterval } from '../indicators/funnel.js';
import { publishIndicator, publishOptOuts } from '../indicators/publish.js';
import type { IndicatorDefinition } from '../indicators/spec.js';
import { standardisedRate } from '../indicators/standardise.js';
import type { OrganisationCount, PublishedIndicator, PublishedOrganisation, StratumCount } from '../indicators/types.js';
import { boxOf, difference, readRow } from './helpers/disclosure-reader.js';
import { mulberry32 as rng } from '../scripts/sandbox/hash.js';

/**
 * Issue 18, defect 2: no published figure (value, interval, funnel position, standardised value, opt-outs applied)
 * lets a reader recover a count the rounding or suppression hides — within one snapshot, or by differencing two
 * snapshots of the same period (a refresh after some opt-outs), periods or indicators. The reader
 * (test/helpers/disclosure-reader.ts) knows the documented rule but not the secret key. Each attack is also run
 * against the old publication (values from exact counts, nearest rounding) to show that it can succeed.
 */

const POLICY = { threshold: 7, rounding: 5 };
const KEY = Buffer.from('differencing-test-key-0123456789');
const PERIOD = { start: '2020-01-01', end: '2020-12-31' };
const FLU = (): IndicatorDefinition => indicatorById('flu-vaccination-65')!;
const proportionCi = (n: number, d: number) => confidenceInterval('proportion', n, d);

const int = (r: () => number, lo: number, hi: number) => lo + Math.floor(r() * (hi - lo + 1));

/** A practice list: 65+ registered (d) and vaccinated (n), with the two 65+ strata of each sex that sum to them. */
function practices(r: () => number, count: number): OrganisationCount[] {
  return Array.from({ length: count }, (_, i) => {
    const cells: StratumCount[] = (['60-69', '70-79'] as const).flatMap((ageBand) => (['female', 'male'] as const).map((sex) => {
      const denominator = int(r, 10, 60);
      return { ageBand, sex, denominator, numerator: int(r, 0, denominator) };
    }));
    return {
      code: `P${String(i).padStart(4, '0')}`,
      numerator: cells.reduce((s, c) => s + c.numerator, 0),
      denominator: cells.reduce((s, c) => s + c.denominator, 0),
      strata: cells,
    };
  });
}

const publish = (orgs: OrganisationCount[]) => publishIndicator(FLU(), { indicatorId: 'flu-vaccination-65', period: PERIOD, organisations: orgs, missingSources: [] }, POLICY, KEY);

/** The old publication (before issue 18): nearest rounding, value and CI from the EXACT counts. */
function publishOld(orgs: OrganisationCount[]): PublishedOrganisation[] {
  return orgs.map((o) => ({
    code: o.code,
    numerator: { value: roundCount(o.numerator, POLICY), suppressed: false },
    denominator: { value: roundCount(o.denominator, POLICY), suppressed: false },
    value: o.numerator / o.denominator,
    ci95: proportionCi(o.numerator, o.denominator),
    limits: null,
    classification: null,
    suppressed: false,
    withheld: null,
  }));
}

describe('disclosure control: the figure reader cannot undo the rounding (issue 18, defect 2)', () => {
  const orgs = practices(rng(18), 120);
  const published = publish(orgs);

  describe('within one snapshot', () => {
    it('value and interval narrow no count beyond what its published (rounded) figure alone says', () => {
      let read = 0;
      for (const [i, row] of published.organisations.entries()) {
        if (row.value === null) continue;
        read++;
        const r = readRow(row, POLICY, proportionCi);
        expect(r.explanation, row.code).to.equal('published-counts');
        const ns = new Set(r.pairs.map(([n]) => n));
        const ds = new Set(r.pairs.map(([, d]) => d));
        expect([...ns].sort((a, b) => a - b), row.code).to.deep.equal(boxOf(row.numerator, POLICY));
        expect([...ds].sort((a, b) => a - b), row.code).to.deep.equal(boxOf(row.denominator, POLICY));
        expect(ns.has(orgs[i]!.numerator) && ds.has(orgs[i]!.denominator)).to.equal(true);
      }
      expect(read).to.be.greaterThan(100);
    });

    it('the same reader recovers the exact counts from the OLD publication (values from exact counts) — it can fail', () => {
      const old = publishOld(orgs);
      let recovered = 0;
      for (const [i, row] of old.entries()) {
        const r = readRow(row, { threshold: 7, rounding: 3 }, proportionCi); // nearest rounding: ±2 around the figure
        if (r.pairs.length === 1 && r.pairs[0]![0] === orgs[i]!.numerator && r.pairs[0]![1] === orgs[i]!.denominator) recovered++;
      }
      expect(recovered, 'exact pairs recovered').to.be.greaterThan(old.length * 0.8);
    });

    it('funnel limits, classification and target are those of the published counts', () => {
      const t = published.total;
      expect(published.target).to.equal(t.numerator.value! / t.denominator.value!);
      for (const row of published.organisations) {
        if (row.value === null || !row.limits) continue;
        // limits depend on (target, published denominator) only: equal for two rows with the same published denominator
        const twin = published.organisations.find((o) => o !== row && o.limits && o.denominator.value === row.denominator.value);
        if (twin) expect(twin.limits).to.deep.equal(row.limits);
      }
    });

    it('the standardised value matches no exact strata, and the old one (from exact strata) gives the counts away', () => {
      for (const row of published.organisations.filter((o) => o.standardised?.value != null).slice(0, 5)) {
      const org = orgs.find((o) => o.code === row.code)!;
      // The reader tries the old explanation: DSR computed from exact strata. Strata boxes: the true strata shifted
      // by −1..+1 each (a search the reader could not even narrow this far without the truth).
      const exactMatches = (target: number) => {
        let hits = 0;
        let truth = false;
        const rec = (k: number, acc: StratumCount[]) => {
          if (k === org.strata!.length) {
            if (Math.abs(standardisedRate(acc, { coverage: { age: { min: 65 } } }).value - target) < 1e-12) {
              hits++;
              truth ||= acc.every((s, j) => s.numerator === org.strata![j]!.numerator && s.denominator === org.strata![j]!.denominator);
            }
            return;
          }
          const s = org.strata![k]!;
          for (let dn = -1; dn <= 1; dn++) for (let dd = -1; dd <= 1; dd++) {
            const numerator = s.numerator + dn;
            const denominator = s.denominator + dd;
            if (numerator < 0 || denominator < numerator || denominator === 0) continue;
            rec(k + 1, [...acc, { ...s, numerator, denominator }]);
          }
        };
        rec(0, []);
        return { hits, truth };
      };
      // (a coincidental match of other integer strata may occur; it only misleads the reader)
      expect(exactMatches(row.standardised!.value!).truth, 'published DSR explained by the true strata').to.equal(false);
      const oldDsr = standardisedRate(org.strata!, { coverage: { age: { min: 65 } } }).value;
      const old = exactMatches(oldDsr); // of 3^8 = 6,561 candidate strata, the truth and at most a few others
      expect(old.truth, 'old DSR explained by the true strata').to.equal(true);
      expect(old.hits).to.be.below(10);
      }
    });
  });

  describe('across two snapshots of the same period (a refresh after opt-outs)', () => {
    // Between the snapshots, one person aged 65+ who had a flu vaccination opted out at each of these practices.
    const after = orgs.map((o, i) => (i % 2 === 0 ? { ...o, numerator: o.numerator - (o.numerator > 0 ? 1 : 0), denominator: o.denominator - 1, strata: undefined } : { ...o, strata: undefined }));
    const before = orgs.map((o) => ({ ...o, strata: undefined }));
    const p1 = publish(before);
    const p2 = publish(after);

    it('a reader who knows at most one person left each practice cannot tell whether that person was vaccinated, nor pin a count', () => {
      for (let i = 0; i < orgs.length; i++) {
        const a = p1.organisations[i]!;
        const b = p2.organisations[i]!;
        if (a.numerator.suppressed || b.numerator.suppressed) continue;
        const d = difference(boxOf(a.numerator, POLICY), boxOf(b.numerator, POLICY), [0, 1]);
        expect(d.differences, `${a.code}: both "not vaccinated" and "vaccinated" stay possible`).to.deep.equal([0, 1]);
        expect(d.x1.length, `${a.code}: numerator not pinned`).to.be.at.least(2);
        // values and intervals add nothing: both are those of the published counts
        expect(readRow(a, POLICY, proportionCi).explanation).to.equal('published-counts');
        expect(readRow(b, POLICY, proportionCi).explanation).to.equal('published-counts');
      }
    });

    it('the same differencing pins counts under the OLD nearest rounding — it can fail', () => {
      const o1 = publishOld(before);
      const o2 = publishOld(after);
      let pinned = 0;
      for (let i = 0; i < orgs.length; i += 2) {
        const box = (p: PublishedOrganisation) => Array.from({ length: 5 }, (_, k) => p.numerator.value! - 2 + k);
        const d = difference(box(o1[i]!), box(o2[i]!), [0, 1]);
        if (d.differences.length === 1) pinned++;
      }
      expect(pinned, 'practices where the rounding boundary gave the opted-out person away').to.be.greaterThan(0);
    });

    it('re-publishing unchanged counts gives identical figures (nothing to average away)', () => {
      // (limits and class move with the area target, itself a published figure)
      const counts = (o: PublishedOrganisation) => ({ n: o.numerator, d: o.denominator, v: o.value, ci: o.ci95 });
      for (let i = 1; i < orgs.length; i += 2) expect(counts(p2.organisations[i]!)).to.deep.equal(counts(p1.organisations[i]!));
    });

    it('opt-outs applied follow the same rule: suppressed 1..7, keyed rounding above; differencing pins nothing', () => {
      for (let x = 1; x <= 7; x++) expect(publishOptOuts(x, POLICY, KEY).suppressed).to.equal(true);
      for (let x = 8; x < 400; x++) {
        const a = publishOptOuts(x, POLICY, KEY);
        const b = publishOptOuts(x + 1, POLICY, KEY);
        expect(a).to.deep.equal(publishOptOuts(x, POLICY, KEY));
        const d = difference(boxOf(b, POLICY), boxOf(a, POLICY), [0, 1]);
        expect(d.x1.length, `opt-outs ${x} → ${x + 1}`).to.be.at.least(2);
      }
    });
  });

  describe('across periods and indicators', () => {
    it('the same count of the same organisation is published the same way in every indicator and period', () => {
      const r = rng(7);
      for (let k = 0; k < 500; k++) {
        const x = int(r, 8, 5000);
        const code = `P${int(r, 0, 50)}`;
        expect(keyedRound(x, POLICY, KEY, code)).to.equal(keyedRound(x, POLICY, KEY, code));
      }
      // e.g. flu vaccination 65+ and another 65+ indicator over the same registered population at one practice
      const one: OrganisationCount[] = [{ code: 'P1', numerator: 411, denominator: 1234 }, { code: 'P2', numerator: 300, denominator: 900 }];
      const a = publish(one);
      const b = publishIndicator(indicatorById('polypharmacy-75-no-review') ?? FLU(), { indicatorId: 'x', period: { start: '2021-01-01', end: '2021-12-31' }, organisations: [{ code: 'P1', numerator: 17, denominator: 1234 }, { code: 'P2', numerator: 20, denominator: 900 }], missingSources: [] }, POLICY, KEY);
      expect(b.organisations[0]!.denominator).to.deep.equal(a.organisations[0]!.denominator);
    });

    it('a count rounded in two publications: intersecting its boxes narrows nothing', () => {
      const r = rng(11);
      for (let k = 0; k < 500; k++) {
        const x = int(r, 8, 5000);
        const p = { value: keyedRound(x, POLICY, KEY, 'P9'), suppressed: false as const };
        const q = { value: keyedRound(x, POLICY, KEY, 'P9'), suppressed: false as const };
        expect(difference(boxOf(p, POLICY), boxOf(q, POLICY), [0]).x1).to.deep.equal(boxOf(p, POLICY));
      }
    });

    it('the rounding is unbiased and its boundary secret: counts 41..44 each publish as 40 and as 45 under some key', () => {
      for (let x = 41; x <= 44; x++) {
        const seen = new Set<number>();
        for (let k = 0; k < 200; k++) seen.add(keyedRound(x, POLICY, Buffer.from(`key-${k}`), 'P1'));
        expect([...seen].sort()).to.deep.equal([40, 45]);
      }
    });
  });
});

export type { PublishedIndicator };
