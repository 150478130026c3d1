import { comparisonOf, polarityOf } from './comparison.js';
import type { DisclosurePolicy, IndicatorMeta, PublishedCount, PublishedIndicator, PublishedOrganisation, SnapshotMeta } from './types.js';

/**
 * CSV downloads of published indicators (RFC 4180: CRLF line ends, a header row, fields quoted when they
 * hold a comma, quote, CR or LF, quotes doubled). A suppressed count is written as `suppressed` with its
 * reason in the next column; a withheld value as empty with the reason. Rows are in organisation-code
 * order: there is no rank or position column.
 *
 * The caveats travel with the download (issue 18, defect 3): every figures row says whether its snapshot is complete
 * and which sources were unavailable, and names the metadata CSV of its snapshot (`metadata_url`; the response also
 * links it with `Link: <…>; rel="describedby"`). The metadata CSV (`metadataCsv`) holds the definition, method,
 * limitations, polarity, snapshot, completeness, opt-outs applied and the disclosure rule. A snapshot with no
 * organisation rows (e.g. its only source was down) still gives one row saying so: never a bare header.
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
  'limit998_lower', 'limit998_upper', 'classification', 'comparison', 'comparison_text', 'standardised_value', 'standardised_ci95_lower',
  'standardised_ci95_upper', 'metadata_url',
];

/** Where the metadata CSV of a snapshot's indicator is (a URL). */
export type MetadataUrl = (meta: SnapshotMeta, figures: PublishedIndicator) => string;

type Cell = string | number | boolean | null | undefined;

const unavailableOf = (meta: SnapshotMeta, figures: PublishedIndicator) =>
  [...new Set([...meta.unavailableSources, ...figures.missingSources])].sort();

/** One CSV row per organisation (and period): the figures as published. */
export function figureRow(meta: SnapshotMeta, figures: PublishedIndicator, o: PublishedOrganisation, def: IndicatorMeta, metadataUrl: MetadataUrl): Cell[] {
  const complete = meta.complete && figures.complete;
  const cmp = comparisonOf(o.classification, def.direction);
  return [
    figures.indicatorId, figures.period.start, figures.period.end, meta.id, meta.computedAt, complete, unavailableOf(meta, figures).join(' '),
    o.code, ...count(o.numerator), ...count(o.denominator),
    o.value, o.withheld ? reasonText(o.withheld) : '', o.ci95?.lower, o.ci95?.upper, figures.target,
    o.limits?.lower95, o.limits?.upper95, o.limits?.lower998, o.limits?.upper998, o.classification, cmp.code, cmp.text,
    o.standardised?.value, o.standardised?.ci95?.lower, o.standardised?.ci95?.upper, metadataUrl(meta, figures),
  ];
}

/** The row of a snapshot that has no organisation rows: says why, so the download is never a bare header. */
function emptySnapshotRow(meta: SnapshotMeta, figures: PublishedIndicator, metadataUrl: MetadataUrl): Cell[] {
  const unavailable = unavailableOf(meta, figures);
  const why = unavailable.length
    ? `no figures: ${unavailable.join(', ')} could not be reached when this snapshot was computed`
    : 'no organisation had figures for this period';
  const row: Cell[] = FIGURE_COLUMNS.map(() => '');
  const set = (col: string, v: Cell) => { row[FIGURE_COLUMNS.indexOf(col)] = v; };
  set('indicator_id', figures.indicatorId);
  set('period_start', figures.period.start);
  set('period_end', figures.period.end);
  set('snapshot_id', meta.id);
  set('snapshot_computed_at', meta.computedAt);
  set('snapshot_complete', meta.complete && figures.complete);
  set('unavailable_sources', unavailable.join('; '));
  set('value_withheld_reason', why);
  set('metadata_url', metadataUrl(meta, figures));
  return row;
}

/**
 * Figures CSV of one or more (snapshot, indicator) pairs: one row per organisation, or one row saying why there is
 * none. `only` keeps the rows of one organisation (the organisation series).
 */
export function figuresCsv(
  parts: { meta: SnapshotMeta; figures: PublishedIndicator }[],
  def: IndicatorMeta,
  metadataUrl: MetadataUrl,
  only?: string,
): string {
  const rows: Cell[][] = [];
  for (const { meta, figures } of parts) {
    const orgs = only === undefined ? figures.organisations : figures.organisations.filter((o) => o.code === only);
    if (orgs.length === 0) rows.push(emptySnapshotRow(meta, figures, metadataUrl));
    for (const o of orgs) rows.push(figureRow(meta, figures, o, def, metadataUrl));
  }
  return toCsv(FIGURE_COLUMNS, rows);
}

export const METADATA_COLUMNS = ['field', 'value'];

/**
 * The caveats of one indicator in one snapshot, as `field,value` rows (limitations and sources one row each):
 * definition, method, limitations, polarity, the snapshot and its completeness, opt-outs applied (disclosure-controlled
 * like any count) and the disclosure rule. `extra` rows (e.g. the figures URL) come last.
 */
export function metadataCsv(
  def: IndicatorMeta,
  meta: SnapshotMeta,
  figures: PublishedIndicator,
  disclosureText: string,
  extra: [string, Cell][] = [],
): string {
  const unavailable = unavailableOf(meta, figures);
  const complete = meta.complete && figures.complete;
  const polarity = polarityOf(def.direction);
  const opt = meta.optOutsApplied;
  const policy: DisclosurePolicy = meta.disclosurePolicy;
  const rows: [string, Cell][] = [
    ['indicator_id', def.id],
    ['title', def.title],
    ['area', def.area],
    ['organisation_level', def.level],
    ['measure', def.measure.type === 'rate' ? `rate per ${def.measure.per}` : def.measure.type === 'mean' ? `mean (${def.measure.unit})` : 'proportion'],
    ['numerator_definition', def.numeratorText],
    ['denominator_definition', def.denominatorText],
    ['sources', def.sources.join(' + ')],
    ['methodology', def.methodology],
    ...def.limitations.map((l): [string, Cell] => ['limitation', l]),
    ['polarity', polarity.code],
    ['polarity_text', polarity.text],
    ['comparison_method', figures.limitsMethod],
    ...(figures.standardPopulation ? [['standard_population', figures.standardPopulation] as [string, Cell]] : []),
    ['period_start', meta.period.start],
    ['period_end', meta.period.end],
    ['snapshot_id', meta.id],
    ['snapshot_computed_at', meta.computedAt],
    ['snapshot_complete', complete],
    ['completeness', complete ? 'complete' : `incomplete: ${unavailable.join(', ')} could not be reached; these figures are not the full picture`],
    ['unavailable_sources', unavailable.join('; ')],
    ...meta.sources.map((s): [string, Cell] => ['source_status', `${s.source}: ${s.status}${s.reason ? ` (${s.reason})` : ''}`]),
    ...(figures.linkage
      ? [
          ...figures.linkage.unlinkable.map((u): [string, Cell] => [`unlinkable_people_${u.source}`, u.people.suppressed ? 'suppressed' : u.people.value]),
          ['linkage_note', figures.linkage.text] as [string, Cell],
        ]
      : []),
    ['opt_outs_applied', opt.suppressed ? 'suppressed' : opt.value],
    ['opt_outs_applied_note', opt.suppressed ? reasonText(opt.reason) : 'people who opted out of secondary use, left out of every count; disclosure-controlled like any count'],
    ['disclosure_threshold', policy.threshold],
    ['disclosure_rounding', policy.rounding],
    ['disclosure_rule', disclosureText],
    ...extra,
  ];
  return toCsv(METADATA_COLUMNS, rows);
}
