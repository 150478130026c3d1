import type { CaseResponse, PeopleResponse, PersonSummary } from './social-care-api.js';
import { DEFAULT_MAX_BODY_BYTES, getSourceJson } from './source-http.js';
import { SourceError, type Transport } from './transport.js';
import { mapCase, mapPerson, SOCIAL_CARE_RESOURCE_TYPES } from './social-care-mapping.js';
import type { PatientQuery, SourceAdapter, SourceHealth, SourcePatient, SourcePatients, SourceRecord } from './types.js';

export interface SocialCareOptions {
  /** Root URL of the council's case-management API, e.g. http://127.0.0.1:7003 */
  baseUrl: string;
  transport: Transport;
  /** Registry id (default `social-care`), display name and the council(s) behind it (ODS codes). */
  id?: string;
  displayName?: string;
  organisations?: readonly string[];
  /** Cap on one response body (default 50 MiB). */
  maxBodyBytes?: number;
}

/** The council's social-care system: a non-FHIR JSON API, mapped to FHIR R4 here. */
export function createSocialCareAdapter(opts: SocialCareOptions): SourceAdapter {
  const { transport } = opts;
  const id = opts.id ?? 'social-care';
  const displayName = opts.displayName ?? 'Social care system';
  const root = opts.baseUrl.replace(/\/+$/, '');

  const origin = new URL(root).origin;
  const getJson = (name: string, path: string, signal?: AbortSignal) =>
    transport.call(
      name,
      (s) => getSourceJson(`${root}${path}`, { source: id, name, signal: s, origin, maxBodyBytes: opts.maxBodyBytes ?? DEFAULT_MAX_BODY_BYTES, accept: 'application/json' }),
      { idempotent: true, signal },
    );

  const invalid = (name: string, what: string) => new SourceError(id, 'invalid-response', `${name}: ${what}`);

  return {
    id,
    kind: 'social-care',
    organisations: opts.organisations ?? [],
    displayName,
    sourceUri: root,
    resourceTypes: SOCIAL_CARE_RESOURCE_TYPES,

    async findPatients(query: PatientQuery, signal?: AbortSignal): Promise<SourcePatients> {
      const q = new URLSearchParams();
      if (query.kind === 'nhs-number') q.set('nhsNumber', query.nhsNumber);
      else {
        q.set('surname', query.family);
        q.set('dateOfBirth', query.birthDate);
        if (query.postcode) q.set('postcode', query.postcode);
        if (query.given) q.set('forename', query.given);
      }
      const body = (await getJson('person search', `/api/v1/people?${q}`, signal)) as Partial<PeopleResponse> | null;
      if (!body || typeof body !== 'object' || !Array.isArray(body.people)) throw invalid('person search', 'expected an object with a people array');
      const people = body.people.filter(isPerson);
      const patients = people.map((p): SourcePatient => ({ source: id, sourcePatientId: p.personId, patient: mapPerson(p) }));
      const bad = body.people.length - people.length;
      return bad === 0 ? { patients } : { patients, issues: [{ kind: 'invalid-response', message: `${displayName}: ${bad} person entr${bad === 1 ? 'y' : 'ies'} of the person search could not be read. Information from it is missing from this response.` }] };
    },

    async readPatient(sourcePatientId: string, signal?: AbortSignal): Promise<SourcePatient> {
      const body = await getJson('person read', `/api/v1/people/${encodeURIComponent(sourcePatientId)}`, signal);
      if (!isPerson(body)) throw invalid('person read', 'expected a person');
      return { source: id, sourcePatientId, patient: mapPerson(body) };
    },

    async fetchRecord(sourcePatientId: string, signal?: AbortSignal): Promise<SourceRecord> {
      const body = (await getJson('case fetch', `/api/v1/people/${encodeURIComponent(sourcePatientId)}/case`, signal)) as Partial<CaseResponse> | null;
      if (!isCase(body)) throw invalid('case fetch', 'expected a case with person, carePackages, assessments and contacts');
      return { source: id, sourcePatientId, resources: mapCase(body) };
    },

    /** The council's API has no search: the case is fetched and mapped, and the facade applies every filter. */
    searchRecord(sourcePatientId: string, _query: unknown, signal?: AbortSignal): Promise<SourceRecord> {
      return this.fetchRecord(sourcePatientId, signal);
    },

    async health(): Promise<SourceHealth> {
      try {
        await transport.call(
          'health',
          async (s) => {
            const res = await fetch(`${root}/health`, { signal: s });
            await res.body?.cancel().catch(() => undefined);
            if (!res.ok) throw Object.assign(new Error('http'), { status: res.status });
          },
          { idempotent: false, deadlineMs: 2000 },
        );
        return { source: id, ok: true };
      } catch (e) {
        return { source: id, ok: false, detail: e instanceof SourceError ? e.message : 'unreachable' };
      }
    },
  };
}

function isPerson(p: unknown): p is PersonSummary {
  const x = p as Partial<PersonSummary> | null;
  return !!x && typeof x === 'object' && typeof x.personId === 'string' && typeof x.surname === 'string' &&
    typeof x.dateOfBirth === 'string' && !!x.address && !!x.localAuthority && Array.isArray(x.flags);
}

function isCase(c: Partial<CaseResponse> | null): c is CaseResponse {
  return !!c && typeof c === 'object' && isPerson(c.person) && Array.isArray(c.carePackages) &&
    Array.isArray(c.assessments) && Array.isArray(c.contacts);
}
