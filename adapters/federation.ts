import type { Patient, Resource } from 'fhir/r4.js';
import { NHS_NUMBER_SYSTEM, ODS_SYSTEM } from '../fhir/nhs-number.js';
import { notFound, serviceUnavailable, type IssueInput } from '../fhir/outcomes.js';
import type { PatientRef, RecordFilter } from './record-repository.js';
import { resultTypes, type TypeSearch } from '../fhir/type-search.js';
import type { IndexedPatient, PatientIndex, PatientLink } from '../store/patient-index.js';
import { demographicsOf, resolveMatch, type Demographics } from './matching.js';
import { mergeRecords } from './merge.js';
import { SourceError, type FailureKind } from './transport.js';
import type { PatientQuery, SourceAdapter, SourceHealth, SourceId, SourceIssue, SourceKind, SourcePatient, SourceRecord } from './types.js';

/** Something the reader of a response must know: a source that failed, or a record left unlinked. */
export interface SourceWarning {
  source: SourceId;
  kind: SourceIssue['kind'] | 'ambiguous-match';
  message: string;
}

export interface FederatedPatient {
  id: string;
  patient: Patient;
}

/** A person as seen across sources while matching: keyed by NHS number, or by a source record. */
interface Identity {
  key: string;
  nhsNumber: string | null;
  records: SourcePatient[];
  links: PatientLink[];
  demographics: Demographics;
}

const PRIORITY: Record<SourceKind, number> = { gp: 0, hospital: 1, 'social-care': 2 };

/**
 * The federated repository: finds people across sources (linking them in the patient index),
 * reads the integrated Patient and fetches the merged record — always fanning out in parallel,
 * returning what arrived plus a warning per source that did not.
 */
export class Federation {
  private readonly byId: Map<SourceId, SourceAdapter>;

  constructor(
    readonly adapters: SourceAdapter[],
    private readonly index: PatientIndex,
  ) {
    this.byId = new Map(adapters.map((a) => [a.id, a]));
    this.kinds = Object.fromEntries(adapters.map((a) => [a.id, a.kind]));
    this.order = (a: { source: SourceId }, b: { source: SourceId }) =>
      PRIORITY[this.kinds[a.source] ?? 'gp'] - PRIORITY[this.kinds[b.source] ?? 'gp'];
  }

  private readonly kinds: Record<SourceId, SourceKind>;
  /** GP records first, then hospital, then social care (the primary copy of a person's details). */
  private readonly order: (a: { source: SourceId }, b: { source: SourceId }) => number;

  sourceUris(): Record<SourceId, string> {
    return Object.fromEntries(this.adapters.map((a) => [a.id, a.sourceUri])) as Record<SourceId, string>;
  }

  /**
   * Finds the integrated patients matching a query. Sources are asked by NHS number or by family name
   * and birth date; records without NHS number are then matched on demographics against every person
   * sharing that family name and birth date, so an ambiguous record is noticed and left unlinked.
   */
  async findPatients(query: PatientQuery, signal?: AbortSignal): Promise<{ patients: FederatedPatient[]; warnings: SourceWarning[] }> {
    const warnings: SourceWarning[] = [];
    let found: SourcePatient[];
    let broad: PatientQuery;
    if (query.kind === 'nhs-number') {
      found = await this.fanOutFind(query, warnings, signal);
      const anchor = [...found.filter((r) => nhsNumberOf(r.patient) === query.nhsNumber)].sort(this.order)[0];
      if (!anchor) return { patients: [], warnings };
      const d = demographicsOf(anchor.patient);
      if (!d.family || !d.birthDate) return this.finish(found, warnings, (i) => i.nhsNumber === query.nhsNumber);
      broad = { kind: 'demographics', family: d.family, birthDate: d.birthDate };
      found = dedupeRecords([...found, ...(await this.fanOutFind(broad, warnings, signal))]);
      return this.finish(found, warnings, (i) => i.nhsNumber === query.nhsNumber);
    }
    broad = { kind: 'demographics', family: query.family, birthDate: query.birthDate };
    found = await this.fanOutFind(broad, warnings, signal);
    const wanted: Demographics = { given: query.given, postcode: query.postcode };
    return this.finish(found, warnings, (i) => satisfies(i.demographics, wanted));
  }

  /** The index entry for an integrated id (with its links), or undefined when unknown. */
  resolvePatient(id: string): Promise<IndexedPatient | undefined> {
    return this.index.get(id);
  }

  /**
   * The integrated Patient, from every source that may hold the patient: each linked source record is
   * read, and a source with no link yet is asked by NHS number (as `everything` does), so an outage of any
   * of them is reported rather than hidden behind a complete-looking answer.
   */
  async readPatient(ref: PatientRef, signal?: AbortSignal): Promise<{ patient: Patient; warnings: SourceWarning[] }> {
    const indexed = await this.indexed(ref);
    const id = indexed.id;
    const warnings: SourceWarning[] = [];
    const tasks: { source: SourceId; run: Promise<SourcePatient[]> }[] = [];
    for (const adapter of this.adapters) {
      const links = indexed.links.filter((l) => l.source === adapter.id);
      if (links.length > 0) tasks.push({ source: adapter.id, run: Promise.all(links.map((l) => adapter.readPatient(l.sourcePatientId, signal))) });
      else if (indexed.nhsNumber) tasks.push({ source: adapter.id, run: this.discover(adapter, indexed.nhsNumber, warnings, signal) });
    }
    const settled = await Promise.allSettled(tasks.map((t) => t.run));
    const records = collect(settled, tasks.map((t) => t.source), warnings, this.byId).flat();
    if (records.length === 0) throw warnings.length > 0 ? unavailable(warnings) : notFound(`Patient/${id} is not known to any source.`);
    const [patient] = mergeRecords({
      integratedId: id,
      records: records.map((r) => ({ source: r.source, sourcePatientId: r.sourcePatientId, resources: [r.patient] })),
      sourceUris: this.sourceUris(),
      kinds: this.kinds,
    });
    return { patient: patient as Patient, warnings };
  }

  /**
   * The merged record of an integrated patient. Linked sources are fetched directly; a source with no
   * link yet is asked by NHS number in the same parallel round (a record may have appeared since).
   */
  everything(ref: PatientRef, signal?: AbortSignal, filter?: RecordFilter): Promise<{ resources: Resource[]; warnings: SourceWarning[] }> {
    if (!filter) return this.fanOutRecords(ref, (adapter, sourcePatientId) => adapter.fetchRecord(sourcePatientId, signal), signal);
    // Narrowed as each answer arrives, before the merge: a source that ignored `_type` costs no merge
    // work for what was not asked, and nothing unwanted is held while the slower sources answer.
    const wanted = new Set(filter.types);
    const keep = filter.keep;
    return this.fanOutRecords(
      ref,
      async (adapter, sourcePatientId) => {
        const record = await adapter.fetchRecord(sourcePatientId, signal, filter.types);
        return { ...record, resources: record.resources.filter((r) => wanted.has(r.resourceType) && (!keep || keep(r))) };
      },
      signal,
    );
  }

  /**
   * The patient's resources of one type from every source (each source applying the filters it
   * supports), merged and de-duplicated exactly as `everything`. The caller applies every filter again.
   */
  async search(ref: PatientRef, query: TypeSearch, signal?: AbortSignal): Promise<{ resources: Resource[]; warnings: SourceWarning[] }> {
    const result = await this.fanOutRecords(ref, (adapter, sourcePatientId) => adapter.searchRecord(sourcePatientId, query, signal), signal);
    // Only what the search can return (a source without search, e.g. social care, sends the whole case):
    // nothing else is consent-checked, so an unrelated withheld entry is never reported.
    const types = resultTypes(query);
    return { ...result, resources: result.resources.filter((r) => types.has(r.resourceType)) };
  }

  /** Asks every source in parallel (`fetch` per linked source record), then merges what arrived; a warning per source that failed. */
  private async fanOutRecords(
    ref: PatientRef,
    fetch: (adapter: SourceAdapter, sourcePatientId: string) => Promise<SourceRecord>,
    signal?: AbortSignal,
  ): Promise<{ resources: Resource[]; warnings: SourceWarning[] }> {
    const indexed = await this.indexed(ref);
    const id = indexed.id;
    const warnings: SourceWarning[] = [];
    const tasks: { source: SourceId; run: Promise<SourceRecord[]> }[] = [];
    for (const adapter of this.adapters) {
      const links = indexed.links.filter((l) => l.source === adapter.id);
      if (links.length > 0) {
        tasks.push({ source: adapter.id, run: Promise.all(links.map((l) => fetch(adapter, l.sourcePatientId))) });
      } else if (indexed.nhsNumber) {
        tasks.push({ source: adapter.id, run: this.discoverAndFetch(adapter, indexed.nhsNumber, fetch, signal) });
      }
    }
    const settled = await Promise.allSettled(tasks.map((t) => t.run));
    const records = collect(settled, tasks.map((t) => t.source), warnings, this.byId).flat();
    if (records.length === 0 && warnings.length > 0) throw unavailable(warnings);
    for (const r of records) this.report(r.source, r.issues, warnings);
    // Who recorded each source's entries: a GP system's, the registered practice; a trust's or council's, its organisation.
    const recorders: Record<SourceId, string> = {};
    for (const a of this.adapters) {
      const code = a.kind === 'gp' ? indexed.registeredPractice ?? undefined : a.organisations[0];
      if (code) recorders[a.id] = code;
    }
    return { resources: mergeRecords({ integratedId: id, records, sourceUris: this.sourceUris(), kinds: this.kinds, recorders }), warnings };
  }

  sourceIds(): string[] {
    return this.adapters.map((a) => a.id);
  }

  /** Each source's display name by registry id (warnings and pages name a source by it, never by its id). */
  sourceNames(): Readonly<Record<SourceId, string>> {
    return Object.fromEntries(this.adapters.map((a) => [a.id, a.displayName]));
  }

  /**
   * The resource types a source can ever send, where `source` is what a consent rule names: a source id, a
   * kind of source (every GP system, …) or one organisation's ODS code. Undefined: any type (a matching
   * source that declares none, or nothing matches — a restriction is then assumed to apply).
   */
  sourceTypes(source: string): ReadonlySet<string> | undefined {
    const code = source.toUpperCase();
    const matching = this.adapters.filter((a) => a.id === source || a.kind === source || a.organisations.some((o) => o.toUpperCase() === code));
    if (matching.length === 0 || matching.some((a) => !a.resourceTypes)) return undefined;
    return new Set(matching.flatMap((a) => [...a.resourceTypes!]));
  }

  patientIdForNhsNumber(nhsNumber: string): Promise<string | undefined> {
    return this.index.idForNhsNumber(nhsNumber);
  }

  /** Uses the links resolved earlier in the request when present; otherwise reads the index. */
  private async indexed(ref: PatientRef): Promise<IndexedPatient> {
    if ('links' in ref) return ref as IndexedPatient;
    const found = await this.index.get(ref.id);
    if (!found) throw notFound('This patient is not known to this service.');
    return found;
  }

  async health(): Promise<SourceHealth[]> {
    return Promise.all(this.adapters.map((a) => a.health()));
  }

  private adapter(source: string): SourceAdapter {
    const a = this.byId.get(source as SourceId);
    if (!a) throw new Error(`no adapter for source ${source}`);
    return a;
  }

  private async discoverAndFetch(
    adapter: SourceAdapter,
    nhsNumber: string,
    fetch: (adapter: SourceAdapter, sourcePatientId: string) => Promise<SourceRecord>,
    signal?: AbortSignal,
  ): Promise<SourceRecord[]> {
    const answer = await adapter.findPatients({ kind: 'nhs-number', nhsNumber }, signal);
    const found = answer.patients.filter((r) => nhsNumberOf(r.patient) === nhsNumber);
    if (found.length === 0) return answer.issues?.length ? [{ source: adapter.id, sourcePatientId: '', resources: [], issues: answer.issues }] : [];
    await this.index.link(nhsNumber, found.map((r) => ({ source: r.source, sourcePatientId: r.sourcePatientId, matchMethod: 'nhs-number' })));
    const records = await Promise.all(found.map((r) => fetch(adapter, r.sourcePatientId)));
    if (answer.issues?.length) records[0] = { ...records[0]!, issues: [...(records[0]!.issues ?? []), ...answer.issues] };
    return records;
  }

  /** A not-yet-linked source asked by NHS number: its records of that person (linked now), its issues reported. */
  private async discover(adapter: SourceAdapter, nhsNumber: string, warnings: SourceWarning[], signal?: AbortSignal): Promise<SourcePatient[]> {
    const answer = await adapter.findPatients({ kind: 'nhs-number', nhsNumber }, signal);
    this.report(adapter.id, answer.issues, warnings);
    const found = answer.patients.filter((r) => nhsNumberOf(r.patient) === nhsNumber);
    if (found.length > 0) {
      await this.index.link(nhsNumber, found.map((r) => ({ source: r.source, sourcePatientId: r.sourcePatientId, matchMethod: 'nhs-number' })));
    }
    return found;
  }

  /**
   * The registered GP practice's ODS code, from the GP system's Patient.generalPractitioner: its ODS
   * identifier, or else the referenced Organization's ODS identifier, read from the GP system (cached there).
   */
  private async registeredPracticeOf(records: SourcePatient[], warnings: SourceWarning[]): Promise<string | undefined> {
    const gp = records.find((r) => this.kinds[r.source] === 'gp');
    const refs = gp?.patient.generalPractitioner ?? [];
    const direct = refs.find((g) => g.identifier?.system === ODS_SYSTEM && g.identifier.value)?.identifier?.value;
    if (direct || !gp) return direct;
    const adapter = this.byId.get(gp.source);
    for (const g of refs) {
      if (!g.reference || !adapter?.organisationCode) continue;
      try {
        const code = await adapter.organisationCode(g.reference);
        if (code) return code;
      } catch (e) {
        this.report(gp.source, [{ kind: e instanceof SourceError ? e.kind : 'error', message: `${adapter.displayName}: the registered practice could not be read (${e instanceof SourceError ? e.message : 'failed'}); access through the practice relationship may be refused.` }], warnings);
      }
    }
    return undefined;
  }

  /** Each issue of a source's answer becomes a warning naming the source (once per source and kind). */
  private report(source: SourceId, issues: SourceIssue[] | undefined, warnings: SourceWarning[]): void {
    const name = this.byId.get(source)?.displayName ?? source;
    for (const issue of issues ?? []) {
      if (warnings.some((w) => w.source === source && w.kind === issue.kind && w.message === issue.message)) continue;
      const message = issue.message.startsWith(name) ? issue.message : `${name}: ${issue.message}`;
      warnings.push({ source, kind: issue.kind, message });
    }
  }

  private async fanOutFind(query: PatientQuery, warnings: SourceWarning[], signal?: AbortSignal): Promise<SourcePatient[]> {
    const settled = await Promise.allSettled(this.adapters.map((a) => a.findPatients(query, signal).then((r) => ({ ...r, source: a.id }))));
    const results = collect(settled, this.adapters.map((a) => a.id), warnings, this.byId);
    if (results.length === 0) throw unavailable(warnings);
    for (const r of results) this.report(r.source, r.issues, warnings);
    return results.flatMap((r) => r.patients);
  }

  /** Groups records into identities, matches the ones without NHS number, links and merges the wanted ones. */
  private async finish(
    found: SourcePatient[],
    warnings: SourceWarning[],
    wanted: (i: Identity) => boolean,
  ): Promise<{ patients: FederatedPatient[]; warnings: SourceWarning[] }> {
    const identities = new Map<string, Identity>();
    const unmatched: SourcePatient[] = [];
    for (const r of [...found].sort(this.order)) {
      const nhs = nhsNumberOf(r.patient);
      if (!nhs) {
        unmatched.push(r);
        continue;
      }
      const identity = identities.get(nhs) ?? { key: nhs, nhsNumber: nhs, records: [], links: [], demographics: demographicsOf(r.patient) };
      identity.records.push(r);
      identity.links.push({ source: r.source, sourcePatientId: r.sourcePatientId, matchMethod: 'nhs-number' });
      identities.set(nhs, identity);
    }
    const known = [...identities.values()].map((i) => ({ key: i.key, demographics: i.demographics }));
    for (const r of unmatched) {
      const match = resolveMatch(demographicsOf(r.patient), known);
      if (match.kind === 'linked') {
        const identity = identities.get(match.key)!;
        identity.records.push(r);
        identity.links.push({ source: r.source, sourcePatientId: r.sourcePatientId, matchMethod: 'demographics', matchScore: match.score });
      } else if (match.kind === 'ambiguous') {
        await this.index.unlink(r.source, r.sourcePatientId);
        if (match.keys.some((k) => wanted(identities.get(k)!))) {
          warnings.push({
            source: r.source,
            kind: 'ambiguous-match',
            message: `A ${this.adapter(r.source).displayName} record without NHS number matches more than one person on demographics; it has not been linked to this patient and is not shown. Review it in the source system.`,
          });
        }
      } else {
        const key = `${r.source}/${r.sourcePatientId}`;
        identities.set(key, {
          key,
          nhsNumber: null,
          records: [r],
          links: [{ source: r.source, sourcePatientId: r.sourcePatientId, matchMethod: 'demographics' }],
          demographics: demographicsOf(r.patient),
        });
      }
    }
    const patients: FederatedPatient[] = [];
    for (const identity of identities.values()) {
      if (!wanted(identity)) continue;
      const id = await this.index.link(identity.nhsNumber, identity.links, await this.registeredPracticeOf(identity.records, warnings));
      const [patient] = mergeRecords({
        integratedId: id,
        records: identity.records.map((r) => ({ source: r.source, sourcePatientId: r.sourcePatientId, resources: [r.patient] })),
        sourceUris: this.sourceUris(),
        kinds: this.kinds,
      });
      patients.push({ id, patient: patient as Patient });
    }
    return { patients, warnings };
  }
}


export function nhsNumberOf(p: Patient): string | undefined {
  return p.identifier?.find((i) => i.system === NHS_NUMBER_SYSTEM && i.value)?.value;
}


function dedupeRecords(records: SourcePatient[]): SourcePatient[] {
  const seen = new Map<string, SourcePatient>();
  for (const r of records) seen.set(`${r.source}/${r.sourcePatientId}`, r);
  return [...seen.values()];
}

function satisfies(d: Demographics, wanted: Demographics): boolean {
  const norm = (s: string) => s.toLowerCase().replace(/\s+/g, '');
  if (wanted.given && !(d.given && norm(d.given).startsWith(norm(wanted.given)))) return false;
  if (wanted.postcode && !(d.postcode && norm(d.postcode) === norm(wanted.postcode))) return false;
  return true;
}

/** Collects fulfilled results; each rejection becomes a warning naming the source and why. */
function collect<T>(settled: PromiseSettledResult<T>[], sources: SourceId[], warnings: SourceWarning[], adapters: Map<SourceId, SourceAdapter>): T[] {
  const out: T[] = [];
  settled.forEach((s, i) => {
    const source = sources[i]!;
    if (s.status === 'fulfilled') out.push(s.value);
    else {
      const e = s.reason;
      const kind: FailureKind = e instanceof SourceError ? e.kind : 'error';
      const detail = e instanceof SourceError ? e.message : 'unexpected failure';
      const name = adapters.get(source)?.displayName ?? source;
      if (!warnings.some((w) => w.source === source && w.kind === kind)) {
        warnings.push({ source, kind, message: `${name} could not be queried (${kind}): ${detail}. Information from it is missing from this response.` });
      }
    }
  });
  return out;
}

function unavailable(warnings: SourceWarning[]) {
  const issues: IssueInput[] = warnings.map((w) => ({ severity: 'error', code: 'transient', errorCode: `source-${w.kind}`, diagnostics: w.message }));
  return serviceUnavailable('all-sources-unavailable', 'No source system could be queried; the record cannot be shown.', issues);
}
