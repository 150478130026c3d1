/**
 * A per-source circuit breaker. Closed: calls go through and consecutive failures are counted.
 * After `failureThreshold` consecutive failures it opens: calls fail fast for `openMs`.
 * Then it is half-open: one trial call goes through; success closes it, failure re-opens it.
 */
export type CircuitState = 'closed' | 'open' | 'half-open';

export interface CircuitBreakerOptions {
  failureThreshold: number;
  openMs: number;
  now?: () => number;
}

export class CircuitBreaker {
  private failures = 0;
  private openedAt = 0;
  private state_: CircuitState = 'closed';
  private trialInFlight = false;
  private readonly now: () => number;

  constructor(private readonly opts: CircuitBreakerOptions) {
    this.now = opts.now ?? Date.now;
  }

  get state(): CircuitState {
    if (this.state_ === 'open' && this.now() - this.openedAt >= this.opts.openMs) this.state_ = 'half-open';
    return this.state_;
  }

  /** Whether a call may go through now; in half-open only one trial call at a time. */
  tryAcquire(): boolean {
    const s = this.state;
    if (s === 'closed') return true;
    if (s === 'half-open' && !this.trialInFlight) {
      this.trialInFlight = true;
      return true;
    }
    return false;
  }

  onSuccess(): void {
    this.failures = 0;
    this.trialInFlight = false;
    this.state_ = 'closed';
  }

  onFailure(): void {
    this.trialInFlight = false;
    this.failures++;
    if (this.state_ === 'half-open' || this.failures >= this.opts.failureThreshold) {
      this.state_ = 'open';
      this.openedAt = this.now();
    }
  }
}
