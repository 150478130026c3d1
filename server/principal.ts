/** Who is calling, as established from a verified bearer token. */
export type Role = 'ambulance-crew' | 'clinician' | 'patient' | 'analyst' | 'privacy-officer';
export const ROLES: readonly Role[] = ['ambulance-crew', 'clinician', 'patient', 'analyst', 'privacy-officer'];

export interface Principal {
  /** Token subject (user id). */
  sub: string;
  role: Role;
  /** ODS code of the organisation the user acts for (absent for patients). */
  organisation?: string;
  /** For role patient only: the patient's own NHS number. */
  nhsNumber?: string;
  /** Raw SMART scope string from the token; parsed and enforced by server/scopes.ts (via server/scope-guard.ts). */
  scope?: string;
  /** Token id, for audit. */
  jti?: string;
}
