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
  return (await verifyChainUpTo(db, anchor)).result;
}

/** `verifyChain`, with the last link it verified. */
export function verifyChainUpTo(db: Queryable, anchor?: AuditAnchor): Promise<VerifiedUpTo> {
  return walkChain(db, { seq: 0, hash: GENESIS_HASH }, anchor);
}

/** A verification and the last link it verified (seq 0, the genesis hash, for an empty chain). */
export interface VerifiedUpTo {
  result: AuditVerification;
  head: AuditAnchor;
}

/**
 * Verifies only what was appended after `from` (a link an earlier verification ended at): the row at
 * from.seq must still carry from.hash, and every later row must chain from it. Cheap to repeat; it does
 * not re-check rows before `from` (a full `verifyChain` does).
 */
export async function verifyChainFrom(db: Queryable, from: AuditAnchor): Promise<VerifiedUpTo> {
  if (from.seq > 0) {
    const r = await db.query<StoredRow>(`SELECT ${ROW_COLUMNS} FROM audit_event WHERE seq = $1`, [from.seq]);
    const broken = (reason: string): VerifiedUpTo => ({ result: { ok: false, firstBrokenSeq: from.seq, reason }, head: from });
    const stored = r.rows[0];
    if (!stored) return broken(`event ${from.seq}, verified before, is missing`);
    if (stored.hash !== from.hash || rowHash(stored.prev_hash, toAuditRow(stored)) !== stored.hash) return broken(`event ${from.seq} changed since it was verified`);
  }
  return walkChain(db, from);
}

async function walkChain(db: Queryable, from: AuditAnchor, anchor?: AuditAnchor): Promise<VerifiedUpTo> {
  const batch = 1000;
  let expected = from.seq + 1;
  let prevHash = from.hash;
  let anchorSeen = anchor !== undefined && anchor.seq <= from.seq;
  const broken = (seq: number, reason: string): VerifiedUpTo => ({ result: { ok: false, firstBrokenSeq: seq, reason }, head: from });
  for (;;) {
    const r = await db.query<StoredRow>(
      `SELECT ${ROW_COLUMNS} FROM audit_event WHERE seq >= $1 ORDER BY seq LIMIT $2`,
      // The first batch has no lower bound, so rows smuggled in below seq 1 are seen too.
      [expected === 1 ? Number.MIN_SAFE_INTEGER : expected, batch],
    );
    for (const stored of r.rows) {
      const row = toAuditRow(stored);
      if (row.seq < expected) {
        return broken(expected, `unexpected event with seq ${row.seq} before event ${expected}`);
      }
      if (row.seq > expected) {
        return broken(expected, `event ${expected} is missing (next stored event is ${row.seq})`);
      }
      if (stored.prev_hash !== prevHash) {
        return broken(row.seq, `prev_hash does not match the hash of event ${row.seq - 1}`);
      }
      if (rowHash(prevHash, row) !== stored.hash) {
        return broken(row.seq, 'stored hash does not match the event content (modified or replaced)');
      }
      if (anchor && row.seq === anchor.seq) {
        if (stored.hash !== anchor.hash) return broken(row.seq, 'hash differs from the anchor kept outside the database');
        anchorSeen = true;
      }
      prevHash = stored.hash;
      expected += 1;
    }
    if (r.rows.length < batch) break;
  }
  if (anchor && !anchorSeen) {
    return broken(expected, `chain ends at event ${expected - 1}, before the anchor at event ${anchor.seq} (truncated)`);
  }
  return { result: { ok: true, count: expected - 1 }, head: { seq: expected - 1, hash: prevHash } };
}
