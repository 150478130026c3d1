import { hash, randomUUID } from 'node:crypto';
import type { Bundle, BundleEntry, Composition, CompositionSection, Device, DomainResource, Flag, Meta, Observation, Patient, Reference, Resource } from 'fhir/r4.js';
import { warningOutcome } from '../fhir/bundle.js';
import { conceptText, esc, join, narrative, ul } from '../fhir/narrative.js';
import type { PatientRef, RecordRepository, Warning } from '../adapters/record-repository.js';
import { alertKindsOf, FLAG_DETAIL_URL, pushTo } from './summary-flags.js';
import { DECEASED_MEDICATION_CAVEAT, deceasedStatement } from './summary-deceased.js';
import * as S from './summary-sections.js';

/**
 * Patient/$summary: an International Patient Summary document (https://hl7.org/fhir/uv/ips/,
 * OperationDefinition `summary`) built from the consent-filtered integrated record.
 *
 * A `document` Bundle (identifier, timestamp): the Composition first (LOINC 60591-5, subject, date,
 * author = this service as a Device, title, one section per IPS heading with narrative and entries),
 * then every resource the Composition references, then the resources those reference that a reader
 * needs (Medication, Practitioner, Organization, RelatedPerson …). Entries have `urn:uuid:` fullUrls
 * (as the IPS examples) derived from the patient and resource ids, so they are stable between calls;
 * every reference inside the document is rewritten to one of them. A reference to something the
 * summary leaves out (an encounter, an old result) keeps only its display text, so every reference
 * resolves inside the Bundle.
 *
 * Missing sources and withheld information (the `warnings`) are carried three ways: a first section
 * "Record completeness" whose entry is an OperationOutcome (the same issues `$everything` reports), a
 * line in every section's narrative, and the `emptyReason` of empty sections (`unavailable` when a
 * source could not be queried, `withheld` when consent withheld something, otherwise `nilknown`).
 *
 * `buildSummary` is pure apart from the document's own random identity (overridable).
 */
export interface SummaryOptions {
  /** meta.tag system naming the record source(s) of each resource. */
  sourceTagSystem: string;
  /**
   * Each source's display name by registry id (the registry's `displayName`, e.g. "Riverside GP systems"
   * for `gp-riverside`): a missing source is named by it in every section's narrative. Never the id.
   */
  sourceNames: Readonly<Record<string, string>>;
  /** Short names of the kinds of source (the record-source tag codes) for each entry's line in the narrative (default: sourceNames). */
  sourceLabels?: Readonly<Record<string, string>>;
  software: { name: string; version: string };
  /** Recognises safeguarding records (alerts); consent/sensitivity provides one. */
  isSafeguarding?: (r: Resource) => boolean;
}

export interface SummaryInput extends SummaryOptions {
  patientId: string;
  resources: Resource[];
  warnings: Warning[];
  now: Date;
  /** Fixed document identity (tests); random otherwise. */
  documentId?: string;
}

export const SUMMARY_SECTION_SYSTEM = 'https://integrated-record.example.nhs.uk/CodeSystem/summary-section';
export const COMPLETENESS_SECTION = { code: 'record-completeness', display: 'Record completeness warnings' };
const EMPTY_REASON_SYSTEM = 'http://terminology.hl7.org/CodeSystem/list-empty-reason';
const EMPTY_REASON_DISPLAY = { nilknown: 'Nil Known', withheld: 'Information Withheld', unavailable: 'Unavailable' } as const;
/** Types a summary entry may point to that are brought into the document so the reader can follow them. */
const SUPPORTING_TYPES = new Set(['Medication', 'Practitioner', 'PractitionerRole', 'Organization', 'Location', 'RelatedPerson']);
/** Optional links to context the summary leaves out: dropped when they cannot resolve. */
const DROPPABLE_KEYS = new Set(['encounter', 'context']);

/**
 * The resource types a summary is built from: what the sections select (record/summary-sections.ts), the
 * types that can evidence an alert or an advance directive (record/summary-flags.ts), and the supporting
 * types entries point to. The sources are asked for these only (`$everything?_type=`): encounters,
 * claims, diagnostic reports, imaging and the like are a large part of a hospital record and none of
 * them would reach the document.
 */
export const SUMMARY_SOURCE_TYPES: readonly string[] = [
  'Patient', 'Condition', 'AllergyIntolerance', 'MedicationRequest', 'MedicationStatement', 'Immunization', 'Observation',
  'Procedure', 'CarePlan', 'CareTeam', 'RelatedPerson', 'Flag', 'Consent', ...SUPPORTING_TYPES,
];

/**
 * Whether a resource of SUMMARY_SOURCE_TYPES can reach the summary. Everything can, except Observations:
 * only laboratory results (the Results section) and Observations that evidence an alert or an advance
 * directive (any alert kind, from the same code lists and words as record/summary-flags.ts) are used; vital
 * signs, surveys and other observations — most of a long hospital record — are not. A superset of what
 * the sections select (status is left to them), so buildSummary gives the same document with or without
 * this filter (test/summary-builder.test.ts checks it over the shared Synthea patients).
 */
export function summaryMayUse(r: Resource, isSafeguarding?: (r: Resource) => boolean): boolean {
  if (r.resourceType !== 'Observation') return true;
  return S.isLaboratory(r as Observation) || alertKindsOf(r, isSafeguarding).length > 0;
}

/** Runs the operation: the guarded repository's record (decided, audited, filtered) → summary document. */
export async function patientSummary(ctx: { repo: RecordRepository; signal?: AbortSignal }, ref: PatientRef, opts: SummaryOptions): Promise<{ bundle: Bundle; warnings: Warning[] }> {
  // Only what the summary can use is kept from each source's answer (as it arrives), so the rest is
  // neither merged, consent-checked nor held in memory while the slower sources answer.
  const filter = { types: SUMMARY_SOURCE_TYPES, keep: (r: Resource) => summaryMayUse(r, opts.isSafeguarding) };
  const { resources, warnings } = await ctx.repo.everything(ref, ctx.signal, filter);
  return { bundle: buildSummary({ ...opts, patientId: ref.id, resources, warnings, now: new Date() }), warnings };
}

/** Name-based UUID (SHA-1, version 5 layout): the same name always gives the same fullUrl. */
export function nameUuid(name: string): string {
  // One-shot hash (a third of createHash's cost; one per document entry). The first 128 bits, with the
  // version nibble set to 5 and the variant bits to 10.
  const x = hash('sha1', name, 'hex');
  const variant = ((parseInt(x[16]!, 16) & 0x3) | 0x8).toString(16);
  return `${x.slice(0, 8)}-${x.slice(8, 12)}-5${x.slice(13, 16)}-${variant}${x.slice(17, 20)}-${x.slice(20, 32)}`;
}

const keyOf = (r: Resource) => `${r.resourceType}/${r.id}`;

export function buildSummary(input: SummaryInput): Bundle {
  const byType = new Map<string, Resource[]>();
  const byRef = new Map<string, Resource>();
  for (const r of input.resources) {
    if (!r || typeof r.resourceType !== 'string') continue;
    pushTo(byType, r.resourceType, r);
    if (r.id) byRef.set(keyOf(r), r);
  }
  const patientReference = `Patient/${input.patientId}`;
  const patient: Patient = (byRef.get(patientReference) as Patient | undefined) ?? { resourceType: 'Patient', id: input.patientId };
  byRef.set(patientReference, patient);
  const ctx: S.SectionContext = { byType, byRef, patientReference, sourceTagSystem: input.sourceTagSystem, sourceNames: input.sourceLabels ?? input.sourceNames, isSafeguarding: input.isSafeguarding };

  const contents: S.SectionContent[] = [
    S.alerts(ctx, input.resources),
    S.problems(ctx),
    S.allergies(ctx),
    S.medications(ctx),
    S.advanceDirectives(ctx, input.resources),
    S.careTeam(ctx),
    S.planOfCare(ctx),
    S.immunizations(ctx),
    S.results(ctx),
    S.procedures(ctx),
  ];
  // Every source resource has an id after the merge; anything without one cannot be referenced.
  for (const c of contents) c.entries = c.entries.filter((e) => e.id);
  // A patient recorded as deceased: the first alert, pointing at the Patient that records it.
  const deceased = deceasedStatement(patient);
  const flags = contents[0]!.entries as Flag[];
  if (deceased) {
    contents[0]!.items.unshift(`<b>${esc(deceased)}</b> — what follows is the record as it was last kept, not a living patient’s current care`);
    contents[0]!.entries = [patient, ...contents[0]!.entries];
  }

  // Warnings: which sources are missing, and whether consent withheld anything.
  const missing = [...new Set(input.warnings.filter((w) => w.source !== 'consent').map((w) => input.sourceNames[w.source] ?? w.source))];
  const withheld = input.warnings.some((w) => w.source === 'consent');
  const caveat = join([
    missing.length ? `Not available: ${esc(missing.join(', '))} — entries from ${missing.length > 1 ? 'them' : 'it'} are missing.` : undefined,
    withheld ? 'Some information has been withheld under the patient’s consent.' : undefined,
  ], ' ');
  const emptyReason = missing.length ? 'unavailable' : withheld ? 'withheld' : 'nilknown';

  const device: Device = {
    resourceType: 'Device',
    id: 'summary-service',
    deviceName: [{ name: input.software.name, type: 'user-friendly-name' }],
    version: [{ value: input.software.version }],
    type: { text: 'Integrated patient record service (generates this summary)' },
  };
  const outcome = input.warnings.length ? warningOutcome(input.warnings) : undefined;

  // The entries: Patient, author, warnings, section entries, flag evidence, then what they point to.
  const included = new Map<string, Resource>();
  const add = (r: Resource) => {
    if (r.id && !included.has(keyOf(r))) included.set(keyOf(r), r);
  };
  add(patient);
  add(device);
  if (outcome) add(outcome);
  for (const c of contents) for (const e of c.entries) add(e);
  for (const c of contents) {
    for (const e of c.entries) {
      for (const x of (e as DomainResource).extension ?? []) {
        const target = x.url === FLAG_DETAIL_URL ? x.valueReference?.reference : undefined;
        if (target && byRef.has(target)) add(byRef.get(target)!);
      }
    }
  }
  // Supporting resources, transitively (a PractitionerRole brings its Organization).
  const queue = [...included.values()];
  while (queue.length) {
    for (const ref of referencesIn(queue.pop())) {
      const target = byRef.get(ref);
      if (target && SUPPORTING_TYPES.has(target.resourceType) && !included.has(ref)) {
        add(target);
        queue.push(target);
      }
    }
  }

  const uuidOf = new Map<string, string>();
  for (const k of included.keys()) uuidOf.set(k, nameUuid(`${input.patientId}|${k}`));
  const urlOf = (r: Resource) => `urn:uuid:${uuidOf.get(keyOf(r))}`;
  const rewrite = (r: Resource) => compact(rewriteReferences(r, (ref) => (uuidOf.has(ref) ? `urn:uuid:${uuidOf.get(ref)}` : undefined)), input.sourceTagSystem);

  const sections: CompositionSection[] = [];
  if (input.warnings.length && outcome) {
    sections.push({
      title: 'Record completeness',
      code: { coding: [{ system: SUMMARY_SECTION_SYSTEM, ...COMPLETENESS_SECTION }] },
      text: narrative(`<p><b>This summary may be incomplete.</b></p>${ul(input.warnings.map((w) => esc(w.message)))}`),
      entry: [{ reference: urlOf(outcome) }],
    });
  }
  for (const c of contents) {
    const code = { coding: [{ system: S.LOINC, code: c.def.code, display: c.def.display }] };
    const tail = caveat ? `<p><i>${caveat}</i></p>` : '';
    const lead = deceased && c.def.key === 'medications' ? `<p><b>${esc(DECEASED_MEDICATION_CAVEAT)}</b></p>` : '';
    if (c.entries.length === 0) {
      const none =
        emptyReason === 'nilknown'
          ? 'None recorded in the GP, hospital or social-care records.'
          : emptyReason === 'withheld'
            ? 'None that can be shown: some information is withheld under the patient’s consent, so this may not mean there is none.'
            : 'None retrieved from the sources that answered: a source could not be reached, so this does not mean there is none.';
      sections.push({
        title: c.def.title,
        code,
        text: narrative(`<p>${none}</p>${tail}`),
        emptyReason: { coding: [{ system: EMPTY_REASON_SYSTEM, code: emptyReason, display: EMPTY_REASON_DISPLAY[emptyReason] }] },
      });
      continue;
    }
    const seen = new Set<string>();
    const entry: Reference[] = [];
    for (const e of c.entries) {
      const u = urlOf(e);
      if (!seen.has(u)) entry.push({ reference: u });
      seen.add(u);
    }
    sections.push({ title: c.def.title, code, text: narrative(`${lead}${ul(c.items)}${c.notes.join('')}${tail}`), entry });
  }

  const id = input.documentId ?? randomUUID();
  const when = input.now.toISOString();
  const alertsLine = flags.length ? `<p><b>Alerts:</b> ${esc(flags.map((f) => conceptText(f.code, 'Alert')).join('; '))}</p>` : '';
  const deceasedLine = deceased ? `<p><b>ALERT: ${esc(deceased)}.</b></p>` : '';
  const composition: Composition = {
    resourceType: 'Composition',
    id,
    identifier: { system: 'urn:ietf:rfc:3986', value: `urn:uuid:${id}` },
    status: 'final',
    type: { coding: [{ system: S.LOINC, code: '60591-5', display: 'Patient summary Document' }] },
    subject: { reference: urlOf(patient) },
    date: when,
    author: [{ reference: urlOf(device), display: input.software.name }],
    title: `Patient summary as of ${when.slice(0, 16).replace('T', ' ')} UTC${deceased ? ` — ${deceased.toLowerCase().replace(/^recorded/, 'patient recorded')}` : ''}`,
    confidentiality: 'N',
    text: narrative(`${deceasedLine}<p>Patient summary from the GP, hospital and social-care records (${esc(when.slice(0, 10))}).</p>${caveat ? `<p><b>${caveat}</b></p>` : ''}${alertsLine}`),
    event: [{ code: [{ coding: [{ system: 'http://terminology.hl7.org/CodeSystem/v3-ActClass', code: 'PCPR' }] }], period: { end: when } }],
    section: sections,
  };

  const entry: BundleEntry[] = [{ fullUrl: `urn:uuid:${id}`, resource: composition }];
  for (const r of included.values()) entry.push({ fullUrl: urlOf(r), resource: rewrite(r) });
  return {
    resourceType: 'Bundle',
    id: randomUUID(),
    meta: { lastUpdated: when },
    identifier: { system: 'urn:ietf:rfc:3986', value: `urn:uuid:${randomUUID()}` },
    type: 'document',
    timestamp: when,
    entry,
  };
}

/** Every `Type/id` reference string inside a resource (contained `#x` and absolute URLs excluded). */
export function referencesIn(value: unknown, out: string[] = []): string[] {
  if (Array.isArray(value)) for (const v of value) referencesIn(v, out);
  else if (value && typeof value === 'object') {
    const o = value as Record<string, unknown>;
    for (const k in o) {
      const v = o[k];
      if (k === 'reference' && typeof v === 'string') {
        if (RELATIVE_REFERENCE.test(v)) out.push(v);
      } else if (v && typeof v === 'object') referencesIn(v, out);
    }
  }
  return out;
}

const RELATIVE_REFERENCE = /^[A-Z][A-Za-z]+\/[A-Za-z0-9\-.]{1,64}$/;

/**
 * A copy of the resource whose references point inside the document: `map` gives the new reference or
 * undefined when the target is not in it. Unresolvable `encounter`/`context` links and unresolvable
 * items of reference lists are dropped; any other unresolvable reference keeps its identifier and
 * display text (or says what it was).
 */
export function rewriteReferences<T>(value: T, map: (ref: string) => string | undefined): T {
  return rewriteNode(value, map) as T;
}

/**
 * rewriteReferences, copy on write: a subtree without references is returned as it is (shared with the
 * input, never modified), so only the objects on the way to a reference are copied. Key order is kept.
 */
function rewriteNode(v: unknown, map: (ref: string) => string | undefined): unknown {
  if (!v || typeof v !== 'object') return v;
  if (Array.isArray(v)) {
    let out: unknown[] | undefined;
    for (let i = 0; i < v.length; i++) {
      const x = rewriteNode(v[i], map);
      if (x !== v[i]) (out ??= v.slice())[i] = x;
    }
    return out ?? v;
  }
  const o = v as Record<string, unknown>;
  let out: Record<string, unknown> | undefined;
  for (const k in o) {
    const child = o[k];
    if (!child || typeof child !== 'object') continue;
    let next: unknown;
    let drop = false;
    if (Array.isArray(child)) {
      if (child.some(isLink)) {
        // A list of links (reasonReference, addresses, goal, hasMember …; all 0..* in the resources a
        // summary holds): links to what the summary leaves out are dropped, an emptied list with them.
        const items: unknown[] = [];
        for (const item of child) {
          if (!isLink(item)) items.push(rewriteNode(item, map));
          else {
            const mapped = map(item.reference!);
            if (mapped !== undefined) items.push({ ...(rewriteNode(item, map) as object), reference: mapped });
          }
        }
        if (items.length === 0) drop = true;
        else next = items;
      } else next = rewriteNode(child, map);
    } else if (typeof (child as Reference).reference === 'string' && !(child as Reference).reference!.startsWith('#')) {
      const mapped = map((child as Reference).reference!);
      if (mapped) next = { ...(rewriteNode(child, map) as object), reference: mapped };
      else if (DROPPABLE_KEYS.has(k)) drop = true;
      else next = unresolved(child as Reference);
    } else next = rewriteNode(child, map);
    if (drop) {
      out ??= { ...o };
      delete out[k];
    } else if (next !== child) (out ??= { ...o })[k] = next;
  }
  return out ?? o;
}

const isLink = (item: unknown): item is Reference =>
  !!item && typeof item === 'object' && typeof (item as Reference).reference === 'string' && !(item as Reference).reference!.startsWith('#');

/**
 * The entry as the document carries it: the resource's own narrative is left out (the section
 * narrative presents it) and `meta.tag` keeps only the record-source tag (as a code); `meta.source`
 * and security labels are kept as they are.
 */
function compact(r: Resource, sourceTagSystem: string): Resource {
  // Copied key by key (in the source's order): `delete` would leave a slow dictionary-mode object to
  // serialise, and an object rest over many keys takes V8's slow path.
  const out: Record<string, unknown> = {};
  const from = r as unknown as Record<string, unknown>;
  for (const k in from) {
    if (k === 'text') continue;
    if (k !== 'meta') {
      out[k] = from[k];
      continue;
    }
    const meta = from.meta as Meta | undefined;
    if (!meta?.tag) {
      out.meta = meta;
      continue;
    }
    // The record-source tag, as a code (its display repeats the code system and the narrative). The
    // recording-organisation tag serves consent decisions inside the service and stays out (size).
    const kept: Record<string, unknown> = {};
    for (const m in meta) {
      if (m !== 'tag') kept[m] = meta[m as keyof Meta];
      else {
        const tag = meta.tag.filter((t) => t?.system === sourceTagSystem).map(({ display: _d, ...t }) => t);
        if (tag.length) kept.tag = tag;
      }
    }
    for (const _ in kept) {
      out.meta = kept;
      break;
    }
  }
  return out as unknown as Resource;
}

function unresolved(ref: Reference): Reference {
  const { reference, ...rest } = ref;
  const type = /^([A-Z][A-Za-z]+)\//.exec(reference ?? '')?.[1];
  return { ...rest, display: ref.display ?? `${type ?? 'Record'} not included in this summary` };
}
