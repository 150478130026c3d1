import { Router, type Request, type Response } from 'express';
import type { Bundle } from 'fhir/r4.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { AuditSearch } from '../audit/types.js';
import type { EmergencyAccess, GrantRecord } from '../consent/emergency.js';
import type { GuardedRepository } from '../consent/guard.js';
import { checkMayRequestEmergencyAccess, openEmergencyAlerts, requestEmergencyAccess, reviewEmergencyAccess, ownAccessLog, searchAuditTrail, verifyAuditTrail } from '../consent/oversight.js';
import { badRequest, forbidden, notFound } from '../fhir/outcomes.js';
import { integerParam, MAX_OFFSET } from '../fhir/parameters.js';
import { FHIR_JSON } from './fhir-routes.js';
import type { Principal } from '../identity/principal.js';

export interface OversightRouteDeps {
  emergency: EmergencyAccess;
  audit: AuditLog;
  repoFor(res: Response, operation: string): GuardedRepository;
  baseUrl: string;
}

const principalOf = (res: Response) => res.locals.principal as Principal;
/** The integrated patient id: a UUID (store/patient-index.ts). */
const INTEGRATED_ID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function requireRole(res: Response, roles: Principal['role'][], what: string): Principal {
  const p = principalOf(res);
  if (!roles.includes(p.role)) throw forbidden('role-not-permitted', `Only ${roles.join(' or ')} may ${what}.`);
  return p;
}

const grantJson = (g: GrantRecord) => ({
  id: g.id,
  patient: `Patient/${g.patientId}`,
  user: g.sub,
  role: g.role,
  organisation: g.organisation,
  reason: g.reasonCode,
  reasonText: g.reason,
  createdAt: g.createdAt.toISOString(),
  expiresAt: g.expiresAt.toISOString(),
  reviewStatus: g.reviewStatus,
  ...(g.reviewOutcome ? { reviewOutcome: g.reviewOutcome, reviewedBy: g.reviewedBy, reviewNote: g.reviewNote ?? '' } : {}),
});

/** Emergency (break-glass) access, the privacy officers' review queue and audit, and the patient's access log. */
export function oversightRoutes(deps: OversightRouteDeps): Router {
  const router = Router();
  const caller = (res: Response, operation: string) => ({ principal: principalOf(res), requestId: res.locals.requestId as string, operation });

  router.post('/emergency-access', async (req: Request, res: Response) => {
    checkMayRequestEmergencyAccess(principalOf(res));
    const body = (req.body ?? {}) as { patient?: unknown; reason?: unknown; note?: unknown };
    // Only the integrated id (a random UUID the audited Patient search gives out) names the patient here:
    // never an NHS number or a name, so this endpoint cannot be used to find out whether someone is known.
    const patientId = typeof body.patient === 'string' ? body.patient.replace(/^Patient\//, '') : '';
    if (!INTEGRATED_ID.test(patientId)) {
      throw badRequest('invalid-reference', "'patient' must be the integrated patient id (Patient/<id>) from a Patient search.", ['patient']);
    }
    const ref = await deps.repoFor(res, 'POST /emergency-access').resolvePatient(patientId);
    if (!ref) {
      // An id that matches no one: answered 404 (a crew must be told no access was granted) and audited,
      // so repeated attempts are visible to privacy officers (docs/operations-hardening.md, item 18).
      await deps.audit.record({ ...caller(res, 'POST /emergency-access'), action: 'emergency-access', decision: 'deny', patientId: null, purpose: 'BTG', reason: 'no patient has this integrated id' });
      throw notFound('This patient is not known to this service: find them first (Patient search).');
    }
    const grant = await requestEmergencyAccess(deps, caller(res, 'POST /emergency-access'), ref.id, String(body.reason ?? ''), String(body.note ?? ''));
    res.status(201).json(grantJson(grant));
  });

  router.get('/review/alerts', async (_req: Request, res: Response) => {
    res.json({ alerts: (await openEmergencyAlerts(deps, caller(res, 'GET /review/alerts'))).map(grantJson) });
  });

  router.post('/review/alerts/:id', async (req: Request<{ id: string }>, res: Response) => {
    const body = (req.body ?? {}) as { outcome?: unknown; note?: unknown };
    const reviewed = await reviewEmergencyAccess(deps, caller(res, 'POST /review/alerts/{id}'), req.params.id, String(body.outcome ?? ''), String(body.note ?? ''));
    res.json(grantJson(reviewed));
  });

  router.get('/audit', async (req: Request, res: Response) => {
    const c = caller(res, 'GET /audit');
    requireRole(res, ['privacy-officer'], 'search the audit trail');
    const q = req.query as Record<string, string | undefined>;
    const date = (name: string) => {
      const v = q[name];
      if (v === undefined) return undefined;
      const d = new Date(v);
      if (!/^\d{4}-\d{2}-\d{2}([T ][0-9:.]+(Z|[+-]\d{2}:?\d{2})?)?$/.test(v) || Number.isNaN(d.getTime())) throw badRequest('invalid-date', `'${name}' must be an ISO 8601 date or date-time.`, [name]);
      return d;
    };
    const filter: AuditSearch = {
      ...(q.patient ? { patientId: q.patient.replace(/^Patient\//, '') } : {}),
      ...(q.user ? { userSub: q.user } : {}),
      ...(q.organisation ? { organisation: q.organisation } : {}),
      ...(q.decision ? { decision: q.decision as AuditSearch['decision'] } : {}),
      ...(date('from') ? { from: date('from') } : {}),
      ...(date('to') ? { to: date('to') } : {}),
      count: integerParam('_count', q._count, 1, 1000, 100),
      offset: integerParam('_offset', q._offset, 0, MAX_OFFSET, 0),
    };
    const events = await searchAuditTrail(deps, c, filter);
    const bundle: Bundle = {
      resourceType: 'Bundle',
      type: 'searchset',
      link: [{ relation: 'self', url: `${deps.baseUrl}/audit` }],
      entry: events.map((e) => ({ fullUrl: `${deps.baseUrl}/fhir/AuditEvent/${e.id}`, resource: e, search: { mode: 'match' } })),
    };
    res.status(200).type(FHIR_JSON).json(bundle);
  });

  router.get('/audit/verify', async (_req: Request, res: Response) => {
    res.json(await verifyAuditTrail(deps, caller(res, 'GET /audit/verify')));
  });

  router.get('/access-log', async (_req: Request, res: Response) => {
    const repo = deps.repoFor(res, 'GET /access-log');
    const entries = await ownAccessLog({ ...deps, patientIdForNhsNumber: (nhs) => repo.patientIdForNhsNumber(nhs) }, caller(res, 'GET /access-log'));
    res.json({ entries });
  });

  return router;
}
