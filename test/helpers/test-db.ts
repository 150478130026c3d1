import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { openDb, type Db } from '../../store/db.js';
import { migrate } from '../../store/migrate.js';

/** The engine the suite runs on: PostgreSQL when DATABASE_URL is set (CI's second pass), else PGlite. */
export const TEST_ENGINE = process.env.DATABASE_URL ? 'postgres' : 'pglite';

/**
 * A fresh, migrated database for one test file: a new database on the PostgreSQL server named by
 * DATABASE_URL (dropped on close), or an in-memory PGlite.
 */
export async function openTestDb(): Promise<Db & { url?: string }> {
  const url = process.env.DATABASE_URL;
  if (!url) {
    const db = await openDb({ memory: true });
    await migrate(db);
    return db;
  }
  const name = `ipr_test_${randomBytes(6).toString('hex')}`;
  const admin = new pg.Client({ connectionString: url });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  await admin.end();
  const testUrl = new URL(url);
  testUrl.pathname = `/${name}`;
  const db = await openDb({ databaseUrl: testUrl.toString() });
  await migrate(db);
  return {
    ...db,
    engine: db.engine,
    url: testUrl.toString(),
    async close() {
      await db.close();
      const c = new pg.Client({ connectionString: url });
      await c.connect();
      await c.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
      await c.end();
    },
  };
}
