/** The one Principal the bearer API uses (identity/principal.ts once the restructure lands). */
import { ROLES, type Principal, type Role } from '../server/principal.js';

export { ROLES, type Principal, type Role };

/** True when `v` names one of the service's roles. */
export function isValidRole(v: unknown): v is Role {
  return typeof v === 'string' && (ROLES as readonly string[]).includes(v);
}
