import type { IndicatorMeta, PublishedCount, PublishedIndicator, PublishedOrganisation, SnapshotMeta } from './types.js';

/**
 * CSV downloads of published indicators (RFC 4180: CRLF line ends, a header row, fields quoted when they
 * hold a comma, quote, CR or LF, quotes doubled). A suppressed count is written as `suppressed` with its
 * reason in the next column; a withheld value as empty with the reason. Rows are in organisation-code
 * order: there is no rank or position column.
 */

export function csvField(v: string | number | boolean | null | undefined): string {
  if (v === null || v === undefined) return '';
  const s = typeof v === 'number' ? (Number.isFinite(v) ? String(v) : '') : String(v);
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function toCsv(header: string[], rows: (string | number | boolean | null | undefined)[][]): string {
  return [header, ...rows].map((r) => r.map(csvField).join(',')).join('\r\n') + '\r\n';
}

const REASON_TEXT: Record<string, string> = {
  'small-count': 'small count (suppressed by disclosure control)',
  secondary: 'secondary suppression (would allow a small count to be worked out)',
  'numerator-suppressed': 'numerator suppressed',
  'denominator-suppressed': 'denominator suppressed',
  'no-denominator': 'denominator is zero',
  'source-unavailable': 'a source was unavailable',
};
export const reasonText = (code: string): string => REASON_TEXT[code] ?? code;

const count = (c: PublishedCount): [string | number, string] => (c.suppressed ? ['suppressed', reasonText(c.reason)] : [c.value, '']);

export const CATALOGUE_COLUMNS = [
  'id', 'title', 'area', 'organisation_level', 'measure', 'direction', 'sources', 'numerator', 'denominator',
  'methodology', 'limitations', 'age_sex_standardised', 'window_months', 'latest_period_start', 'latest_period_end',
  'latest_snapshot_id', 'latest_snapshot_complete',
];

export function catalogueCsv(entries: { def: IndicatorMeta; latest: SnapshotMeta | undefined }[]): string {
  return toCsv(
    CATALOGUE_COLUMNS,
    entries.map(({ def, latest }) => [
      def.id, def.title, def.area, def.level,
      def.measure.type === 'rate' ? `rate per ${def.measure.per}` : def.measure.type === 'mean' ? `mean (${def.measure.unit})` : 'proportion',
      def.direction, def.sources.join(' + '), def.numeratorText, def.denominatorText, def.methodology,
      def.limitations.join(' | '), def.standardise, def.windowMonths,
      latest?.period.start, latest?.period.end, latest?.id, latest ? latest.complete : null,
    ]),
  );
}

export const FIGURE_COLUMNS = [
  'indicator_id', 'period_start', 'period_end', 'snapshot_id', 'snapshot_computed_at', 'snapshot_complete', 'unavailable_sources',
  'organisation_code', 'numerator', 'numerator_suppression_reason', 'denominator', 'denominator_suppression_reason',
  'value', 'value_withheld_reason', 'ci95_lower', 'ci95_upper', 'target', 'limit95_lower', 'limit95_upper',
  'limit998_lower', 'limit998_upper', 'classification', 'standardised_value', 'standardised_ci95_lower', 'standardised_ci95_upper',
];

/** One CSV row per organisation (and period): the figures as published. */
export function figureRow(meta: SnapshotMeta, figures: PublishedIndicator, o: PublishedOrganisation): (string | number | boolean | null | undefined)[] {
  const complete = meta.complete && figures.complete;
  const unavailable = [...new Set([...meta.unavailableSources, ...figures.missingSources])].join(' ');
  return [
    figures.indicatorId, figures.period.start, figures.period.end, meta.id, meta.computedAt, complete, unavailable,
    o.code, ...count(o.numerator), ...count(o.denominator),
    o.value, o.withheld ? reasonText(o.withheld) : '', o.ci95?.lower, o.ci95?.upper, figures.target,
    o.limits?.lower95, o.limits?.upper95, o.limits?.lower998, o.limits?.upper998, o.classification,
    o.standardised?.value, o.standardised?.ci95?.lower, o.standardised?.ci95?.upper,
  ];
}

export function figuresCsv(rows: { meta: SnapshotMeta; figures: PublishedIndicator; org: PublishedOrganisation }[]): string {
  return toCsv(FIGURE_COLUMNS, rows.map((r) => figureRow(r.meta, r.figures, r.org)));
}
