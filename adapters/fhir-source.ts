import type { Organization, Patient, Resource } from 'fhir/r4.js';
import { NHS_NUMBER_SYSTEM, ODS_SYSTEM } from '../fhir/nhs-number.js';
import type { TypeSearch } from '../fhir/type-search.js';
import { DEFAULT_PAGING, readAllPages, type PagedResult, type PagingLimits } from './bundle-pages.js';
import { CapabilityCache, type SourceCapabilities } from './fhir-capabilities.js';
import { DEFAULT_MAX_BODY_BYTES, getSourceJson, HttpStatusError } from './source-http.js';
import { SourceError, type Transport } from './transport.js';
import type { PatientQuery, SourceAdapter, SourceHealth, SourceId, SourceIssue, SourceKind, SourcePatients, SourceRecord } from './types.js';

/** Outbound authentication to a source: headers for each request; `invalidate` after a 401 (then asked again once). */
export interface SourceAuth {
  headers(signal?: AbortSignal): Promise<Record<string, string>>;
  invalidate(): void;
}

export interface FhirSourceOptions {
  id: SourceId;
  displayName: string;
  /** FHIR base URL of the source, e.g. http://127.0.0.1:7001/fhir */
  baseUrl: string;
  transport: Transport;
  /** Kind of source (default: `hospital` for the id `hospital`, else `gp`). */
  kind?: SourceKind;
  /** ODS codes of the organisations whose staff care for every patient the source holds (trusts). */
  organisations?: readonly string[];
  /** Page and entry cap per call (default DEFAULT_PAGING). */
  paging?: PagingLimits;
  /** `_count` asked of the source: the largest page it may give (default 1000; a source may give fewer). */
  pageSize?: number;
  /** Cap on one response body (default 50 MiB). */
  maxBodyBytes?: number;
  /** How long a CapabilityStatement is used before it is read again (default 5 minutes). */
  capabilityTtlMs?: number;
  auth?: SourceAuth;
}

/** How long an Organization's ODS code, once read, is reused (organisations rarely change code). */
const ORGANISATION_TTL_MS = 60 * 60_000;
const FHIR_JSON = 'application/fhir+json, application/json;q=0.9';
/** Resource types outside the patient compartment a record refers to, read by id when the source has no $everything. */
const SUPPORT_TYPES = ['Organization', 'Practitioner', 'PractitionerRole', 'Location', 'Medication'];

/**
 * An adapter for a source system that speaks FHIR R4 REST (GP and hospital systems). Every Bundle is read
 * to its last page (same origin, `_count` as large as allowed, capped per call); what the source declares
 * in its CapabilityStatement decides between `$everything` and one paged search per resource type.
 */
export function createFhirSourceAdapter(opts: FhirSourceOptions): SourceAdapter {
  const { id, transport, displayName } = opts;
  const base = opts.baseUrl.replace(/\/+$/, '');
  const origin = new URL(base).origin;
  const paging = opts.paging ?? DEFAULT_PAGING;
  const count = String(opts.pageSize ?? 1000);
  const maxBodyBytes = opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES;

  const authHeaders = async (name: string, signal: AbortSignal) => {
    try {
      return await opts.auth?.headers(signal);
    } catch (e) {
      if (signal.aborted) throw e;
      throw new SourceError(id, 'error', `${name}: outbound authentication failed (${e instanceof Error ? e.message : 'no token'})`);
    }
  };
  const once = async (name: string, url: string, signal: AbortSignal) =>
    getSourceJson(url, { source: id, name, signal, origin, maxBodyBytes, accept: FHIR_JSON, headers: await authHeaders(name, signal) });
  /** One GET through the transport; a 401 with outbound auth gets a fresh token and one more try. */
  const get = (name: string, path: string, signal?: AbortSignal, deadlineMs?: number) =>
    transport.call(
      name,
      async (s) => {
        const url = /^https?:/.test(path) ? path : `${base}/${path}`;
        try {
          return await once(name, url, s);
        } catch (e) {
          if (!(e instanceof HttpStatusError && e.status === 401 && opts.auth)) throw e;
          opts.auth.invalidate();
          return once(name, url, s);
        }
      },
      { idempotent: true, signal, ...(deadlineMs ? { deadlineMs } : {}) },
    );

  const odsCodes = new Map<string, { code: string | undefined; at: number }>();
  const capabilities = new CapabilityCache((signal) => get('capabilities', 'metadata', signal), id, opts.capabilityTtlMs);

  const paged = (name: string, path: string, signal: AbortSignal | undefined, extra: Partial<Parameters<typeof readAllPages>[1]> = {}) =>
    readAllPages(`${base}/${path}`, {
      source: id,
      displayName,
      name,
      origin,
      limits: paging,
      bundleTypes: ['searchset'],
      get: (url) => get(name, url, signal),
      ...extra,
    });

  /** One paged search per type the source can search by patient, in parallel; the supporting resources they reference read by id. */
  async function searchPerType(caps: SourceCapabilities, patientId: string, types: readonly string[] | undefined, signal?: AbortSignal): Promise<PagedResult> {
    const wanted = (t: string) => !types || types.includes(t);
    const asked = [...caps.search.keys()].filter((t) => t !== 'Patient' && wanted(t));
    const runs: Promise<PagedResult>[] = asked.map((t) =>
      paged(`${t} search`, `${t}?${new URLSearchParams({ patient: patientId, _count: count })}`, signal, { expectTypes: new Set([t]) }),
    );
    if (wanted('Patient')) runs.push(readOne('Patient', patientId, signal).then((p) => ({ resources: [p], issues: [] })));
    const results = await settleAll(runs);
    const support = SUPPORT_TYPES.filter((t) => wanted(t) && caps.searchable.has(t));
    if (support.length > 0) {
      const have = new Set(results.resources.map((r) => `${r.resourceType}/${r.id}`));
      const refs = referencedIds(results.resources, new Set(support), have);
      const reads = [...refs].flatMap(([t, ids]) =>
        chunks([...ids], 50).map((some) =>
          paged(`${t} read`, `${t}?${new URLSearchParams({ _id: some.join(','), _count: count })}`, signal, { expectTypes: new Set([t]) }),
        ),
      );
      const more = await settleAll(reads, true);
      results.resources.push(...more.resources);
      results.issues.push(...more.issues);
    }
    return results;
  }

  async function readOne(type: string, rid: string, signal?: AbortSignal): Promise<Resource> {
    const body = (await get(`${type} read`, `${type}/${encodeURIComponent(rid)}`, signal)) as Resource | null;
    if (!body || typeof body !== 'object' || body.resourceType !== type || typeof body.id !== 'string') {
      throw new SourceError(id, 'invalid-response', `${type} read: expected a FHIR ${type}`);
    }
    return body;
  }

  return {
    id,
    kind: opts.kind ?? (id === 'hospital' ? 'hospital' : 'gp'),
    organisations: opts.organisations ?? [],
    displayName,
    sourceUri: base,

    async findPatients(query: PatientQuery, signal?: AbortSignal): Promise<SourcePatients> {
      const params = new URLSearchParams();
      if (query.kind === 'nhs-number') params.set('identifier', `${NHS_NUMBER_SYSTEM}|${query.nhsNumber}`);
      else {
        params.set('family', query.family);
        params.set('birthdate', query.birthDate);
        if (query.given) params.set('given', query.given);
        if (query.postcode) params.set('address-postalcode', query.postcode);
      }
      params.set('_count', count);
      const { resources, issues } = await paged('patient search', `Patient?${params}`, signal, { expectTypes: new Set(['Patient']) });
      const patients = resources
        .filter((r): r is Patient => typeof r.id === 'string')
        .map((patient) => ({ source: id, sourcePatientId: patient.id!, patient }));
      return { patients, issues };
    },

    async listPatients(n: number, signal?: AbortSignal): Promise<SourcePatients> {
      // One page only: a few people to offer, never the whole list.
      const body = (await get('patient list', `Patient?${new URLSearchParams({ _count: String(n) })}`, signal)) as { resourceType?: string; entry?: { resource?: Resource }[] } | null;
      if (body?.resourceType !== 'Bundle') throw new SourceError(id, 'invalid-response', 'patient list: expected a FHIR Bundle');
      const patients = (body.entry ?? [])
        .map((e) => e.resource)
        .filter((r): r is Patient => r?.resourceType === 'Patient' && typeof r.id === 'string')
        .slice(0, n)
        .map((patient) => ({ source: id, sourcePatientId: patient.id!, patient }));
      return { patients };
    },

    async readPatient(sourcePatientId: string, signal?: AbortSignal) {
      return { source: id, sourcePatientId, patient: (await readOne('Patient', sourcePatientId, signal)) as Patient };
    },

    async fetchRecord(sourcePatientId: string, signal?: AbortSignal, types?: readonly string[]): Promise<SourceRecord> {
      // Without a CapabilityStatement the facade still tries $everything: the answer itself shows whether it works.
      const caps = await capabilities.get(signal).catch(() => undefined);
      if (caps && !caps.everything) {
        return { source: id, sourcePatientId, ...(await searchPerType(caps, sourcePatientId, types, signal)) };
      }
      const params = new URLSearchParams({ _count: count });
      if (types) params.set('_type', types.join(','));
      const result = await paged('record fetch', `Patient/${encodeURIComponent(sourcePatientId)}/$everything?${params}`, signal, {
        bundleTypes: ['searchset', 'collection'],
      });
      return { source: id, sourcePatientId, ...result };
    },

    async searchRecord(sourcePatientId: string, query: TypeSearch, signal?: AbortSignal): Promise<SourceRecord> {
      const supported = (await capabilities.get(signal)).search.get(query.type);
      // A source that does not hold the type is not asked.
      if (!supported) return { source: id, sourcePatientId, resources: [] };
      const params = new URLSearchParams({ patient: sourcePatientId });
      for (const f of query.filters) if (supported.params.has(f.name)) params.append(f.name, f.text);
      const includes = query.include.filter((i) => supported.includes.has(i.split(':').slice(0, 2).join(':')));
      for (const i of includes) params.append('_include', i);
      params.set('_count', count);
      const result = await paged('search', `${query.type}?${params}`, signal, {
        expectTypes: new Set([query.type]),
        includedAnyType: includes.length > 0,
      });
      return { source: id, sourcePatientId, ...result };
    },

    async organisationCode(reference: string, signal?: AbortSignal): Promise<string | undefined> {
      const m = /^(?:.*\/)?Organization\/([A-Za-z0-9\-.]{1,64})$/.exec(reference);
      if (!m || (reference.includes('://') && !reference.startsWith(`${base}/`))) return undefined;
      const hit = odsCodes.get(m[1]!);
      if (hit && Date.now() - hit.at < ORGANISATION_TTL_MS) return hit.code;
      const org = (await readOne('Organization', m[1]!, signal)) as Organization;
      const code = org.identifier?.find((i) => i.system === ODS_SYSTEM && typeof i.value === 'string')?.value;
      if (odsCodes.size > 10_000) odsCodes.clear();
      odsCodes.set(m[1]!, { code, at: Date.now() });
      return code;
    },

    async health(): Promise<SourceHealth> {
      try {
        capabilities.accept(await get('health', 'metadata', undefined, 2000));
        return { source: id, ok: true };
      } catch (e) {
        return { source: id, ok: false, detail: e instanceof SourceError ? e.message : 'unreachable' };
      }
    },
  };
}

/** Waits for every read; failures become issues (the rest is kept). `soft`: even when all fail, do not throw. */
async function settleAll(runs: Promise<PagedResult>[], soft = false): Promise<PagedResult> {
  const settled = await Promise.allSettled(runs);
  const out: PagedResult = { resources: [], issues: [] };
  const failures: unknown[] = [];
  for (const s of settled) {
    if (s.status === 'fulfilled') {
      out.resources.push(...s.value.resources);
      out.issues.push(...s.value.issues);
    } else failures.push(s.reason);
  }
  if (!soft && failures.length > 0 && failures.length === settled.length) throw failures[0];
  for (const e of failures) out.issues.push(issueOf(e));
  return out;
}

function issueOf(e: unknown): SourceIssue {
  const kind = e instanceof SourceError ? e.kind : 'error';
  return { kind, message: `${e instanceof SourceError ? e.message : 'a request failed'}. Information from it is missing from this response.` };
}

function chunks<T>(items: T[], size: number): T[][] {
  const out: T[][] = [];
  for (let i = 0; i < items.length; i += size) out.push(items.slice(i, i + size));
  return out;
}

/** Ids per type of the resources of `types` referenced by `resources` and not already held. */
function referencedIds(resources: Resource[], types: Set<string>, have: Set<string>): Map<string, Set<string>> {
  const out = new Map<string, Set<string>>();
  const visit = (v: unknown): void => {
    if (Array.isArray(v)) return v.forEach(visit);
    if (!v || typeof v !== 'object') return;
    for (const [k, x] of Object.entries(v)) {
      if (k === 'reference' && typeof x === 'string') {
        const m = /^([A-Z][A-Za-z]+)\/([A-Za-z0-9\-.]{1,64})$/.exec(x);
        if (m && types.has(m[1]!) && !have.has(x)) {
          const set = out.get(m[1]!) ?? new Set<string>();
          set.add(m[2]!);
          out.set(m[1]!, set);
        }
      } else if (typeof x === 'object') visit(x);
    }
  };
  resources.forEach(visit);
  return out;
}
