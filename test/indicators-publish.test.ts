import { expect } from 'chai';
import { measureFor, measureReportFor } from '../indicators/measure-resources.js';
import { indicatorById } from '../indicators/catalogue.js';
import { figuresCsv, metadataCsv } from '../indicators/csv.js';
import { comparisonOf, polarityOf } from '../indicators/comparison.js';
import { binomQuantile } from '../indicators/distributions.js';
import { confidenceInterval } from '../indicators/funnel.js';
import { publishIndicator, publishRun } from '../indicators/publish.js';
import type { IndicatorDefinition } from '../indicators/spec.js';
import type { ComputeRun, IndicatorComputation, OrganisationCount, PublishedIndicator, SnapshotMeta, StratumCount } from '../indicators/types.js';
import { AGE_BANDS } from '../indicators/types.js';
import { ConfigError, loadConfig } from '../server/config.js';
import { expectValidFhir } from './helpers/fhir-validator.js';
import { csvRecords, parseCsv } from './helpers/csv.js';
import { mulberry32 as rng } from '../scripts/sandbox/hash.js';

const POLICY = { threshold: 7, rounding: 5 };
const KEY = Buffer.from('test cell key for indicators-publish');
const MD_URL = (m: SnapshotMeta, f: PublishedIndicator) => `http://facade.test/indicators/${f.indicatorId}/metadata?snapshot=${m.id}`;
const PERIOD = { start: '2025-04-01', end: '2026-03-31' };
const FHIR_BASE = 'http://facade.test/fhir';

function def(id: string): IndicatorDefinition {
  const d = indicatorById(id);
  if (!d) throw new Error(`catalogue has no ${id}`);
  return d;
}
const HBA1C = () => def('diabetes-hba1c-recorded'); // proportion, standardised
const LTS = () => def('long-term-support-per-100k'); // rate per 100,000
const LOS = () => def('mean-length-of-stay'); // mean
const FOOD = () => def('food-standards-compliance'); // organisation-level return

const comp = (indicatorId: string, organisations: OrganisationCount[], missingSources: IndicatorComputation['missingSources'] = []): IndicatorComputation => ({
  indicatorId,
  period: PERIOD,
  organisations,
  missingSources,
});

function run(results: IndicatorComputation[], over: Partial<ComputeRun> = {}): ComputeRun {
  return {
    period: PERIOD,
    startedAt: '2026-04-02T10:00:00.000Z',
    finishedAt: '2026-04-02T10:00:05.000Z',
    sources: [
      { source: 'gp', status: 'ok', version: 'gp-v1' },
      { source: 'hospital', status: 'ok', version: 'h-v1' },
      { source: 'social-care', status: 'ok', version: 'sc-v1' },
    ],
    complete: true,
    optOutsApplied: 42,
    results,
    ...over,
  };
}

const META: SnapshotMeta = {
  id: '0b1c2d3e-4f50-4a6b-8c7d-8e9fa0b1c2d3',
  period: PERIOD,
  computedAt: '2026-04-02T10:00:05.000Z',
  requestedBy: 'analyst-1',
  complete: true,
  sources: [],
  unavailableSources: [],
  optOutsApplied: { value: 40, suppressed: false },
  disclosurePolicy: POLICY,
  indicatorIds: [],
};

/** Every published count in the figures: null (suppressed), 0, or a multiple of the rounding above the threshold. */
function expectNoSmallCount(p: PublishedIndicator): void {
  const counts = [p.total.numerator, p.total.denominator, ...p.organisations.flatMap((o) => [o.numerator, o.denominator])];
  for (const c of counts) {
    if (c.suppressed) expect(c.value).to.equal(null);
    else {
      expect(c.value === 0 || (c.value! > POLICY.threshold && c.value! % POLICY.rounding === 0), `published count ${c.value}`).to.equal(true);
    }
  }
}

/** The text of every number field anywhere in a JSON value. */
function allNumbers(v: unknown, out: number[] = []): number[] {
  if (typeof v === 'number') out.push(v);
  else if (Array.isArray(v)) v.forEach((x) => allNumbers(x, out));
  else if (v && typeof v === 'object') Object.values(v).forEach((x) => allNumbers(x, out));
  return out;
}

describe('indicators: publishing (disclosure control, fair comparison, outputs)', () => {
  describe('suppression flags and values', () => {
    const orgs: OrganisationCount[] = [
      { code: 'P003', numerator: 60, denominator: 100 },
      { code: 'P001', numerator: 3, denominator: 50 }, // small numerator
      { code: 'P002', numerator: 0, denominator: 40 }, // zero is publishable
      { code: 'P004', numerator: 120, denominator: 200 },
      { code: 'P005', numerator: 30, denominator: 5 - 5 + 6 + 30 }, // denominator 36
    ];
    const p = publishIndicator(HBA1C(), comp('diabetes-hba1c-recorded', orgs), POLICY, KEY);

    it('lists organisations by code, with no rank or position anywhere', () => {
      expect(p.organisations.map((o) => o.code)).to.deep.equal(['P001', 'P002', 'P003', 'P004', 'P005']);
      expect(JSON.stringify(p)).not.to.match(/rank|position|league/i);
    });

    it('suppresses a count of 1–7 with the reason and withholds its value, CI, limits and class', () => {
      const a = p.organisations.find((o) => o.code === 'P001')!;
      expect(a.numerator).to.deep.equal({ value: null, suppressed: true, reason: 'small-count' });
      expect(a.suppressed).to.equal(true);
      expect(a.withheld).to.equal('numerator-suppressed');
      expect([a.value, a.ci95, a.limits, a.classification]).to.deep.equal([null, null, null, null]);
      expect(a.standardised?.value ?? null).to.equal(null);
    });

    it('secondary suppression: the lone small cell cannot be recovered from the published total', () => {
      const secondary = p.organisations.filter((o) => o.numerator.suppressed && o.numerator.reason === 'secondary');
      const published = p.organisations.filter((o) => !o.numerator.suppressed);
      expect(p.total.numerator.suppressed || secondary.length >= 1, 'a second cell or the total is suppressed').to.equal(true);
      if (!p.total.numerator.suppressed) {
        // What a reader can work out: total minus the published cells, spread over ≥ 2 suppressed cells.
        const rest = p.total.numerator.value! - published.reduce((s, o) => s + o.numerator.value!, 0);
        expect(p.organisations.filter((o) => o.numerator.suppressed).length).to.be.greaterThan(1);
        expect(rest).to.be.greaterThan(POLICY.threshold);
      }
    });

    it('publishes zero, rounds other counts to 5 (keyed), and computes values from the PUBLISHED counts, never the exact ones', () => {
      const b = p.organisations.find((o) => o.code === 'P002')!;
      expect(b.numerator).to.deep.equal({ value: 0, suppressed: false });
      expect(b.value).to.equal(0);
      const d = p.organisations.find((o) => o.code === 'P005')!;
      expect([35, 40]).to.include(d.denominator.value); // 36 → 35 or 40 (keyed random rounding)
      const shown = p.organisations.filter((o) => o.value !== null);
      expect(shown.length).to.be.greaterThan(0);
      for (const o of shown) {
        // value and interval are those of the published counts (issue 18, defect 2)
        expect(o.value).to.equal(o.numerator.value! / o.denominator.value!);
        const ci = confidenceInterval('proportion', o.numerator.value!, o.denominator.value!);
        expect(o.ci95).to.deep.equal(ci);
      }
      expectNoSmallCount(p);
    });

    it('withholds a proportion whose complement is small: 30 of 36 would say exactly 6 people lack the outcome', () => {
      const e = p.organisations.find((o) => o.code === 'P005')!;
      expect(e.value).to.equal(null);
      expect(e.suppressed).to.equal(true);
      // and the withheld value cannot be worked back from the published ones and the total
      const shown = p.organisations.filter((o) => o.value !== null);
      expect(shown.length).to.be.lessThan(p.organisations.length - 1);
    });

    it('gives CI and limits that bracket sensibly, the overall value as target, and a method in words', () => {
      const c = p.organisations.find((o) => o.code === 'P004')!;
      // the published total's value (keyed-rounded counts), not the exact 213 / 426
      expect(p.target).to.equal(p.total.numerator.value! / p.total.denominator.value!);
      expect(p.target).to.be.closeTo(213 / 426, 0.02);
      expect(c.ci95!.lower).to.be.lessThan(0.6);
      expect(c.ci95!.upper).to.be.greaterThan(0.6);
      expect(c.limits!.lower998).to.be.lessThan(c.limits!.lower95);
      expect(c.limits!.upper95).to.be.lessThan(c.limits!.upper998);
      expect(c.limits!.lower95).to.be.lessThan(p.target!);
      expect(p.limitsMethod).to.match(/binomial/);
      expect(p.standardPopulation).to.match(/European Standard Population/);
    });
  });

  describe('classification against funnel limits (alert 95 %, alarm 99.8 %)', () => {
    // 20 practices at about 50 %, one far above, one far below, one a little above.
    const orgs: OrganisationCount[] = Array.from({ length: 20 }, (_, i) => ({ code: `Q${String(i + 10)}`, numerator: 100 + (i % 5) - 2, denominator: 200 }));
    orgs.push({ code: 'Q01', numerator: 150, denominator: 200 }, { code: 'Q02', numerator: 55, denominator: 200 }, { code: 'Q03', numerator: 117, denominator: 200 });
    const p = publishIndicator(HBA1C(), comp('diabetes-hba1c-recorded', orgs), POLICY, KEY);
    const cls = (code: string) => p.organisations.find((o) => o.code === code)!.classification;

    it('flags the extreme organisations as alarms and the typical ones as within expected', () => {
      expect(cls('Q01')).to.equal('above-alarm');
      expect(cls('Q02')).to.equal('below-alarm');
      expect(p.organisations.filter((o) => o.code >= 'Q10').every((o) => o.classification === 'within-expected')).to.equal(true);
    });

    it('classes an organisation between the 95 % and 99.8 % limits as an alert', () => {
      const q = p.organisations.find((o) => o.code === 'Q03')!;
      expect(q.value!).to.be.greaterThan(q.limits!.upper95);
      expect(q.value!).to.be.at.most(q.limits!.upper998);
      expect(q.classification).to.equal('above-alert');
    });

    it('limits agree with exact binomial quantiles computed independently at that denominator', () => {
      const q = p.organisations.find((o) => o.code === 'Q01')!;
      // Interpolated limits lie within one event of the discrete quantiles r_0.975, r_0.025.
      const upper = binomQuantile(0.975, 200, p.target!) / 200;
      const lower = binomQuantile(0.025, 200, p.target!) / 200;
      expect(q.limits!.upper95).to.be.within(upper - 1 / 200, upper + 1e-9);
      expect(q.limits!.lower95).to.be.within(lower - 1 / 200, lower + 1e-9);
    });
  });

  describe('rates, means, organisation returns, standardisation', () => {
    it('rates are published per N (value, CI, limits and target all scaled)', () => {
      const p = publishIndicator(LTS(), comp('long-term-support-per-100k', [
        { code: 'E06000001', numerator: 900, denominator: 150_000 },
        { code: 'E06000002', numerator: 1500, denominator: 200_000 },
        { code: 'E06000003', numerator: 400, denominator: 90_000 },
      ]), POLICY, KEY);
      const o = p.organisations[0]!;
      expect(o.value).to.be.closeTo(600, 1e-9);
      expect(o.ci95!.lower).to.be.lessThan(600);
      expect(o.ci95!.upper).to.be.greaterThan(600);
      expect(p.target).to.be.closeTo((2800 / 440_000) * 100_000, 1e-9);
      expect(o.limits!.upper95).to.be.greaterThan(p.target!);
      expect(p.limitsMethod).to.match(/Poisson/);
    });

    it('means (length of stay) use the Poisson comparison on the sum', () => {
      const p = publishIndicator(LOS(), comp('mean-length-of-stay', [
        { code: 'RR8', numerator: 5000, denominator: 1000 },
        { code: 'RAE', numerator: 2600, denominator: 400 },
      ]), POLICY, KEY);
      expect(p.organisations.map((o) => o.value)).to.deep.equal([6.5, 5]); // sorted: RAE, RR8
      expect(p.organisations[0]!.classification).to.equal('above-alarm');
    });

    it('organisation-level returns (food standards) count no people and are published exactly', () => {
      const p = publishIndicator(FOOD(), comp('food-standards-compliance', [
        { code: 'RR8', numerator: 5, denominator: 6 },
        { code: 'RAE', numerator: 6, denominator: 6 },
      ]), POLICY, KEY);
      expect(p.disclosureControlled).to.equal(false);
      expect(p.organisations.find((o) => o.code === 'RR8')!.numerator).to.deep.equal({ value: 5, suppressed: false });
      expect(p.organisations.find((o) => o.code === 'RR8')!.value).to.be.closeTo(5 / 6, 1e-12);
    });

    it('publishes the age-sex standardised value only with 10 or more events', () => {
      const strata = (n: number, d: number): StratumCount[] =>
        AGE_BANDS.flatMap((ageBand) => (['female', 'male'] as const).map((sex) => ({ ageBand, sex, numerator: n, denominator: d })));
      const big = strata(6, 12); // 10 bands × 2 sexes: 120 / 240, 50 % in every stratum
      // no events: judged on the published numerator (0), never on an exact count the rounding hides
      const few = [{ ageBand: '60-69' as const, sex: 'female' as const, numerator: 0, denominator: 30 }, { ageBand: '70-79' as const, sex: 'male' as const, numerator: 0, denominator: 20 }];
      const p = publishIndicator(HBA1C(), comp('diabetes-hba1c-recorded', [
        { code: 'A1', numerator: 120, denominator: 240, strata: big },
        { code: 'A2', numerator: 0, denominator: 50, strata: few },
        { code: 'A3', numerator: 200, denominator: 400 },
      ]), POLICY, KEY);
      const [a1, a2, a3] = p.organisations;
      expect(a1!.standardised!.value).to.be.closeTo(0.5, 1e-12);
      expect(a1!.standardised!.ci95!.lower).to.be.lessThan(0.5);
      expect(a2!.standardised).to.deep.equal({ value: null, ci95: null, withheld: 'fewer-than-10-events' });
      expect(a3!.standardised).to.deep.equal({ value: null, ci95: null, withheld: 'no-strata' });
    });

    it('flu vaccination 65+: the standardised value is over the 65+ strata only and lies within the stratum rates (issue 18)', () => {
      // Same strata as the hand-worked 65+ example in indicators-standardise.test.ts: DSR = 8,650 / 39,000.
      const cells: Array<[StratumCount['ageBand'], StratumCount['sex'], number, number]> = [
        ['60-69', 'female', 100, 500], ['70-79', 'female', 120, 400], ['80-89', 'female', 50, 200], ['90+', 'female', 5, 50],
        ['60-69', 'male', 50, 500], ['70-79', 'male', 80, 400], ['80-89', 'male', 30, 100], ['90+', 'male', 4, 20],
      ];
      const strata: StratumCount[] = AGE_BANDS.flatMap((ageBand) => (['female', 'male'] as const).map((sex) => {
        const c = cells.find(([b, s]) => b === ageBand && s === sex);
        return { ageBand, sex, numerator: c?.[2] ?? 0, denominator: c?.[3] ?? 0 };
      }));
      const p = publishIndicator(def('flu-vaccination-65'), comp('flu-vaccination-65', [
        { code: 'P1', numerator: 439, denominator: 2170, strata },
        { code: 'P2', numerator: 500, denominator: 2000 },
      ]), POLICY, KEY);
      const s = p.organisations[0]!.standardised!;
      const rates = cells.map(([, , o, n]) => o / n);
      expect(s.value!).to.be.within(Math.min(...rates), Math.max(...rates));
      expect(s.value!).to.be.closeTo(8650 / 39000, 0.01); // from keyed-rounded strata (disclosure): close, not exact
      expect(p.standardPopulation).to.match(/restricted to the strata the indicator covers: ages 65\+/);
    });
  });

  describe('the run: completeness and opt-outs', () => {
    it('a run with a source down is never complete; the indicator needing it says which source', () => {
      const r = publishRun(
        run(
          [comp('diabetes-hba1c-recorded', [{ code: 'P1', numerator: 50, denominator: 100 }]), comp('care-packages-reviewed', [], ['social-care'])],
          { sources: [{ source: 'gp', status: 'ok', version: 'v1' }, { source: 'social-care', status: 'unavailable', reason: 'timeout' }], complete: false },
        ),
        [HBA1C(), def('care-packages-reviewed')],
        POLICY,
        KEY,
      );
      expect(r.meta.complete).to.equal(false);
      expect(r.meta.unavailableSources).to.deep.equal(['social-care']);
      expect(r.indicators.find((i) => i.indicatorId === 'care-packages-reviewed')!.complete).to.equal(false);
      expect(r.indicators.find((i) => i.indicatorId === 'diabetes-hba1c-recorded')!.complete).to.equal(true);
    });

    it('even if a run claims to be complete, an unavailable source makes the snapshot incomplete', () => {
      const r = publishRun(run([], { sources: [{ source: 'hospital', status: 'unavailable', reason: 'error' }], complete: true }), [], POLICY, KEY);
      expect(r.meta.complete).to.equal(false);
    });

    it('the opt-out count is disclosure-controlled too', () => {
      expect(publishRun(run([], { optOutsApplied: 3 }), [], POLICY, KEY).meta.optOutsApplied).to.deep.equal({ value: null, suppressed: true, reason: 'small-count' });
      // 42 → 40 or 45 by keyed rounding, the same every time it is published
      const a = publishRun(run([], { optOutsApplied: 42 }), [], POLICY, KEY).meta.optOutsApplied;
      expect([40, 45]).to.include(a.value);
      expect(publishRun(run([], { optOutsApplied: 42 }), [], POLICY, KEY).meta.optOutsApplied).to.deep.equal(a);
    });
  });

  describe('CSV keeps the caveats (issue 18, defect 3)', () => {
    const CARE = () => def('care-packages-reviewed'); // social care only
    const down: SnapshotMeta = {
      ...META,
      complete: false,
      sources: [{ source: 'gp', status: 'ok', version: 'gp-v1' }, { source: 'social-care', status: 'unavailable', reason: 'timed out' }],
      unavailableSources: ['social-care'],
      optOutsApplied: { value: null, suppressed: true, reason: 'small-count' },
    };

    it('a snapshot whose source was down gives one row saying so, never a bare header', () => {
      const p = publishIndicator(CARE(), comp('care-packages-reviewed', [], ['social-care']), POLICY, KEY);
      const rows = csvRecords(figuresCsv([{ meta: down, figures: p }], CARE(), MD_URL));
      expect(rows).to.have.length(1);
      expect(rows[0]).to.include({
        indicator_id: 'care-packages-reviewed',
        snapshot_complete: 'false',
        unavailable_sources: 'social-care',
        organisation_code: '',
        value: '',
        metadata_url: `http://facade.test/indicators/care-packages-reviewed/metadata?snapshot=${META.id}`,
      });
      expect(rows[0]!.value_withheld_reason).to.match(/social-care could not be reached/);
    });

    it('every row of an incomplete snapshot says so and names the missing source and the metadata CSV', () => {
      const p = publishIndicator(HBA1C(), comp('diabetes-hba1c-recorded', [{ code: 'P1', numerator: 40, denominator: 100 }, { code: 'P2', numerator: 50, denominator: 100 }]), POLICY, KEY);
      const rows = csvRecords(figuresCsv([{ meta: down, figures: p }], HBA1C(), MD_URL));
      expect(rows).to.have.length(2);
      for (const r of rows) {
        expect(r).to.include({ snapshot_complete: 'false', unavailable_sources: 'social-care' });
        expect(r.metadata_url).to.match(/\/indicators\/diabetes-hba1c-recorded\/metadata\?snapshot=/);
      }
    });

    it('the metadata CSV holds definition, method, limitations, polarity, completeness, opt-outs applied and the disclosure rule', () => {
      const d = CARE();
      const p = publishIndicator(d, comp('care-packages-reviewed', [], ['social-care']), POLICY, KEY);
      const rows = parseCsv(metadataCsv(d, down, p, 'RULE TEXT', [['figures_url', 'http://x/f.csv']]));
      expect(rows[0]).to.deep.equal(['field', 'value']);
      const all = (f: string) => rows.filter((r) => r[0] === f).map((r) => r[1]);
      const one = (f: string) => all(f)[0];
      expect(one('numerator_definition')).to.equal(d.numeratorText);
      expect(one('denominator_definition')).to.equal(d.denominatorText);
      expect(one('methodology')).to.equal(d.methodology);
      expect(all('limitation')).to.deep.equal(d.limitations);
      expect(one('polarity')).to.equal(d.direction);
      expect(one('polarity_text')).to.match(/better|no judgement/);
      expect(one('snapshot_id')).to.equal(META.id);
      expect(one('snapshot_complete')).to.equal('false');
      expect(one('completeness')).to.match(/^incomplete: social-care could not be reached/);
      expect(all('source_status')).to.include('social-care: unavailable (timed out)');
      expect(one('opt_outs_applied')).to.equal('suppressed');
      expect(one('disclosure_rule')).to.equal('RULE TEXT');
      expect(one('figures_url')).to.equal('http://x/f.csv');
      const ok = parseCsv(metadataCsv(d, META, p, 'RULE TEXT'));
      expect(ok.find((r) => r[0] === 'opt_outs_applied')![1]).to.equal('40');
    });
  });

  describe('cross-source indicators say how many people could not be linked', () => {
    it('per source, suppressed 1..7 or keyed-rounded, with the caveat in words and in the metadata CSV', () => {
      const d = def('dementia-emergency-admission');
      const p = publishIndicator(d, { ...comp(d.id, [{ code: 'P1', numerator: 20, denominator: 100 }]), unlinkable: { gp: 42, hospital: 3 } }, POLICY, KEY);
      expect(p.linkage!.unlinkable.map((u) => u.source)).to.deep.equal(['gp', 'hospital']);
      expect([40, 45]).to.include(p.linkage!.unlinkable[0]!.people.value);
      expect(p.linkage!.unlinkable[1]!.people).to.deep.equal({ value: null, suppressed: true, reason: 'small-count' });
      expect(p.linkage!.text).to.match(/cannot be linked between the systems/);
      const md = parseCsv(metadataCsv(d, META, p, 'RULE'));
      expect(md.find((r) => r[0] === 'unlinkable_people_hospital')![1]).to.equal('suppressed');
      // single-source indicators have no linkage
      expect(publishIndicator(HBA1C(), comp('diabetes-hba1c-recorded', [{ code: 'P1', numerator: 20, denominator: 100 }]), POLICY, KEY).linkage).to.equal(undefined);
    });
  });

  describe('polarity and comparison in words and codes', () => {
    it('follow the polarity: above the upper limit is better when higher is better, worse when lower is better', () => {
      expect(comparisonOf('above-alarm', 'higher-is-better')).to.deep.equal({ code: 'better', level: '99.8', text: 'Significantly better than expected: outside the 99.8 % upper limit' });
      expect(comparisonOf('above-alert', 'lower-is-better')).to.include({ code: 'worse', level: '95' });
      expect(comparisonOf('below-alert', 'lower-is-better').text).to.match(/^Significantly better than expected/);
      expect(comparisonOf('below-alarm', 'higher-is-better').code).to.equal('worse');
      expect(comparisonOf('above-alert', 'no-judgement')).to.include({ code: 'higher' });
      expect(comparisonOf('within-expected', 'higher-is-better')).to.deep.equal({ code: 'no-evidence-of-difference', level: null, text: 'No evidence of a difference from expected (within the 95 % limits)' });
      expect(comparisonOf(null, 'lower-is-better').code).to.equal('not-compared');
      expect(polarityOf('lower-is-better')).to.deep.equal({ code: 'lower-is-better', text: 'Lower is better' });
    });
  });

  describe('outputs: CSV and FHIR MeasureReport carry no small count', () => {
    const orgs: OrganisationCount[] = [
      { code: 'P1', numerator: 2, denominator: 9 },
      { code: 'P2', numerator: 40, denominator: 100 },
      { code: 'P3', numerator: 45, denominator: 4 + 100 },
      { code: 'P4', numerator: 0, denominator: 6 },
    ];
    const p = publishIndicator(HBA1C(), comp('diabetes-hba1c-recorded', orgs), POLICY, KEY);

    it('CSV (RFC 4180): suppressed cells say "suppressed" with the reason; no count column holds 1–7', () => {
      const csv = figuresCsv([{ meta: META, figures: p }], HBA1C(), MD_URL);
      expect(csv.endsWith('\r\n')).to.equal(true);
      const [header, ...rows] = parseCsv(csv);
      expect(header).not.to.include('rank');
      const col = (name: string) => header!.indexOf(name);
      const p1 = rows.find((r) => r[col('organisation_code')] === 'P1')!;
      expect(p1[col('numerator')]).to.equal('suppressed');
      expect(p1[col('numerator_suppression_reason')]).to.match(/small count/);
      expect(p1[col('value')]).to.equal('');
      for (const r of rows) {
        for (const name of ['numerator', 'denominator']) {
          const v = r[col(name)]!;
          expect(v === 'suppressed' || v === '0' || (Number(v) > 7 && Number(v) % 5 === 0), `${name}=${v}`).to.equal(true);
        }
      }
      expect(rows.map((r) => r[col('organisation_code')])).to.deep.equal(['P1', 'P2', 'P3', 'P4']);
    });

    it('CSV quotes fields holding commas, quotes and line breaks', () => {
      const csv = figuresCsv([{ meta: { ...META, id: 'a,"b"\nc' }, figures: p }], HBA1C(), MD_URL, 'P2');
      const rows = parseCsv(csv);
      expect(rows[1]![3]).to.equal('a,"b"\nc');
    });

    it('MeasureReports validate as FHIR R4; suppressed populations have no count but a data-absent-reason', () => {
      const d = HBA1C();
      expectValidFhir(measureFor(d, FHIR_BASE), 'Measure');
      for (const org of p.organisations) {
        const mr = measureReportFor(d, META, p, org, FHIR_BASE);
        expectValidFhir(mr, `MeasureReport ${org.code}`);
        for (const pop of mr.group![0]!.population!) {
          if (pop.count === undefined) expect(pop.extension!.some((e) => e.url.endsWith('data-absent-reason') && e.valueCode === 'masked')).to.equal(true);
          else expect(pop.count === 0 || pop.count > 7).to.equal(true);
        }
        if (org.value === null) expect(mr.group![0]!.measureScore!.value).to.equal(undefined);
        expect(JSON.stringify(mr)).not.to.match(/rank/i);
      }
    });

    it('an incomplete snapshot gives MeasureReports with status error, tagged incomplete', () => {
      const mr = measureReportFor(HBA1C(), { ...META, complete: false, unavailableSources: ['gp'] }, p, p.organisations[1]!, FHIR_BASE);
      expect(mr.status).to.equal('error');
      expect(mr.meta!.tag![0]!.code).to.equal('incomplete');
      expectValidFhir(mr);
    });
  });

  describe('configuration', () => {
    const base = { GP_FHIR_URL: 'http://a/fhir', HOSPITAL_FHIR_URL: 'http://b/fhir', SOCIAL_CARE_URL: 'http://c' };
    it('DISCLOSURE_THRESHOLD / DISCLOSURE_ROUNDING default to 7 and 5, FEEDBACK_RATE_PER_MINUTE to 10; bad values stop start-up naming them', () => {
      const c = loadConfig(base);
      expect(c.disclosure).to.deep.equal({ threshold: 7, rounding: 5 });
      expect(c.feedbackRatePerMinute).to.equal(10);
      expect(loadConfig({ ...base, DISCLOSURE_THRESHOLD: '10', DISCLOSURE_ROUNDING: '10' }).disclosure).to.deep.equal({ threshold: 10, rounding: 10 });
      expect(() => loadConfig({ ...base, DISCLOSURE_THRESHOLD: 'seven' })).to.throw(ConfigError, /DISCLOSURE_THRESHOLD/);
      expect(() => loadConfig({ ...base, DISCLOSURE_ROUNDING: '0' })).to.throw(ConfigError, /DISCLOSURE_ROUNDING/);
      expect(() => loadConfig({ ...base, FEEDBACK_RATE_PER_MINUTE: '-1' })).to.throw(ConfigError, /FEEDBACK_RATE_PER_MINUTE/);
    });

    it('a higher threshold suppresses more: with threshold 10 a count of 9 is suppressed', () => {
      const p = publishIndicator(HBA1C(), comp('diabetes-hba1c-recorded', [
        { code: 'A', numerator: 9, denominator: 100 },
        { code: 'B', numerator: 50, denominator: 100 },
        { code: 'C', numerator: 45, denominator: 90 },
      ]), { threshold: 10, rounding: 10 }, KEY);
      expect(p.organisations[0]!.numerator).to.deep.equal({ value: null, suppressed: true, reason: 'small-count' });
      for (const o of p.organisations) if (!o.denominator.suppressed) expect(o.denominator.value! % 10).to.equal(0);
    });
  });

  describe('property: random populations never publish a count from 1 to 7', () => {
    it('holds for 300 random tables (small and large organisations, proportions and rates)', () => {
      const rand = rng(20261123);
      for (let t = 0; t < 300; t++) {
        const n = 1 + Math.floor(rand() * 12);
        const orgs: OrganisationCount[] = Array.from({ length: n }, (_, i) => {
          const d = rand() < 0.3 ? Math.floor(rand() * 12) : Math.floor(rand() * 400);
          const num = Math.floor(rand() * (d + 1) * (rand() < 0.5 ? 0.1 : 1));
          return { code: `O${String(i).padStart(3, '0')}`, numerator: Math.min(num, d), denominator: d };
        });
        const p = publishIndicator(HBA1C(), comp('diabetes-hba1c-recorded', orgs), POLICY, KEY);
        expectNoSmallCount(p);
        for (const o of p.organisations) {
          if (o.value !== null) expect(o.numerator.suppressed || o.denominator.suppressed).to.equal(false);
          if (o.numerator.suppressed || o.denominator.suppressed) expect([o.value, o.ci95, o.limits, o.classification]).to.deep.equal([null, null, null, null]);
        }
        // Differencing: under a published total, never exactly one suppressed cell (it would be total − the rest).
        for (const side of ['numerator', 'denominator'] as const) {
          if (!p.total[side].suppressed) expect(p.organisations.filter((o) => o[side].suppressed).length, `${side} table ${t}`).not.to.equal(1);
        }
        // No count 1..7 as any integer-valued figure of a count field in the JSON either.
        const countFields = JSON.stringify(p).match(/"(numerator|denominator)":\{"value":(\d+)/g) ?? [];
        for (const f of countFields) {
          const v = Number(/(\d+)$/.exec(f)![1]);
          expect(v === 0 || v > 7, f).to.equal(true);
        }
        expect(allNumbers(p).every((x) => Number.isFinite(x))).to.equal(true);
      }
    });
  });
});
