/**
 * Maps the claims of a verified ID token to the Principal the whole service uses — the same shape and
 * the same rules as a bearer token's claims (role known; staff carry an ODS organisation code and no NHS
 * number; patients carry a valid NHS number and no organisation). Claim names and role values come from
 * configuration (web/config.ts ClaimMapping), as an external identity service names them its own way.
 */
import { isValidNhsNumber } from '../fhir/nhs-number.js';
import type { ClaimMapping } from './config.js';
import { isValidRole, type Principal } from './principal-types.js';

const ODS_CODE = /^[A-Z0-9]{3,10}$/;

/** Why the claims could not become a Principal (shown to the person signing in; never echoes a value). */
export class ClaimsRefused extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ClaimsRefused';
  }
}

/** The Principal for a signed-in person, or ClaimsRefused naming the claim that is missing or invalid. */
export function principalFromClaims(claims: Record<string, unknown>, map: ClaimMapping): Principal {
  const sub = claims.sub;
  if (typeof sub !== 'string' || sub === '' || sub.length > 256) throw new ClaimsRefused('The identity provider sent no valid subject (sub).');
  const raw = claims[map.role];
  const role = map.roleValues && typeof raw === 'string' ? map.roleValues[raw] : raw;
  if (!isValidRole(role)) throw new ClaimsRefused(`The identity provider sent no role this service knows (claim ${map.role}).`);
  if (role === 'patient') {
    const nhs = claims[map.nhsNumber];
    if (typeof nhs !== 'string' || !isValidNhsNumber(nhs)) throw new ClaimsRefused(`A patient sign-in needs a valid NHS number (claim ${map.nhsNumber}).`);
    return { sub, role, nhsNumber: nhs.replace(/\s+/g, '') };
  }
  if (claims[map.nhsNumber] !== undefined) throw new ClaimsRefused('A staff sign-in must not carry an NHS number.');
  const org = claims[map.organisation];
  if (typeof org !== 'string' || !ODS_CODE.test(org)) throw new ClaimsRefused(`A staff sign-in needs an ODS organisation code (claim ${map.organisation}).`);
  return { sub, role, organisation: org };
}
