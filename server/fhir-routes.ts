import { Router, type Request, type Response } from 'express';
import { capabilityStatement } from '../record/capability.js';
import { everything, readPatient, searchPatients, type OperationContext } from '../record/patient-operations.js';
import { parseEverything, parsePatientSearch, type RawParams } from '../record/search.js';
import type { GuardedRepository } from '../consent/guard.js';
import { forbidden, notFound } from '../fhir/outcomes.js';
import type { PatientRef, RecordRepository } from '../adapters/record-repository.js';
import type { Principal } from '../identity/principal.js';
import { patientSummary } from '../record/summary.js';
import { SOURCE_TAG_SYSTEM } from '../adapters/merge.js';
import { hasCategory } from '../consent/sensitivity.js';

export interface FhirRouteDeps {
  /** The consent-guarded repository for this request: handlers never see an unguarded one. */
  repoFor(res: Response, operation: string): GuardedRepository;
  baseUrl: string;
  everythingPageSize: number;
  sourceNames: string[];
  software: { name: string; version: string };
}

export const FHIR_JSON = 'application/fhir+json; charset=utf-8';

/** res.json (not send) so the OpenAPI response validator sees every body. */
export function send(res: Response, status: number, body: unknown): void {
  res.status(status).type(FHIR_JSON).json(body);
}

function principalOf(res: Response): Principal {
  return res.locals.principal as Principal;
}

/** Translates HTTP to the FHIR operations and back; no FHIR logic lives here. */
export function fhirRoutes(deps: FhirRouteDeps): Router {
  const router = Router();
  const fhirBase = `${deps.baseUrl}/fhir`;
  const ctx = (req: Request, repo: RecordRepository): OperationContext => ({
    repo,
    baseUrl: fhirBase,
    signal: req.res ? abortOnClose(req.res) : undefined,
    ...(req.res ? { incomplete: incompleteHeader(req.res) } : {}),
  });

  router.get('/metadata', (_req, res) => send(res, 200, capabilityStatement(fhirBase, deps.software, deps.sourceNames)));

  const search = async (req: Request, res: Response, params: RawParams) => {
    const query = parsePatientSearch(params);
    const repo = deps.repoFor(res, `${req.method} /fhir/Patient${req.method === 'POST' ? '/_search' : ''}`);
    // The self link never repeats the search values: they identify the patient.
    send(res, 200, await searchPatients(ctx(req, repo), query, `${fhirBase}/Patient`));
  };
  router.get('/Patient', (req, res) => search(req, res, req.query as RawParams));
  router.post('/Patient/_search', (req, res) => search(req, res, (req.body ?? {}) as RawParams));

  /** The index lookup; the guard decides (and audits) inside each operation, before any source is asked. */
  const resolve = async (repo: RecordRepository, res: Response, id: string): Promise<PatientRef> => {
    const ref = await repo.resolvePatient(id);
    if (!ref) {
      // For a patient, an unknown id and someone else's id look the same (403), so ids cannot be probed.
      if (principalOf(res).role === 'patient') throw forbidden('not-own-record', 'A patient may only access their own record.');
      throw notFound('This patient is not known to this service.');
    }
    return ref;
  };

  router.get('/Patient/:id', async (req, res) => {
    const repo = deps.repoFor(res, 'GET /fhir/Patient/{id}');
    const ref = await resolve(repo, res, req.params.id);
    const { patient } = await readPatient(ctx(req, repo), ref);
    send(res, 200, patient);
  });

  // IPS $summary, built from the same guarded everything() (decided, audited, consent-filtered).
  router.get('/Patient/:id/$summary', async (req, res) => {
    const repo = deps.repoFor(res, 'GET /fhir/Patient/{id}/$summary');
    const ref = await resolve(repo, res, req.params.id);
    const { bundle, warnings } = await patientSummary(ctx(req, repo), ref, {
      sourceTagSystem: SOURCE_TAG_SYSTEM,
      sourceNames: repo.sourceNames(),
      sourceLabels: { gp: 'GP', hospital: 'Hospital', 'social-care': 'Social care' },
      software: deps.software,
      isSafeguarding: (r) => hasCategory(r, 'safeguarding'),
    });
    // Machine-readable: registry ids (the Composition and the OperationOutcome name each by its display name).
    const missing = [...new Set(warnings.filter((w) => w.source !== 'consent').map((w) => w.source))];
    if (missing.length > 0) res.setHeader('X-Incomplete-Sources', missing.join(', '));
    send(res, 200, bundle);
  });

  router.get('/Patient/:id/$everything', async (req, res) => {
    const params = parseEverything(req.query as RawParams, deps.everythingPageSize);
    const repo = deps.repoFor(res, 'GET /fhir/Patient/{id}/$everything');
    const ref = await resolve(repo, res, req.params.id);
    send(res, 200, await everything(ctx(req, repo), ref, params));
  });

  return router;
}

/** Sets X-Incomplete-Sources: the sources whose data is missing from (or cut short in) the response. */
export function incompleteHeader(res: Response): (sources: string[]) => void {
  return (sources) => res.setHeader('X-Incomplete-Sources', sources.join(', '));
}

/** Aborts upstream calls when the client goes away before the answer is sent. */
export function abortOnClose(res: Response): AbortSignal {
  const controller = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) controller.abort();
  });
  return controller.signal;
}
