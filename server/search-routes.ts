import { Router, type Request, type Response } from 'express';
import type { GuardedRepository } from '../consent/guard.js';
import { forbidden, notFound } from '../fhir/outcomes.js';
import type { PatientRef } from '../adapters/record-repository.js';
import { SEARCH_TYPE_NAMES } from '../fhir/search-parameters.js';
import { searchType } from '../record/type-search-operation.js';
import { parseTypeSearch, preferStrict } from '../fhir/type-search.js';
import { abortOnClose, incompleteHeader, send } from './fhir-routes.js';
import type { Principal } from '../identity/principal.js';

export interface SearchRouteDeps {
  /** The consent-guarded repository for this request (decides, audits as PatientQuery, filters). */
  repoFor(res: Response, operation: string): GuardedRepository;
  baseUrl: string;
}

/**
 * `GET /fhir/{type}?patient=…` and `POST /fhir/{type}/_search` (form body) for each type in
 * fhir/search-parameters.ts: HTTP in and out only; parsing, filtering and paging live in fhir/.
 */
export function searchRoutes(deps: SearchRouteDeps): Router {
  const router = Router();
  const fhirBase = `${deps.baseUrl}/fhir`;

  const handle = async (req: Request, res: Response, type: string, params: Record<string, unknown>) => {
    const query = parseTypeSearch(type, params, { strict: preferStrict(req.header('prefer')) });
    const repo = deps.repoFor(res, `${req.method} /fhir/${type}${req.method === 'POST' ? '/_search' : ''}`);
    const ref = await resolve(repo, res, query.patientId);
    send(res, 200, await searchType({ repo, baseUrl: fhirBase, signal: abortOnClose(res), incomplete: incompleteHeader(res) }, ref, query));
  };

  for (const type of SEARCH_TYPE_NAMES) {
    router.get(`/${type}`, (req, res) => handle(req, res, type, req.query as Record<string, unknown>));
    router.post(`/${type}/_search`, (req, res) => handle(req, res, type, (req.body ?? {}) as Record<string, unknown>));
  }
  return router;
}

/** The index lookup, as for Patient/{id}: for a patient, an unknown id and someone else's look the same (403). */
async function resolve(repo: GuardedRepository, res: Response, id: string): Promise<PatientRef> {
  const ref = await repo.resolvePatient(id);
  if (ref) return ref;
  if ((res.locals.principal as Principal).role === 'patient') throw forbidden('not-own-record', 'A patient may only access their own record.');
  throw notFound('The patient in the search is not known to this service.');
}
