import { keyedRound, keyedRoundRaw } from './cell-key.js';
import { protectIndicator, publishCount } from './disclosure.js';
import { confidenceInterval, funnel, type ComparisonKind } from './funnel.js';
import type { IndicatorDefinition } from './spec.js';
import { coverageText, standardisedRate, STANDARD_POPULATION_TEXT, type Coverage } from './standardise.js';
import type {
  ComputeRun,
  ControlLimits,
  DisclosurePolicy,
  IndicatorComputation,
  IndicatorSource,
  Interval,
  PublishedCount,
  PublishedIndicator,
  PublishedOrganisation,
  SnapshotMeta,
} from './types.js';

/**
 * From a ComputeRun (unrounded counts) to what may be published (pure; no I/O):
 *  1. disclosure control of the numerator and denominator tables together (disclosure.ts protectIndicator:
 *     counts 1..threshold suppressed, secondary suppression against the area total, others rounded);
 *  2. every publishable count is rounded with keyed random rounding (cell-key.ts: the same count of the same
 *     organisation is always published the same way; where the rounding boundary falls is secret);
 *  3. fair comparison on the PUBLISHED (rounded) counts only (funnel.ts): the published total's value as target,
 *     95 % CI per organisation, exact binomial (proportions) or Poisson (rates, means) funnel limits at 95 % and
 *     99.8 %, classification — so no published figure carries more than the published counts (issue 18, defect 2;
 *     docs/indicators-disclosure.md);
 *  4. the value, CI, limits and class of an organisation are published only when both of its counts are
 *     publishable (else null with the reason); limits and classes also need a publishable target, since
 *     limits around the target would reveal a suppressed area total;
 *  5. the directly age-sex standardised value (standardise.ts, ESP 2013) where the definition asks for it, from
 *     keyed-rounded strata counts (never the exact ones), only for organisations whose crude value is published and
 *     with at least 10 (rounded) events;
 *  6. the opt-outs applied: suppressed when 1..threshold, else keyed-rounded like any count.
 * Organisations are sorted by code; nothing is ranked. Organisation-level returns that count no people
 * (shape `org-return`, e.g. food standards met) are published exactly: disclosure control protects people.
 */

export interface PublishedRun {
  meta: Omit<SnapshotMeta, 'id' | 'requestedBy'>;
  indicators: PublishedIndicator[];
}

const scale = (x: number, per: number) => x * per;
const scaleInterval = (i: Interval, per: number): Interval => ({ lower: i.lower * per, upper: i.upper * per });
const scaleLimits = (l: ControlLimits, per: number): ControlLimits => ({
  lower95: l.lower95 * per,
  upper95: l.upper95 * per,
  lower998: l.lower998 * per,
  upper998: l.upper998 * per,
});
const exact = (count: number): PublishedCount => ({ value: count, suppressed: false });
const byCode = (a: { code: string }, b: { code: string }) => (a.code < b.code ? -1 : a.code > b.code ? 1 : 0);

/** Publishes one indicator's computation. */
export function publishIndicator(def: IndicatorDefinition, comp: IndicatorComputation, policy: DisclosurePolicy, cellKey: Uint8Array): PublishedIndicator {
  const per = def.measure.type === 'rate' ? def.measure.per : 1;
  const kind: ComparisonKind = def.measure.type === 'proportion' ? 'proportion' : 'poisson';
  const orgs = [...comp.organisations].sort(byCode);
  const disclosureControlled = def.spec.shape !== 'org-return';
  const coverage = coverageOf(def);
  // Strata are not published, so they are not part of the protected tables; the standardised value sees them only
  // keyed-rounded and scaled to the published counts (roundStrata below).
  const counts = orgs.map((o) => ({ code: o.code, numerator: o.numerator, denominator: o.denominator }));
  const prot = disclosureControlled
    ? // For a proportion, d − n (people without the outcome) identifies as surely as n: protected too.
      protectIndicator(counts, def.measure, policy, { protectComplements: true })
    : {
        total: {
          numerator: exact(counts.reduce((s, o) => s + o.numerator, 0)),
          denominator: exact(counts.reduce((s, o) => s + o.denominator, 0)),
          valuePublishable: counts.some((o) => o.denominator > 0),
        },
        organisations: counts.map((o) => ({
          code: o.code,
          numerator: exact(o.numerator),
          denominator: exact(o.denominator),
          valuePublishable: o.denominator > 0,
          withheld: o.denominator > 0 ? null : ('no-denominator' as const),
        })),
      };

  // Published counts: keyed random rounding of every publishable count (org-returns count no people: exact).
  const shown = (c: PublishedCount, exact: number, scope: string): PublishedCount =>
    c.suppressed || !disclosureControlled ? c : { value: keyedRound(exact, policy, cellKey, scope), suppressed: false };
  const rows = orgs.map((o, i) => {
    const p = prot.organisations[i]!;
    const d = shown(p.denominator, o.denominator, o.code);
    let n = shown(p.numerator, o.numerator, o.code);
    // numerator ≤ denominator stays true after rounding (a proportion of more than 100 % would say the rounding)
    if (def.measure.type === 'proportion' && !n.suppressed && !d.suppressed && n.value > d.value) n = { value: d.value, suppressed: false };
    return { n, d, p };
  });
  // The total's scope: the organisation's own when a single organisation holds all of it (then it is the same count).
  const totalScope = (side: 'numerator' | 'denominator') => {
    const holders = orgs.filter((o) => o[side] > 0);
    return holders.length === 1 ? holders[0]!.code : '*all*';
  };
  const totalD = shown(prot.total.denominator, orgs.reduce((s, o) => s + o.denominator, 0), totalScope('denominator'));
  let totalN = shown(prot.total.numerator, orgs.reduce((s, o) => s + o.numerator, 0), totalScope('numerator'));
  if (def.measure.type === 'proportion' && !totalN.suppressed && !totalD.suppressed && totalN.value > totalD.value) totalN = { value: totalD.value, suppressed: false };
  const totalPublishable = prot.total.valuePublishable && !totalN.suppressed && !totalD.suppressed && totalD.value > 0;

  // Everything below is computed from the published counts only.
  const units = rows.map(({ n, d, p }) =>
    p.valuePublishable && !n.suppressed && !d.suppressed && d.value > 0 ? { numerator: n.value, denominator: d.value } : { numerator: 0, denominator: 0 });
  const target = totalPublishable ? totalN.value! / totalD.value! : undefined;
  const fun = units.some((u) => u.denominator > 0) ? funnel(kind, units, { target }) : null;
  const targetPublishable = fun !== null && target !== undefined;
  const incomplete = comp.missingSources.length > 0;

  const organisations: PublishedOrganisation[] = orgs.map((o, i) => {
    const { n, d, p } = rows[i]!;
    const unit = fun?.units[i] ?? null;
    const publishable = p.valuePublishable && unit !== null;
    const row: PublishedOrganisation = {
      code: o.code,
      numerator: n,
      denominator: d,
      value: publishable ? scale(unit.value, per) : null,
      ci95: publishable ? scaleInterval(unit.ci95, per) : null,
      limits: publishable && targetPublishable ? scaleLimits(unit.limits, per) : null,
      classification: publishable && targetPublishable ? unit.classification : null,
      suppressed: n.suppressed || d.suppressed || !publishable,
      withheld: publishable ? null : (p.withheld ?? 'no-denominator'),
    };
    if (def.standardise) {
      row.standardised = standardised(roundStrata(o.strata, { numerator: n, denominator: d }, policy, cellKey, o.code, disclosureControlled), publishable, p.withheld, per, coverage);
    }
    return row;
  });

  return {
    indicatorId: def.id,
    period: comp.period,
    measure: def.measure,
    complete: !incomplete,
    missingSources: comp.missingSources,
    total: {
      numerator: totalN,
      denominator: totalD,
      value: totalPublishable ? scale(totalN.value! / totalD.value!, per) : null,
      ci95: totalPublishable ? scaleInterval(confidenceInterval(kind, totalN.value!, totalD.value!), per) : null,
    },
    target: targetPublishable ? scale(fun!.target, per) : null,
    limitsMethod: fun ? fun.method : 'no organisation had a denominator: no comparison',
    overdispersion: fun ? { phi: fun.overdispersion.phi, pValue: fun.overdispersion.pValue, applied: fun.overdispersion.applied } : null,
    disclosureControlled,
    ...(def.standardise ? { standardPopulation: STANDARD_POPULATION_TEXT + coverageText(coverage) } : {}),
    ...(comp.unlinkable ? { linkage: publishLinkage(comp.unlinkable, policy, cellKey) } : {}),
    organisations,
  };
}

function standardised(
  strata: IndicatorComputation['organisations'][number]['strata'] | null,
  crudePublishable: boolean,
  withheld: PublishedOrganisation['withheld'],
  per: number,
  coverage: Coverage,
): NonNullable<PublishedOrganisation['standardised']> {
  if (!crudePublishable) return { value: null, ci95: null, withheld: withheld ?? 'no-denominator' };
  if (strata === null) return { value: null, ci95: null, withheld: 'fewer-than-10-events' };
  if (!strata || strata.length === 0) return { value: null, ci95: null, withheld: 'no-strata' };
  const dsr = standardisedRate(strata, { per, coverage });
  if (!dsr.reliable) return { value: null, ci95: null, withheld: 'fewer-than-10-events' };
  return { value: dsr.value, ci95: dsr.upper === null ? null : { lower: dsr.lower, upper: dsr.upper }, withheld: null };
}

/**
 * The age-sex strata an indicator covers (its population's age range and sex); everyone for episode indicators.
 * Standardisation weighs only these strata (standardise.ts), so an indicator of people aged 65+ is not divided by
 * the under-65 part of the standard population.
 */
export function coverageOf(def: IndicatorDefinition): Coverage {
  const spec = def.spec;
  if (spec.shape !== 'person-proportion' && spec.shape !== 'person-rate') return {};
  const { age, sex } = spec.population;
  return { ...(age ? { age } : {}), ...(sex ? { sexes: [sex] } : {}) };
}

/**
 * Strata as the standardisation may see them (issue 18, defect 2): each stratum count keyed-rounded like a published
 * count (0 allowed; events in a stratum rounded to no people are dropped), then scaled so that the strata add up to
 * the PUBLISHED numerator and denominator. The standardised value then carries the published counts and the shape
 * of the rounded strata, never an exact count (a reader who solved it for the strata would get rounded strata up to
 * an unknown scale). Null when the rounded strata hold no events or no people although the published counts do
 * (the value is then withheld). Organisation returns (no people) are used as they are.
 */
function roundStrata(
  strata: IndicatorComputation['organisations'][number]['strata'],
  published: { numerator: PublishedCount; denominator: PublishedCount },
  policy: DisclosurePolicy,
  cellKey: Uint8Array,
  scope: string,
  controlled: boolean,
): IndicatorComputation['organisations'][number]['strata'] | null {
  if (!strata || !controlled) return strata;
  if (published.numerator.suppressed || published.denominator.suppressed) return null;
  const rounded = strata.map((s) => {
    const denominator = keyedRoundRaw(s.denominator, policy.rounding, cellKey, scope);
    return { ...s, denominator, numerator: denominator === 0 ? 0 : keyedRoundRaw(s.numerator, policy.rounding, cellKey, scope) };
  });
  const sumN = rounded.reduce((a, s) => a + s.numerator, 0);
  const sumD = rounded.reduce((a, s) => a + s.denominator, 0);
  const pn = published.numerator.value;
  const pd = published.denominator.value;
  if (sumD === 0 || (sumN === 0 && pn > 0)) return null;
  return rounded.map((s) => ({ ...s, numerator: sumN === 0 ? 0 : (s.numerator * pn) / sumN, denominator: (s.denominator * pd) / sumD }));
}

/** Publishes every indicator of a run that is in `defs` (others are ignored), with the snapshot metadata. */
export function publishRun(run: ComputeRun, defs: readonly IndicatorDefinition[], policy: DisclosurePolicy, cellKey: Uint8Array): PublishedRun {
  const byId = new Map(defs.map((d) => [d.id, d]));
  const indicators = run.results
    .filter((r) => byId.has(r.indicatorId))
    .map((r) => publishIndicator(byId.get(r.indicatorId)!, r, policy, cellKey))
    .sort((a, b) => (a.indicatorId < b.indicatorId ? -1 : a.indicatorId > b.indicatorId ? 1 : 0));
  const unavailable = [...new Set<string>([
    ...run.sources.filter((s) => s.status === 'unavailable').map((s) => s.source),
    ...indicators.flatMap((i) => i.missingSources),
  ])].sort();
  return {
    meta: {
      period: run.period,
      computedAt: run.finishedAt,
      // Never complete when any source was unavailable, whatever the run says.
      complete: run.complete && unavailable.length === 0 && indicators.every((i) => i.complete),
      sources: run.sources,
      unavailableSources: unavailable,
      optOutsApplied: publishOptOuts(run.optOutsApplied, policy, cellKey),
      disclosurePolicy: { threshold: policy.threshold, rounding: policy.rounding },
      indicatorIds: indicators.map((i) => i.indicatorId),
    },
    indicators,
  };
}

/** The opt-outs applied, under the same rule as any count: suppressed from 1 to the threshold, else keyed-rounded. */
export function publishOptOuts(count: number, policy: DisclosurePolicy, cellKey: Uint8Array): PublishedCount {
  const c = publishCount(count, policy);
  return c.suppressed ? c : { value: keyedRound(count, policy, cellKey, 'opt-outs'), suppressed: false };
}

/** The people who could not be linked between the systems, per source, under the same rule as any count. */
function publishLinkage(unlinkable: Partial<Record<IndicatorSource, number>>, policy: DisclosurePolicy, cellKey: Uint8Array): NonNullable<PublishedIndicator['linkage']> {
  const rows = (Object.entries(unlinkable) as Array<[IndicatorSource, number]>).sort(([a], [b]) => (a < b ? -1 : 1)).map(([source, n]) => {
    const c = publishCount(n, policy);
    return { source, people: c.suppressed ? c : { value: keyedRound(n, policy, cellKey, `unlinkable:${source}`), suppressed: false as const } };
  });
  const words = rows.map((r) => `${r.people.suppressed ? 'a few (suppressed)' : `about ${r.people.value}`} at ${r.source}`).join(', ');
  return {
    unlinkable: rows,
    text: `People held without an NHS number cannot be linked between the systems and are left out of this indicator: ${words || 'none reported'}.`,
  };
}
