/**
 * FHIR resources as the pages show them: what it is, when, its status and where it came from (every
 * source that recorded it). Pure functions; no HTML (templates escape everything).
 */
import type { CodeableConcept, Resource } from 'fhir/r4.js';
import { SOURCE_TAG_SYSTEM } from '../../adapters/merge.js';
import { SOURCE_LABELS, type Warning } from './operations.js';

type Any = Record<string, unknown>;

/** The readable text of a CodeableConcept. */
export function conceptText(cc: CodeableConcept | undefined, fallback = ''): string {
  return cc?.text ?? cc?.coding?.find((c) => c.display)?.display ?? cc?.coding?.[0]?.code ?? fallback;
}

/** Every source that recorded the resource ("GP, Hospital" when both did). */
export function sourcesOf(r: Resource): string[] {
  const codes = (r.meta?.tag ?? []).filter((t) => t.system === SOURCE_TAG_SYSTEM && t.code).map((t) => SOURCE_LABELS[t.code!] ?? t.code!);
  return [...new Set(codes)];
}

/** What the resource is about, whatever its type. */
export function whatOf(r: Resource): string {
  const x = r as unknown as Any;
  for (const key of ['code', 'medicationCodeableConcept', 'vaccineCode', 'type', 'category']) {
    const v = x[key];
    const cc = (Array.isArray(v) ? v[0] : v) as CodeableConcept | undefined;
    if (cc && (cc.text || cc.coding?.length)) return conceptText(cc);
  }
  if (typeof x.title === 'string') return x.title;
  if (typeof x.description === 'string') return x.description;
  const med = x.medicationReference as { display?: string } | undefined;
  if (med?.display) return med.display;
  return r.resourceType;
}

/** The resource's main date (YYYY-MM-DD), if any. */
export function dateOf(r: Resource): string {
  const x = r as unknown as Any;
  const period = (k: string) => (x[k] as { start?: string } | undefined)?.start;
  const d = (x.effectiveDateTime ?? period('effectivePeriod') ?? x.onsetDateTime ?? x.recordedDate ?? x.authoredOn ?? x.occurrenceDateTime ?? x.performedDateTime ?? period('performedPeriod') ?? period('period') ?? x.date ?? x.issued ?? x.created) as string | undefined;
  return typeof d === 'string' ? d.slice(0, 10) : '';
}

/** A status word, if the resource has one. */
export function statusOf(r: Resource): string {
  const x = r as unknown as Any;
  if (typeof x.status === 'string') return x.status;
  const cs = x.clinicalStatus as CodeableConcept | undefined;
  return cs ? conceptText(cs) : '';
}

/** The value of an Observation as text ("5.4 mmol/L"). */
export function valueOf(r: Resource): string {
  const x = r as unknown as Any;
  const q = x.valueQuantity as { value?: number; unit?: string; code?: string } | undefined;
  if (q?.value !== undefined) return `${q.value}${q.unit ? ` ${q.unit}` : ''}`;
  if (typeof x.valueString === 'string') return x.valueString;
  const cc = x.valueCodeableConcept as CodeableConcept | undefined;
  if (cc) return conceptText(cc);
  return '';
}

export interface Row {
  id: string;
  what: string;
  when: string;
  status: string;
  value: string;
  sources: string;
}

export const rowOf = (r: Resource): Row => ({ id: r.id ?? '', what: whatOf(r), when: dateOf(r), status: statusOf(r), value: valueOf(r), sources: sourcesOf(r).join(', ') || 'Source not recorded' });

/** Newest first; undated last. */
export const byDateDesc = (a: Resource, b: Resource) => (dateOf(b) || '0').localeCompare(dateOf(a) || '0');

/** Plain-words banners for what a page's data may lack. */
export interface Banners {
  /** Sources that did not answer (with the reason as the service words it). */
  missing: { source: string; message: string }[];
  /** True when consent withheld something. */
  withheld: boolean;
  withheldMessage?: string;
}

/** `names`: each source's display name by registry id (a banner names the source by it, never by its id). */
export function bannersOf(warnings: Warning[], names: Readonly<Record<string, string>>): Banners {
  const withheld = warnings.find((w) => w.source === 'consent');
  return {
    missing: warnings.filter((w) => w.source !== 'consent').map((w) => {
      const name = names[w.source] ?? 'A source system';
      // The service's messages start with the source's name already: it is not repeated.
      return { source: w.message.startsWith(name) ? '' : name, message: w.message };
    }),
    withheld: !!withheld,
    ...(withheld ? { withheldMessage: withheld.message } : {}),
  };
}

/** Banners from a searchset's outcome entries (the same warnings the API returns). */
export function bannersOfBundle(bundle: { entry?: { search?: { mode?: string }; resource?: Resource }[] }): Banners {
  const issues = (bundle.entry ?? [])
    .filter((e) => e.search?.mode === 'outcome' && e.resource?.resourceType === 'OperationOutcome')
    .flatMap((e) => (e.resource as { issue?: { diagnostics?: string; details?: { coding?: { code?: string }[] } }[] }).issue ?? []);
  const withheld = issues.find((i) => i.details?.coding?.[0]?.code === 'source-consent-withheld');
  const missing = issues.filter((i) => i !== withheld && /^source-/.test(i.details?.coding?.[0]?.code ?? ''));
  return {
    missing: missing.map((i) => ({ source: '', message: i.diagnostics ?? 'A source did not answer.' })),
    withheld: !!withheld,
    ...(withheld ? { withheldMessage: withheld.diagnostics ?? '' } : {}),
  };
}

/** The matches of a searchset (not outcomes or includes). */
export const matchesOf = (bundle: { entry?: { search?: { mode?: string }; resource?: Resource }[] }): Resource[] =>
  (bundle.entry ?? []).filter((e) => e.search?.mode === 'match' && e.resource).map((e) => e.resource!);
