import type { AuditEvent } from 'fhir/r4.js';
import type { Db } from '../store/db.js';
import { chainRows, GENESIS_HASH, ROW_COLUMNS } from './hash-chain.js';
import type { AuditInput } from './types.js';

/** pg_advisory_xact_lock key serialising appends across service instances (migrations use 7_240_001). */
const AUDIT_APPEND_LOCK = 7_240_003;

/**
 * Writes several events atomically (all or none), in order, at the head of the chain. On PostgreSQL, one
 * transaction under an advisory lock, so any number of service instances build one gapless chain.
 */
export function appendToChain(db: Db, inputs: AuditInput[]): Promise<AuditEvent[]> {
  if (db.engine === 'pglite') return appendEmbedded(db, inputs);
  return db.tx(async (q) => {
    await q.query('SELECT pg_advisory_xact_lock($1)', [AUDIT_APPEND_LOCK]);
    // A separate statement after the lock: under READ COMMITTED it sees every append committed before.
    const head = await q.query<{ seq: number | string | null; hash: string | null; now: Date | string }>(
      `SELECT clock_timestamp() AS now, last.seq, last.hash
         FROM (SELECT 1) AS one LEFT JOIN (SELECT seq, hash FROM audit_event ORDER BY seq DESC LIMIT 1) AS last ON true`,
    );
    const h = head.rows[0]!;
    // The database clock, read under the lock: `recorded` never goes backwards along the chain.
    const batch = chainRows(inputs, h.seq === null ? 0 : Number(h.seq), h.hash ?? GENESIS_HASH, new Date(h.now));
    await q.query(`INSERT INTO audit_event (${ROW_COLUMNS}) VALUES ${batch.values}`, batch.params);
    return batch.events;
  });
}

/**
 * Embedded PGlite is one connection owned by this one process (its data folder cannot be opened twice), so
 * appends are serialised in memory, shared by every AuditLog over the same Db, and the chain head is kept
 * here: an append is then ONE statement (atomic on its own) instead of a transaction with a lock and a read
 * of the head — about 1 ms less database work on every audited request (README, performance). The INSERT
 * only takes effect if the stored head is still the one we chained from; if anything else changed the table,
 * the head is read again and the batch rebuilt.
 */
const embeddedChains = new WeakMap<Db, { head?: { seq: number; hash: string; recordedMs: number }; tail: Promise<unknown> }>();

/** Appends on embedded PGlite: serialised in memory, one INSERT conditional on the chain head. */
export function appendEmbedded(db: Db, inputs: AuditInput[]): Promise<AuditEvent[]> {
  let chain = embeddedChains.get(db);
  if (!chain) embeddedChains.set(db, (chain = { tail: Promise.resolve() }));
  const state = chain;
  const run = state.tail.then(async () => {
    for (let attempt = 0; ; attempt += 1) {
      if (!state.head) {
        const r = await db.query<{ seq: number | string; hash: string; recorded: Date | string }>(
          'SELECT seq, hash, recorded FROM audit_event ORDER BY seq DESC LIMIT 1',
        );
        const last = r.rows[0];
        state.head = last ? { seq: Number(last.seq), hash: last.hash, recordedMs: new Date(last.recorded).getTime() } : { seq: 0, hash: GENESIS_HASH, recordedMs: 0 };
      }
      // `recorded` never goes backwards along the chain, whatever the wall clock does.
      const recorded = new Date(Math.max(Date.now(), state.head.recordedMs));
      const batch = chainRows(inputs, state.head.seq, state.head.hash, recorded);
      const headParam = `$${batch.params.length + 1}`;
      let written: number;
      try {
        const r = await db.query(
          `INSERT INTO audit_event (${ROW_COLUMNS})
             SELECT * FROM (VALUES ${batch.values}) AS v (${ROW_COLUMNS})
              WHERE coalesce((SELECT hash FROM audit_event ORDER BY seq DESC LIMIT 1), '${GENESIS_HASH}') = ${headParam}
           RETURNING seq`,
          [...batch.params, state.head.hash],
        );
        written = r.rows.length;
      } catch (e) {
        state.head = undefined;
        throw e;
      }
      if (written === inputs.length) {
        state.head = { seq: batch.seq, hash: batch.hash, recordedMs: recorded.getTime() };
        return batch.events;
      }
      state.head = undefined;
      if (attempt >= 2) throw new Error('the audit chain head kept changing during an append');
    }
  });
  state.tail = run.catch(() => undefined);
  return run;
}
