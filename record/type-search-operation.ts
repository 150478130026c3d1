import { randomUUID } from 'node:crypto';
import type { Bundle, OperationOutcome, Resource } from 'fhir/r4.js';
import { searchset } from '../fhir/bundle.js';
import { ERROR_CODE_SYSTEM, badRequest } from '../fhir/outcomes.js';
import { reportIncomplete, type OperationContext } from './patient-operations.js';
import type { PatientRef } from '../adapters/record-repository.js';
import { searchDef, type TypeSearchDef } from '../fhir/search-parameters.js';
import { subsetResource, type Subset } from '../fhir/subset.js';
import { includeReferences, matchesAll, sortResources } from '../fhir/type-filter.js';
import { countRequestedBy, searchLink, type TypeSearch } from '../fhir/type-search.js';

/**
 * Type-level search over the integrated record (http://hl7.org/fhir/R4/http.html#search): the consent-
 * guarded repository returns the merged, consent-filtered candidates; here every filter is applied,
 * then sort, page (`_count`/`_offset`, links carrying only the integrated patient id), `_include`,
 * `_summary`/`_elements`. Pages stay full because consent filtering happened before paging.
 */
export async function searchType(ctx: OperationContext, ref: PatientRef, q: TypeSearch): Promise<Bundle> {
  const def = searchDef(q.type)!;
  const result = await ctx.repo.search(ref, q, ctx.signal);
  reportIncomplete(ctx, result.warnings);
  const countParam = countRequestedBy(q);
  if (result.consentFiltered && countParam) {
    throw badRequest('count-not-available', 'A count cannot be given for this record: a consent restriction applies, and a count could reveal what was withheld.', [countParam]);
  }
  const all = sortResources(result.resources.filter((r) => matchesAll(r, def, q.filters)), def, q.sort);
  // Never a total for an incomplete result (consent-filtered, or a source missing or cut short).
  const total = result.consentFiltered || q.total === 'none' || result.warnings.length > 0 ? undefined : all.length;
  const outcomes = q.ignored.length > 0 ? [ignoredOutcome(def, q.ignored)] : [];
  const self = searchLink(ctx.baseUrl, q, q.offset);
  if (q.summary === 'count') {
    return searchset([], { baseUrl: ctx.baseUrl, links: { self }, ...(result.warnings.length > 0 ? {} : { total: all.length }), warnings: result.warnings, outcomes });
  }
  const page = all.slice(q.offset, q.offset + q.count);
  const included = includesOf(def, q, page, result.resources);
  const subset: Subset | undefined = q.elements ? { elements: q.elements } : q.summary ? { summary: q.summary } : undefined;
  const shape = (r: Resource) => (subset ? subsetResource(r, subset) : r);
  return searchset(page.map(shape), {
    baseUrl: ctx.baseUrl,
    ...(total === undefined ? {} : { total }),
    warnings: result.warnings,
    included: included.map(shape),
    outcomes,
    links: {
      self,
      ...(q.offset + q.count < all.length ? { next: searchLink(ctx.baseUrl, q, q.offset + q.count) } : {}),
      ...(q.offset > 0 ? { previous: searchLink(ctx.baseUrl, q, Math.max(0, q.offset - q.count)) } : {}),
    },
  });
}

/** The resources the page's matches reference through the asked-for `_include`s (each once, never a match again). */
function includesOf(def: TypeSearchDef, q: TypeSearch, page: Resource[], candidates: Resource[]): Resource[] {
  if (q.include.length === 0) return [];
  const byKey = new Map(candidates.map((r) => [`${r.resourceType}/${r.id}`, r]));
  const onPage = new Set(page.map((r) => `${r.resourceType}/${r.id}`));
  const out = new Map<string, Resource>();
  for (const value of q.include) {
    const [, name, target] = value.split(':');
    const inc = def.includes.find((i) => i.name === name)!;
    const restricted = target ? { ...inc, targets: [target] } : inc;
    for (const r of page) {
      for (const key of includeReferences(r, restricted)) {
        const found = byKey.get(key);
        if (found && !onPage.has(key)) out.set(key, found);
      }
    }
  }
  return [...out.values()];
}

/** Lenient handling: what was ignored, by parameter name only (values may identify a patient). */
function ignoredOutcome(def: TypeSearchDef, names: string[]): OperationOutcome {
  return {
    resourceType: 'OperationOutcome',
    id: randomUUID(),
    issue: names.map((name) => {
      const text = `Search parameter '${name}' is not supported for ${def.type} and was ignored; send 'Prefer: handling=strict' to have it rejected.`;
      return {
        severity: 'warning' as const,
        code: 'not-supported' as const,
        details: { coding: [{ system: ERROR_CODE_SYSTEM, code: 'ignored-parameter' }], text },
        diagnostics: text,
        ...(name.startsWith('(') ? {} : { expression: [name.split('=')[0]!] }),
      };
    }),
  };
}
