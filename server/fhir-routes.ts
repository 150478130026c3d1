import { Router, type Request, type Response } from 'express';
import { capabilityStatement } from '../fhir/capability.js';
import { everything, readPatient, searchPatients, type OperationContext } from '../fhir/patient-operations.js';
import { parseEverything, parsePatientSearch, type RawParams } from '../fhir/search.js';
import { notFound } from '../fhir/outcomes.js';
import type { PatientRef, RecordRepository } from '../fhir/repository.js';
import { assertMayReadRecords, assertOwnRecord } from './access.js';
import type { Principal } from './principal.js';

export interface FhirRouteDeps {
  repo: RecordRepository;
  baseUrl: string;
  everythingPageSize: number;
  software: { name: string; version: string };
}

export const FHIR_JSON = 'application/fhir+json; charset=utf-8';

/** res.json (not send) so the OpenAPI response validator sees every body. */
function send(res: Response, status: number, body: unknown): void {
  res.status(status).type(FHIR_JSON).json(body);
}

function principalOf(res: Response): Principal {
  return res.locals.principal as Principal;
}

/** Translates HTTP to the FHIR operations and back; no FHIR logic lives here. */
export function fhirRoutes(deps: FhirRouteDeps): Router {
  const router = Router();
  const fhirBase = `${deps.baseUrl}/fhir`;
  const ctx = (req: Request): OperationContext => ({ repo: deps.repo, baseUrl: fhirBase, signal: req.res ? abortOnClose(req.res) : undefined });

  router.get('/metadata', (_req, res) => send(res, 200, capabilityStatement(fhirBase, deps.software)));

  const search = async (req: Request, res: Response, params: RawParams) => {
    const p = principalOf(res);
    assertMayReadRecords(p);
    const query = parsePatientSearch(params);
    if (p.role === 'patient') assertOwnRecord(p, query.kind === 'nhs-number' ? query.nhsNumber : undefined);
    // The self link never repeats the search values: they identify the patient.
    send(res, 200, await searchPatients(ctx(req), query, `${fhirBase}/Patient`));
  };
  router.get('/Patient', (req, res) => search(req, res, req.query as RawParams));
  router.post('/Patient/_search', (req, res) => search(req, res, (req.body ?? {}) as RawParams));

  /** Role check, then the index lookup, then the patient's own-record check — before any source is asked. */
  const resolve = async (res: Response, id: string): Promise<PatientRef> => {
    const p = principalOf(res);
    assertMayReadRecords(p);
    const ref = await deps.repo.resolvePatient(id);
    // For a patient, an unknown id and someone else's id look the same (403), so ids cannot be probed.
    assertOwnRecord(p, ref?.nhsNumber);
    if (!ref) throw notFound(`Patient/${id} is not known to this service.`);
    return ref;
  };

  router.get('/Patient/:id', async (req, res) => {
    const ref = await resolve(res, req.params.id);
    const { patient, warnings } = await readPatient(ctx(req), ref);
    if (warnings.length > 0) res.setHeader('X-Incomplete-Sources', [...new Set(warnings.map((w) => w.source))].join(', '));
    send(res, 200, patient);
  });

  router.get('/Patient/:id/$everything', async (req, res) => {
    const params = parseEverything(req.query as RawParams, deps.everythingPageSize);
    const ref = await resolve(res, req.params.id);
    send(res, 200, await everything(ctx(req), ref, params));
  });

  return router;
}

/** Aborts upstream calls when the client goes away before the answer is sent. */
function abortOnClose(res: Response): AbortSignal {
  const controller = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) controller.abort();
  });
  return controller.signal;
}
