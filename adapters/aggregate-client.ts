import type { Criterion, IndicatorSource, IndicatorSpec, Population, ReportingPeriod } from './aggregate-query.js';
import type {
  CountRow,
  CountsResponse,
  CriterionPseudonymsResponse,
  PopulationPseudonymsResponse,
  PrepareKeyResponse,
  PseudonymGroup,
  SessionResponse,
  VersionResponse,
} from './aggregate-api.js';
import { SourceError, type Transport } from './transport.js';

/**
 * The service's client for a source's aggregate query API (wire types and semantics: aggregate-api.ts).
 * All I/O goes through the source's Transport (deadline per call, bounded retry, circuit breaker); the
 * aggregate calls get their own, more generous deadline (config AGGREGATE_DEADLINE_MS, default 30 s).
 * Every call is read-only at the source, so all are retried. Failures are SourceErrors whose messages
 * never carry request bodies (which hold keyed pseudonyms).
 */
export interface AggregateClient {
  /** The kind of source (what an indicator definition names). */
  readonly source: IndicatorSource;
  /** The source's registry id (the kind itself in the three-variable form). */
  readonly id: string;
  /** How a missing source is named in a snapshot: the registry display name (the kind in the three-variable form). */
  readonly name: string;
  version(signal?: AbortSignal): Promise<VersionResponse>;
  /** Asks the source to key its people under `key` ahead of the sessions that will use it (aggregate-api.ts). */
  prepareKey(key: Uint8Array, signal?: AbortSignal): Promise<PrepareKeyResponse>;
  openSession(key: Uint8Array, optedOut: string[], signal?: AbortSignal): Promise<SessionResponse>;
  /** Ends a session early (the source drops its exclusions); sessions also expire on their own. */
  closeSession(session: string, signal?: AbortSignal): Promise<void>;
  counts(req: { session: string; period: ReportingPeriod; windowMonths: number; spec: IndicatorSpec }, signal?: AbortSignal): Promise<CountsResponse>;
  populationPseudonyms(
    req: { session: string; period: ReportingPeriod; windowMonths: number; population: Population; criteria: Criterion[] },
    signal?: AbortSignal,
  ): Promise<PopulationPseudonymsResponse>;
  criterionPseudonyms(req: { session: string; period: ReportingPeriod; windowMonths: number; criteria: Criterion[] }, signal?: AbortSignal): Promise<CriterionPseudonymsResponse>;
}

export interface AggregateClientOptions {
  source: IndicatorSource;
  /** Registry id and display name (default: the kind, as in the three-variable form). */
  id?: string;
  name?: string;
  /** The source's server root; the API is under /aggregate/v1. */
  baseUrl: string;
  transport: Transport;
  deadlineMs: number;
}

const isObject = (v: unknown): v is Record<string, unknown> => v !== null && typeof v === 'object' && !Array.isArray(v);
const isStrings = (v: unknown): v is string[] => Array.isArray(v) && v.every((x) => typeof x === 'string');
const isCountRow = (r: unknown): r is CountRow =>
  isObject(r) && typeof r.org === 'string' && typeof r.numerator === 'number' && typeof r.denominator === 'number' &&
  (r.ageBand === null || typeof r.ageBand === 'string') && (r.sex === null || typeof r.sex === 'string');
const isGroup = (g: unknown): g is PseudonymGroup =>
  isObject(g) && typeof g.org === 'string' && typeof g.ageBand === 'string' && typeof g.sex === 'string' && typeof g.denominator === 'number' && isStrings(g.matching);

/** The aggregate API's root for a configured source URL: a FHIR base's trailing /fhir is dropped. */
export const aggregateRootOf = (sourceUrl: string): string => sourceUrl.replace(/\/+$/, '').replace(/\/fhir$/, '');

export function createAggregateClient(opts: AggregateClientOptions): AggregateClient {
  const root = `${opts.baseUrl.replace(/\/+$/, '')}/aggregate/v1`;
  const { transport, source } = opts;
  const invalid = (name: string, what: string) => new SourceError(source, 'invalid-response', `${name}: ${what}`);

  const call = <T>(name: string, path: string, body: unknown | undefined, check: (v: unknown) => v is T, signal?: AbortSignal): Promise<T> =>
    transport.call(
      name,
      async (s) => {
        const res = await fetch(`${root}${path}`, {
          method: body === undefined ? 'GET' : 'POST',
          signal: s,
          headers: { accept: 'application/json', ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
          ...(body === undefined ? {} : { body: JSON.stringify(body) }),
        });
        if (!res.ok) {
          await res.body?.cancel().catch(() => undefined);
          throw Object.assign(new Error('http'), { status: res.status });
        }
        if (!(res.headers.get('content-type') ?? '').includes('application/json')) {
          await res.body?.cancel().catch(() => undefined);
          throw invalid(name, 'response is not JSON');
        }
        const parsed = JSON.parse(await res.text()) as unknown;
        if (!check(parsed)) throw invalid(name, 'response has the wrong shape');
        return parsed;
      },
      { idempotent: true, deadlineMs: opts.deadlineMs, ...(signal ? { signal } : {}) },
    );

  return {
    source,
    id: opts.id ?? source,
    name: opts.name ?? source,
    version: (signal) =>
      call('aggregate version', '/version', undefined, (v): v is VersionResponse => isObject(v) && typeof v.version === 'string' && typeof v.builtAt === 'string', signal),
    prepareKey: (key, signal) =>
      call(
        'aggregate key',
        '/keys',
        { key: Buffer.from(key).toString('base64url') },
        (v): v is PrepareKeyResponse => isObject(v) && typeof v.people === 'number' && typeof v.keyed === 'boolean' && typeof v.version === 'string',
        signal,
      ),
    openSession: (key, optedOut, signal) =>
      call(
        'aggregate session',
        '/sessions',
        { key: Buffer.from(key).toString('base64url'), optedOut },
        (v): v is SessionResponse => isObject(v) && typeof v.session === 'string' && typeof v.version === 'string',
        signal,
      ),
    closeSession: (session, signal) =>
      transport.call(
        'aggregate session end',
        async (s) => {
          const res = await fetch(`${root}/sessions/${encodeURIComponent(session)}`, { method: 'DELETE', signal: s });
          await res.body?.cancel().catch(() => undefined);
          if (!res.ok) throw Object.assign(new Error('http'), { status: res.status });
        },
        { idempotent: true, deadlineMs: opts.deadlineMs, ...(signal ? { signal } : {}) },
      ),
    counts: (req, signal) =>
      call('aggregate counts', '/counts', req, (v): v is CountsResponse => isObject(v) && typeof v.version === 'string' && Array.isArray(v.rows) && v.rows.every(isCountRow), signal),
    populationPseudonyms: (req, signal) =>
      call(
        'aggregate pseudonyms',
        '/pseudonyms',
        req,
        (v): v is PopulationPseudonymsResponse => isObject(v) && typeof v.version === 'string' && Array.isArray(v.groups) && v.groups.every(isGroup),
        signal,
      ),
    criterionPseudonyms: (req, signal) =>
      call(
        'aggregate pseudonyms',
        '/pseudonyms',
        req,
        (v): v is CriterionPseudonymsResponse => isObject(v) && typeof v.version === 'string' && isStrings(v.pseudonyms),
        signal,
      ),
  };
}
