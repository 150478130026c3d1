import express, { type Express, type NextFunction, type Request, type Response } from 'express';
import type { Bundle, CapabilityStatement, CapabilityStatementRestResource, OperationOutcome, Resource } from 'fhir/r4.js';
import { faultAdminRouter, faultMiddleware, sendJson, type Faults } from './faults.js';
import { FhirStore } from './fhir-store.js';

/**
 * A sandbox FHIR R4 source system (GP or hospital): read-only JSON under /fhir.
 *   GET /fhir/metadata
 *   GET /fhir/Patient?identifier=system|value            (NHS number or MRN)
 *   GET /fhir/Patient?family=&given=&birthdate=&address-postalcode=
 *   GET /fhir/Patient/{id}
 *   GET /fhir/Patient/{id}/$everything                   (compartment + referenced Organization/Practitioner)
 *   GET /fhir/{type}?patient={id}  (also subject=Patient/{id})
 *   GET /fhir/{type}/{id}
 *   GET /health, and /__admin/faults (see faults.ts)
 */

export const FHIR_JSON = 'application/fhir+json';

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

function searchset(req: Request, resources: Resource[]): Bundle {
  const base = baseUrl(req);
  const count = Number(param(req, '_count'));
  const page = Number.isInteger(count) && count >= 0 ? resources.slice(0, count) : resources;
  return {
    resourceType: 'Bundle',
    type: 'searchset',
    total: resources.length,
    link: [{ relation: 'self', url: `${base}${req.url.replace(/^\/fhir/, '')}` }],
    entry: page.map((resource) => ({ fullUrl: `${base}/${resource.resourceType}/${resource.id}`, resource, search: { mode: 'match' } })),
  };
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
              : [{ name: 'patient', type: 'reference' }],
          ...(type === 'Patient' ? { operation: [{ name: 'everything', definition: 'http://hl7.org/fhir/OperationDefinition/Patient-everything' }] } : {}),
        })),
      },
    ],
  };
}

export function createFhirSourceApp(name: string, resources: Resource[], faults: Faults): Express {
  const store = new FhirStore(resources);
  const types = [...new Set(resources.map((r) => r.resourceType as ResourceType))].sort();
  const app = express();
  app.disable('x-powered-by');
  app.set('etag', false);
  const send = (res: Response, status: number, body: unknown): void => sendJson(res, status, body, FHIR_JSON);
  const notFound = (res: Response, what: string): void => send(res, 404, outcome('not-found', `${what} not found`));

  app.use('/__admin', faultAdminRouter(faults));
  app.use(faultMiddleware(faults, 'fhir'));

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
    send(res, 200, searchset(req, found));
  });

  app.get('/fhir/Patient/:id/$everything', (req, res) => {
    const everything = store.everything(req.params.id);
    if (!everything) return notFound(res, 'Patient');
    send(res, 200, searchset(req, everything));
  });

  app.get('/fhir/:type', (req, res) => {
    const { type } = req.params;
    if (!/^[A-Z][A-Za-z]+$/.test(type)) return notFound(res, 'Resource type');
    const patient = param(req, 'patient') ?? param(req, 'subject');
    const matches = patient !== undefined ? store.ofPatient(patient.replace(/^Patient\//, ''), type) : store.ofType(type);
    send(res, 200, searchset(req, matches));
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
