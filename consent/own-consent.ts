/**
 * A patient recording or changing their own Consent: one operation for the API (server/consent-routes.ts)
 * and the patient pages (web/patient/). Only the patient themself writes (deny by default, the denial
 * audited); updates name the version they replace (a stale version is a 412, audited); every change
 * is audited as `consent-change`.
 */
import type { Consent } from 'fhir/r4.js';
import type { AuditLog } from '../audit/audit-log.js';
import { forbidden, OperationOutcomeError } from '../fhir/outcomes.js';
import type { Caller } from './oversight.js';
import type { ConsentStore, StoredConsent } from './store.js';

export interface OwnConsentDeps {
  consents: ConsentStore;
  audit: AuditLog;
  /** The patient's NHS number by integrated id (the index; undefined when unknown). */
  nhsNumberOf(patientId: string): Promise<string | null | undefined>;
}

/** Throws 403 (audited) unless the caller is the patient `patientId` themself. */
export async function assertOwnConsent(deps: OwnConsentDeps, c: Caller, patientId: string): Promise<void> {
  const nhs = await deps.nhsNumberOf(patientId);
  if (c.principal.role !== 'patient' || !nhs || nhs !== c.principal.nhsNumber) {
    await deps.audit.record({ action: 'consent-change', decision: 'deny', principal: c.principal, requestId: c.requestId, patientId: nhs ? patientId : null, purpose: 'TREAT', operation: c.operation, reason: 'only the patient may record or change their consent' });
    throw forbidden('not-own-consent', 'Only the patient may record or change their own consent.');
  }
}

/**
 * Stores a validated Consent for `patientId`: a new one, or (with `update`) a new version of an existing
 * one replacing exactly `update.version`. The caller validated it (consent/validate.ts).
 */
export async function saveOwnConsent(
  deps: OwnConsentDeps,
  c: Caller,
  consent: Consent,
  patientId: string,
  update?: { id: string; version: number },
): Promise<StoredConsent> {
  if (update) {
    const existing = await deps.consents.read(update.id);
    await assertOwnConsent(deps, c, existing?.patientId ?? patientId);
  }
  await assertOwnConsent(deps, c, patientId);
  const event = { principal: c.principal, requestId: c.requestId, patientId, purpose: 'TREAT' as const, operation: c.operation };
  // The consent and its audit event commit together or not at all (503, nothing stored).
  const stored = await deps.audit
    .change(async (q) => ({
      result: update
        ? await deps.consents.update(update.id, update.version, consent, patientId, c.principal.sub, q)
        : await deps.consents.create(consent, patientId, c.principal.sub, q),
      events: [{ ...event, action: 'consent-change' as const, decision: 'permit' as const, resourceTypes: ['Consent'] }],
    }))
    .catch(async (e) => {
      if (update && e instanceof OperationOutcomeError && e.status === 412) await deps.audit.record({ ...event, action: 'consent-change', decision: 'deny', reason: 'version conflict (412)' });
      throw e;
    })
    .finally(() => deps.consents.invalidate(patientId));
  return stored;
}
