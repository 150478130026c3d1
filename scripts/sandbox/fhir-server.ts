import express, { type Express, type NextFunction, type Request, type Response, type Router } from 'express';
import type { Bundle, CapabilityStatement, CapabilityStatementRestResource, OperationOutcome, Resource } from 'fhir/r4.js';
import { faultAdminRouter, faultMiddleware, sendJson, type Faults } from './faults.js';
import { FhirStore } from './fhir-store.js';
import { searchDef, type TypeSearchDef } from '../../fhir/search-parameters.js';
import { includeOf, parseTypeSearch } from '../../fhir/type-search.js';
import { includeReferences, matchesAll } from '../../fhir/type-filter.js';

/**
 * A sandbox FHIR R4 source system (GP or hospital): read-only JSON under /fhir.
 *   GET /fhir/metadata
 *   GET /fhir/Patient?identifier=system|value            (NHS number or MRN)
 *   GET /fhir/Patient?family=&given=&birthdate=&address-postalcode=
 *   GET /fhir/Patient/{id}
 *   GET /fhir/Patient/{id}/$everything[?_type=A,B]       (compartment + referenced Organization/Practitioner)
 *   GET /fhir/{type}?patient={id}  (also subject=Patient/{id}); for the types of fhir/search-parameters.ts also
 *        its filters (code, category, status, date prefixes, …) and _includes, as the CapabilityStatement lists
 *   GET /fhir/{type}/{id}
 *   GET /health, and /__admin/faults (see faults.ts)
 */

export const FHIR_JSON = 'application/fhir+json';
const EVERYTHING_CACHE_MAX = 5000;
/** Page size when `_count` is absent, and the largest a request may ask for (SANDBOX_MAX_PAGE_SIZE). */
export const DEFAULT_MAX_PAGE_SIZE = 1000;

const outcome = (code: string, diagnostics: string): OperationOutcome => ({
  resourceType: 'OperationOutcome',
  issue: [{ severity: 'error', code: code as OperationOutcome['issue'][number]['code'], diagnostics }],
});

const param = (req: Request, name: string): string | undefined => {
  const v = (req.query as Record<string, unknown>)[name];
  const first = Array.isArray(v) ? v[0] : v;
  return typeof first === 'string' ? first : undefined;
};

const baseUrl = (req: Request): string => `${req.protocol}://${req.get('host')}/fhir`;

/**
 * One page of a searchset, as a real server pages: `_count` (at most `maxPageSize`, which is also the
 * default) entries from `_offset`, and a `next` link while more remain.
 */
function searchset(req: Request, resources: Resource[], included: Resource[] = [], maxPageSize = DEFAULT_MAX_PAGE_SIZE): Bundle {
  const base = baseUrl(req);
  const asked = Number(param(req, '_count'));
  const count = Number.isInteger(asked) && asked >= 0 ? Math.min(asked, maxPageSize) : maxPageSize;
  const at = Number(param(req, '_offset'));
  const offset = Number.isInteger(at) && at > 0 ? at : 0;
  const page = resources.slice(offset, offset + count);
  const self = `${base}${req.url.replace(/^\/fhir/, '')}`;
  const link: Bundle['link'] = [{ relation: 'self', url: self }];
  if (offset + count < resources.length) {
    const next = new URL(self);
    next.searchParams.set('_count', String(count));
    next.searchParams.set('_offset', String(offset + count));
    link.push({ relation: 'next', url: next.href });
  }
  return {
    resourceType: 'Bundle',
    type: 'searchset',
    total: resources.length,
    link,
    entry: [
      ...page.map((resource) => ({ fullUrl: `${base}/${resource.resourceType}/${resource.id}`, resource, search: { mode: 'match' as const } })),
      ...(offset === 0 ? included : []).map((resource) => ({ fullUrl: `${base}/${resource.resourceType}/${resource.id}`, resource, search: { mode: 'include' as const } })),
    ],
  };
}

/**
 * Search by patient with the parameters and _includes of fhir/search-parameters.ts (what this source
 * declares in its CapabilityStatement); like a real FHIR server, unknown parameters are ignored.
 */
function typeSearch(store: FhirStore, def: TypeSearchDef, patientId: string, req: Request): { matches: Resource[]; included: Resource[] } {
  const q = parseTypeSearch(def.type, { ...(req.query as Record<string, unknown>), patient: patientId }, { strict: false });
  const matches = store.ofPatient(patientId, def.type).filter((r) => matchesAll(r, def, q.filters));
  const included = new Map<string, Resource>();
  for (const value of q.include) {
    const inc = includeOf(def, value)!;
    for (const r of matches) {
      for (const ref of includeReferences(r, inc)) {
        const [type, id] = ref.split('/') as [string, string];
        const target = store.read(type, id);
        if (target && target.resourceType !== def.type) included.set(ref, target);
      }
    }
  }
  return { matches, included: [...included.values()] };
}

type ResourceType = CapabilityStatementRestResource['type'];

function capabilityStatement(name: string, types: ResourceType[]): CapabilityStatement {
  return {
    resourceType: 'CapabilityStatement',
    status: 'active',
    date: '2021-01-01',
    kind: 'instance',
    software: { name },
    fhirVersion: '4.0.1',
    format: ['json'],
    rest: [
      {
        mode: 'server',
        resource: types.map((type): CapabilityStatementRestResource => ({
          type,
          interaction: [{ code: 'read' }, { code: 'search-type' }],
          searchParam:
            type === 'Patient'
              ? ['identifier', 'family', 'given', 'birthdate', 'address-postalcode'].map((n) => ({ name: n, type: n === 'birthdate' ? 'date' : n === 'identifier' ? 'token' : 'string' }))
              : [{ name: 'patient', type: 'reference' }, ...(searchDef(type)?.params ?? []).map((p) => ({ name: p.name, type: p.type }))],
          ...(searchDef(type)?.includes.length ? { searchInclude: searchDef(type)!.includes.map((i) => `${type}:${i.name}`) } : {}),
          ...(type === 'Patient' ? { operation: [{ name: 'everything', definition: 'http://hl7.org/fhir/OperationDefinition/Patient-everything' }] } : {}),
        })),
      },
    ],
  };
}

/** `aggregate` (optional): the source's aggregate query API, mounted at /aggregate/v1 behind the faults. */
export function createFhirSourceApp(name: string, resources: Resource[], faults: Faults, aggregate?: Router, maxPageSize = DEFAULT_MAX_PAGE_SIZE): Express {
  const store = new FhirStore(resources);
  const types = [...new Set(resources.map((r) => r.resourceType as ResourceType))].sort();
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  const send = (res: Response, status: number, body: unknown): void => sendJson(res, status, body, FHIR_JSON);
  const notFound = (res: Response, what: string): void => send(res, 404, outcome('not-found', `${what} not found`));

  app.use('/__admin', faultAdminRouter(faults));
  app.use(faultMiddleware(faults, 'fhir'));
  if (aggregate) app.use('/aggregate/v1', aggregate);

  app.get('/health', (_req, res) => sendJson(res, 200, { status: 'ok' }, 'application/json'));
  app.get('/fhir/metadata', (_req, res) => send(res, 200, capabilityStatement(name, types)));

  app.get('/fhir/Patient', (req, res) => {
    const identifier = param(req, 'identifier');
    const id = param(req, '_id');
    let found = identifier !== undefined ? store.byIdentifierToken(identifier) : store.allPatients();
    if (id !== undefined) found = found.filter((p) => p.id === id);
    found = store.searchDemographics(
      { family: param(req, 'family'), given: param(req, 'given'), birthdate: param(req, 'birthdate'), postcode: param(req, 'address-postalcode') },
      found,
    );
    send(res, 200, searchset(req, found, [], maxPageSize));
  });

  // The data never changes, so each distinct $everything answer is serialised once (EVERYTHING_CACHE_MAX
  // answers at most). A real source runs on its own machine; on a benchmark machine the stand-in sources
  // share the CPU with the service, and re-serialising a large record on every request (~1 ms of CPU
  // each) would be charged to the service's latency. Faulted answers are never cached.
  const everythingCache = new Map<string, string>();
  app.get('/fhir/Patient/:id/$everything', (req, res) => {
    const key = `${req.get('host')}${req.url}`;
    const hit = res.locals.faultMode ? undefined : everythingCache.get(key);
    if (hit !== undefined) return void res.status(200).type(FHIR_JSON).send(hit);
    const everything = store.everything(req.params.id);
    if (!everything) return notFound(res, 'Patient');
    // `_type` (FHIR R4 Patient-everything): only resources of the listed types.
    const types = param(req, '_type')?.split(',').map((t) => t.trim()).filter(Boolean);
    const wanted = types?.length ? new Set(types) : undefined;
    const bundle = searchset(req, wanted ? everything.filter((r) => wanted.has(r.resourceType)) : everything, [], maxPageSize);
    if (res.locals.faultMode) return send(res, 200, bundle);
    const text = JSON.stringify(bundle);
    if (everythingCache.size < EVERYTHING_CACHE_MAX) everythingCache.set(key, text);
    res.status(200).type(FHIR_JSON).send(text);
  });

  app.get('/fhir/:type', (req, res) => {
    const { type } = req.params;
    if (!/^[A-Z][A-Za-z]+$/.test(type)) return notFound(res, 'Resource type');
    const patient = param(req, 'patient') ?? param(req, 'subject');
    const def = searchDef(type);
    if (def && patient !== undefined) {
      try {
        const { matches, included } = typeSearch(store, def, patient.replace(/^Patient\//, ''), req);
        return send(res, 200, searchset(req, matches, included, maxPageSize));
      } catch (e) {
        return send(res, 400, outcome('invalid', e instanceof Error ? e.message : 'invalid search'));
      }
    }
    const ids = param(req, '_id')?.split(',');
    let matches = patient !== undefined ? store.ofPatient(patient.replace(/^Patient\//, ''), type) : store.ofType(type);
    if (ids) matches = matches.filter((r) => ids.includes(r.id ?? ''));
    send(res, 200, searchset(req, matches, [], maxPageSize));
  });

  app.get('/fhir/:type/:id', (req, res) => {
    const resource = store.read(req.params.type, req.params.id);
    if (!resource) return notFound(res, `${req.params.type}/${req.params.id}`);
    send(res, 200, resource);
  });

  app.use((_req, res) => notFound(res, 'Route'));
  app.use((_err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    send(res, 500, outcome('exception', 'Internal error'));
  });
  return app;
}
