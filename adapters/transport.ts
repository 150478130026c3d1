import { CircuitBreaker, type CircuitBreakerOptions } from './circuit-breaker.js';
import type { SourceId } from './types.js';

/** Why a call to a source failed, as reported to the clinician (no patient data). */
export type FailureKind = 'timeout' | 'error' | 'circuit-open' | 'invalid-response';

export class SourceError extends Error {
  constructor(
    readonly source: SourceId,
    readonly kind: FailureKind,
    message: string,
    readonly retryable = kind !== 'invalid-response' && kind !== 'circuit-open',
  ) {
    super(message);
    this.name = 'SourceError';
  }
}

export interface TransportOptions {
  /** Per-call deadline for one attempt, ms. */
  deadlineMs: number;
  /** Extra attempts for idempotent calls after the first (bounded). */
  retries: number;
  /** Base back-off before a retry, ms; full jitter is applied. */
  retryBaseMs: number;
  breaker: CircuitBreakerOptions;
}

export interface CallOptions {
  /** Only idempotent calls (GET) are retried. */
  idempotent: boolean;
  /** Caller's own cancellation (e.g. the client went away). */
  signal?: AbortSignal;
  /** Overrides the transport's per-attempt deadline. */
  deadlineMs?: number;
}

/**
 * The one path for network I/O to a source: a deadline per call (an abort signal), bounded
 * retry with full jitter for idempotent calls only, and a circuit breaker per source. The total time
 * is bounded by `deadlineMs` overall so a retry never pushes a response past the source's deadline.
 * Keep-alive comes from Node's fetch (undici keeps connections alive by default).
 */
export class Transport {
  readonly breaker: CircuitBreaker;

  constructor(
    readonly source: SourceId,
    private readonly opts: TransportOptions,
  ) {
    this.breaker = new CircuitBreaker(opts.breaker);
  }

  async call<T>(name: string, fn: (signal: AbortSignal) => Promise<T>, callOpts: CallOptions): Promise<T> {
    const deadlineMs = callOpts.deadlineMs ?? this.opts.deadlineMs;
    // An explicit timer rather than AbortSignal.timeout(): on Node 20 a timeout signal combined with
    // AbortSignal.any() can be garbage-collected before it fires, and the call then never ends (seen
    // in the benchmark: one request in ~4,000 hung until the HTTP server's 300 s request timeout).
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(new DOMException(`deadline of ${deadlineMs} ms`, 'TimeoutError')), deadlineMs);
    const onCallerAbort = () => controller.abort(callOpts.signal?.reason);
    if (callOpts.signal?.aborted) onCallerAbort();
    else callOpts.signal?.addEventListener('abort', onCallerAbort, { once: true });
    try {
      return await this.attempts(name, fn, controller.signal, deadlineMs, callOpts.idempotent ? 1 + this.opts.retries : 1);
    } finally {
      clearTimeout(timer);
      callOpts.signal?.removeEventListener('abort', onCallerAbort);
    }
  }

  private async attempts<T>(name: string, fn: (signal: AbortSignal) => Promise<T>, signal: AbortSignal, deadlineMs: number, attempts: number): Promise<T> {
    let last: SourceError | undefined;
    for (let attempt = 0; attempt < attempts; attempt++) {
      if (!this.breaker.tryAcquire()) {
        throw new SourceError(this.source, 'circuit-open', `${name}: circuit open after repeated failures`);
      }
      try {
        const result = await fn(signal);
        this.breaker.onSuccess();
        return result;
      } catch (e) {
        last = this.classify(name, e, signal, deadlineMs);
        // A source that answers, even wrongly, is reachable: only failures to answer count towards
        // opening the circuit, so its health is back with its next good answer.
        if (last.kind === 'invalid-response') this.breaker.onSuccess();
        else this.breaker.onFailure();
        if (signal.aborted || !last.retryable || attempt + 1 >= attempts) throw last;
        await sleep(Math.random() * this.opts.retryBaseMs * 2 ** attempt, signal).catch(() => undefined);
        if (signal.aborted) throw new SourceError(this.source, 'timeout', `${name}: no answer within ${deadlineMs} ms`);
      }
    }
    throw last ?? new SourceError(this.source, 'error', `${name}: failed`);
  }

  /** Maps any failure to a SourceError whose message never carries request URLs or bodies (they may hold identifiers). */
  private classify(name: string, e: unknown, signal: AbortSignal, deadlineMs: number): SourceError {
    if (e instanceof SourceError) return e;
    if (signal.aborted) return new SourceError(this.source, 'timeout', `${name}: no answer within ${deadlineMs} ms`);
    const status = (e as { response?: { status?: number } }).response?.status ?? (e as { status?: number }).status;
    if (e instanceof SyntaxError || (typeof status === 'number' && status < 300)) {
      return new SourceError(this.source, 'invalid-response', `${name}: response is not valid JSON`);
    }
    if (typeof status === 'number') {
      return new SourceError(this.source, 'error', `${name}: HTTP ${status}`, status >= 500 || status === 429);
    }
    const code = (e as { cause?: { code?: string } }).cause?.code;
    return new SourceError(this.source, 'error', `${name}: connection failed${code ? ` (${code})` : ''}`);
  }
}

function sleep(ms: number, signal: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(resolve, ms);
    signal.addEventListener('abort', () => {
      clearTimeout(t);
      reject(signal.reason);
    }, { once: true });
  });
}
