import { createHash } from 'node:crypto';
import { keyedPseudonym } from '../../../adapters/aggregate-api.js';
import type { Db, Queryable } from '../../../store/db.js';
import { extractVersion } from './store.js';

/**
 * A sandbox source's keyed pseudonyms, one table per key (issue 18: refresh time). Keying every person is the
 * expensive part of an aggregate session (about 1.8 s per million people in SQL); keys change monthly
 * (indicators/pseudonyms.ts), so each source keys its people once per key, ahead of time when the service
 * prepares the key (POST /aggregate/v1/keys), and every session of that key looks them up.
 *
 * Table `<schema>.pseudonym_<key id>_<extract version id>` (person_id, pseudonym), indexed on pseudonym; the
 * key id is a hash of the key (the key itself is never stored). Built in one transaction, so a failed build
 * leaves nothing. A new extract version gets a new table. The `keep` most recently prepared tables are held;
 * older ones are dropped as soon as no open session uses them. Tables left by an earlier run of the sandbox
 * are dropped on first use (it no longer knows their keys).
 */

export interface PreparedKey {
  /** Schema-qualified, quoted table name (for compile.ts). */
  table: string;
  /** People keyed (those with an NHS number). */
  people: number;
  /** People held without an NHS number (they cannot be keyed: not linkable, not excludable by opt-out). */
  unlinkable: number;
  version: string;
}

interface Entry {
  name: string;
  built: Promise<PreparedKey>;
  /** Open sessions using the table. */
  users: number;
  /** Whether the keying has finished. */
  ready: boolean;
  /** Order of the latest prepare (higher is more recent). */
  used: number;
}

const PAGE = 50_000;
const hex = (s: string | Uint8Array, n: number): string => createHash('sha256').update(s).digest('hex').slice(0, n);

/**
 * SQL for the keyed pseudonym of an NHS number expression: base64url of the first 16 bytes of
 * HMAC-SHA256(key, NHS number), exactly adapters/aggregate-api.ts keyedPseudonym. Needs pgcrypto.
 */
export const pseudonymSql = (nhsExpr: string, keyParam: string): string =>
  `translate(rtrim(encode(substring(hmac(convert_to(${nhsExpr}, 'UTF8'), ${keyParam}, 'sha256') from 1 for 16), 'base64'), '='), '+/', '-_')`;

/**
 * PostgreSQL with pgcrypto keys every NHS number in SQL (no NHS number leaves the database); PGlite, or
 * PostgreSQL where the extension cannot be created, keys them here in Node.
 */
const pgcryptoChecked = new WeakMap<Db, Promise<boolean>>();
export function sqlHmac(db: Db): Promise<boolean> {
  if (db.engine !== 'postgres') return Promise.resolve(false);
  let p = pgcryptoChecked.get(db);
  if (!p) {
    p = db
      .query('CREATE EXTENSION IF NOT EXISTS pgcrypto')
      .then(() => db.query<{ ok: boolean }>(`SELECT to_regprocedure('hmac(bytea,bytea,text)') IS NOT NULL AS ok`))
      .then((r) => r.rows[0]?.ok === true, () => false);
    pgcryptoChecked.set(db, p);
  }
  return p;
}

export class PseudonymTables {
  private readonly entries = new Map<string, Entry>();
  private counter = 0;
  private cleared?: Promise<void>;

  constructor(
    private readonly db: () => Promise<Db>,
    private readonly schema: string,
    private readonly keep = 2,
  ) {}

  /**
   * The table of `key` for the extract as it is now, keyed now if it is not held yet (`keyed: true`). Callers
   * asking at the same time share one keying (`waited: true` for all of them). With `hold`, the table is held
   * for a session (not dropped until `release`).
   */
  async prepare(key: Uint8Array, hold = false): Promise<PreparedKey & { keyed: boolean; waited: boolean }> {
    const db = await this.db();
    await (this.cleared ??= this.dropLeftovers(db).catch((e: unknown) => {
      this.cleared = undefined; // try again on the next call
      throw e;
    }));
    const { version } = await extractVersion(db, this.schema);
    const name = `pseudonym_${hex(key, 16)}_${hex(version, 8)}`;
    const existing = this.entries.get(name);
    if (existing) {
      existing.used = ++this.counter;
      if (hold) existing.users++;
      const waited = !existing.ready;
      return { ...(await existing.built), keyed: false, waited };
    }
    const entry: Entry = { name, users: hold ? 1 : 0, ready: false, used: ++this.counter, built: this.build(db, name, Buffer.from(key), version) };
    this.entries.set(name, entry);
    try {
      const prepared = await entry.built;
      entry.ready = true;
      await this.evict(db);
      return { ...prepared, keyed: true, waited: true };
    } catch (e) {
      this.entries.delete(name);
      throw e;
    }
  }

  async release(table: string): Promise<void> {
    const e = [...this.entries.values()].find((x) => this.qualified(x.name) === table);
    if (!e) return;
    e.users = Math.max(0, e.users - 1);
    await this.evict(await this.db());
  }

  private qualified(name: string): string {
    return `"${this.schema}"."${name}"`;
  }

  private async build(db: Db, name: string, key: Buffer, version: string): Promise<PreparedKey> {
    const table = this.qualified(name);
    const person = `"${this.schema}".person`;
    const unlogged = db.engine === 'postgres' ? 'UNLOGGED ' : '';
    const inSql = await sqlHmac(db);
    const people = await db.tx(async (q) => {
      if (inSql) {
        await q.query(`CREATE ${unlogged}TABLE ${table} AS SELECT person_id, ${pseudonymSql('nhs_number', '$1::bytea')} AS pseudonym FROM ${person} WHERE nhs_number IS NOT NULL`, [key]);
      } else {
        await q.query(`CREATE ${unlogged}TABLE ${table} (person_id bigint NOT NULL, pseudonym text NOT NULL)`);
        await keyInNode(q, person, table, key);
      }
      await q.query(`CREATE INDEX ON ${table} (pseudonym)`);
      return Number((await q.query<{ n: string }>(`SELECT count(*) AS n FROM ${table}`)).rows[0]?.n ?? 0);
    });
    await db.query(`ANALYZE ${table}`);
    const all = Number((await db.query<{ n: string }>(`SELECT count(*) AS n FROM ${person}`)).rows[0]?.n ?? 0);
    return { table, people, unlinkable: all - people, version };
  }

  /** Drops the least recently prepared tables beyond `keep` that no open session uses. */
  private async evict(db: Db): Promise<void> {
    const ready = [...this.entries.values()].sort((a, b) => b.used - a.used);
    for (const e of ready.slice(this.keep)) {
      if (e.users > 0) continue;
      this.entries.delete(e.name);
      await e.built.then(() => db.query(`DROP TABLE IF EXISTS ${this.qualified(e.name)}`), () => undefined);
    }
  }

  private async dropLeftovers(db: Db): Promise<void> {
    const r = await db.query<{ tablename: string }>(`SELECT tablename FROM pg_tables WHERE schemaname = $1 AND tablename LIKE 'pseudonym\\_%'`, [this.schema]);
    for (const t of r.rows) await db.query(`DROP TABLE IF EXISTS ${this.qualified(t.tablename)}`);
  }
}

/** Keys the people with an NHS number here, a page at a time (PGlite, or PostgreSQL without pgcrypto). */
async function keyInNode(q: Queryable, person: string, table: string, key: Buffer): Promise<void> {
  let after = -1;
  for (;;) {
    const r = await q.query<{ person_id: string | number; nhs_number: string }>(
      `SELECT person_id, nhs_number FROM ${person} WHERE nhs_number IS NOT NULL AND person_id > $1 ORDER BY person_id LIMIT ${PAGE}`,
      [after],
    );
    if (r.rows.length) {
      await q.query(`INSERT INTO ${table} (person_id, pseudonym) SELECT * FROM unnest($1::bigint[], $2::text[])`, [
        r.rows.map((x) => Number(x.person_id)),
        r.rows.map((x) => keyedPseudonym(key, x.nhs_number)),
      ]);
    }
    if (r.rows.length < PAGE) return;
    after = Number(r.rows.at(-1)!.person_id);
  }
}
