import type { Bundle, Resource } from 'fhir/r4.js';
import { SourceError } from './transport.js';
import type { SourceId, SourceIssue } from './types.js';

/** Limits on how much of one source's answer is read for one request. */
export interface PagingLimits {
  /** Pages read per call at most (the first included). */
  maxPages: number;
  /** Entries read per call at most, over all pages. */
  maxEntries: number;
}

export const DEFAULT_PAGING: PagingLimits = { maxPages: 100, maxEntries: 50_000 };

export interface PagedRead {
  source: SourceId;
  /** Source display name for messages. */
  displayName: string;
  /** What is being asked (e.g. "record fetch"), for messages; never a URL. */
  name: string;
  /** Origin of the source's base URL: `next` links elsewhere are not followed. */
  origin: string;
  limits: PagingLimits;
  /** Bundle.type values accepted (a search answers `searchset`). */
  bundleTypes: readonly string[];
  /** Resource types expected in the answer; anything else is reported and dropped. Undefined: any type. */
  expectTypes?: ReadonlySet<string>;
  /** `_include`s were asked: entries with search.mode `include` may be of any type. */
  includedAnyType?: boolean;
  /** One GET of a page (through the source's transport: deadline, retry, breaker, auth). */
  get: (url: string) => Promise<unknown>;
}

/** What a paged read produced: the valid resources, and every way the answer fell short. */
export interface PagedResult {
  resources: Resource[];
  issues: SourceIssue[];
}

/**
 * Reads a searchset and every page after it by its `next` links (same origin only), validating each
 * page: a wrong Bundle type on the first page fails the call; malformed entries, entries without a
 * resource and resources of unexpected types are dropped and reported; a later page that fails or is
 * invalid, a `next` link to another origin, a loop, or the page/entry cap ends the read with what
 * arrived so far and an issue saying the record from this source is incomplete.
 */
export async function readAllPages(firstUrl: string, read: PagedRead): Promise<PagedResult> {
  const resources: Resource[] = [];
  const issues: SourceIssue[] = [];
  const dropped = { malformed: 0, wrongType: new Set<string>() };
  const seen = new Set<string>();
  let url: string | undefined = firstUrl;
  let pages = 0;
  while (url) {
    if (pages >= read.limits.maxPages || resources.length >= read.limits.maxEntries) {
      issues.push(truncated(read, pages, resources.length));
      break;
    }
    seen.add(url);
    let bundle: Bundle;
    try {
      bundle = expectBundle(read, await read.get(url));
    } catch (e) {
      if (pages === 0) throw e;
      const kind = e instanceof SourceError ? e.kind : 'error';
      const detail = e instanceof SourceError ? e.message : 'failed';
      issues.push({ kind, message: `${read.displayName}: page ${pages + 1} of the ${read.name} could not be read (${detail}); only the first ${pages} page(s) are shown. Information from it is missing from this response.` });
      break;
    }
    pages++;
    let cut = false;
    for (const e of bundle.entry ?? []) {
      const r = (e as { resource?: unknown } | null)?.resource as Resource | undefined;
      if (!isResource(r)) {
        dropped.malformed++;
        continue;
      }
      const mode = (e as { search?: { mode?: string } }).search?.mode;
      if (r.resourceType === 'OperationOutcome' && mode === 'outcome') continue;
      if (read.expectTypes && !read.expectTypes.has(r.resourceType) && !(read.includedAnyType && mode === 'include')) {
        dropped.wrongType.add(r.resourceType.slice(0, 40));
        continue;
      }
      if (resources.length >= read.limits.maxEntries) {
        cut = true;
        break;
      }
      resources.push(r);
    }
    const next = nextLink(bundle);
    url = undefined;
    if (cut) {
      issues.push(truncated(read, pages, resources.length));
      break;
    }
    if (next !== undefined) {
      const target = safeUrl(next);
      if (!target || target.origin !== read.origin) {
        issues.push({ kind: 'invalid-response', message: `${read.displayName}: the ${read.name} continues on another server or at an unusable address (next link not followed); only the first ${pages} page(s) are shown. Information from it is missing from this response.` });
      } else if (seen.has(target.href)) {
        issues.push({ kind: 'invalid-response', message: `${read.displayName}: the ${read.name} pages loop back on themselves; paging stopped after ${pages} page(s). Information from it may be missing from this response.` });
      } else url = target.href;
    }
  }
  if (dropped.malformed > 0) {
    issues.push({ kind: 'invalid-response', message: `${read.displayName}: ${dropped.malformed} entr${dropped.malformed === 1 ? 'y' : 'ies'} of the ${read.name} had no valid FHIR resource and could not be shown. Information from it is missing from this response.` });
  }
  if (dropped.wrongType.size > 0) {
    issues.push({ kind: 'invalid-response', message: `${read.displayName}: the ${read.name} returned resources of types not asked for (${[...dropped.wrongType].join(', ')}); they were not shown. Information from it may be missing from this response.` });
  }
  return { resources, issues };
}

function truncated(read: PagedRead, pages: number, entries: number): SourceIssue {
  return {
    kind: 'truncated',
    message: `${read.displayName}: the ${read.name} was cut at ${pages} page(s) / ${entries} entries (the configured limit); the record from this source is incomplete. Information from it is missing from this response.`,
  };
}

/** A Bundle of an accepted type with an entry array, or an invalid-response error. */
function expectBundle(read: PagedRead, body: unknown): Bundle {
  const r = body as Partial<Bundle> | null;
  if (!r || typeof r !== 'object' || Array.isArray(r) || r.resourceType !== 'Bundle') {
    const got = r && typeof r === 'object' && typeof r.resourceType === 'string' ? r.resourceType.slice(0, 40) : Array.isArray(body) ? 'an array' : typeof body;
    throw new SourceError(read.source, 'invalid-response', `${read.name}: expected a FHIR Bundle, got ${got}`);
  }
  if (!read.bundleTypes.includes(String(r.type))) {
    throw new SourceError(read.source, 'invalid-response', `${read.name}: expected a Bundle of type ${read.bundleTypes.join(' or ')}, got ${typeof r.type === 'string' ? r.type.slice(0, 40) : 'none'}`);
  }
  if (r.entry !== undefined && !Array.isArray(r.entry)) {
    throw new SourceError(read.source, 'invalid-response', `${read.name}: Bundle.entry is not an array`);
  }
  return r as Bundle;
}

function isResource(r: unknown): r is Resource {
  if (!r || typeof r !== 'object' || Array.isArray(r)) return false;
  const x = r as { resourceType?: unknown; id?: unknown };
  return typeof x.resourceType === 'string' && /^[A-Z][A-Za-z]{1,63}$/.test(x.resourceType) && (x.id === undefined || typeof x.id === 'string');
}

function nextLink(bundle: Bundle): string | undefined {
  if (!Array.isArray(bundle.link)) return undefined;
  const next = bundle.link.find((l) => l && typeof l === 'object' && l.relation === 'next');
  return typeof next?.url === 'string' ? next.url : next ? '' : undefined;
}

function safeUrl(s: string): URL | undefined {
  try {
    return new URL(s);
  } catch {
    return undefined;
  }
}
