import type { Consent, ConsentProvision } from 'fhir/r4.js';
import { CONSENT_POLICY_URI, CONSENT_SCOPE_SYSTEM } from '../../consent/types.js';

/** An active patient-privacy Consent for `patientId` whose base permit holds the given provisions. */
export function consentWith(patientId: string, provisions: ConsentProvision[]): Consent {
  return {
    resourceType: 'Consent',
    status: 'active',
    scope: { coding: [{ system: CONSENT_SCOPE_SYSTEM, code: 'patient-privacy' }] },
    category: [{ coding: [{ system: 'http://loinc.org', code: '59284-0' }] }],
    patient: { reference: `Patient/${patientId}` },
    dateTime: '2026-11-01T10:00:00Z',
    policy: [{ uri: CONSENT_POLICY_URI }],
    provision: { type: 'permit', provision: provisions },
  };
}
