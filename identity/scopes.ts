/**
 * SMART App Launch v2 scopes: a strict parser into a small model, and the one check every route uses.
 *
 * HOW ROUTES MUST USE THIS (read before adding a route):
 *  - You normally do nothing: `enforceScopes` (server/scope-guard.ts) runs after authentication for EVERY
 *    request and looks the route up by its OpenAPI path template in `scopeRuleFor` (server/scope-rules.ts). A `/fhir/...`
 *    route with no rule is refused (403), so a new route cannot be forgotten. Generic rules already cover
 *    type-level search (`GET /fhir/{Type}`, `POST /fhir/{Type}/_search` → `s` on Type), read
 *    (`GET /fhir/{Type}/{id}` → `r` on Type), `$everything` (`r` on Patient; other types are filtered out
 *    of the result, see scopedRepository) and `$summary` (`r` on every type a summary can hold).
 *  - `$everything` and type-search results pass through the scoped repository (`repoFor` in server/app.ts,
 *    server/scope-guard.ts scopedRepository), which drops types the token cannot read (for search: other
 *    than the searched type, e.g. `_include`d Medication) and says so in an OperationOutcome warning.
 *  - If a new handler returns resources of a type the route rule does not name by some other path, drop
 *    those the token cannot read with `scopeAllows(principal, type, 'r')`, or throw with
 *    `requireScope(principal, type, 'r')`.
 *
 * Semantics (deny by default, on top of role and consent, never instead of them):
 *  - `patient/<Type|*>.<cruds>` grants access only to a token that carries a patient identity (role
 *    patient, nhs_number claim); the consent guard then limits it to that patient's own record. Staff
 *    tokens have no patient launch context here, so `patient/` scopes grant them nothing.
 *  - `user/…` grants what the user's role and the patient's consent already allow, for the named types.
 *  - `system/…` is treated like `user/…` (role and consent still apply).
 *  - Permissions must be a non-empty subsequence of `cruds` in that order (`rs`, `cu`, not `sr`).
 *  - SMART v1 `read` → `rs`, `write` → `cud`, `*` → `cruds` (permission-v1).
 *  - Granular scopes with a query (`patient/Observation.rs?category=laboratory`) are understood but
 *    not supported: they grant nothing (so never more than asked for).
 *  - `openid`, `fhirUser`, `profile`, `launch`, `launch/patient`, `launch/encounter`, `offline_access`,
 *    `online_access` are identity/launch scopes for the authorisation server: accepted, grant no data.
 *  - Any other scope token is malformed → the token is refused (401).
 *  - A token with no scope claim at all grants nothing (every data route answers 403).
 */
import type { Principal, Role } from './principal.js';

export type ScopeContext = 'patient' | 'user' | 'system';
export type Permission = 'c' | 'r' | 'u' | 'd' | 's';
export const PERMISSIONS: readonly Permission[] = ['c', 'r', 'u', 'd', 's'];

export interface ResourceScope {
  context: ScopeContext;
  /** A FHIR resource type, or '*'. */
  resourceType: string;
  permissions: ReadonlySet<Permission>;
  /** The scope as written in the token. */
  text: string;
}

export interface ParsedScopes {
  /** Resource scopes that grant access. */
  resources: ResourceScope[];
  /** Scopes understood but granting no data (identity/launch scopes, granular scopes with a query). */
  ignored: string[];
}

export class ScopeSyntaxError extends Error {}

const NON_RESOURCE_SCOPES = new Set([
  'openid', 'fhirUser', 'profile', 'launch', 'launch/patient', 'launch/encounter', 'offline_access', 'online_access',
]);
const RESOURCE_SCOPE = /^(patient|user|system)\/(\*|[A-Z][A-Za-z]{1,63})\.([a-z*]+)(\?.*)?$/;
const V1 = new Map<string, Permission[]>([
  ['read', ['r', 's']],
  ['write', ['c', 'u', 'd']],
  ['*', ['c', 'r', 'u', 'd', 's']],
]);
const MAX_SCOPES = 100;

/** Parses a space-separated scope string strictly; throws ScopeSyntaxError naming the bad scope's position. */
export function parseScopes(scope: string | undefined): ParsedScopes {
  const out: ParsedScopes = { resources: [], ignored: [] };
  if (scope === undefined) return out;
  const parts = scope.split(' ').filter((s) => s !== '');
  if (parts.length > MAX_SCOPES) throw new ScopeSyntaxError(`The scope claim has more than ${MAX_SCOPES} scopes.`);
  parts.forEach((text, i) => {
    if (NON_RESOURCE_SCOPES.has(text)) {
      out.ignored.push(text);
      return;
    }
    const m = RESOURCE_SCOPE.exec(text);
    if (!m) throw new ScopeSyntaxError(`Scope ${i + 1} in the scope claim is not a SMART scope (expected e.g. patient/*.rs).`);
    const [, context, resourceType, perms, query] = m as unknown as [string, ScopeContext, string, string, string | undefined];
    const permissions = V1.get(perms) ?? v2Permissions(perms);
    if (!permissions) {
      throw new ScopeSyntaxError(`Scope ${i + 1} in the scope claim has invalid permissions (use letters from 'cruds' in that order, or read/write).`);
    }
    if (query !== undefined) {
      out.ignored.push(text); // granular (query-restricted) scopes are not supported: grant nothing
      return;
    }
    out.resources.push({ context, resourceType, permissions: new Set(permissions), text });
  });
  return out;
}

/** `rs` → [r, s]; null unless a non-empty, duplicate-free subsequence of c r u d s in that order. */
function v2Permissions(s: string): Permission[] | null {
  let at = 0;
  const out: Permission[] = [];
  for (const ch of s) {
    const idx = PERMISSIONS.indexOf(ch as Permission, at);
    if (idx < 0) return null;
    out.push(ch as Permission);
    at = idx + 1;
  }
  return out.length > 0 ? out : null;
}

/** Whether a scope's context may be used by this principal (see the header comment). */
function contextApplies(context: ScopeContext, principal: Principal): boolean {
  if (context === 'patient') return principal.role === 'patient' && !!principal.nhsNumber;
  return true;
}

// Principals are cached per token by the verifier, so parse once per principal object.
const parsedCache = new WeakMap<Principal, ParsedScopes>();

/** The principal's parsed scopes (throws ScopeSyntaxError when the claim is malformed). */
export function scopesOf(principal: Principal): ParsedScopes {
  let parsed = parsedCache.get(principal);
  if (!parsed) {
    parsed = parseScopes(principal.scope);
    parsedCache.set(principal, parsed);
  }
  return parsed;
}

/** True when some scope of the principal grants `permission` on `resourceType`. Pure apart from the cache. */
export function scopeAllows(principal: Principal, resourceType: string, permission: Permission): boolean {
  return scopesOf(principal).resources.some(
    (s) => (s.resourceType === '*' || s.resourceType === resourceType) && s.permissions.has(permission) && contextApplies(s.context, principal),
  );
}

/** The scopes that would grant the access, in the context this principal can use (for messages). */
export function neededScopes(principal: Principal, resourceType: string, permission: Permission): string[] {
  const contexts: ScopeContext[] = principal.role === 'patient' ? ['patient', 'user'] : ['user', 'system'];
  return contexts.map((c) => `${c}/${resourceType}.${permission}`);
}

const VERB: Record<Permission, string> = { c: 'create', r: 'read', u: 'update', d: 'delete', s: 'search' };

/** Error thrown when a scope is missing; scope-guard turns it into a 403 OperationOutcome. */
export class InsufficientScope extends Error {
  constructor(
    readonly resourceType: string,
    readonly permission: Permission,
    readonly needed: string[],
  ) {
    super(
      `The access token's scopes do not allow you to ${VERB[permission]} ${resourceType}: ` +
        `it needs ${needed.join(' or ')} (or the same with '*' for the type).`,
    );
    this.name = 'InsufficientScope';
  }
}

/** Throws InsufficientScope unless some scope grants `permission` on `resourceType`. */
export function requireScope(principal: Principal, resourceType: string, permission: Permission): void {
  if (!scopeAllows(principal, resourceType, permission)) {
    throw new InsufficientScope(resourceType, permission, neededScopes(principal, resourceType, permission));
  }
}

/** SMART capabilities this server itself implements (scope enforcement), true in every deployment. */
export const SERVER_CAPABILITIES: readonly string[] = ['permission-v1', 'permission-v2', 'permission-patient', 'permission-user'];

/** Default scopes `npm run token` / mintToken put in a token when none are given. */
export function defaultScopes(role: Role | (string & {})): string {
  switch (role) {
    case 'patient':
      return 'patient/*.rs patient/Consent.cu';
    case 'privacy-officer':
      return 'user/*.rs user/AuditEvent.u';
    default:
      return 'user/*.rs';
  }
}
