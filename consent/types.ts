import type { Principal } from '../identity/principal.js';

/**
 * Shared vocabulary of the consent module. How a patient's wishes are written as FHIR R4 Consent
 * (the README's "Consent" section is the user-facing version of this):
 *
 *  - Consent.scope: `patient-privacy` (sharing for direct care) or `research` (secondary use), system
 *    http://terminology.hl7.org/CodeSystem/consentscope. Consent.patient = Patient/<integrated id>.
 *  - Consent.status `active` is enforced; `inactive` (withdrawn), `rejected`, `entered-in-error`,
 *    `draft`, `proposed` are not.
 *  - provision.type `deny` nested under a base `permit` provision expresses each wish:
 *      * data from a source:   provision.actor { role CST (v3-ParticipationType custodian),
 *                              reference.identifier { system SOURCE_SYSTEM, value gp|hospital|social-care } }
 *      * to a role:            actor { role IRCP (information recipient), reference.identifier { system ROLE_SYSTEM, value <role> } }
 *      * to an organisation:   actor { role IRCP, reference.identifier { system ODS_SYSTEM, value <ODS code> } }
 *      * a sensitive category: provision.securityLabel (v3-ActCode PSY | SEX | SDV …, see sensitivity.ts);
 *                              the recording organisation still sees its own entries
 *      * time-limited:         provision.period
 *      * even in an emergency: provision.purpose contains ETREAT or BTG (v3-ActReason); without it a
 *                              valid emergency session overrides the deny
 *  - Opting out of secondary use: scope `research` with provision.type `deny` (or a deny provision whose
 *    purpose is HRESCH/HOPERAT).
 *  - R4 requires Consent.policy or Consent.policyRule (invariant ppc-1): write
 *    `policy: [{ uri: CONSENT_POLICY_URI }]`. policyRule is accepted but does not change what is enforced.
 */
export const CONSENT_SCOPE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/consentscope';
export const PARTICIPATION_SYSTEM = 'http://terminology.hl7.org/CodeSystem/v3-ParticipationType';
export { ACT_REASON_SYSTEM, type PurposeOfUse } from '../fhir/purpose-of-use.js';
export const ACT_CODE_SYSTEM = 'http://terminology.hl7.org/CodeSystem/v3-ActCode';
export { SOURCE_TAG_SYSTEM as SOURCE_SYSTEM } from '../adapters/merge.js';
export { ROLE_SYSTEM } from '../identity/principal.js';
export { ODS_SYSTEM } from '../fhir/nhs-number.js';
/** Consent.policy[].uri for consents in this vocabulary (implied consent for direct care; wishes as deny provisions). */
export const CONSENT_POLICY_URI = 'https://integrated-record.example.nhs.uk/policy/shared-record-consent';

import type { PurposeOfUse } from '../fhir/purpose-of-use.js';

/** A time-limited emergency-access grant bound to one user and one patient. */
export interface EmergencyGrant {
  id: string;
  sub: string;
  patientId: string;
  reason: string;
  expiresAt: Date;
}

/** Everything a decision depends on, gathered once per request. */
export interface AccessContext {
  principal: Principal;
  patientId: string;
  /** The patient's NHS number, to recognise the patient themself. */
  patientNhsNumber: string | null;
  purpose: PurposeOfUse;
  now: Date;
  /** The token's organisation is the registered GP practice, or a provider holding a record for the patient. */
  legitimateRelationship: boolean;
  /** A valid (unexpired, same user, same patient) emergency grant, if any. */
  emergency?: EmergencyGrant;
}

export type Decision =
  | { permit: true; basis: 'self' | 'relationship' | 'emergency' }
  | { permit: false; code: string; reason: string };
