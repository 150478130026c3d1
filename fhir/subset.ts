import type { Coding, Resource } from 'fhir/r4.js';
import { SUMMARY_ELEMENTS } from './summary-elements.js';

/**
 * `_summary` and `_elements` (http://hl7.org/fhir/R4/search.html#summary, #elements): a copy of the
 * resource with only the asked-for top-level elements plus the mandatory ones (so it stays valid),
 * tagged SUBSETTED so nobody mistakes it for the whole resource.
 */

export const SUBSETTED: Coding = { system: 'http://terminology.hl7.org/CodeSystem/v3-ObservationValue', code: 'SUBSETTED', display: 'subsetted' };

export type Subset = { summary: 'true' | 'text' | 'data' } | { elements: readonly string[] };

const ALWAYS = new Set(['resourceType', 'id', 'meta', 'implicitRules', 'modifierExtension']);

/** Type suffixes of R4 choice elements (`onset[x]` → onsetDateTime, onsetPeriod, …). */
const CHOICE_TYPES = new Set([
  'Boolean', 'Integer', 'Decimal', 'String', 'Uri', 'Url', 'Canonical', 'Code', 'Date', 'DateTime', 'Instant', 'Time',
  'Base64Binary', 'Id', 'Oid', 'Uuid', 'Markdown', 'PositiveInt', 'UnsignedInt', 'Address', 'Age', 'Annotation',
  'Attachment', 'CodeableConcept', 'Coding', 'ContactPoint', 'Count', 'Distance', 'Duration', 'HumanName', 'Identifier',
  'Money', 'Period', 'Quantity', 'Range', 'Ratio', 'Reference', 'SampledData', 'Signature', 'Timing', 'Dosage', 'Expression',
]);

/** Does the JSON key carry the element `name` (`onset[x]` or `onset` also match `onsetDateTime`)? */
function carries(key: string, name: string): boolean {
  const base = name.endsWith('[x]') ? name.slice(0, -3) : name;
  return key === base || (key.startsWith(base) && CHOICE_TYPES.has(key.slice(base.length)));
}

/** The subsetted copy of a resource, tagged SUBSETTED (the original is left untouched). */
export function subsetResource<T extends Resource>(r: T, subset: Subset): T {
  const known = SUMMARY_ELEMENTS[r.resourceType];
  const mandatory = known?.mandatory ?? [];
  let keep: (key: string) => boolean;
  if ('elements' in subset) {
    keep = (k) => [...subset.elements, ...mandatory].some((n) => carries(k, n));
  } else if (subset.summary === 'data') {
    keep = (k) => k !== 'text';
  } else if (subset.summary === 'text') {
    keep = (k) => k === 'text' || mandatory.some((n) => carries(k, n));
  } else {
    // Types without a summary definition here keep only their mandatory elements (none known → id and meta).
    const summary = known?.summary ?? [];
    keep = (k) => [...summary, ...mandatory].some((n) => carries(k, n));
  }
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(r)) if (ALWAYS.has(k) || keep(k)) out[k] = v;
  out.meta = { ...r.meta, tag: [...(r.meta?.tag ?? []).filter((t) => !(t.system === SUBSETTED.system && t.code === SUBSETTED.code)), SUBSETTED] };
  return out as T;
}
