import { Router, type Request, type Response } from 'express';
import type { Bundle, Consent } from 'fhir/r4.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { AuditInput } from '../audit/types.js';
import type { EmergencyAccess } from '../consent/emergency.js';
import type { ConsentStore, StoredConsent } from '../consent/store.js';
import { validateConsent } from '../consent/validate.js';
import { badRequest, forbidden, notFound, OperationOutcomeError, outcome } from '../fhir/outcomes.js';
import type { GuardedRepository } from '../consent/guard.js';
import { FHIR_JSON } from './fhir-routes.js';
import type { Principal } from '../identity/principal.js';
import { saveOwnConsent, type OwnConsentDeps } from '../consent/own-consent.js';
import type { Caller } from '../consent/oversight.js';

export interface ConsentRouteDeps {
  consents: ConsentStore;
  emergency: EmergencyAccess;
  audit: AuditLog;
  /** The guarded repository for this request (decides whether the caller may access the patient). */
  repoFor(res: Response, operation: string): GuardedRepository;
  baseUrl: string;
}

const principalOf = (res: Response) => res.locals.principal as Principal;
const etag = (version: number) => `W/"${version}"`;

function sendConsent(res: Response, status: number, s: StoredConsent, baseUrl: string): void {
  res.setHeader('ETag', etag(s.version));
  res.setHeader('Location', `${baseUrl}/fhir/Consent/${s.resource.id}/_history/${s.version}`);
  res.status(status).type(FHIR_JSON).json(s.resource);
}

/** `Patient/<uuid>` → the integrated id. */
function patientIdOf(c: Consent): string {
  const m = /^Patient\/([0-9a-f-]{36})$/.exec(c.patient?.reference ?? '');
  if (!m) throw badRequest('invalid-reference', "Consent.patient must reference an integrated patient as 'Patient/<id>'.", ['Consent.patient']);
  return m[1]!;
}

/**
 * Consent (patients record and change their own; staff who may access the patient may read),
 * emergency access, the privacy officers' review queue and audit search, and a patient's access log.
 */
export function consentRoutes(deps: ConsentRouteDeps): Router {
  const router = Router();

  const audit = (res: Response, input: Omit<AuditInput, 'principal' | 'requestId'>) =>
    deps.audit.record({ ...input, principal: principalOf(res), requestId: res.locals.requestId as string });

  /** Only the patient themself writes consent (consent/own-consent.ts, shared with the patient pages). */
  const own = (res: Response, operation: string): [OwnConsentDeps, Caller] => [
    { consents: deps.consents, audit: deps.audit, nhsNumberOf: async (id) => (await deps.repoFor(res, operation).resolvePatient(id))?.nhsNumber },
    { principal: principalOf(res), requestId: res.locals.requestId as string, operation },
  ];

  /**
   * Reading consents: the patient, or staff whose access to the patient's record the guard permits.
   * Every read is audited (consent-read), and so is every refusal.
   */
  const assertMayRead = async (res: Response, patientId: string, operation: string) => {
    const p = principalOf(res);
    const repo = deps.repoFor(res, operation);
    const ref = await repo.resolvePatient(patientId);
    const refuse = async () => {
      await audit(res, { action: 'consent-read', decision: 'deny', patientId: ref ? patientId : null, purpose: 'TREAT', operation, reason: 'a patient may only read their own consents' });
      return forbidden('not-own-record', 'A patient may only access their own record.');
    };
    if (!ref) throw p.role === 'patient' ? await refuse() : notFound('This patient is not known to this service.');
    if (p.role === 'patient') {
      if (ref.nhsNumber !== p.nhsNumber) throw await refuse();
    } else {
      await repo.authorise(ref, 'consent-read');
    }
    await audit(res, { action: 'consent-read', decision: 'permit', patientId, purpose: 'TREAT', operation, resourceTypes: ['Consent'] });
  };

  router.post('/fhir/Consent', async (req: Request, res: Response) => {
    const consent = validateConsent(req.body, {});
    const patientId = patientIdOf(consent);
    const stored = await saveOwnConsent(...own(res, 'POST /fhir/Consent'), consent, patientId);
    sendConsent(res, 201, stored, deps.baseUrl);
  });

  router.put('/fhir/Consent/:id', async (req: Request<{ id: string }>, res: Response) => {
    const ifMatch = req.header('if-match');
    if (!ifMatch) {
      throw new OperationOutcomeError(428, outcome(428, [{ code: 'required', errorCode: 'if-match-required', diagnostics: 'Updating a Consent needs an If-Match header with the version you read (its ETag).' }]));
    }
    const m = /^(?:W\/)?"(\d+)"$/.exec(ifMatch.trim());
    if (!m) throw badRequest('invalid-if-match', 'If-Match must be an ETag such as W/"3".');
    const body = req.body as Consent | undefined;
    if (body && typeof body === 'object' && body.id !== undefined && body.id !== req.params.id) {
      throw badRequest('id-mismatch', 'Consent.id in the body must match the id in the URL.', ['Consent.id']);
    }
    const consent = validateConsent(body, {});
    const patientId = patientIdOf(consent);
    const existing = await deps.consents.read(req.params.id);
    if (!existing) throw notFound('This consent does not exist.');
    const stored = await saveOwnConsent(...own(res, 'PUT /fhir/Consent/{id}'), consent, patientId, { id: req.params.id, version: Number(m[1]) });
    sendConsent(res, 200, stored, deps.baseUrl);
  });

  router.get('/fhir/Consent/:id', async (req: Request<{ id: string }>, res: Response) => {
    const stored = await deps.consents.read(req.params.id);
    if (!stored) throw notFound('This consent does not exist.');
    await assertMayRead(res, stored.patientId, 'GET /fhir/Consent/{id}');
    sendConsent(res, 200, stored, deps.baseUrl);
  });

  router.get('/fhir/Consent/:id/_history', async (req: Request<{ id: string }>, res: Response) => {
    const versions = await deps.consents.history(req.params.id);
    if (versions.length === 0) throw notFound('This consent does not exist.');
    await assertMayRead(res, versions[0]!.patientId, 'GET /fhir/Consent/{id}/_history');
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'history',
      total: versions.length,
      link: [{ relation: 'self', url: `${deps.baseUrl}/fhir/Consent/${req.params.id}/_history` }],
      entry: versions.map((v, i) => ({
        fullUrl: `${deps.baseUrl}/fhir/Consent/${req.params.id}`,
        resource: v.resource,
        request: { method: i === versions.length - 1 ? 'POST' : 'PUT', url: i === versions.length - 1 ? 'Consent' : `Consent/${req.params.id}` },
        response: { status: i === versions.length - 1 ? '201' : '200', etag: etag(v.version), lastModified: v.resource.meta?.lastUpdated },
      })),
    };
    res.status(200).type(FHIR_JSON).json(bundle);
  });

  router.get('/fhir/Consent', async (req: Request, res: Response) => {
    const q = req.query as Record<string, unknown>;
    const patient = typeof q.patient === 'string' ? q.patient.replace(/^Patient\//, '') : undefined;
    if (!patient) throw badRequest('missing-parameter', "Consent search needs 'patient' (Patient/<id> or <id>).", ['patient']);
    await assertMayRead(res, patient, 'GET /fhir/Consent');
    const found = await deps.consents.forPatient(patient);
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'searchset',
      total: found.length,
      link: [{ relation: 'self', url: `${deps.baseUrl}/fhir/Consent` }],
      entry: found.map((s) => ({ fullUrl: `${deps.baseUrl}/fhir/Consent/${s.resource.id}`, resource: s.resource, search: { mode: 'match' } })),
    };
    res.status(200).type(FHIR_JSON).json(bundle);
  });

  return router;
}
