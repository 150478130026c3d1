import { randomUUID } from 'node:crypto';
import express, { type NextFunction, type Request, type Response, type Router } from 'express';
import {
  type CountRow,
  type CountsResponse,
  type CriterionPseudonymsResponse,
  type PopulationPseudonymsResponse,
  type PrepareKeyResponse,
  type PseudonymGroup,
  type SessionResponse,
  type VersionResponse,
} from '../../../adapters/aggregate-api.js';
import { sourceOf, sourcesOfSpec, validateCriterion, validateSpec, type Criterion, type IndicatorSpec, type Population } from '../../../indicators/spec.js';
import type { IndicatorSource } from '../../../indicators/types.js';
import type { Db } from '../../../store/db.js';
import { sendJson } from '../faults.js';
import { compileCounts, compileCriterionMembers, compilePopulationMembers, type CompileContext } from './compile.js';
import { PseudonymTables } from './pseudonym-tables.js';
import { extractDataThrough, extractVersion } from './store.js';

/**
 * The aggregate query API of one sandbox source (wire types: adapters/aggregate-api.ts), answered FOR
 * REAL by SQL over the source's extract. Mounted after the source's fault middleware, so a source taken
 * down with /__admin/faults is down for aggregates too. Only counts, or pseudonyms keyed for the session,
 * leave; NHS numbers never do.
 */

export interface AggregateRouterOptions {
  /** The extract database, opened (and loaded) on first use. */
  db: () => Promise<Db>;
  schema: string;
  source: IndicatorSource;
  /** Session lifetime, seconds (default 900). */
  sessionTtlSeconds?: number;
}

interface Session {
  /** The session key's pseudonym table (pseudonym-tables.ts), held until the session ends. */
  table: string;
  expiresAt: number;
}

const DATE = /^\d{4}-\d{2}-\d{2}$/;
const PSEUDONYM = /^[A-Za-z0-9_-]{22}$/;
const send = (res: Response, status: number, body: unknown): void => sendJson(res, status, body, 'application/json');

class BadRequest extends Error {}

function periodOf(body: Record<string, unknown>): { end: string; windowMonths: number } {
  const period = body.period as { start?: unknown; end?: unknown } | undefined;
  if (!period || typeof period.end !== 'string' || !DATE.test(period.end) || Number.isNaN(Date.parse(period.end))) {
    throw new BadRequest('period.end must be a date YYYY-MM-DD');
  }
  const w = body.windowMonths;
  if (typeof w !== 'number' || !Number.isInteger(w) || w < 1 || w > 120) throw new BadRequest('windowMonths must be an integer from 1 to 120');
  return { end: period.end, windowMonths: w };
}

export function createAggregateRouter(opts: AggregateRouterOptions): Router {
  const { schema, source } = opts;
  const ttl = (opts.sessionTtlSeconds ?? 900) * 1000;
  const sessions = new Map<string, Session>();
  const tables = new PseudonymTables(opts.db, schema);
  const router = express.Router();
  router.use(express.json({ limit: '64mb', type: () => true }));

  const sweep = async (db: Db): Promise<void> => {
    const now = Date.now();
    for (const [id, s] of sessions) {
      if (s.expiresAt > now) continue;
      await endSession(db, id);
    }
  };
  const endSession = async (db: Db, id: string): Promise<void> => {
    const s = sessions.get(id);
    sessions.delete(id);
    await db.query(`DELETE FROM "${schema}".excluded_person WHERE session_id = $1`, [id]);
    if (s) await tables.release(s.table);
  };
  const keyOf = (body: Record<string, unknown>): Buffer => {
    const key = typeof body.key === 'string' ? Buffer.from(body.key, 'base64url') : undefined;
    if (!key || key.length < 32) throw new BadRequest('key must be at least 32 bytes, base64url');
    return key;
  };
  const sessionOf = (body: Record<string, unknown>): [string, Session] => {
    const id = body.session;
    const s = typeof id === 'string' ? sessions.get(id) : undefined;
    if (!s || s.expiresAt <= Date.now()) throw new NotFound('session is unknown or has expired: open a new one');
    return [id as string, s];
  };
  const ctxOf = (body: Record<string, unknown>, sessionId: string): CompileContext => {
    const { end, windowMonths } = periodOf(body);
    return { periodEnd: end, windowMonths, schema, sessionId };
  };
  const ownCriteria = (list: unknown, at: string): Criterion[] => {
    if (!Array.isArray(list)) throw new BadRequest(`${at} must be an array of criteria`);
    const errors = list.flatMap((c, i) => validateCriterion(c, `${at}[${i}]`));
    if (errors.length) throw new BadRequest(errors.join('; '));
    list.forEach((c, i) => {
      if (sourceOf(c as Criterion, source) !== source) throw new BadRequest(`${at}[${i}] is held by another source`);
    });
    return list as Criterion[];
  };

  router.get('/version', async (_req, res) => {
    const db = await opts.db();
    const [v, dataThrough] = await Promise.all([extractVersion(db, schema), extractDataThrough(db, schema)]);
    send(res, 200, { source, version: v.version, builtAt: v.builtAt, ...(dataThrough ? { dataThrough } : {}) } satisfies VersionResponse);
  });

  // Keys every person under the key now (or finds them keyed already), so that sessions of the key do not wait.
  router.post('/keys', async (req, res) => {
    const key = keyOf((req.body ?? {}) as Record<string, unknown>);
    const prepared = await tables.prepare(key);
    send(res, prepared.keyed ? 201 : 200, { people: prepared.people, keyed: prepared.keyed, version: prepared.version } satisfies PrepareKeyResponse);
  });

  router.post('/sessions', async (req, res) => {
    const db = await opts.db();
    const body = (req.body ?? {}) as Record<string, unknown>;
    const key = keyOf(body);
    if (!Array.isArray(body.optedOut) || !body.optedOut.every((p) => typeof p === 'string' && PSEUDONYM.test(p))) {
      throw new BadRequest('optedOut must be an array of keyed pseudonyms');
    }
    await sweep(db);
    const id = randomUUID();
    const prepared = await tables.prepare(key, true);
    sessions.set(id, { table: prepared.table, expiresAt: Date.now() + ttl });
    try {
      const optedOut = [...new Set(body.optedOut as string[])];
      // The opted-out people of this session, looked up by pseudonym (index on the key's table).
      if (optedOut.length > 0) {
        await db.query(
          `INSERT INTO "${schema}".excluded_person (session_id, person_id) SELECT DISTINCT $1, k.person_id FROM ${prepared.table} k WHERE k.pseudonym = ANY($2::text[])`,
          [id, optedOut],
        );
      }
      send(res, 201, { session: id, version: prepared.version, expiresIn: ttl / 1000, unlinkable: prepared.unlinkable, keyPrepared: !prepared.waited } satisfies SessionResponse);
    } catch (e) {
      await endSession(db, id);
      throw e;
    }
  });

  router.delete('/sessions/:id', async (req, res) => {
    await endSession(await opts.db(), req.params.id);
    res.status(204).end();
  });

  router.post('/counts', async (req, res) => {
    const db = await opts.db();
    const body = (req.body ?? {}) as Record<string, unknown>;
    const [id] = sessionOf(body);
    const errors = validateSpec(body.spec);
    if (errors.length) throw new BadRequest(errors.join('; '));
    const spec = body.spec as IndicatorSpec;
    const needs = sourcesOfSpec(spec);
    if (needs.length !== 1 || needs[0] !== source) throw new BadRequest(`spec needs ${needs.join(' + ')}: this source answers only for ${source}`);
    const { sql, params } = compileCounts(spec, ctxOf(body, id));
    const r = await db.query<{ org: string; age_band: string | null; sex: string | null; numerator: number; denominator: number }>(sql, params);
    const rows: CountRow[] = r.rows.map((x) => ({ org: x.org, ageBand: x.age_band, sex: x.sex, numerator: Number(x.numerator), denominator: Number(x.denominator) }));
    send(res, 200, { version: (await extractVersion(db, schema)).version, rows } satisfies CountsResponse);
  });

  router.post('/pseudonyms', async (req, res) => {
    const db = await opts.db();
    const body = (req.body ?? {}) as Record<string, unknown>;
    const [id, session] = sessionOf(body);
    const ctx: CompileContext = { ...ctxOf(body, id), pseudonymTable: session.table };
    const criteria = ownCriteria(body.criteria ?? [], 'criteria');
    const version = (await extractVersion(db, schema)).version;
    if (body.population !== undefined) {
      const errors = validateSpec({ shape: 'person-rate', population: body.population, denominatorItem: 'x:y' }, 'request');
      if (errors.length) throw new BadRequest(errors.join('; '));
      const pop = body.population as Population;
      if (pop.source !== source) throw new BadRequest(`population.source must be ${source}`);
      const { sql, params } = compilePopulationMembers(pop, criteria, ctx);
      const r = await db.query<{ org: string; age_band: string; sex: string; denominator: number; matching: string }>(sql, params);
      const groups: PseudonymGroup[] = r.rows.map((x) => ({
        org: x.org,
        ageBand: x.age_band,
        sex: x.sex,
        denominator: Number(x.denominator),
        matching: splitList(x.matching),
      }));
      send(res, 200, { version, groups } satisfies PopulationPseudonymsResponse);
      return;
    }
    if (criteria.length === 0) throw new BadRequest('criteria must name at least one criterion');
    const { sql, params } = compileCriterionMembers(criteria, ctx);
    const r = await db.query<{ nhs_numbers: string }>(sql, params);
    const pseudonyms = [...new Set(splitList(r.rows[0]?.nhs_numbers ?? ''))];
    send(res, 200, { version, pseudonyms } satisfies CriterionPseudonymsResponse);
  });

  router.use((_req, res) => send(res, 404, { error: 'Not found' }));
  router.use((err: unknown, _req: Request, res: Response, _next: NextFunction) => {
    if (err instanceof BadRequest) send(res, 400, { error: err.message });
    else if (err instanceof NotFound) send(res, 404, { error: err.message });
    else if ((err as { type?: string }).type === 'entity.parse.failed') send(res, 400, { error: 'body must be valid JSON' });
    else if ((err as { type?: string }).type === 'entity.too.large') send(res, 413, { error: 'body is too large' });
    else send(res, 500, { error: 'Internal error' });
  });
  return router;
}

class NotFound extends Error {}

const splitList = (list: string): string[] => (list ? list.split(',').filter(Boolean) : []);
