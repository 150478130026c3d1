/** Who is calling, as established from a verified bearer token. */
export type Role = 'ambulance-crew' | 'clinician' | 'patient' | 'analyst' | 'privacy-officer';
/** Code system of the roles above, as recorded in Consent provisions and AuditEvents. */
export const ROLE_SYSTEM = 'https://integrated-record.example.nhs.uk/CodeSystem/user-role';
export const ROLES: readonly Role[] = ['ambulance-crew', 'clinician', 'patient', 'analyst', 'privacy-officer'];

export interface Principal {
  /** Token subject (user id). */
  sub: string;
  role: Role;
  /** ODS code of the organisation the user acts for (absent for patients). */
  organisation?: string;
  /** For role patient only: the patient's own NHS number. */
  nhsNumber?: string;
  /** Raw SMART scope string from the token; parsed by identity/scopes.ts, enforced by server/scope-guard.ts. */
  scope?: string;
  /** Token id, for audit. */
  jti?: string;
}
