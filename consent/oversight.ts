/**
 * Emergency (break-glass) access and its oversight as operations, shared by the API (server/oversight-
 * routes.ts) and the pages (web/staff/): who may do each (deny by default), the grant or review, and its
 * audit event. One permission path whichever door the request came in by.
 */
import type { AuditEvent } from 'fhir/r4.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { AccessLogEntry, AuditSearch, AuditVerification } from '../audit/types.js';
import { forbidden } from '../fhir/outcomes.js';
import type { Principal, Role } from '../identity/principal.js';
import type { EmergencyAccess, GrantRecord } from './emergency.js';

export interface OversightDeps {
  emergency: EmergencyAccess;
  audit: AuditLog;
}

/** Who is asking, for the audit trail. */
export interface Caller {
  principal: Principal;
  requestId: string;
  /** Route template or page operation, e.g. 'POST /emergency-access'. */
  operation: string;
}

function requireRole(p: Principal, roles: Role[], what: string): void {
  if (!roles.includes(p.role)) throw forbidden('role-not-permitted', `Only ${roles.join(' or ')} may ${what}.`);
}

/** Break glass: a grant for this person and (already resolved) patient, audited as emergency access. */
export async function requestEmergencyAccess(deps: OversightDeps, c: Caller, patientId: string, reason: string, note: string): Promise<GrantRecord> {
  requireRole(c.principal, ['ambulance-crew', 'clinician'], 'request emergency access');
  // The grant and its audit event commit together or not at all: no grant is in force without its event (503).
  return deps.audit.change(async (q) => {
    const grant = await deps.emergency.grant(c.principal, patientId, reason, note, new Date(), q);
    return { result: grant, events: [{ action: 'emergency-access', decision: 'permit', principal: c.principal, requestId: c.requestId, patientId, purpose: 'BTG', operation: c.operation, reason: grant.reason }] };
  });
}

/** Throws unless the caller may request emergency access (checked before the patient is looked up). */
export function checkMayRequestEmergencyAccess(p: Principal): void {
  requireRole(p, ['ambulance-crew', 'clinician'], 'request emergency access');
}

/** The privacy officers' queue of emergency accesses not yet reviewed. */
export async function openEmergencyAlerts(deps: OversightDeps, c: Caller): Promise<GrantRecord[]> {
  requireRole(c.principal, ['privacy-officer'], 'see the review queue');
  return deps.emergency.openAlerts();
}

/** A privacy officer's review (appropriate/inappropriate + note), audited. */
export async function reviewEmergencyAccess(deps: OversightDeps, c: Caller, grantId: string, outcome: string, note: string): Promise<GrantRecord> {
  requireRole(c.principal, ['privacy-officer'], 'review emergency access');
  // The review and its audit event commit together or not at all.
  return deps.audit.change(async (q) => {
    const reviewed = await deps.emergency.review(grantId, c.principal.sub, outcome, note, q);
    return {
      result: reviewed,
      events: [{ action: 'emergency-review', decision: 'permit', principal: c.principal, requestId: c.requestId, patientId: reviewed.patientId, purpose: 'HOPERAT', operation: c.operation, outcomeDescription: `emergency access reviewed: ${reviewed.reviewOutcome}` }],
    };
  });
}

/** Audit search for privacy officers. */
export async function searchAuditTrail(deps: OversightDeps, c: Caller, filter: AuditSearch): Promise<AuditEvent[]> {
  requireRole(c.principal, ['privacy-officer'], 'search the audit trail');
  return deps.audit.search(filter);
}

/** The audit chain's verification, for privacy officers. */
export async function verifyAuditTrail(deps: OversightDeps, c: Caller): Promise<AuditVerification> {
  requireRole(c.principal, ['privacy-officer'], 'verify the audit trail');
  return deps.audit.verify();
}

/**
 * A patient's own access log (who looked at their record). The patient's integrated id comes from their
 * own NHS number (the Principal), never from the request.
 */
export async function ownAccessLog(
  deps: OversightDeps & { patientIdForNhsNumber(nhs: string): Promise<string | undefined> },
  c: Caller,
): Promise<AccessLogEntry[]> {
  requireRole(c.principal, ['patient'], 'read their own access log');
  const id = await deps.patientIdForNhsNumber(c.principal.nhsNumber!);
  return id ? deps.audit.accessLog(id) : [];
}

/** Whether the audit trail verifies, for a patient reading their access log (no rows are shown). */
export async function verifyTrailForPatient(deps: OversightDeps, c: Caller): Promise<Pick<AuditVerification, 'ok'>> {
  requireRole(c.principal, ['patient'], 'check their access log');
  // Incremental between periodic full checks: any patient may open the page, so it must not rehash the chain each time.
  const v = await deps.audit.verifyRecent();
  return { ok: v.ok };
}
