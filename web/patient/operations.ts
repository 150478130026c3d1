/**
 * The patient pages' one door to the service's operations: the SAME consent-guarded repository, consent
 * store writes (consent/own-consent.ts, as POST/PUT /fhir/Consent), preview and access log the API
 * uses, with the signed-in patient's Principal. The patient is always the one the Principal's NHS number
 * names: no page takes a patient id from a URL or form.
 */
import type { Response } from 'express';
import type { Consent } from 'fhir/r4.js';
import type { AuditLog } from '../../audit/audit-log.js';
import type { PatientRef } from '../../adapters/record-repository.js';
import type { ConsentGuard, GuardedRepository, PreviewViewer } from '../../consent/guard.js';
import { saveOwnConsent } from '../../consent/own-consent.js';
import { ownAccessLog, verifyTrailForPatient } from '../../consent/oversight.js';
import type { ConsentStore, StoredConsent } from '../../consent/store.js';
import { validateConsent } from '../../consent/validate.js';
import type { EmergencyAccess } from '../../consent/emergency.js';
import { forbidden, notFound } from '../../fhir/outcomes.js';
import { principalOf } from '../page-kit.js';

export interface PatientDeps {
  guard: ConsentGuard;
  consents: ConsentStore;
  emergency: EmergencyAccess;
  audit: AuditLog;
  /**
   * The organisations behind the configured sources that a patient can name in a choice: every trust and
   * council of the source registry (a GP system's practices are many: the pages offer the patient's own).
   */
  organisations: readonly OrganisationChoice[];
}

/** An organisation of the source registry, as the choices offer it. */
export interface OrganisationChoice {
  ods: string;
  type: 'trust' | 'council';
  /** Its name in the registry, when given. */
  name?: string;
}

/** The operations for one page request, as the signed-in patient. */
export function patientOperationsFor(deps: PatientDeps, res: Response, operation: string) {
  const principal = principalOf(res);
  if (principal.role !== 'patient' || !principal.nhsNumber) throw forbidden('role-not-permitted', 'Only a patient may use this page.');
  const requestId = res.locals.requestId as string;
  const repo: GuardedRepository = deps.guard.forRequest(principal, requestId, operation);
  const caller = { principal, requestId, operation };
  const controller = new AbortController();
  res.once('close', () => {
    if (!res.writableFinished) controller.abort();
  });
  const signal = controller.signal;

  /** The signed-in patient's own record reference (404 page when the index does not know them). */
  const self = async (): Promise<PatientRef & { registeredPractice?: string }> => {
    // Known to the index already, or found now by the patient's own NHS number (the guard permits only that).
    const id = (await repo.patientIdForNhsNumber(principal.nhsNumber!)) ?? (await repo.findPatients({ kind: 'nhs-number', nhsNumber: principal.nhsNumber! }, signal)).patients[0]?.id;
    const ref = id ? await repo.resolvePatient(id) : undefined;
    if (!ref || ref.nhsNumber !== principal.nhsNumber) throw notFound('Your record is not known to this service yet.');
    return ref;
  };
  const ownDeps = {
    consents: deps.consents,
    audit: deps.audit,
    nhsNumberOf: async (id: string) => (await repo.resolvePatient(id))?.nhsNumber,
  };

  const readAudited = (ref: PatientRef) =>
    deps.audit.record({ action: 'consent-read', decision: 'permit', principal, requestId, patientId: ref.id, purpose: 'TREAT', operation, resourceTypes: ['Consent'] });

  return {
    principal,
    self,
    /** Each source's display name by registry id: notices name a source by it, never by its id. */
    sourceNames: () => repo.sourceNames(),
    /** The whole record, decided and audited by the guard (the patient reads their own). */
    record: (ref: PatientRef) => repo.everything(ref, signal),
    /** The record as a kind of staff would see it now (same policy; audited as the patient's own read). */
    preview: (ref: PatientRef, viewer: PreviewViewer) => repo.preview(ref, viewer, signal),
    /** The patient's consents (current versions), audited as a consent read like GET /fhir/Consent. */
    consents: async (ref: PatientRef): Promise<StoredConsent[]> => {
      await readAudited(ref);
      return deps.consents.forPatient(ref.id);
    },
    /** Every version of one of the patient's own consents (another patient's: none). */
    history: async (ref: PatientRef, id: string): Promise<StoredConsent[]> => {
      const versions = await deps.consents.history(id);
      return versions.filter((v) => v.patientId === ref.id);
    },
    /** Validates and stores, exactly as POST / PUT /fhir/Consent. */
    save: (ref: PatientRef, consent: Consent, update?: { id: string; version: number }) =>
      saveOwnConsent(ownDeps, caller, validateConsent(consent, { patientIdExpected: ref.id }), ref.id, update),
    accessLog: () => ownAccessLog({ ...deps, patientIdForNhsNumber: (nhs) => repo.patientIdForNhsNumber(nhs) }, caller),
    verifyTrail: () => verifyTrailForPatient(deps, caller),
  };
}

export type PatientOperations = ReturnType<typeof patientOperationsFor>;
