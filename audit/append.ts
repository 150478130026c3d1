import type { AuditEvent } from 'fhir/r4.js';
import type { Db, Queryable } from '../store/db.js';
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
  return db.tx((q) => appendInTx(q, inputs));
}

/** Appends at the head of the chain inside the caller's PostgreSQL transaction (lock, head, one INSERT). */
async function appendInTx(q: Queryable, inputs: AuditInput[]): Promise<AuditEvent[]> {
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
}

/** Thrown (wrapped) when the audit part of a change failed: the change was rolled back with it. */
export class AuditWriteError extends Error {
  constructor(cause: unknown) {
    super('the audit events of a change could not be written; the change was rolled back', { cause });
  }
}

/**
 * Runs a state change and appends its audit events in ONE database transaction: both commit or neither.
 * `change` does its writes through `q` only and returns its result with the events to record (it may
 * throw — e.g. a 412 — and then nothing is written). On PostgreSQL the chain's advisory lock is taken last,
 * after the change's own writes, and held to the commit, so the chain stays gapless across instances. On
 * embedded PGlite the change joins the in-memory append queue (one transaction at a time, the head kept
 * in memory as for every other append). A failure of the audit part (or of the commit) throws
 * AuditWriteError; an error thrown by `change` itself is passed through unchanged.
 */
export async function changeWithAudit<T>(db: Db, change: (q: Queryable) => Promise<{ result: T; events: AuditInput[] }>): Promise<{ result: T; events: AuditEvent[] }> {
  let changeFailed = false;
  const tracked = async (q: Queryable) => {
    try {
      return await change(q);
    } catch (e) {
      changeFailed = true;
      throw e;
    }
  };
  try {
    if (db.engine === 'pglite') return await changeEmbedded(db, tracked);
    return await db.tx(async (q) => {
      const { result, events } = await tracked(q);
      return { result, events: events.length > 0 ? await appendInTx(q, events) : [] };
    });
  } catch (e) {
    if (changeFailed) throw e;
    throw new AuditWriteError(e);
  }
}

/**
 * Embedded PGlite is one connection owned by this one process (its data folder cannot be opened twice), so
 * appends are serialised in memory, shared by every AuditLog over the same Db, and the chain head is kept
 * here: an append is then ONE statement (atomic on its own) instead of a transaction with a lock and a read
 * of the head — about 1 ms less database work on every audited request (README, performance). The INSERT
 * only takes effect if the stored head is still the one we chained from; if anything else changed the table,
 * the head is read again and the batch rebuilt.
 */
const embeddedChains = new WeakMap<Db, EmbeddedChain>();
type EmbeddedChain = { head?: { seq: number; hash: string; recordedMs: number }; tail: Promise<unknown> };

function embeddedChain(db: Db): EmbeddedChain {
  let chain = embeddedChains.get(db);
  if (!chain) embeddedChains.set(db, (chain = { tail: Promise.resolve() }));
  return chain;
}

/** changeWithAudit on PGlite: queued behind every other append, then one transaction for the change and its events. */
function changeEmbedded<T>(db: Db, change: (q: Queryable) => Promise<{ result: T; events: AuditInput[] }>): Promise<{ result: T; events: AuditEvent[] }> {
  const state = embeddedChain(db);
  const run = state.tail.then(async () => {
    let head: EmbeddedChain['head'];
    try {
      const out = await db.tx(async (q) => {
        const { result, events } = await change(q);
        if (events.length === 0) return { result, events: [] as AuditEvent[] };
        // Read inside the transaction: the queue is ours, so this is the head we chain from.
        const r = await q.query<{ seq: number | string; hash: string; recorded: Date | string }>('SELECT seq, hash, recorded FROM audit_event ORDER BY seq DESC LIMIT 1');
        const last = r.rows[0];
        const from = last ? { seq: Number(last.seq), hash: last.hash, recordedMs: new Date(last.recorded).getTime() } : { seq: 0, hash: GENESIS_HASH, recordedMs: 0 };
        const recorded = new Date(Math.max(Date.now(), from.recordedMs));
        const batch = chainRows(events, from.seq, from.hash, recorded);
        await q.query(`INSERT INTO audit_event (${ROW_COLUMNS}) VALUES ${batch.values}`, batch.params);
        head = { seq: batch.seq, hash: batch.hash, recordedMs: recorded.getTime() };
        return { result, events: batch.events };
      });
      if (head) state.head = head;
      return out;
    } catch (e) {
      state.head = undefined;
      throw e;
    }
  });
  state.tail = run.catch(() => undefined);
  return run;
}

/** Appends on embedded PGlite: serialised in memory, one INSERT conditional on the chain head. */
export function appendEmbedded(db: Db, inputs: AuditInput[]): Promise<AuditEvent[]> {
  const state = embeddedChain(db);
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
