/**
 * Verifies the audit trail's hash chain.
 *
 *   npx tsx scripts/verify-audit.ts [--anchor SEQ:HASH]
 *
 * Opens the database the way the service does (DATABASE_URL, else embedded PGlite in
 * `${DATA_DIR:-.data}/pglite`), applies pending migrations and recomputes the chain. Prints
 * `audit chain OK: N events` (then the head, to keep outside the database as an anchor) and exits 0,
 * or `audit chain BROKEN at seq S: <reason>` and exits 1. Exits 2 when it cannot check at all.
 * With --anchor (a head printed earlier) it also detects truncation and a rewritten chain.
 */
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { AuditLog } from '../audit/audit-log.js';
import type { AuditAnchor } from '../audit/types.js';
import { openDb, type Db } from '../store/db.js';
import { migrate } from '../store/migrate.js';

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { anchor: { type: 'string' } } });
  let anchor: AuditAnchor | undefined;
  if (values.anchor !== undefined) {
    const m = /^(\d+):([0-9a-f]{64})$/.exec(values.anchor);
    if (!m) {
      process.stderr.write('verify-audit: --anchor must be SEQ:HASH (as printed by an earlier run)\n');
      return 2;
    }
    anchor = { seq: Number(m[1]), hash: m[2]! };
  }
  const databaseUrl = process.env.DATABASE_URL?.trim();
  const db: Db = databaseUrl
    ? await openDb({ databaseUrl })
    : await openDb({ dataDir: `${resolve(process.env.DATA_DIR?.trim() || '.data')}/pglite` });
  try {
    await migrate(db);
    const log = new AuditLog(db);
    const result = await log.verify(anchor);
    if (!result.ok) {
      process.stdout.write(`audit chain BROKEN at seq ${result.firstBrokenSeq}: ${result.reason}\n`);
      return 1;
    }
    process.stdout.write(`audit chain OK: ${result.count} events\n`);
    const head = await log.head();
    if (head) process.stdout.write(`head (keep as --anchor): ${head.seq}:${head.hash}\n`);
    return 0;
  } finally {
    await db.close();
  }
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`verify-audit: could not check the audit chain: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(2);
  },
);
