import type { Coding, Identifier, Patient, Resource } from 'fhir/r4.js';
import { ODS_SYSTEM } from '../fhir/nhs-number.js';
import type { SourceId, SourceKind, SourceRecord } from './types.js';

/** Tag system marking which source system(s) recorded a resource. */
export const SOURCE_TAG_SYSTEM = 'https://integrated-record.example.nhs.uk/CodeSystem/record-source';
export const SOURCE_DISPLAY: Record<SourceKind, string> = {
  gp: 'GP practice system',
  hospital: 'Hospital system',
  'social-care': 'Social care system',
};
/** Lower comes first: the GP record is the primary copy when several sources hold the same fact. */
const PRIORITY: Record<SourceKind, number> = { gp: 0, hospital: 1, 'social-care': 2 };
/** Id prefixes of the three sources of the simple configuration; any other source's id is its own prefix. */
const ID_PREFIX: Record<string, string> = { gp: 'gp', hospital: 'hosp', 'social-care': 'sc' };
const kindOfId = (source: SourceId, kinds?: Record<SourceId, SourceKind>): SourceKind =>
  kinds?.[source] ?? (source === 'hospital' || source === 'social-care' ? source : 'gp');

export interface MergeInput {
  integratedId: string;
  records: SourceRecord[];
  sourceUris: Record<SourceId, string>;
  /** Each source's kind (default: a source's id is its kind, as in the simple configuration). */
  kinds?: Record<SourceId, SourceKind>;
  /** ODS code of the organisation that recorded each source's entries (tagged on every resource). */
  recorders?: Partial<Record<SourceId, string>>;
}

/** Tag system of the organisation that recorded an entry (consent: the recorder still sees its own sensitive entries). */
export const RECORDER_TAG_SYSTEM = ODS_SYSTEM;

/**
 * Merges source records into one self-consistent set of resources:
 *  - every resource gets a stable id `<source>-<local id>` and `meta.source` plus a source tag;
 *  - the same fact recorded by several sources (same type, same code system + code, same day,
 *    same status) becomes one resource, the GP copy first, tagged with every source;
 *  - Organization/Practitioner copies with the same business identifier become one;
 *  - the source patients become one Patient with the integrated id;
 *  - references are rewritten to the merged ids so the Bundle resolves internally.
 */
export function mergeRecords(input: MergeInput): Resource[] {
  const kind = (s: SourceId) => kindOfId(s, input.kinds);
  const records = [...input.records].sort((a, b) => PRIORITY[kind(a.source)] - PRIORITY[kind(b.source)] || (a.source < b.source ? -1 : a.source > b.source ? 1 : 0));
  const patientRef = `Patient/${input.integratedId}`;
  const kept = new Map<string, { resource: Resource; sources: SourceId[] }>(); // dedupe key → kept copy
  const refMaps = new Map<SourceId, Map<string, string>>();
  const patients: { source: SourceId; patient: Patient }[] = [];

  for (const record of records) {
    const refMap = new Map<string, string>();
    refMaps.set(record.source, refMap);
    // The record is about this source patient, whether or not its Patient resource came with it (a search).
    refMap.set(`Patient/${record.sourcePatientId}`, patientRef);
    for (const r of record.resources) {
      if (!r.id) continue;
      const localRef = `${r.resourceType}/${r.id}`;
      if (r.resourceType === 'Patient') {
        refMap.set(localRef, patientRef);
        if (r.id === record.sourcePatientId) patients.push({ source: record.source, patient: r as Patient });
        continue;
      }
      const newId = mergedId(record.source, r.id);
      const key = dedupeKey(r) ?? `${r.resourceType}/${newId}`;
      const existing = kept.get(key);
      // Only copies from different sources merge: two entries in one source are two facts.
      if (existing && !existing.sources.includes(record.source)) {
        existing.sources.push(record.source);
        refMap.set(localRef, `${r.resourceType}/${existing.resource.id}`);
        continue;
      }
      kept.set(existing ? `${r.resourceType}/${newId}` : key, { resource: { ...r, id: newId, meta: { ...r.meta } } as Resource, sources: [record.source] });
      refMap.set(localRef, `${r.resourceType}/${newId}`);
    }
  }

  // A source may reference a resource another source holds (e.g. a hospital CarePlan addressing a GP
  // Condition): references not found in the resource's own source resolve through every source.
  const anySource = new Map<string, string>();
  for (const m of refMaps.values()) for (const [k, v] of m) if (!anySource.has(k)) anySource.set(k, v);
  // A reference to a resource not fetched this time (a search returns only some types) takes the id that
  // resource has in the source's namespace, as in a full fetch; other patients' references stay as they are.
  const resolve = (source: SourceId) => {
    const own = refMaps.get(source)!;
    return (ref: string) => own.get(ref) ?? anySource.get(ref) ?? inSourceNamespace(source, ref);
  };

  const out: Resource[] = [];
  if (patients.length > 0) {
    // Each source's Patient before merging, kept (by reference) so a consent that denies a source can
    // have the Patient built again without it: see patientWithoutSources. Copied first because the
    // rewrite below works in place on the primary's nested objects.
    const originals = patients.map((p) => ({ source: p.source, patient: structuredClone(p.patient) }));
    const merged = mergePatients(input.integratedId, patients, input.sourceUris, kind);
    out.push(rewriteReferences(merged, resolve(patients[0]!.source)));
    PATIENT_SOURCES.set(merged, { originals, uris: input.sourceUris, resolve, kind });
  }
  for (const { resource, sources } of kept.values()) {
    const source = sources[0]!;
    const rewritten = rewriteReferences(resource, resolve(source));
    stampProvenance(rewritten, sources.map(kind), input.sourceUris[source]!, input.recorders?.[source]);
    out.push(rewritten);
  }
  return out;
}

function inSourceNamespace(source: SourceId, ref: string): string | undefined {
  const m = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})$/.exec(ref);
  return m && m[1] !== 'Patient' ? `${m[1]}/${mergedId(source, m[2]!)}` : undefined;
}

function mergedId(source: SourceId, localId: string): string {
  const id = `${ID_PREFIX[source] ?? source}-${localId}`.replace(/[^A-Za-z0-9\-.]/g, '-');
  return id.length <= 64 ? id : id.slice(0, 64);
}

/** The source tags, one frozen object each, shared by every resource (a record has thousands). */
const SOURCE_TAG: Readonly<Record<SourceKind, Coding>> = Object.freeze({
  gp: Object.freeze({ system: SOURCE_TAG_SYSTEM, code: 'gp', display: SOURCE_DISPLAY.gp }),
  hospital: Object.freeze({ system: SOURCE_TAG_SYSTEM, code: 'hospital', display: SOURCE_DISPLAY.hospital }),
  'social-care': Object.freeze({ system: SOURCE_TAG_SYSTEM, code: 'social-care', display: SOURCE_DISPLAY['social-care'] }),
});
const recorderTags = new Map<string, Coding>();
const recorderTag = (code: string): Coding => {
  let tag = recorderTags.get(code);
  if (!tag) {
    tag = Object.freeze({ system: RECORDER_TAG_SYSTEM, code });
    if (recorderTags.size < 10_000) recorderTags.set(code, tag); // one per organisation
  }
  return tag;
};

/** meta.source (the first recording source's base URL) and one tag per kind of recording source, plus the recorder. */
function stampProvenance(r: Resource, kinds: SourceKind[], sourceUri: string, recorder?: string): void {
  const own = r.meta?.tag;
  const tag: Coding[] = own ? own.filter((t) => t.system !== SOURCE_TAG_SYSTEM && t.system !== RECORDER_TAG_SYSTEM) : [];
  for (const k of new Set(kinds)) tag.push(SOURCE_TAG[k]);
  if (recorder) tag.push(recorderTag(recorder));
  const { versionId: _versionId, ...meta } = r.meta ?? {};
  r.meta = { ...meta, source: sourceUri, tag };
}

/** How a merged Patient was made: each source's copy, and the reference rewrite of its source. */
const PATIENT_SOURCES = new WeakMap<Patient, { originals: { source: SourceId; patient: Patient }[]; uris: Record<SourceId, string>; resolve: (source: SourceId) => (ref: string) => string | undefined; kind: (s: SourceId) => SourceKind }>();

/**
 * The merged Patient built again from the sources not in `denied` (their identifiers, elements and
 * source tags only), or undefined when no allowed source holds the patient or the Patient was not
 * made by mergeRecords (the caller then shows identity only). Returns `merged` itself when nothing is denied.
 */
export function patientWithoutSources(merged: Patient, denied: ReadonlySet<string>): Patient | undefined {
  if (denied.size === 0) return merged;
  const made = PATIENT_SOURCES.get(merged);
  if (!made) return undefined;
  const kept = made.originals.filter((p) => !denied.has(p.source) && !denied.has(made.kind(p.source)));
  if (kept.length === made.originals.length) return merged;
  if (kept.length === 0) return undefined;
  const copies = kept.map((p) => ({ source: p.source, patient: structuredClone(p.patient) }));
  return rewriteReferences(mergePatients(merged.id!, copies, made.uris, made.kind), made.resolve(copies[0]!.source));
}

function mergePatients(id: string, patients: { source: SourceId; patient: Patient }[], uris: Record<SourceId, string>, kind: (s: SourceId) => SourceKind): Patient {
  const primary = patients[0]!.patient;
  const identifiers = new Map<string, Identifier>();
  for (const { patient } of patients) {
    for (const i of patient.identifier ?? []) identifiers.set(`${i.system}|${i.value}`, i);
  }
  const merged: Patient = { ...primary, id, identifier: [...identifiers.values()], meta: { ...primary.meta } };
  delete merged.link;
  const sources = [...new Set(patients.map((p) => p.source))];
  stampProvenance(merged, sources.map(kind), uris[sources[0]!]!);
  return merged;
}

/** The key under which two sources' copies of the same fact collapse into one, or undefined (never merged). */
export function dedupeKey(r: Resource): string | undefined {
  const a = r as unknown as Record<string, unknown>;
  switch (r.resourceType) {
    case 'Organization':
    case 'Practitioner': {
      const ids = ((a.identifier as Identifier[] | undefined) ?? []).map((i) => `${i.system}|${i.value}`).sort();
      return ids.length ? `${r.resourceType}|${ids.join(',')}` : undefined;
    }
    case 'AllergyIntolerance':
      return keyOf(r.resourceType, a.code, statusCode(a.clinicalStatus), day(a.onsetDateTime ?? a.recordedDate));
    case 'Condition':
      return keyOf(r.resourceType, a.code, statusCode(a.clinicalStatus), day(a.onsetDateTime ?? a.recordedDate));
    case 'MedicationRequest':
      return keyOf(r.resourceType, a.medicationCodeableConcept, a.status, day(a.authoredOn));
    case 'MedicationStatement':
      return keyOf(r.resourceType, a.medicationCodeableConcept, a.status, day(a.effectiveDateTime ?? a.dateAsserted));
    case 'Immunization':
      return keyOf(r.resourceType, a.vaccineCode, a.status, day(a.occurrenceDateTime));
    case 'Procedure':
      return keyOf(r.resourceType, a.code, a.status, day(a.performedDateTime ?? (a.performedPeriod as { start?: string })?.start));
    default:
      return undefined;
  }
}

function keyOf(type: string, concept: unknown, status: unknown, date: string | undefined): string | undefined {
  const codings = ((concept as { coding?: Coding[] } | undefined)?.coding ?? [])
    .filter((c) => c.system && c.code)
    .map((c) => `${c.system}|${c.code}`)
    .sort();
  if (codings.length === 0 || !date) return undefined;
  return `${type}|${codings.join(',')}|${String(status ?? '')}|${date}`;
}

function statusCode(cc: unknown): string | undefined {
  return (cc as { coding?: Coding[] } | undefined)?.coding?.[0]?.code;
}

function day(v: unknown): string | undefined {
  return typeof v === 'string' && v.length >= 10 ? v.slice(0, 10) : undefined;
}

/**
 * Rewrites, in place, every relative `Type/id` reference through `map` (unknown ones left as they are).
 * In place on purpose: source records are parsed per request and owned by it, and copying every
 * nested object of a large record was the merge's main cost.
 */
function rewriteReferences<T>(value: T, map: (ref: string) => string | undefined): T {
  if (Array.isArray(value)) {
    for (const v of value) rewriteReferences(v, map);
  } else if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    for (const k of Object.keys(o)) {
      const v = o[k];
      if (k === 'reference' && typeof v === 'string') o[k] = map(v) ?? v;
      else if (v && typeof v === 'object') rewriteReferences(v, map);
    }
  }
  return value;
}
