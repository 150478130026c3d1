import { randomUUID } from 'node:crypto';
import type { Bundle, BundleEntry, BundleLink, OperationOutcome, Resource } from 'fhir/r4.js';
import { ERROR_CODE_SYSTEM } from './outcomes.js';

/** A warning to surface in a response: which source, what kind of problem, a message without patient data. */
export interface Warning {
  source: string;
  kind: string;
  message: string;
}

/** An OperationOutcome entry (search.mode = outcome) telling the reader what is missing and why. */
export function warningOutcome(warnings: Warning[]): OperationOutcome {
  return {
    resourceType: 'OperationOutcome',
    id: randomUUID(),
    issue: warnings.map((w) => ({
      severity: 'warning',
      code: w.kind === 'ambiguous-match' ? 'multiple-matches' : w.kind === 'timeout' ? 'timeout' : 'incomplete',
      details: { coding: [{ system: ERROR_CODE_SYSTEM, code: `source-${w.kind}` }], text: w.message },
      diagnostics: w.message,
    })),
  };
}

export interface SearchsetOptions {
  baseUrl: string;
  links: { self: string; next?: string; previous?: string };
  total?: number;
  warnings?: Warning[];
  /** Resources added by `_include` (search.mode = include). */
  included?: Resource[];
  /** Further OperationOutcome entries (search.mode = outcome), e.g. parameters that were ignored. */
  outcomes?: OperationOutcome[];
}

export function searchset(resources: Resource[], opts: SearchsetOptions): Bundle {
  const entry: BundleEntry[] = resources.map((r) => ({
    fullUrl: `${opts.baseUrl}/${r.resourceType}/${r.id}`,
    resource: r,
    search: { mode: 'match' },
  }));
  for (const r of opts.included ?? []) entry.push({ fullUrl: `${opts.baseUrl}/${r.resourceType}/${r.id}`, resource: r, search: { mode: 'include' } });
  for (const oo of opts.outcomes ?? []) entry.push({ fullUrl: `urn:uuid:${oo.id}`, resource: oo, search: { mode: 'outcome' } });
  if (opts.warnings && opts.warnings.length > 0) {
    const oo = warningOutcome(opts.warnings);
    entry.push({ fullUrl: `urn:uuid:${oo.id}`, resource: oo, search: { mode: 'outcome' } });
  }
  const link: BundleLink[] = [{ relation: 'self', url: opts.links.self }];
  if (opts.links.next) link.push({ relation: 'next', url: opts.links.next });
  if (opts.links.previous) link.push({ relation: 'previous', url: opts.links.previous });
  return {
    resourceType: 'Bundle',
    id: randomUUID(),
    meta: { lastUpdated: new Date().toISOString() },
    type: 'searchset',
    ...(opts.total === undefined ? {} : { total: opts.total }),
    link,
    entry,
  };
}
