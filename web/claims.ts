/**
 * The pages' sign-in: a verified ID token's claims become the service's Principal through the SAME
 * mapping as a bearer token's (identity/claims.ts), with the claim names and role values of the
 * configured identity service (web/config.ts).
 */
import { isValidNhsNumber } from '../fhir/nhs-number.js';
import { ClaimsRefused, principalFromClaims as mapClaims, type ClaimNames } from '../identity/claims.js';
import type { Principal } from '../identity/principal.js';

export { ClaimsRefused };

/** The Principal for a signed-in person, or ClaimsRefused naming the claim that is missing or invalid. */
export function principalFromClaims(claims: Record<string, unknown>, names: ClaimNames): Principal {
  return mapClaims(claims, names, isValidNhsNumber);
}
