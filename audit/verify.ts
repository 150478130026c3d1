import type { Queryable } from '../store/db.js';
import { GENESIS_HASH, ROW_COLUMNS, rowHash, toAuditRow, type StoredRow } from './hash-chain.js';
import type { AuditAnchor, AuditVerification } from './types.js';

/** The newest link (null when empty). Publishing it elsewhere lets `verify(anchor)` detect truncation. */
export async function chainHead(db: Queryable): Promise<AuditAnchor | null> {
  const r = await db.query<{ seq: number | string; hash: string }>('SELECT seq, hash FROM audit_event ORDER BY seq DESC LIMIT 1');
  return r.rows[0] ? { seq: Number(r.rows[0].seq), hash: r.rows[0].hash } : null;
}

/**
 * Recomputes the whole chain from seq 1: seqs must run 1..N without gaps, each prev_hash must be the
 * previous row's hash and each hash must match the row's content. Reports the first broken seq (a
 * missing seq is reported as that seq). With an anchor, the row at anchor.seq must exist with that hash.
 */
export async function verifyChain(db: Queryable, anchor?: AuditAnchor): Promise<AuditVerification> {
  const batch = 1000;
  let expected = 1;
  let prevHash = GENESIS_HASH;
  let anchorSeen = false;
  for (;;) {
    const r = await db.query<StoredRow>(
      `SELECT ${ROW_COLUMNS} FROM audit_event WHERE seq >= $1 ORDER BY seq LIMIT $2`,
      // The first batch has no lower bound, so rows smuggled in below seq 1 are seen too.
      [expected === 1 ? Number.MIN_SAFE_INTEGER : expected, batch],
    );
    for (const stored of r.rows) {
      const row = toAuditRow(stored);
      if (row.seq < expected) {
        return { ok: false, firstBrokenSeq: expected, reason: `unexpected event with seq ${row.seq} before event ${expected}` };
      }
      if (row.seq > expected) {
        return { ok: false, firstBrokenSeq: expected, reason: `event ${expected} is missing (next stored event is ${row.seq})` };
      }
      if (stored.prev_hash !== prevHash) {
        return { ok: false, firstBrokenSeq: row.seq, reason: `prev_hash does not match the hash of event ${row.seq - 1}` };
      }
      if (rowHash(prevHash, row) !== stored.hash) {
        return { ok: false, firstBrokenSeq: row.seq, reason: 'stored hash does not match the event content (modified or replaced)' };
      }
      if (anchor && row.seq === anchor.seq) {
        if (stored.hash !== anchor.hash) return { ok: false, firstBrokenSeq: row.seq, reason: 'hash differs from the anchor kept outside the database' };
        anchorSeen = true;
      }
      prevHash = stored.hash;
      expected += 1;
    }
    if (r.rows.length < batch) break;
  }
  if (anchor && !anchorSeen) {
    return { ok: false, firstBrokenSeq: expected, reason: `chain ends at event ${expected - 1}, before the anchor at event ${anchor.seq} (truncated)` };
  }
  return { ok: true, count: expected - 1 };
}
