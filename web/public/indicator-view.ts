/**
 * The indicator page's model (pure): definition, polarity, completeness, the funnel plot as SVG and the same
 * numbers in a table, ordered by organisation code — never ranked. Built from published figures only.
 */
import { comparisonOf, polarityOf } from '../../indicators/comparison.js';
import { funnelCurve } from '../../indicators/funnel.js';
import type { IndicatorDefinition } from '../../indicators/spec.js';
import type { PublishedIndicator, SnapshotMeta } from '../../indicators/types.js';
import { funnelSvg, type PointMark } from '../charts/funnel-svg.js';
import {
  AREA_DISPLAY, formatCount, formatValue, intervalText, LEVEL_TEXT, organisationType, periodText, SOURCE_KIND_TEXT, sourceKindsText, sourcesText, valueUnit, withheldText, fmtDateTime,
} from './words.js';

/** Table rows a page shows when an indicator has many organisations (the rest on further pages; all in the CSV). */
export const ROWS_PER_PAGE = 1000;

export interface Completeness {
  complete: boolean;
  /** Display names of the sources this indicator needs that could not be reached. */
  missing: string;
  /** The refresh missed sources this indicator does not need (its figures are complete; others' are not). */
  otherGaps: string | null;
  optOuts: string;
  linkage: string | null;
}

/** Completeness, opt-outs and linkage of one indicator in one snapshot, in words. */
export function completenessOf(meta: SnapshotMeta, figures: PublishedIndicator): Completeness {
  // Per indicator: a source down makes incomplete the indicators that need it (they list it), not the others.
  const missing = [...new Set(figures.missingSources)];
  const complete = figures.complete && missing.length === 0;
  const opt = meta.optOutsApplied;
  return {
    complete,
    missing: sourcesText(missing),
    otherGaps: complete && !meta.complete ? sourcesText(meta.unavailableSources) || 'a source' : null,
    optOuts: opt.suppressed
      ? 'Some people who opted out of their data being used for research and planning were left out; their number is small and is not published (disclosure rule).'
      : opt.value === 0
        ? 'Nobody had opted out of their data being used for research and planning.'
        : `About ${opt.value.toLocaleString('en-GB')} people who opted out of their data being used for research and planning were left out (rounded under the disclosure rule).`,
    linkage: figures.linkage
      ? 'People held without an NHS number cannot be linked between the systems and are left out of this indicator: ' +
        (figures.linkage.unlinkable.map((u) => `${u.people.suppressed ? 'a few (the number is suppressed)' : `about ${u.people.value.toLocaleString('en-GB')}`} in the ${SOURCE_KIND_TEXT[u.source] ?? u.source}`).join('; ') || 'none reported') + '.'
      : null,
  };
}

export interface IndicatorPageInput {
  def: IndicatorDefinition;
  meta: SnapshotMeta;
  figures: PublishedIndicator;
  periods: SnapshotMeta[];
  type: string | undefined;
  rowsPage: number;
}

const MARK: Record<string, PointMark> = { better: 'better', worse: 'worse', higher: 'higher', lower: 'lower' };

export function indicatorPageModel(input: IndicatorPageInput) {
  const { def, meta, figures } = input;
  const unit = valueUnit(def.measure);
  const per = def.measure.type === 'rate' ? def.measure.per : 1;
  const typed = figures.organisations.map((o) => ({ o, type: organisationType(def.level, o.code) }));
  const typeCounts = new Map<string, { code: string; text: string; count: number }>();
  for (const { type } of typed) typeCounts.set(type.code, { ...type, count: (typeCounts.get(type.code)?.count ?? 0) + 1 });
  const shown = input.type ? typed.filter((t) => t.type.code === input.type) : typed;
  const rows = shown.map(({ o, type }) => {
    const cmp = comparisonOf(o.classification, def.direction);
    return {
      code: o.code,
      type: type.text,
      denominator: formatCount(o.denominator),
      numerator: formatCount(o.numerator),
      value: o.value === null ? '' : formatValue(o.value, def.measure),
      interval: intervalText(o, def.measure),
      comparison: o.withheld ? withheldText(o.withheld) : cmp.text,
      withheld: o.withheld !== null,
      standardised: o.standardised ? (o.standardised.value !== null ? formatValue(o.standardised.value, def.measure) : withheldText(o.standardised.withheld ?? 'no-denominator')) : null,
      point: o.value !== null && !o.denominator.suppressed ? { x: o.denominator.value as number, y: o.value * unit.scale, mark: MARK[cmp.code] ?? 'none' } : null,
    };
  });
  const points = rows.flatMap((r) => (r.point ? [r.point] : []));
  const target = figures.target;
  const phi = figures.overdispersion?.applied ? figures.overdispersion.phi : undefined;
  const maxDen = Math.max(1, ...points.map((p) => p.x));
  const curve = target === null || points.length === 0
    ? []
    : funnelCurve(def.measure.type === 'proportion' ? 'proportion' : 'poisson', target / per, maxDen, 80, phi).map((c) => ({
        x: c.denominator,
        lower95: c.lower95 * per * unit.scale,
        upper95: c.upper95 * per * unit.scale,
        lower998: c.lower998 * per * unit.scale,
        upper998: c.upper998 * per * unit.scale,
      }));
  const counts = { better: 0, worse: 0, higher: 0, lower: 0, none: 0 };
  for (const p of points) counts[p.mark]++;
  const outside = (['better', 'worse', 'higher', 'lower'] as const).filter((k) => counts[k] > 0).map((k) => `${counts[k]} significantly ${k} than expected`);
  const levelMany = LEVEL_TEXT[def.level].many;
  const orgs = (n: number) => `${n.toLocaleString('en-GB')} ${n === 1 ? LEVEL_TEXT[def.level].one : levelMany}`;
  const chart = points.length
    ? funnelSvg({
        id: 'funnel',
        title: `Funnel plot: ${def.title}, ${periodText(meta.period)}`,
        desc:
          `${orgs(points.length)}, each a point: its value (${unit.axis.toLowerCase()}) against its denominator. ` +
          (target !== null ? `The horizontal line is the overall value, ${formatValue(target, def.measure)}. ` : '') +
          'Dashed curves are the 95% limits and dotted curves the 99.8% limits: where values would fall by chance alone. ' +
          (outside.length ? `Outside the 95% limits: ${outside.join(', ')}. ` : 'No organisation is outside the 95% limits. ') +
          'The same numbers are in the table below the plot.',
        xLabel: `Denominator: ${def.denominatorText}`.slice(0, 90),
        yLabel: unit.axis,
        points,
        target: target === null ? null : target * unit.scale,
        curve,
        ...(def.measure.type === 'proportion' ? { yBounds: { min: 0, max: 100 } } : { yBounds: { min: 0 } }),
      })
    : null;
  const pages = Math.max(1, Math.ceil(rows.length / ROWS_PER_PAGE));
  const rowsPage = Math.min(Math.max(1, input.rowsPage), pages);
  return {
    def,
    area: AREA_DISPLAY[def.area],
    level: LEVEL_TEXT[def.level],
    polarity: polarityOf(def.direction),
    sources: sourceKindsText(def.sources),
    period: meta.period,
    periodText: periodText(meta.period),
    periodValue: `${meta.period.start}/${meta.period.end}`,
    computedAt: fmtDateTime(meta.computedAt),
    snapshotId: meta.id,
    periods: [...input.periods].reverse().map((m) => ({ value: `${m.period.start}/${m.period.end}`, text: `${periodText(m.period)}${m.complete ? '' : ' (incomplete)'}`, selected: m.id === meta.id })),
    completeness: completenessOf(meta, figures),
    overall: { value: formatValue(figures.total.value, def.measure), numerator: formatCount(figures.total.numerator), denominator: formatCount(figures.total.denominator) },
    limitsMethod: figures.limitsMethod,
    standardPopulation: figures.standardPopulation ?? null,
    disclosureControlled: figures.disclosureControlled,
    disclosure: meta.disclosurePolicy,
    types: [...typeCounts.values()].sort((a, b) => a.text.localeCompare(b.text)),
    type: input.type ?? '',
    chart,
    chartCaption: `${def.title}: ${orgs(points.length)} with a published value, ${periodText(meta.period)}.` +
      (rows.length > points.length ? ` ${rows.length - points.length} more are in the table without a point (value suppressed or not available).` : ''),
    unit,
    rowCount: rows.length,
    rows: rows.slice((rowsPage - 1) * ROWS_PER_PAGE, rowsPage * ROWS_PER_PAGE),
    rowsPage,
    rowsPages: pages,
    rowsFrom: (rowsPage - 1) * ROWS_PER_PAGE + 1,
    rowsTo: Math.min(rowsPage * ROWS_PER_PAGE, rows.length),
    hasStandardised: def.standardise,
  };
}
export type IndicatorPageModel = ReturnType<typeof indicatorPageModel>;
