/**
 * Route rules: which SMART scope access each route needs, keyed by method + OpenAPI path template. The
 * scope model and the checks themselves live in identity/scopes.ts (read its header before adding a route).
 */
import { SUMMARY_SOURCE_TYPES } from '../record/summary.js';
import type { Permission } from '../identity/scopes.js';

export interface ScopeNeed {
  resourceType: string;
  permission: Permission;
}

export type ScopeRule =
  /** Every listed access is required. */
  | { kind: 'require'; needs: ScopeNeed[]; patientData: boolean }
  /** No scope needed (public or aggregate, non-patient data). */
  | { kind: 'none' };

/**
 * Resource types a `$summary` (IPS) Bundle may contain: the Composition, its author Device, and the types
 * the summary is built from (record/summary.ts, one list for both). Read on all of them is required.
 */
export const SUMMARY_TYPES: readonly string[] = ['Composition', 'Device', ...SUMMARY_SOURCE_TYPES];

const FIXED: Record<string, ScopeRule> = {
  'POST /emergency-access': { kind: 'require', needs: [{ resourceType: 'Patient', permission: 'r' }], patientData: true },
  'GET /review/alerts': { kind: 'require', needs: [{ resourceType: 'AuditEvent', permission: 's' }], patientData: false },
  'POST /review/alerts/{id}': { kind: 'require', needs: [{ resourceType: 'AuditEvent', permission: 'u' }], patientData: false },
  'GET /audit': { kind: 'require', needs: [{ resourceType: 'AuditEvent', permission: 's' }], patientData: false },
  'GET /audit/verify': { kind: 'require', needs: [{ resourceType: 'AuditEvent', permission: 'r' }], patientData: false },
  'GET /access-log': { kind: 'require', needs: [{ resourceType: 'AuditEvent', permission: 'r' }], patientData: true },
  'GET /fhir/metadata': { kind: 'none' },
  'GET /.well-known/smart-configuration': { kind: 'none' },
  'GET /fhir/.well-known/smart-configuration': { kind: 'none' },
};

const need = (resourceType: string, permission: Permission): ScopeRule => ({ kind: 'require', needs: [{ resourceType, permission }], patientData: true });
const SUMMARY_RULE: ScopeRule = { kind: 'require', needs: SUMMARY_TYPES.map((t) => ({ resourceType: t, permission: 'r' as const })), patientData: true };

const TYPE = '([A-Z][A-Za-z]+)';
const INSTANCE_OP = new RegExp(`^/fhir/${TYPE}/\\{[a-zA-Z]+\\}/\\$everything$`);
const SUMMARY_OP = /^\/fhir\/Patient\/\{[a-zA-Z]+\}\/\$summary$/;
const TYPE_ROUTE = new RegExp(`^/fhir/${TYPE}$`);
const TYPE_SEARCH_POST = new RegExp(`^/fhir/${TYPE}/_search$`);
const INSTANCE = new RegExp(`^/fhir/${TYPE}/\\{[a-zA-Z]+\\}(/_history(/\\{[a-zA-Z]+\\})?)?$`);

/**
 * The rule for a route (`method`, OpenAPI path template such as `/fhir/Patient/{id}/$everything`), or
 * undefined when there is none. `pathParams` resolves a templated type (`/fhir/{type}`).
 * The caller (scope-guard) refuses `/fhir` routes without a rule; other unlisted routes carry no
 * patient data (aggregate indicators, health checks) and need no scope.
 */
export function scopeRuleFor(method: string, route: string, pathParams: Record<string, string> = {}): ScopeRule | undefined {
  const upper = method.toUpperCase();
  const m = upper === 'HEAD' ? 'GET' : upper;
  const fixed = FIXED[`${m} ${route}`];
  if (fixed) return fixed;
  // A templated type segment, e.g. /fhir/{type} or /fhir/{resourceType}/{id}.
  const concrete = route.replace(/^\/fhir\/\{(type|resourceType)\}/, () => `/fhir/${pathParams.type ?? pathParams.resourceType ?? ''}`);
  let r: RegExpExecArray | null;
  if ((r = INSTANCE_OP.exec(concrete)) && m === 'GET') return need(r[1]!, 'r');
  if (SUMMARY_OP.test(concrete) && m === 'GET') return SUMMARY_RULE;
  if ((r = TYPE_ROUTE.exec(concrete))) {
    if (m === 'GET') return need(r[1]!, 's');
    if (m === 'POST') return need(r[1]!, 'c');
  }
  if ((r = TYPE_SEARCH_POST.exec(concrete)) && m === 'POST') return need(r[1]!, 's');
  if ((r = INSTANCE.exec(concrete))) {
    if (m === 'GET') return need(r[1]!, 'r');
    if (m === 'PUT' || m === 'PATCH') return need(r[1]!, 'u');
    if (m === 'DELETE') return need(r[1]!, 'd');
  }
  return undefined;
}
