import type { CapabilityStatement } from 'fhir/r4.js';
import { SourceError } from './transport.js';
import type { SourceId } from './types.js';

/** What a FHIR source declares it can do, as far as the facade's fetching strategy needs it. */
export interface SourceCapabilities {
  /** Patient/$everything is declared (then asked with `_type` when only some types are wanted). */
  everything: boolean;
  /** Per resource type searchable by `patient`: the search parameters and `_include`s declared. */
  search: Map<string, { params: Set<string>; includes: Set<string> }>;
  /** Resource types that can be searched at all (e.g. Organization by `_id`). */
  searchable: Set<string>;
}

/** Reads the parts of a CapabilityStatement the facade uses; an invalid-response error when it is not one. */
export function capabilitiesOf(source: SourceId, body: unknown): SourceCapabilities {
  const cs = body as Partial<CapabilityStatement> | null;
  if (!cs || typeof cs !== 'object' || cs.resourceType !== 'CapabilityStatement') {
    throw new SourceError(source, 'invalid-response', 'metadata: expected a CapabilityStatement');
  }
  const search: SourceCapabilities['search'] = new Map();
  const searchable = new Set<string>();
  let everything = false;
  const isEverything = (o: unknown) => {
    const op = o as { name?: unknown; definition?: unknown } | null;
    return !!op && (op.name === 'everything' || (typeof op.definition === 'string' && op.definition.endsWith('/Patient-everything')));
  };
  for (const rest of Array.isArray(cs.rest) ? cs.rest : []) {
    if (Array.isArray(rest?.operation) && rest.operation.some(isEverything)) everything = true;
    for (const r of Array.isArray(rest?.resource) ? rest.resource : []) {
      if (typeof r?.type !== 'string') continue;
      if (r.type === 'Patient' && Array.isArray(r.operation) && r.operation.some(isEverything)) everything = true;
      const interactions = Array.isArray(r.interaction) ? r.interaction.map((i) => i?.code) : [];
      if (interactions.includes('search-type')) searchable.add(r.type);
      const params = new Set((Array.isArray(r.searchParam) ? r.searchParam : []).map((p) => p?.name).filter((n): n is string => typeof n === 'string'));
      if (!params.has('patient')) continue; // cannot be searched by patient: not asked
      search.set(r.type, { params, includes: new Set((Array.isArray(r.searchInclude) ? r.searchInclude : []).filter((i) => typeof i === 'string')) });
    }
  }
  return { everything, search, searchable };
}

/**
 * A source's capabilities, read from its CapabilityStatement and refreshed every `ttlMs`. A failed or
 * invalid answer never replaces a good one (the last good statement is used until a refresh succeeds)
 * and is not remembered: the next call after `retryMs` asks again.
 */
export class CapabilityCache {
  private current?: { caps: SourceCapabilities; at: number };
  private failedAt = 0;
  private inFlight?: Promise<SourceCapabilities>;

  constructor(
    private readonly fetchStatement: (signal?: AbortSignal) => Promise<unknown>,
    private readonly source: SourceId,
    private readonly ttlMs = 5 * 60_000,
    private readonly retryMs = 5_000,
    private readonly now: () => number = Date.now,
  ) {}

  /** The capabilities (fresh, or the last good ones while a refresh fails); throws when none were ever read. */
  async get(signal?: AbortSignal): Promise<SourceCapabilities> {
    const t = this.now();
    if (this.current && t - this.current.at < this.ttlMs) return this.current.caps;
    if (this.current && t - this.failedAt < this.retryMs) return this.current.caps;
    try {
      return await this.refresh(signal);
    } catch (e) {
      if (this.current) return this.current.caps;
      throw e;
    }
  }

  /** Records a statement read elsewhere (e.g. by the health check). */
  accept(body: unknown): void {
    this.current = { caps: capabilitiesOf(this.source, body), at: this.now() };
  }

  private refresh(signal?: AbortSignal): Promise<SourceCapabilities> {
    this.inFlight ??= this.fetchStatement(signal)
      .then((body) => {
        this.accept(body);
        return this.current!.caps;
      })
      .catch((e: unknown) => {
        this.failedAt = this.now();
        throw e;
      })
      .finally(() => (this.inFlight = undefined));
    return this.inFlight;
  }
}
