import { Client } from 'fhir-kit-client';
import type { Bundle, CapabilityStatement, Patient, Resource } from 'fhir/r4.js';
import { NHS_NUMBER_SYSTEM } from '../fhir/nhs-number.js';
import type { TypeSearch } from '../fhir/type-search.js';
import { SourceError, type Transport } from './transport.js';
import type { PatientQuery, SourceAdapter, SourceHealth, SourceId, SourcePatient, SourceRecord } from './types.js';

export interface FhirSourceOptions {
  id: SourceId;
  displayName: string;
  /** FHIR base URL of the source, e.g. http://127.0.0.1:7001/fhir */
  baseUrl: string;
  transport: Transport;
}

/** An adapter for a source system that speaks FHIR R4 REST (the GP and hospital systems). */
export function createFhirSourceAdapter(opts: FhirSourceOptions): SourceAdapter {
  const client = new Client({ baseUrl: opts.baseUrl });
  const { id, transport } = opts;

  const get = (name: string, url: string, signal?: AbortSignal) =>
    transport.call(name, (s) => client.request(url, { options: { signal: s } }) as Promise<unknown>, {
      idempotent: true,
      signal,
    });

  // What the source can search (from its CapabilityStatement, read once): filters and _includes it
  // supports are pushed down; the facade applies every filter again, so a source that ignores one is harmless.
  let support: Promise<SearchSupport> | undefined;
  const searchSupport = (signal?: AbortSignal) => {
    support ??= get('capabilities', 'metadata', signal).then(
      (body) => searchSupportOf(id, body),
      (e: unknown) => {
        support = undefined; // ask again next time
        throw e;
      },
    );
    return support;
  };

  return {
    id,
    displayName: opts.displayName,
    sourceUri: opts.baseUrl,

    async findPatients(query: PatientQuery, signal?: AbortSignal): Promise<SourcePatient[]> {
      const params = new URLSearchParams();
      if (query.kind === 'nhs-number') params.set('identifier', `${NHS_NUMBER_SYSTEM}|${query.nhsNumber}`);
      else {
        params.set('family', query.family);
        params.set('birthdate', query.birthDate);
        if (query.given) params.set('given', query.given);
        if (query.postcode) params.set('address-postalcode', query.postcode);
      }
      const bundle = expectBundle(id, 'patient search', await get('patient search', `Patient?${params}`, signal));
      return entriesOf(bundle)
        .filter((r): r is Patient => r.resourceType === 'Patient' && typeof r.id === 'string')
        .map((patient) => ({ source: id, sourcePatientId: patient.id!, patient }));
    },

    async readPatient(sourcePatientId: string, signal?: AbortSignal): Promise<SourcePatient> {
      const body = (await get('patient read', `Patient/${encodeURIComponent(sourcePatientId)}`, signal)) as Resource | null;
      if (!body || body.resourceType !== 'Patient') {
        throw new SourceError(id, 'invalid-response', 'patient read: expected a FHIR Patient');
      }
      return { source: id, sourcePatientId, patient: body as Patient };
    },

    async fetchRecord(sourcePatientId: string, signal?: AbortSignal, types?: readonly string[]): Promise<SourceRecord> {
      const typeParam = types ? `?${new URLSearchParams({ _type: types.join(',') })}` : '';
      const url = `Patient/${encodeURIComponent(sourcePatientId)}/$everything${typeParam}`;
      const bundle = expectBundle(id, 'record fetch', await get('record fetch', url, signal));
      return { source: id, sourcePatientId, resources: entriesOf(bundle) };
    },

    async searchRecord(sourcePatientId: string, query: TypeSearch, signal?: AbortSignal): Promise<SourceRecord> {
      const supported = (await searchSupport(signal)).get(query.type);
      // A source that does not hold the type is not asked.
      if (!supported) return { source: id, sourcePatientId, resources: [] };
      const params = new URLSearchParams({ patient: sourcePatientId });
      for (const f of query.filters) if (supported.params.has(f.name)) params.append(f.name, f.text);
      for (const i of query.include) if (supported.includes.has(i.split(':').slice(0, 2).join(':'))) params.append('_include', i);
      const bundle = expectBundle(id, 'search', await get('search', `${query.type}?${params}`, signal));
      return { source: id, sourcePatientId, resources: entriesOf(bundle) };
    },

    async health(): Promise<SourceHealth> {
      try {
        const cs = await transport.call('health', (s) => client.request('metadata', { options: { signal: s } }) as Promise<unknown>, {
          idempotent: false,
          deadlineMs: 2000,
        });
        const ok = (cs as Resource | undefined)?.resourceType === 'CapabilityStatement';
        return ok ? { source: id, ok } : { source: id, ok, detail: 'metadata is not a CapabilityStatement' };
      } catch (e) {
        return { source: id, ok: false, detail: e instanceof SourceError ? e.message : 'unreachable' };
      }
    },
  };
}

function expectBundle(source: SourceId, name: string, body: unknown): Bundle {
  const r = body as Partial<Bundle> | null;
  if (!r || typeof r !== 'object' || r.resourceType !== 'Bundle') {
    const got = r && typeof r === 'object' && typeof r.resourceType === 'string' ? r.resourceType : typeof body;
    throw new SourceError(source, 'invalid-response', `${name}: expected a FHIR Bundle, got ${got}`);
  }
  if (r.entry !== undefined && !Array.isArray(r.entry)) {
    throw new SourceError(source, 'invalid-response', `${name}: Bundle.entry is not an array`);
  }
  return r as Bundle;
}

function entriesOf(bundle: Bundle): Resource[] {
  const out: Resource[] = [];
  for (const e of bundle.entry ?? []) {
    const r = e?.resource;
    if (r && typeof r === 'object' && typeof r.resourceType === 'string' && r.resourceType !== 'OperationOutcome') out.push(r);
  }
  return out;
}

type SearchSupport = Map<string, { params: Set<string>; includes: Set<string> }>;

/** Search parameters and _includes per resource type, as the source's CapabilityStatement declares them. */
function searchSupportOf(source: SourceId, body: unknown): SearchSupport {
  const cs = body as Partial<CapabilityStatement> | null;
  if (!cs || typeof cs !== 'object' || cs.resourceType !== 'CapabilityStatement') {
    throw new SourceError(source, 'invalid-response', 'metadata: expected a CapabilityStatement');
  }
  const out: SearchSupport = new Map();
  for (const rest of Array.isArray(cs.rest) ? cs.rest : []) {
    for (const r of Array.isArray(rest?.resource) ? rest.resource : []) {
      if (typeof r?.type !== 'string') continue;
      const params = new Set((r.searchParam ?? []).map((p) => p?.name).filter((n): n is string => typeof n === 'string'));
      if (!params.has('patient')) continue; // cannot be searched by patient: not asked
      out.set(r.type, { params, includes: new Set((r.searchInclude ?? []).filter((i) => typeof i === 'string')) });
    }
  }
  return out;
}
