import type { AuditEvent } from 'fhir/r4.js';
import { serviceUnavailable } from '../fhir/outcomes.js';
import type { Db, Queryable } from '../store/db.js';
import { DatabaseUnavailableError } from '../store/unavailable.js';
import { AuditWriteError, appendToChain, changeWithAudit } from './append.js';
import { checkInput } from './audit-event.js';
import { accessLogOf, searchAuditEvents } from './search.js';
import type { AccessLogEntry, AuditAnchor, AuditInput, AuditSearch, AuditVerification } from './types.js';
import { chainHead, verifyChain, verifyChainFrom, verifyChainUpTo } from './verify.js';

/**
 * Append-only, tamper-evident audit trail.
 *
 * Every audited event is one row of `audit_event` (store/migrations/003_audit.sql) holding a FHIR R4
 * AuditEvent that follows the IHE Basic Audit Log Patterns (BALP), plus a few columns to search on.
 * Rows form a hash chain: `hash = sha256(prev_hash + canonicalJson(content))`, where content is the
 * row's seq, id, recorded time, search columns and resource; seq 1 chains from 64 zeros. Changing,
 * removing, reordering or inserting a row anywhere before the newest one breaks the chain at that
 * row, and `verify()` names the first broken seq. (Removing the newest rows, or rewriting a row and
 * recomputing every later hash, needs an anchor kept outside the database: see `head()` and
 * `verify(anchor)`.)
 *
 * Appends are serialised by a transaction-scoped advisory lock, so any number of service instances
 * writing to one PostgreSQL build one chain with gapless seqs. `append` throws when the row could not
 * be written: callers must then refuse to return data (fail closed).
 */

/** Waiting events beyond this many are written at once, even if every one of them was deferred. */
const MAX_DEFERRED = 64;

export class AuditLog {
  private queue: { input: AuditInput; resolve: (e: AuditEvent) => void; reject: (e: unknown) => void }[] = [];
  private flushing = false;
  private timer: NodeJS.Timeout | undefined;

  /** deferMs: how long a deferred event may wait for others to share its commit (config AUDIT_DEFER_MS). */
  constructor(
    private readonly db: Db,
    private readonly deferMs = 30,
  ) {}

  /**
   * Writes one event and resolves once it is committed. Throws when it could not be written: the caller
   * must fail closed. Group commit: events arriving while a write is in progress are written together
   * in the next transaction (one lock, one commit), each caller still waiting for its own commit.
   */
  append(input: AuditInput): Promise<AuditEvent> {
    const queued = this.enqueue(input);
    this.startFlush();
    return queued.written;
  }

  /**
   * Queues an event without starting a write, for a caller that is about to wait on slow work anyway (the
   * source systems): the event is written with the next commit anyone starts, and `committed()` starts one
   * if nobody has by the time the caller needs it. Under load, the events of every request in flight then
   * share one INSERT instead of one each (README, performance). The caller must await `committed()` before
   * releasing anything: it throws (a 503 OperationOutcome) if the event could not be written.
   */
  defer(input: AuditInput, failure = 'The access could not be recorded in the audit trail, so no data is returned. Try again shortly.'): { committed(): Promise<void> } {
    const queued = this.enqueue(input);
    queued.written.catch(() => undefined); // observed by committed(); never an unhandled rejection meanwhile
    if (this.queue.length >= MAX_DEFERRED) this.startFlush();
    else this.timer ??= setTimeout(() => {
      this.timer = undefined;
      this.startFlush();
    }, this.deferMs);
    return {
      committed: async () => {
        if (this.queue.includes(queued.entry)) this.startFlush();
        try {
          await queued.written;
        } catch (e) {
          if (e instanceof DatabaseUnavailableError) throw e; // 503 database-unavailable, with Retry-After
          throw serviceUnavailable('audit-unavailable', failure);
        }
      },
    };
  }

  /**
   * `append` for request handlers: a failed write becomes a 503 OperationOutcome, so the caller's data or
   * action is never released without its audit record (fail closed).
   */
  async record(input: AuditInput, failure = 'The access could not be recorded in the audit trail, so it was not carried out. Try again shortly.'): Promise<void> {
    try {
      await this.append(input);
    } catch (e) {
      if (e instanceof DatabaseUnavailableError) throw e; // 503 database-unavailable, with Retry-After
      throw serviceUnavailable('audit-unavailable', failure);
    }
  }

  /**
   * A state change and its audit events, committed together or not at all (one transaction; see
   * changeWithAudit). Use for everything that changes state (consents, emergency grants, reviews); reads
   * keep the deferred group commit. `work` writes through `q` only and returns its result and the events;
   * an error it throws (e.g. 412) passes through and nothing is written; if the events cannot be written
   * the change is rolled back and the caller gets a 503 OperationOutcome.
   */
  async change<T>(
    work: (q: Queryable) => Promise<{ result: T; events: AuditInput[] }>,
    failure = 'The change could not be recorded in the audit trail, so it was not made. Try again shortly.',
  ): Promise<T> {
    try {
      const { result } = await changeWithAudit(this.db, async (q) => {
        const out = await work(q);
        for (const e of out.events) checkInput(e);
        return out;
      });
      return result;
    } catch (e) {
      if (e instanceof AuditWriteError) throw serviceUnavailable('audit-unavailable', failure);
      throw e;
    }
  }

  private enqueue(input: AuditInput) {
    let entry!: AuditLog['queue'][number];
    const written = new Promise<AuditEvent>((resolve, reject) => {
      entry = { input, resolve, reject };
    });
    try {
      checkInput(input);
    } catch (e) {
      entry.reject(e);
      return { entry, written };
    }
    this.queue.push(entry);
    return { entry, written };
  }

  private startFlush(): void {
    if (this.flushing || this.queue.length === 0) return;
    this.flushing = true;
    setImmediate(() => void this.flush());
  }

  private async flush(): Promise<void> {
    while (this.queue.length > 0) {
      const batch = this.queue.splice(0, 500);
      try {
        const events = await this.appendMany(batch.map((b) => b.input));
        batch.forEach((b, i) => b.resolve(events[i]!));
      } catch (e) {
        batch.forEach((b) => b.reject(e));
      }
    }
    this.flushing = false;
  }

  /** Writes several events atomically (all or none), in order, under one lock. */
  async appendMany(inputs: AuditInput[]): Promise<AuditEvent[]> {
    if (inputs.length === 0) return [];
    for (const input of inputs) checkInput(input);
    return appendToChain(this.db, inputs);
  }

  /** The newest link (null when empty). Publishing it elsewhere lets `verify(anchor)` detect truncation. */
  head(): Promise<AuditAnchor | null> {
    return chainHead(this.db);
  }

  /**
   * Recomputes the whole chain from seq 1 (audit/verify.ts): reports the first broken seq; with an anchor,
   * the row at anchor.seq must exist with that hash.
   */
  verify(anchor?: AuditAnchor): Promise<AuditVerification> {
    return verifyChain(this.db, anchor);
  }

  /**
   * For pages many people open (a patient's "who looked at my record"): the whole chain at most every
   * `fullEveryMs`, and in between only what was appended after the last link verified (which must still
   * carry its hash). One verification at a time per process; concurrent callers share it. A failure
   * forgets the checkpoint, so the next call verifies everything again.
   */
  verifyRecent(fullEveryMs = 300_000, now: () => number = Date.now): Promise<AuditVerification> {
    this.verifying ??= (async () => {
      try {
        const last = this.verified;
        const full = !last || now() - last.fullAt > fullEveryMs;
        const startedAt = now();
        const r = full ? await verifyChainUpTo(this.db) : await verifyChainFrom(this.db, last.head);
        this.verified = r.result.ok ? { head: r.head, fullAt: full ? startedAt : last!.fullAt } : undefined;
        return r.result;
      } finally {
        this.verifying = undefined;
      }
    })();
    return this.verifying;
  }

  private verified?: { head: AuditAnchor; fullAt: number };
  private verifying?: Promise<AuditVerification>;

  /** Events matching every given filter, newest first. */
  search(filter: AuditSearch = {}): Promise<AuditEvent[]> {
    return searchAuditEvents(this.db, filter);
  }

  /** The patient's access log in plain words, newest first (at most `limit` entries). */
  accessLog(patientId: string, limit = 1000): Promise<AccessLogEntry[]> {
    return accessLogOf(this.db, patientId, limit);
  }
}
