/**
 * Enforces SMART scopes (identity/scopes.ts, route rules in server/scope-rules.ts) for every authenticated request, keyed by the OpenAPI route
 * template, before any handler runs; and narrows `$everything` results to the types the token may read.
 * Role and consent checks (consent/guard.ts) still apply afterwards: scopes only ever take access away.
 */
import type { NextFunction, Request, RequestHandler, Response } from 'express';
import type { Resource } from 'fhir/r4.js';
import type { AuditLog } from '../audit/audit-log.js';
import type { AuditInput } from '../audit/types.js';
import type { GuardedRepository } from '../consent/guard.js';
import { OperationOutcomeError, outcome, unauthorized } from '../fhir/outcomes.js';
import type { PatientRef, RecordFilter } from '../adapters/record-repository.js';
import type { Principal } from '../identity/principal.js';
import { InsufficientScope, requireScope, scopeAllows, scopesOf, ScopeSyntaxError } from '../identity/scopes.js';
import { scopeRuleFor, type ScopeNeed } from './scope-rules.js';

interface OpenApiInfo {
  openApiRoute?: string;
  pathParams?: Record<string, string>;
}

/** 403 with an OperationOutcome naming the missing scope, and the RFC 6750 insufficient_scope challenge. */
export function insufficientScopeError(e: InsufficientScope): OperationOutcomeError {
  return new OperationOutcomeError(
    403,
    outcome(403, [{ code: 'forbidden', errorCode: 'insufficient-scope', diagnostics: e.message, expression: [`${e.resourceType}`] }]),
    { 'WWW-Authenticate': `Bearer error="insufficient_scope", scope="${e.needed.join(' ')}"` },
  );
}

/** Throws 401 when the token's scope claim is malformed (a bad token, not a missing permission). */
function parsedOrRefuse(principal: Principal): void {
  try {
    scopesOf(principal);
  } catch (e) {
    if (e instanceof ScopeSyntaxError) throw unauthorized('token-scope', e.message);
    throw e;
  }
}

function auditAction(needs: ScopeNeed[]): AuditInput['action'] {
  const first = needs[0]!;
  if (first.resourceType === 'Consent' && first.permission !== 'r' && first.permission !== 's') return 'consent-change';
  return first.permission === 's' ? 'patient-query' : 'patient-read';
}

/** The integrated patient id a request names, if any (the audit log records only UUIDs). */
function requestedPatient(req: Request, route: string, params: Record<string, string>): string | null {
  if (route.startsWith('/fhir/Patient/{') && params.id) return params.id;
  const q = (req.query as Record<string, unknown>).patient ?? (req.body as Record<string, unknown> | undefined)?.patient;
  return typeof q === 'string' ? q.replace(/^Patient\//, '') : null;
}

export function enforceScopes(deps: { audit: AuditLog }): RequestHandler {
  return async (req: Request, res: Response, next: NextFunction) => {
    const principal = res.locals.principal as Principal | undefined;
    if (!principal) return next(); // public path: no token, no scopes
    parsedOrRefuse(principal);
    const info = (req as Request & { openapi?: OpenApiInfo }).openapi;
    const route = info?.openApiRoute ?? req.path;
    const params = info?.pathParams ?? {};
    const rule = scopeRuleFor(req.method, route, params);
    if (!rule) {
      if (!route.startsWith('/fhir/')) return next(); // no patient data (e.g. aggregate indicators): role checks decide
      throw new OperationOutcomeError(
        403,
        outcome(403, [{ code: 'forbidden', errorCode: 'no-scope-rule', diagnostics: `No SMART scope grants access to ${req.method} ${route}; access is denied by default.` }]),
      );
    }
    if (rule.kind === 'none') return next();
    try {
      for (const n of rule.needs) requireScope(principal, n.resourceType, n.permission);
    } catch (e) {
      if (!(e instanceof InsufficientScope)) throw e;
      if (rule.patientData) {
        await deps.audit.record({
          action: auditAction(rule.needs),
          decision: 'deny',
          principal,
          requestId: res.locals.requestId as string,
          operation: `${req.method} ${route}`,
          patientId: requestedPatient(req, route, params),
          purpose: 'TREAT',
          resourceTypes: [e.resourceType],
          reason: `token scope does not include ${e.resourceType}.${e.permission}`,
        });
      }
      throw insufficientScopeError(e);
    }
    next();
  };
}

/** Warning added to a Bundle when types the token cannot read were left out. */
export function scopeFilteredWarning(types: string[]) {
  return {
    source: 'scope',
    kind: 'scope-filtered',
    message: `Resources of these types were left out because the access token's scopes do not allow reading them: ${types.join(', ')}.`,
  };
}

/** Drops resources whose type the principal may not read; returns the kept ones and the omitted types. */
export function filterReadable<T extends Resource>(principal: Principal, resources: T[]): { kept: T[]; omittedTypes: string[] } {
  const allowed = new Map<string, boolean>();
  const omitted = new Set<string>();
  const kept = resources.filter((r) => {
    let ok = allowed.get(r.resourceType);
    if (ok === undefined) allowed.set(r.resourceType, (ok = scopeAllows(principal, r.resourceType, 'r')));
    if (!ok) omitted.add(r.resourceType);
    return ok;
  });
  return { kept, omittedTypes: [...omitted].sort() };
}

/**
 * The guarded repository narrowed to the token's scopes: `everything` returns only readable types and
 * says which were left out; `search` keeps the searched type and drops other types the token cannot read.
 * Everything else passes through unchanged (the route rule already checked it).
 */
export function scopedRepository(repo: GuardedRepository, principal: Principal): GuardedRepository {
  return {
    ...repo,
    async everything(ref: PatientRef, signal?: AbortSignal, filter?: RecordFilter) {
      const result = await repo.everything(ref, signal, filter);
      const { kept, omittedTypes } = filterReadable(principal, result.resources);
      if (omittedTypes.length === 0) return result;
      return { ...result, resources: kept, warnings: [...result.warnings, scopeFilteredWarning(omittedTypes)] };
    },
    // Type search: the route rule required `s` on the searched type; anything else in the candidates
    // (e.g. `_include` targets such as Medication, Practitioner) needs `r`.
    async search(ref: PatientRef, query: Parameters<GuardedRepository['search']>[1], signal?: AbortSignal) {
      const result = await repo.search(ref, query, signal);
      const others = result.resources.filter((r) => r.resourceType !== query.type);
      const { omittedTypes } = filterReadable(principal, others);
      if (omittedTypes.length === 0) return result;
      const omitted = new Set(omittedTypes);
      return {
        ...result,
        resources: result.resources.filter((r) => !omitted.has(r.resourceType)),
        warnings: [...result.warnings, scopeFilteredWarning(omittedTypes)],
      };
    },
  };
}
