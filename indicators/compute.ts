/**
 * Computing the transparency indicators (issue #5) WITHOUT moving patient-level data.
 *
 * Signatures other parts rely on (publishing layer, benchmark):
 *
 *   // indicators/compute.ts
 *   export interface IndicatorComputer {
 *     readonly catalogue: readonly IndicatorDefinition[];
 *     compute(period: ReportingPeriod, indicatorIds?: string[]): Promise<ComputeRun>;   // never throws for a source down
 *   }
 *   export interface IndicatorComputerDeps {
 *     sources: AggregateClient[] | Partial<Record<IndicatorSource, AggregateClient | AggregateClient[]>>;  // adapters/aggregate-client.ts; any number per kind
 *     optedOutNhsNumbers(now: Date): Promise<string[]>;             // indicators/opt-outs.ts listOptedOutNhsNumbers(consents, index, now)
 *     secret: Uint8Array;                                           // indicators/pseudonyms.ts loadPseudonymSecret(config)
 *     catalogue?: readonly IndicatorDefinition[];                   // default CATALOGUE
 *     logger?: Logger; now?: () => Date;
 *   }
 *   export function createIndicatorComputer(deps: IndicatorComputerDeps): IndicatorComputer;
 *   Service (server/compose.ts) gains `indicators: IndicatorComputer`;
 *   server/compose.ts: export function createAggregateClients(config): AggregateClient[];   // one per aggregate source of the registry
 *   adapters/aggregate-client.ts: createAggregateClient({ source, baseUrl (server root), transport, deadlineMs }),
 *     aggregateRootOf(fhirBaseUrl) (drops a trailing /fhir); wire types in adapters/aggregate-api.ts.
 *
 *   // indicators/catalogue.ts
 *   export const CATALOGUE: readonly IndicatorDefinition[];   // validated at load (validateCatalogue throws)
 *   export function indicatorById(id: string): IndicatorDefinition | undefined;
 *   // indicators/spec.ts
 *   export interface IndicatorDefinition extends IndicatorMeta { spec: IndicatorSpec }
 *   export function windowStart(periodEnd: string, months: number): string;   // inclusive YYYY-MM-DD
 *
 *   // scripts/sandbox/extract/compile.ts (benchmark: the SQL the sources run)
 *   export function compileCounts(spec: IndicatorSpec, q: { periodEnd: string; windowMonths: number; schema: string; sessionId?: string }): { sql: string; params: unknown[] };
 *   //   → rows { org: string, age_band: string|null, sex: string|null, numerator: number, denominator: number }
 *   // scripts/sandbox/start.ts: startSandbox({ extract: { databaseUrl?, schemaPrefix? ('src_'), prebuilt?, rows? } })
 *   //   env SANDBOX_EXTRACT_DATABASE_URL (+ SANDBOX_EXTRACT_PREBUILT=1 to use src_gp/src_hospital/src_social_care as loaded);
 *   //   sandbox.extract = { db(): Promise<Db>, schemas }; rows: scripts/sandbox/extract/store.ts ExtractRows.
 *   //   PostgreSQL extract sessions run with jit=off, work_mem=64MB, max_parallel_workers_per_gather=0 (openExtractDb).
 *
 * How a run works: the key of the month (pseudonyms.ts epochKey; prepared at the sources ahead of time by
 * key-preparation.ts) is sent with the opted-out patients' keyed pseudonyms to each needed source
 * (POST /aggregate/v1/sessions); single-source indicators are counted at the
 * source (POST /aggregate/v1/counts); cross-source indicators fetch keyed pseudonym sets
 * (POST /aggregate/v1/pseudonyms), intersect them here in memory and count per organisation and stratum.
 * Pseudonyms are never stored, logged or returned. A source that does not answer makes the run incomplete
 * and is listed in each affected indicator's missingSources; compute() itself does not throw for it.
 * This path never touches the consent-filtered record search.
 */
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { AggregateClient } from '../adapters/aggregate-client.js';
import type { CountRow, PseudonymGroup } from '../adapters/aggregate-api.js';
import { badRequest } from '../fhir/outcomes.js';
import { CATALOGUE } from './catalogue.js';
import { prepareEpochKeys, type KeyPreparation } from './key-preparation.js';
import { epochKey, keyedPseudonym, pseudonymEpoch } from './pseudonyms.js';
import { sourceOf, type Criterion, type IndicatorDefinition } from './spec.js';
import {
  AGE_BANDS,
  type AgeBand,
  type ComputeRun,
  type IndicatorComputation,
  type IndicatorSource,
  type OrganisationCount,
  type ReportingPeriod,
  type SourceStatus,
} from './types.js';

export interface IndicatorComputer {
  readonly catalogue: readonly IndicatorDefinition[];
  /** Computes the indicators (all by default) for the period; never throws because a source is down. */
  compute(period: ReportingPeriod, indicatorIds?: string[]): Promise<ComputeRun>;
  /** Has every source key its people under the keys of this month (and next month's near the turn): key-preparation.ts. */
  prepareKeys(): Promise<KeyPreparation[]>;
}

export interface IndicatorComputerDeps {
  /**
   * The aggregate sources: one client per source, any number of each kind (all GP systems, all trusts, all
   * councils of the registry), as a list or grouped by kind (one client or several).
   */
  sources: readonly AggregateClient[] | Partial<Record<IndicatorSource, AggregateClient | readonly AggregateClient[]>>;
  /** NHS numbers of the patients opted out of secondary use at `now` (indicators/opt-outs.ts). */
  optedOutNhsNumbers(now: Date): Promise<string[]>;
  /** The pseudonym secret (indicators/pseudonyms.ts loadPseudonymSecret). */
  secret: Uint8Array;
  catalogue?: readonly IndicatorDefinition[];
  logger?: Logger;
  now?: () => Date;
  /** Indicators computed at once (default 4). */
  concurrency?: number;
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;
const validDate = (d: unknown): d is string => typeof d === 'string' && DATE.test(d) && !Number.isNaN(Date.parse(`${d}T00:00:00Z`)) && new Date(`${d}T00:00:00Z`).toISOString().startsWith(d);

/** A source that failed during the run (by client name), with a message free of patient data. */
class SourceDown extends Error {
  constructor(readonly source: string, reason: string) {
    super(reason);
  }
}

/** Two sources of one kind reported the same organisation: never summed (the same people may be counted twice). */
class OrganisationConflict extends Error {
  constructor(readonly sources: string[], readonly code: string) {
    super(`${sources.join(' and ')} both report organisation ${code}`);
  }
}

interface OpenSession {
  client: AggregateClient;
  session: string;
  /** People the source holds without an NHS number (cannot be linked), when it says. */
  unlinkable?: number;
}

/** The clients of each kind, in the order given. */
function byKind(sources: IndicatorComputerDeps['sources']): Map<IndicatorSource, AggregateClient[]> {
  const list: AggregateClient[] = Array.isArray(sources)
    ? [...(sources as readonly AggregateClient[])]
    : Object.values(sources as Partial<Record<IndicatorSource, AggregateClient | readonly AggregateClient[]>>).flatMap((c) => (c === undefined ? [] : Array.isArray(c) ? [...c] : [c as AggregateClient]));
  const out = new Map<IndicatorSource, AggregateClient[]>();
  for (const c of list) out.set(c.source, [...(out.get(c.source) ?? []), c]);
  return out;
}

export function createIndicatorComputer(deps: IndicatorComputerDeps): IndicatorComputer {
  const catalogue = deps.catalogue ?? CATALOGUE;
  const byId = new Map(catalogue.map((d) => [d.id, d]));
  const now = deps.now ?? (() => new Date());
  const clients = byKind(deps.sources);

  async function compute(period: ReportingPeriod, indicatorIds?: string[]): Promise<ComputeRun> {
    if (!validDate(period?.start)) throw badRequest('invalid-period', 'period start must be a date YYYY-MM-DD', ['period.start']);
    if (!validDate(period?.end)) throw badRequest('invalid-period', 'period end must be a date YYYY-MM-DD', ['period.end']);
    if (period.start > period.end) throw badRequest('invalid-period', 'period start must not be after its end', ['period.start']);
    const unknown = (indicatorIds ?? []).filter((id) => !byId.has(id));
    if (unknown.length) throw badRequest('unknown-indicator', `unknown indicator (${unknown.length} of the ids asked for)`, ['indicatorIds']);
    const defs = indicatorIds ? [...new Set(indicatorIds)].map((id) => byId.get(id)!) : [...catalogue];

    const startedAt = now();
    const refreshId = randomUUID();
    const key = epochKey(deps.secret, pseudonymEpoch(startedAt));
    const optedOut = [...new Set((await deps.optedOutNhsNumbers(startedAt)).map((n) => keyedPseudonym(key, n)))];
    const needed = [...new Set(defs.flatMap((d) => d.sources))];

    // Status and sessions per source (by name); a kind without any configured source is named by its kind.
    const status = new Map<string, SourceStatus>();
    const sessions = new Map<string, OpenSession>();
    /** Sources that keyed their people while opening the session (the key had not been prepared). */
    const unprepared: string[] = [];
    await Promise.all(
      needed.map(async (kind) => {
        const of = clients.get(kind) ?? [];
        if (of.length === 0) return void status.set(kind, { source: kind, status: 'unavailable', reason: 'no aggregate source of this kind is configured' });
        await Promise.all(
          of.map(async (client) => {
            try {
              const s = await client.openSession(key, optedOut);
              sessions.set(client.name, { client, session: s.session, ...(typeof s.unlinkable === 'number' ? { unlinkable: s.unlinkable } : {}) });
              if (s.keyPrepared === false) unprepared.push(client.name);
              status.set(client.name, { source: client.name, status: 'ok', version: s.version });
            } catch (e) {
              status.set(client.name, { source: client.name, status: 'unavailable', reason: reasonOf(e) });
            }
          }),
        );
      }),
    );
    const down = (source: string, reason: string): void => {
      sessions.delete(source);
      status.set(source, { source, status: 'unavailable', reason });
    };
    /** The open sessions of each kind an indicator needs. */
    const open = (kind: IndicatorSource): OpenSession[] => (clients.get(kind) ?? []).flatMap((c) => sessions.get(c.name) ?? []);

    const one = async (def: IndicatorDefinition): Promise<IndicatorComputation> => {
      const missing = (): string[] =>
        def.sources.flatMap((kind) => {
          const of = clients.get(kind) ?? [];
          return of.length === 0 ? [kind] : of.filter((c) => !sessions.has(c.name)).map((c) => c.name);
        });
      if (missing().length === 0) {
        try {
          const organisations = def.sources.length === 1 ? await singleSource(def, period, open(def.sources[0]!)) : await crossSource(def, period, open);
          if (missing().length === 0) return { indicatorId: def.id, period, organisations, missingSources: [], ...linkage(def, open) };
        } catch (e) {
          if (e instanceof OrganisationConflict) {
            deps.logger?.warn({ indicator: def.id, organisation: e.code, sources: e.sources }, 'two aggregate sources of one kind report the same organisation: indicator withheld');
            return { indicatorId: def.id, period, organisations: [], missingSources: e.sources };
          }
          if (!(e instanceof SourceDown)) throw e;
          down(e.source, e.message);
        }
      }
      return { indicatorId: def.id, period, organisations: [], missingSources: missing() };
    };

    const results = await mapLimit(defs, deps.concurrency ?? 4, one);
    // Best effort: the sources drop the session's exclusions now rather than when it expires.
    await Promise.allSettled([...sessions.values()].map((s) => s.client.closeSession(s.session)));
    // An indicator computed before a source went down elsewhere in the run keeps its (complete) result.
    const sources = [...status.values()];
    const run: ComputeRun = {
      period,
      startedAt: startedAt.toISOString(),
      finishedAt: now().toISOString(),
      sources,
      complete: sources.every((s) => s.status === 'ok') && results.every((r) => r.missingSources.length === 0),
      optOutsApplied: optedOut.length,
      results,
    };
    deps.logger?.info(
      {
        refreshId,
        indicators: results.length,
        complete: run.complete,
        unavailable: sources.filter((s) => s.status !== 'ok').map((s) => s.source),
        ...(unprepared.length ? { keyedInSession: unprepared } : {}),
        ms: Date.parse(run.finishedAt) - Date.parse(run.startedAt),
      },
      'indicators computed',
    );
    return run;
  }

  const all = [...clients.values()].flat();
  return { catalogue, compute, prepareKeys: () => prepareEpochKeys(all, deps.secret, now(), deps.logger) };
}

function reasonOf(e: unknown): string {
  // SourceError messages name the call and the failure kind only (never URLs or bodies).
  return e instanceof Error && e.name === 'SourceError' ? e.message : 'the source could not be queried';
}

async function guarded<T>(s: OpenSession, fn: (s: OpenSession) => Promise<T>): Promise<T> {
  try {
    return await fn(s);
  } catch (e) {
    throw new SourceDown(s.client.name, reasonOf(e));
  }
}

/**
 * Rows from every source of one kind, unioned: each organisation must come from one source only (each GP
 * system serves its own practices; each trust and council is its own organisation). An organisation two
 * sources report is refused, never summed (OrganisationConflict).
 */
function union<R extends { org: string }>(answers: { source: string; rows: readonly R[] }[]): R[] {
  const owner = new Map<string, string>();
  const out: R[] = [];
  for (const a of answers) {
    for (const r of a.rows) {
      const first = owner.get(r.org);
      if (first !== undefined && first !== a.source) throw new OrganisationConflict([first, a.source], r.org);
      owner.set(r.org, a.source);
      out.push(r);
    }
  }
  return out;
}

/** Counted entirely at the sources of one kind, then unioned per organisation. */
async function singleSource(def: IndicatorDefinition, period: ReportingPeriod, of: OpenSession[]): Promise<OrganisationCount[]> {
  const answers = await Promise.all(
    of.map((s) => guarded(s, (x) => x.client.counts({ session: x.session, period, windowMonths: def.windowMonths, spec: def.spec })).then((r) => ({ source: s.client.name, rows: r.rows }))),
  );
  return toOrganisations(union(answers));
}

/**
 * Population side (every source of the population's kind) counts its members per organisation and stratum
 * and lists, by keyed pseudonym, those meeting its own numerator criteria; every source of each other kind
 * lists who meets its criteria (the sets of one kind unioned: a person may be known to two trusts); the
 * lists are intersected here. The same key (the month's) goes to every source, so their pseudonyms agree.
 */
async function crossSource(def: IndicatorDefinition, period: ReportingPeriod, open: (kind: IndicatorSource) => OpenSession[]): Promise<OrganisationCount[]> {
  if (def.spec.shape !== 'person-proportion') throw new Error(`${def.id}: only person-proportion indicators can span sources`);
  const { population, numerator } = def.spec;
  const home = population.source;
  const local: Criterion[] = [];
  const positive = new Map<IndicatorSource, Criterion[]>();
  const negative: { source: IndicatorSource; criterion: Criterion }[] = [];
  for (const c of numerator) {
    const src = sourceOf(c, home);
    if (src === home) local.push(c);
    else if (c.kind === 'not') negative.push({ source: src, criterion: c.criterion });
    else positive.set(src, [...(positive.get(src) ?? []), c]);
  }
  const base = { period, windowMonths: def.windowMonths };
  /** Everyone any source of `kind` lists as meeting `criteria`. */
  const listed = async (kind: IndicatorSource, criteria: Criterion[]): Promise<Set<string>> => {
    const answers = await Promise.all(open(kind).map((s) => guarded(s, (x) => x.client.criterionPseudonyms({ ...base, session: x.session, criteria }))));
    return new Set(answers.flatMap((r) => r.pseudonyms));
  };
  const [groups, must, mustNot] = await Promise.all(
    [
      Promise.all(open(home).map((s) => guarded(s, (x) => x.client.populationPseudonyms({ ...base, session: x.session, population, criteria: local })).then((r) => ({ source: s.client.name, rows: r.groups })))).then(union),
      Promise.all([...positive].map(([src, criteria]) => listed(src, criteria))),
      Promise.all(negative.map(({ source, criterion }) => listed(source, [criterion]))),
    ] as const,
  );
  const rows = groups.map((g: PseudonymGroup): CountRow => ({
    org: g.org,
    ageBand: g.ageBand,
    sex: g.sex,
    denominator: g.denominator,
    numerator: new Set(g.matching.filter((p) => must.every((s) => s.has(p)) && mustNot.every((s) => !s.has(p)))).size,
  }));
  return toOrganisations(rows);
}

/** Rows per organisation × stratum → one OrganisationCount per organisation (with strata when stratified). */
export function toOrganisations(rows: readonly CountRow[]): OrganisationCount[] {
  const byOrg = new Map<string, OrganisationCount>();
  for (const r of rows) {
    let o = byOrg.get(r.org);
    if (!o) byOrg.set(r.org, (o = { code: r.org, numerator: 0, denominator: 0 }));
    o.numerator += r.numerator;
    o.denominator += r.denominator;
    if (r.ageBand !== null && AGE_BANDS.includes(r.ageBand as AgeBand) && (r.sex === 'male' || r.sex === 'female')) {
      (o.strata ??= []).push({ ageBand: r.ageBand as AgeBand, sex: r.sex, numerator: r.numerator, denominator: r.denominator });
    }
  }
  return [...byOrg.values()].sort((a, b) => (a.code < b.code ? -1 : a.code > b.code ? 1 : 0));
}

async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]!);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

/** For a cross-source indicator: how many people the sources of each of its kinds hold that cannot be linked (no NHS number). */
function linkage(def: IndicatorDefinition, open: (kind: IndicatorSource) => OpenSession[]): Pick<IndicatorComputation, 'unlinkable'> {
  if (def.sources.length < 2) return {};
  const unlinkable: Partial<Record<IndicatorSource, number>> = {};
  for (const kind of def.sources) {
    const known = open(kind).filter((s) => s.unlinkable !== undefined);
    if (known.length > 0) unlinkable[kind] = known.reduce((n, s) => n + s.unlinkable!, 0);
  }
  return { unlinkable };
}
