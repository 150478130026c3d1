/**
 * Claims → Principal: the one mapping every way of signing in uses — the bearer API's tokens
 * (server/auth.ts) and the pages' OpenID Connect ID tokens (web/claims.ts) — so a person is the same
 * Principal whichever door they came in by. Rules: `sub` present; the role known; staff carry an ODS
 * organisation code and no NHS number; patients carry a valid NHS number and no organisation is used.
 * Messages name the claim, never its value.
 */
import { ROLES, type Principal, type Role } from './principal.js';

/** Where the claims are, and how an identity service's role values map to ours. */
export interface ClaimNames {
  role: string;
  organisation: string;
  nhsNumber: string;
  /** External role value → our role; absent = the values are our role names. */
  roleValues?: Readonly<Record<string, Role>>;
}

/** The claim names of this service's own bearer tokens (`npm run token`). */
export const TOKEN_CLAIM_NAMES: ClaimNames = { role: 'role', organisation: 'org', nhsNumber: 'nhs_number' };

/** ODS organisation codes: 3–10 upper-case letters/digits (e.g. A81001, RXX, 8HK49). */
export const ODS_CODE = /^[A-Z0-9]{3,10}$/;
const MAX_SUB_LENGTH = 256;

/** Why claims could not become a Principal (safe to show: names a claim, never a value). */
export class ClaimsRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ClaimsRefused';
  }
}

/** True when `v` names one of the service's roles. */
export function isRole(v: unknown): v is Role {
  return typeof v === 'string' && (ROLES as readonly string[]).includes(v);
}

/**
 * The Principal for verified claims, or ClaimsRefused. `isValidNhsNumber` is the modulus-11 check
 * (fhir/nhs-number.ts; passed in because identity/ sits below fhir/).
 */
export function principalFromClaims(claims: Readonly<Record<string, unknown>>, names: ClaimNames, isValidNhsNumber: (s: string) => boolean): Principal {
  const { sub } = claims;
  if (typeof sub !== 'string' || sub === '' || sub.length > MAX_SUB_LENGTH) throw new ClaimsRefused('There is no valid sub claim.');
  const raw = claims[names.role];
  if (raw === undefined) throw new ClaimsRefused(`There is no ${names.role} claim.`);
  const role = names.roleValues && typeof raw === 'string' ? names.roleValues[raw] : raw;
  if (!isRole(role)) throw new ClaimsRefused(`The ${names.role} claim is not a known role (expected one of: ${ROLES.join(', ')}).`);
  if (role === 'patient') {
    const nhs = claims[names.nhsNumber];
    if (nhs === undefined) throw new ClaimsRefused(`A patient must carry an ${names.nhsNumber} claim.`);
    if (typeof nhs !== 'string' || !isValidNhsNumber(nhs)) throw new ClaimsRefused(`The patient's ${names.nhsNumber} claim is not a valid NHS number.`);
    return { sub, role, nhsNumber: nhs.replace(/\s+/g, '') };
  }
  if (claims[names.nhsNumber] !== undefined) throw new ClaimsRefused(`The ${names.nhsNumber} claim is only allowed for patients.`);
  const org = claims[names.organisation];
  if (org === undefined) throw new ClaimsRefused(`Staff must carry an ${names.organisation} claim (ODS organisation code).`);
  if (typeof org !== 'string' || !ODS_CODE.test(org)) throw new ClaimsRefused(`The ${names.organisation} claim is not a valid ODS organisation code.`);
  return { sub, role, organisation: org };
}
