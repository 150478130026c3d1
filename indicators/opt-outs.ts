import { isOptedOutOfSecondaryUse } from '../consent/policy.js';
import type { ConsentStore } from '../consent/store.js';
import type { PatientIndex } from '../store/patient-index.js';

/**
 * NHS numbers of the patients who, at `now`, have opted out of secondary use (an active research-scope
 * Consent with a deny provision, or a deny provision for purpose HRESCH / HOPERAT in any consent:
 * consent/policy.ts isOptedOutOfSecondaryUse). Used only to build keyed
 * pseudonyms for a refresh; never stored, logged or returned.
 */
export async function listOptedOutNhsNumbers(consents: ConsentStore, index: PatientIndex, now: Date): Promise<string[]> {
  const byPatient = new Map<string, import('fhir/r4.js').Consent[]>();
  for (const c of await consents.currentSecondaryUseConsents()) {
    byPatient.set(c.patientId, [...(byPatient.get(c.patientId) ?? []), c.resource]);
  }
  const optedOut = [...byPatient].filter(([, list]) => isOptedOutOfSecondaryUse(list, now)).map(([id]) => id);
  const nhs = await index.nhsNumbersOf(optedOut);
  return [...new Set(nhs.values())];
}
