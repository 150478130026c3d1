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
 *  2. fair comparison on the UNROUNDED counts (funnel.ts): overall value as target, 95 % CI per organisation,
 *     exact binomial (proportions) or Poisson (rates, means) funnel limits at 95 % and 99.8 %, classification;
 *  3. the value, CI, limits and class of an organisation are published only when both of its counts are
 *     publishable (else null with the reason); limits and classes also need a publishable target, since
 *     limits around the target would reveal a suppressed area total;
 *  4. the directly age-sex standardised value (standardise.ts, ESP 2013) where the definition asks for it,
 *     only for organisations whose crude value is published and with at least 10 events.
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
export function publishIndicator(def: IndicatorDefinition, comp: IndicatorComputation, policy: DisclosurePolicy): PublishedIndicator {
  const per = def.measure.type === 'rate' ? def.measure.per : 1;
  const kind: ComparisonKind = def.measure.type === 'proportion' ? 'proportion' : 'poisson';
  const orgs = [...comp.organisations].sort(byCode);
  const disclosureControlled = def.spec.shape !== 'org-return';
  const coverage = coverageOf(def);
  // Strata are not published, so they are not part of the protected tables (see standardise.ts on why that is safe).
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

  const totalNum = orgs.reduce((s, o) => s + o.numerator, 0);
  const totalDen = orgs.reduce((s, o) => s + o.denominator, 0);
  const fun = totalDen > 0 ? funnel(kind, orgs.map((o) => ({ numerator: o.numerator, denominator: o.denominator }))) : null;
  const targetPublishable = fun !== null && prot.total.valuePublishable;
  const incomplete = comp.missingSources.length > 0;

  const organisations: PublishedOrganisation[] = orgs.map((o, i) => {
    const p = prot.organisations[i]!;
    const unit = fun?.units[i] ?? null;
    const publishable = p.valuePublishable && unit !== null;
    const row: PublishedOrganisation = {
      code: o.code,
      numerator: p.numerator,
      denominator: p.denominator,
      value: publishable ? scale(unit.value, per) : null,
      ci95: publishable ? scaleInterval(unit.ci95, per) : null,
      limits: publishable && targetPublishable ? scaleLimits(unit.limits, per) : null,
      classification: publishable && targetPublishable ? unit.classification : null,
      suppressed: p.numerator.suppressed || p.denominator.suppressed || !publishable,
      withheld: publishable ? null : (p.withheld ?? 'no-denominator'),
    };
    if (def.standardise) row.standardised = standardised(o.strata, publishable, p.withheld, per, coverage);
    return row;
  });

  return {
    indicatorId: def.id,
    period: comp.period,
    measure: def.measure,
    complete: !incomplete,
    missingSources: comp.missingSources,
    total: {
      numerator: prot.total.numerator,
      denominator: prot.total.denominator,
      value: targetPublishable ? scale(totalNum / totalDen, per) : null,
      ci95: targetPublishable ? scaleInterval(confidenceInterval(kind, totalNum, totalDen), per) : null,
    },
    target: targetPublishable ? scale(fun!.target, per) : null,
    limitsMethod: fun ? fun.method : 'no organisation had a denominator: no comparison',
    overdispersion: fun ? { phi: fun.overdispersion.phi, pValue: fun.overdispersion.pValue, applied: fun.overdispersion.applied } : null,
    disclosureControlled,
    ...(def.standardise ? { standardPopulation: STANDARD_POPULATION_TEXT + coverageText(coverage) } : {}),
    organisations,
  };
}

function standardised(
  strata: IndicatorComputation['organisations'][number]['strata'],
  crudePublishable: boolean,
  withheld: PublishedOrganisation['withheld'],
  per: number,
  coverage: Coverage,
): NonNullable<PublishedOrganisation['standardised']> {
  if (!crudePublishable) return { value: null, ci95: null, withheld: withheld ?? 'no-denominator' };
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

/** Publishes every indicator of a run that is in `defs` (others are ignored), with the snapshot metadata. */
export function publishRun(run: ComputeRun, defs: readonly IndicatorDefinition[], policy: DisclosurePolicy): PublishedRun {
  const byId = new Map(defs.map((d) => [d.id, d]));
  const indicators = run.results
    .filter((r) => byId.has(r.indicatorId))
    .map((r) => publishIndicator(byId.get(r.indicatorId)!, r, policy))
    .sort((a, b) => (a.indicatorId < b.indicatorId ? -1 : a.indicatorId > b.indicatorId ? 1 : 0));
  const unavailable = [...new Set<IndicatorSource>([
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
      optOutsApplied: publishCount(run.optOutsApplied, policy),
      disclosurePolicy: { threshold: policy.threshold, rounding: policy.rounding },
      indicatorIds: indicators.map((i) => i.indicatorId),
    },
    indicators,
  };
}
