/**
 * The staff pages' one door to the service's operations: the SAME consent-guarded repository, record
 * operations, emergency-access grants, review queue and audit trail the bearer API uses, with the
 * signed-in Principal. Nothing here decides access itself: the guard decides and audits.
 */
import type { Response } from 'express';
import type { Bundle } from 'fhir/r4.js';
import type { PatientQuery } from '../../adapters/types.js';
import { SOURCE_TAG_SYSTEM } from '../../adapters/merge.js';
import type { AuditLog } from '../../audit/audit-log.js';
import type { AuditSearch } from '../../audit/types.js';
import type { EmergencyAccess, GrantRecord } from '../../consent/emergency.js';
import type { ConsentGuard, GuardedRepository } from '../../consent/guard.js';
import { openEmergencyAlerts, requestEmergencyAccess, reviewEmergencyAccess, searchAuditTrail, verifyAuditTrail } from '../../consent/oversight.js';
import { hasCategory } from '../../consent/sensitivity.js';
import { notFound } from '../../fhir/outcomes.js';
import type { PatientRef, RecordFilter, Warning } from '../../adapters/record-repository.js';
import { patientSummary } from '../../record/summary.js';
import type { TypeSearch } from '../../fhir/type-search.js';
import { searchType } from '../../record/type-search-operation.js';
import { principalOf } from '../page-kit.js';

export { EMERGENCY_REASONS } from '../../consent/emergency.js';
export { SEARCH_TYPE_NAMES } from '../../fhir/search-parameters.js';
export { parseTypeSearch } from '../../fhir/type-search.js';
export type { GrantRecord, PatientQuery, PatientRef, Warning };

export interface StaffDeps {
  guard: ConsentGuard;
  emergency: EmergencyAccess;
  audit: AuditLog;
  software: { name: string; version: string };
  /** The API's FHIR base (links inside Bundles the operations build). */
  fhirBaseUrl: string;
}

/** Short labels of the kinds of source (the record-source tag codes on each entry). */
export const SOURCE_LABELS: Record<string, string> = { gp: 'GP', hospital: 'Hospital', 'social-care': 'Social care', consent: 'Consent' };

/** The operations for one page request, as the signed-in person. */
export function operationsFor(deps: StaffDeps, res: Response, operation: string) {
  const principal = principalOf(res);
  const requestId = res.locals.requestId as string;
  const repo: GuardedRepository = deps.guard.forRequest(principal, requestId, operation);
  const signal = abortOnClose(res);
  const caller = { principal, requestId, operation };

  /** The patient by integrated id, with the sources it is linked to (404 page when unknown). */
  const resolve = async (id: string): Promise<PatientRef & { sources: string[] }> => {
    const ref = await repo.resolvePatient(id);
    if (!ref) throw notFound('This patient is not known to the service. Find them again.');
    const links = (ref as { links?: { source: string }[] }).links ?? [];
    return { ...ref, sources: [...new Set(links.map((l) => l.source))] };
  };

  return {
    principal,
    resolve,
    /** Each source's display name by registry id: pages name a source by it, never by its id. */
    sourceNames: () => repo.sourceNames(),
    findPatients: (query: PatientQuery) => repo.findPatients(query, signal),
    /** The IPS $summary, exactly as GET /fhir/Patient/{id}/$summary builds it. */
    summary: (ref: PatientRef): Promise<{ bundle: Bundle; warnings: Warning[] }> =>
      patientSummary({ repo, signal }, ref, {
        sourceTagSystem: SOURCE_TAG_SYSTEM,
        sourceNames: repo.sourceNames(),
        sourceLabels: SOURCE_LABELS,
        software: deps.software,
        isSafeguarding: (r) => hasCategory(r, 'safeguarding'),
      }),
    /** Part of the integrated record ($everything, narrowed to `types`), decided and audited by the guard. */
    record: (ref: PatientRef, filter?: RecordFilter) => repo.everything(ref, signal, filter),
    /** Type-level search exactly as GET /fhir/{type}?patient= runs it (filters, sort, paging), decided and audited by the guard. */
    search: (ref: PatientRef, query: TypeSearch): Promise<Bundle> => searchType({ repo, baseUrl: deps.fhirBaseUrl, signal }, ref, query),
    /** Break glass: the same operation as the API's POST /emergency-access (role check, grant, audit). */
    breakGlass: (ref: PatientRef, reason: string, note: string): Promise<GrantRecord> => requestEmergencyAccess(deps, caller, ref.id, reason, note),
    activeGrant: (ref: PatientRef) => deps.emergency.active(principal.sub, ref.id),
    openAlerts: () => openEmergencyAlerts(deps, caller),
    /** A privacy officer's review: the same operation as the API's POST /review/alerts/{id}. */
    review: (id: string, outcome: string, note: string): Promise<GrantRecord> => reviewEmergencyAccess(deps, caller, id, outcome, note),
    auditSearch: (filter: AuditSearch) => searchAuditTrail(deps, caller, filter),
    verifyAudit: () => verifyAuditTrail(deps, caller),
    patientIdForNhsNumber: (nhs: string) => repo.patientIdForNhsNumber(nhs),
  };
}

export type Operations = ReturnType<typeof operationsFor>;

function abortOnClose(res: Response): AbortSignal {
  const controller = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) controller.abort();
  });
  return controller.signal;
}
