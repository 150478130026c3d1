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
  /** Raw scope string (SMART scopes come in a later issue). */
  scope?: string;
  /** Token id, for audit. */
  jti?: string;
}
