import { mkdirSync } from 'node:fs';
import pg from 'pg';
import { PGlite } from '@electric-sql/pglite';
import { translateDbError } from './unavailable.js';
import { embeddedCaches, type EmbeddedCaches } from './embedded-cache.js';
import { hasCluster, initPgliteDataDir } from './pglite-init.js';

/** One small query interface over PostgreSQL (pg) and embedded PGlite. SQL must run on both. */
export interface Queryable {
  query<R = Record<string, unknown>>(sql: string, params?: unknown[]): Promise<{ rows: R[] }>;
}

export interface Db extends Queryable {
  readonly engine: 'postgres' | 'pglite';
  /** Runs fn inside one transaction; commits when it resolves, rolls back when it throws. */
  tx<T>(fn: (q: Queryable) => Promise<T>): Promise<T>;
  close(): Promise<void>;
  /**
   * Read caches, present ONLY on embedded PGlite (one process owns the database, so it sees every write).
   * A PostgreSQL Db never has them: other instances write to the same database (store/embedded-cache.ts).
   */
  readonly embeddedCaches?: EmbeddedCaches;
}

/** poolSize: connections this process may hold open to PostgreSQL (default 10). */
export type DbConfig = { databaseUrl: string; connectTimeoutMs?: number; poolSize?: number } | { dataDir: string } | { memory: true };

/** How long a request waits for a PostgreSQL connection before the database counts as unavailable. */
export const DEFAULT_CONNECT_TIMEOUT_MS = 5000;

/**
 * Opens the database. Errors meaning "the database cannot be reached" (refused, reset, timed out,
 * shutting down, closed) come out of every method as DatabaseUnavailableError (store/unavailable.ts);
 * the pool reconnects by itself once the database is back.
 */
export async function openDb(cfg: DbConfig): Promise<Db> {
  if ('databaseUrl' in cfg) return withUnavailable(openPostgres(cfg.databaseUrl, cfg.connectTimeoutMs ?? DEFAULT_CONNECT_TIMEOUT_MS, cfg.poolSize ?? 10));
  if ('dataDir' in cfg) mkdirSync(cfg.dataDir, { recursive: true });
  return withUnavailable(await openPglite('dataDir' in cfg ? cfg.dataDir : undefined));
}

/** The same Db with connection errors translated (a query error stays what it is). */
export function withUnavailable(db: Db): Db {
  return {
    engine: db.engine,
    query: <R = Record<string, unknown>>(sql: string, params?: unknown[]) => db.query<R>(sql, params).catch(translateDbError),
    tx: <T>(fn: (q: Queryable) => Promise<T>) => db.tx(fn).catch(translateDbError),
    close: () => db.close(),
    ...(db.embeddedCaches ? { embeddedCaches: db.embeddedCaches } : {}),
  };
}

function openPostgres(url: string, connectTimeoutMs: number, max: number): Db {
  // A bounded wait for a connection: with the database unreachable a request fails in seconds (503)
  // rather than hanging until the client gives up.
  const pool = new pg.Pool({ connectionString: url, max, connectionTimeoutMillis: connectTimeoutMs });
  // An idle client that errors (e.g. the server restarted) must not crash the process.
  pool.on('error', () => undefined);
  return {
    engine: 'postgres',
    query: async (sql, params) => pool.query(sql, params as unknown[]) as never,
    async tx(fn) {
      const client = await pool.connect();
      try {
        await client.query('BEGIN');
        const result = await fn({ query: async (sql, params) => client.query(sql, params as unknown[]) as never });
        await client.query('COMMIT');
        return result;
      } catch (e) {
        await client.query('ROLLBACK').catch(() => undefined);
        throw e;
      } finally {
        client.release();
      }
    },
    close: () => pool.end(),
  };
}

async function openPglite(dataDir: string | undefined): Promise<Db> {
  // initdb in a child process: its memory is returned when the child exits (pglite-init.ts).
  if (dataDir && !hasCluster(dataDir)) await initPgliteDataDir(dataDir);
  const db = dataDir ? new PGlite(dataDir) : new PGlite();
  await db.waitReady;
  return {
    engine: 'pglite',
    query: async (sql, params) => db.query(sql, params as unknown[]) as never,
    tx: (fn) => db.transaction((t) => fn({ query: async (sql, params) => t.query(sql, params as unknown[]) as never })),
    close: () => db.close(),
    embeddedCaches: embeddedCaches(),
  };
}
