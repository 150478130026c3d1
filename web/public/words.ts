/**
 * The public site's wording: areas, organisation levels and types, values in their units, withheld reasons,
 * missing sources by display name. Pure functions over published figures (never exact counts).
 */
import { AREA_DISPLAY } from '../../indicators/measure-resources.js';
import type { IndicatorDefinition } from '../../indicators/spec.js';
import type { IndicatorSource, MeasureType, OrganisationLevel, PublishedCount, PublishedOrganisation, WithheldReason } from '../../indicators/types.js';

export { AREA_DISPLAY };

export const LEVEL_TEXT: Record<OrganisationLevel, { one: string; many: string }> = {
  'gp-practice': { one: 'GP practice', many: 'GP practices' },
  'hospital-trust': { one: 'hospital trust', many: 'hospital trusts' },
  'local-authority': { one: 'local authority', many: 'local authorities' },
};

/** Missing sources as the snapshot names them (the source registry's display names). */
export const sourcesText = (sources: readonly string[]) => sources.join(', ');

/** The kinds of source an indicator draws on, in words. */
export const SOURCE_KIND_TEXT: Record<IndicatorSource, string> = { gp: 'GP practice systems', hospital: 'hospital systems', 'social-care': 'council social care systems' };
export const sourceKindsText = (kinds: readonly IndicatorSource[]) => kinds.map((k) => SOURCE_KIND_TEXT[k] ?? k).join(', ');

/**
 * The type of an organisation, from the form of its code: ONS local authority codes say the kind of council
 * (E06 unitary, E07 district, E08 metropolitan borough, E09 London borough, E10 county); ODS codes beginning
 * with Y are other primary care settings (walk-in centres, out of hours) rather than GP practices; trusts'
 * codes beginning with R or T are NHS trusts, others independent providers.
 */
export function organisationType(level: OrganisationLevel, code: string): { code: string; text: string } {
  if (level === 'local-authority') {
    const t: Record<string, string> = { E06: 'Unitary authority', E07: 'District council', E08: 'Metropolitan borough', E09: 'London borough', E10: 'County council' };
    const k = code.slice(0, 3);
    return t[k] ? { code: k.toLowerCase(), text: t[k] } : { code: 'other-la', text: 'Other local authority' };
  }
  if (level === 'hospital-trust') return /^[RT]/.test(code) ? { code: 'nhs-trust', text: 'NHS trust' } : { code: 'independent', text: 'Independent provider' };
  return /^Y/.test(code) ? { code: 'other-primary-care', text: 'Other primary care setting' } : { code: 'gp-practice', text: 'GP practice' };
}

/** How values are shown: a percentage for proportions, "per N" for rates, the unit for means. */
export function valueUnit(measure: MeasureType): { scale: number; unit: string; axis: string; digits: number } {
  if (measure.type === 'proportion') return { scale: 100, unit: '%', axis: 'Percentage', digits: 1 };
  if (measure.type === 'rate') return { scale: 1, unit: `per ${measure.per.toLocaleString('en-GB')}`, axis: `Rate per ${measure.per.toLocaleString('en-GB')}`, digits: 1 };
  return { scale: 1, unit: measure.unit, axis: `Mean (${measure.unit})`, digits: 2 };
}

export function formatValue(v: number | null | undefined, measure: MeasureType): string {
  if (v === null || v === undefined || !Number.isFinite(v)) return '';
  const u = valueUnit(measure);
  const n = (v * u.scale).toFixed(u.digits);
  return u.unit === '%' ? `${n}%` : `${n} ${u.unit}`;
}

export const formatCount = (c: PublishedCount): string => (c.suppressed ? 'suppressed' : c.value.toLocaleString('en-GB'));

const WITHHELD_TEXT: Record<WithheldReason | 'no-strata' | 'fewer-than-10-events', string> = {
  'numerator-suppressed': 'Suppressed: the numerator is a small count (or could reveal one)',
  'denominator-suppressed': 'Suppressed: the denominator is a small count (or could reveal one)',
  'no-denominator': 'No value: nobody in the denominator',
  'source-unavailable': 'Not published: a source this indicator needs could not be reached',
  'no-strata': 'Not standardised: no age-sex breakdown',
  'fewer-than-10-events': 'Not standardised: fewer than 10 events',
};
export const withheldText = (r: keyof typeof WITHHELD_TEXT) => WITHHELD_TEXT[r];

export const polarityHint = (def: IndicatorDefinition) =>
  def.direction === 'higher-is-better' ? 'Higher is better' : def.direction === 'lower-is-better' ? 'Lower is better' : 'Neither higher nor lower is better';

/** The interval of a row in words ("12.0% to 15.5%"). */
export const intervalText = (o: Pick<PublishedOrganisation, 'ci95'>, measure: MeasureType) =>
  o.ci95 ? `${formatValue(o.ci95.lower, measure)} to ${formatValue(o.ci95.upper, measure)}` : '';

export const periodText = (p: { start: string; end: string }) => `${fmtDate(p.start)} to ${fmtDate(p.end)}`;

const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
export function fmtDate(iso: string): string {
  const [y, m, d] = iso.slice(0, 10).split('-').map(Number);
  return `${d} ${MONTHS[(m ?? 1) - 1]} ${y}`;
}
export const fmtDateTime = (iso: string) => `${fmtDate(iso)} ${iso.slice(11, 16)} UTC`;
