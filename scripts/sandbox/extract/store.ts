import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { openDb, type Db } from '../../../store/db.js';
import { packageFile } from '../../../store/package-files.js';

/** Rows of a source's analytic extract (schema.sql), as loaded into PGlite or PostgreSQL. */

export interface PersonRow {
  personId: number;
  nhsNumber: string | null;
  sex: 'male' | 'female';
  birthDate: string;
  orgCode: string;
  deceasedDate?: string | null;
}
export type FactKind = 'condition' | 'observation' | 'medication' | 'immunization' | 'procedure' | 'encounter' | 'care-package' | 'care-review';
export interface FactRow {
  personId: number;
  kind: FactKind;
  system: string;
  code: string;
  startDate: string;
  endDate?: string | null;
  value?: number | null;
  valueCode?: string | null;
  class?: string | null;
  orgCode?: string | null;
}
export interface OrgReturnRow {
  orgCode: string;
  periodEnd: string;
  item: string;
  value: number;
}
export interface ExtractRows {
  persons: PersonRow[];
  facts: FactRow[];
  orgReturns: OrgReturnRow[];
  /** Default: a hash of the rows. */
  version?: string;
}

const SCHEMA_SQL = readFileSync(packageFile('scripts', 'sandbox', 'extract', 'schema.sql'), 'utf8');
const IDENT = /^[a-z_][a-z0-9_]{0,62}$/;

/**
 * The extract database. On PostgreSQL the sessions are tuned for analytic GROUP BYs over millions of rows on
 * a small machine: no JIT (compiling each statement costs more than it saves at this size), 64 MB work_mem
 * (sorts and hashes stay in memory) and no parallel workers (on 2 shared cores each worker rebuilt the same
 * hash tables: measured about 2x slower), unless the URL already sets `options`.
 * Without a URL: a PGlite in a temporary folder, removed on close. File-backed rather than in-memory: an
 * in-memory PGlite runs initdb in this process, which held ~0.6 GiB more of the sandbox's RSS from the first
 * aggregate request on (store/pglite-init.ts; docs/operations-build.md).
 */
export async function openExtractDb(databaseUrl?: string): Promise<Db> {
  if (!databaseUrl) return openTemporaryPglite();
  const url = new URL(databaseUrl);
  if (!url.searchParams.has('options')) url.searchParams.set('options', '-c jit=off -c work_mem=64MB -c max_parallel_workers_per_gather=0');
  return openDb({ databaseUrl: url.toString() });
}

async function openTemporaryPglite(): Promise<Db> {
  const dir = mkdtempSync(join(tmpdir(), 'sandbox-extract-'));
  const remove = () => rmSync(dir, { recursive: true, force: true });
  try {
    const db = await openDb({ dataDir: dir });
    return { ...db, engine: db.engine, close: () => db.close().finally(remove) };
  } catch (e) {
    remove();
    throw e;
  }
}

/** Creates the schema and its tables (idempotent). */
export async function applyExtractSchema(db: Db, schema: string): Promise<void> {
  if (!IDENT.test(schema)) throw new Error('schema must be a plain lower-case identifier');
  const statements = SCHEMA_SQL.split('\n')
    .map((l) => l.replace(/--.*$/, ''))
    .join('\n')
    .split(';')
    .map((s) => s.trim())
    .filter(Boolean);
  await db.tx(async (q) => {
    await q.query(`CREATE SCHEMA IF NOT EXISTS "${schema}"`);
    await q.query(`SET LOCAL search_path TO "${schema}"`);
    for (const s of statements) await q.query(s);
  });
}

const BATCH = 5000;

/** Replaces the extract's contents with `rows` (one transaction). */
export async function loadExtractRows(db: Db, schema: string, rows: ExtractRows): Promise<string> {
  await applyExtractSchema(db, schema);
  const version = rows.version ?? `sha256:${createHash('sha256').update(JSON.stringify(rows)).digest('hex').slice(0, 16)}`;
  const s = `"${schema}"`;
  await db.tx(async (q) => {
    await q.query(`TRUNCATE ${s}.fact, ${s}.org_return, ${s}.extract_info, ${s}.excluded_person, ${s}.person`);
    for (let i = 0; i < rows.persons.length; i += BATCH) {
      const b = rows.persons.slice(i, i + BATCH);
      await q.query(
        `INSERT INTO ${s}.person (person_id, nhs_number, sex, birth_date, org_code, deceased_date)
         SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::date[], $5::text[], $6::date[])`,
        [b.map((r) => r.personId), b.map((r) => r.nhsNumber), b.map((r) => r.sex), b.map((r) => r.birthDate), b.map((r) => r.orgCode), b.map((r) => r.deceasedDate ?? null)],
      );
    }
    for (let i = 0; i < rows.facts.length; i += BATCH) {
      const b = rows.facts.slice(i, i + BATCH);
      await q.query(
        `INSERT INTO ${s}.fact (person_id, kind, system, code, start_date, end_date, value, value_code, class, org_code)
         SELECT * FROM unnest($1::bigint[], $2::text[], $3::text[], $4::text[], $5::date[], $6::date[], $7::float8[], $8::text[], $9::text[], $10::text[])`,
        [
          b.map((r) => r.personId), b.map((r) => r.kind), b.map((r) => r.system), b.map((r) => r.code), b.map((r) => r.startDate),
          b.map((r) => r.endDate ?? null), b.map((r) => r.value ?? null), b.map((r) => r.valueCode ?? null), b.map((r) => r.class ?? null), b.map((r) => r.orgCode ?? null),
        ],
      );
    }
    for (let i = 0; i < rows.orgReturns.length; i += BATCH) {
      const b = rows.orgReturns.slice(i, i + BATCH);
      await q.query(
        `INSERT INTO ${s}.org_return (org_code, period_end, item, value) SELECT * FROM unnest($1::text[], $2::date[], $3::text[], $4::float8[])`,
        [b.map((r) => r.orgCode), b.map((r) => r.periodEnd), b.map((r) => r.item), b.map((r) => r.value)],
      );
    }
    await q.query(`INSERT INTO ${s}.extract_info (version) VALUES ($1)`, [version]);
  });
  for (const table of ['person', 'fact', 'org_return']) await db.query(`ANALYZE ${s}.${table}`);
  return version;
}

/** The extract's data version and build time (the latest extract_info row). */
export async function extractVersion(db: Db, schema: string): Promise<{ version: string; builtAt: string }> {
  const r = await db.query<{ version: string; built_at: Date | string }>(`SELECT version, built_at FROM "${schema}".extract_info ORDER BY built_at DESC LIMIT 1`);
  const row = r.rows[0];
  if (!row) return { version: 'empty', builtAt: new Date(0).toISOString() };
  return { version: row.version, builtAt: new Date(row.built_at).toISOString() };
}

/** The date of the latest event in the extract (YYYY-MM-DD), or undefined when it holds none. */
export async function extractDataThrough(db: Db, schema: string): Promise<string | undefined> {
  const r = await db.query<{ d: string | null }>(`SELECT max(start_date)::text AS d FROM "${schema}".fact`);
  return r.rows[0]?.d ?? undefined;
}
