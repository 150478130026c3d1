import { randomUUID } from 'node:crypto';
import type { Db } from '../store/db.js';

/**
 * Public feedback on indicators (table `indicator_feedback`, append-only). Nothing about the sender is
 * asked for or stored: only the indicator, the text, an optional 1–5 rating and the time.
 */

export const FEEDBACK_MAX_CHARS = 2000;

export interface Feedback {
  id: string;
  indicatorId: string;
  text: string;
  rating: number | null;
  createdAt: string;
}

export class FeedbackStore {
  constructor(private readonly db: Db) {}

  async add(indicatorId: string, text: string, rating: number | null): Promise<Feedback> {
    const id = randomUUID();
    const r = await this.db.query<{ created_at: Date | string }>(
      'INSERT INTO indicator_feedback (id, indicator_id, text, rating) VALUES ($1, $2, $3, $4) RETURNING created_at',
      [id, indicatorId, text, rating],
    );
    return { id, indicatorId, text, rating, createdAt: new Date(r.rows[0]!.created_at).toISOString() };
  }

  /** Newest first. */
  async list(indicatorId: string, count = 100, offset = 0): Promise<Feedback[]> {
    const r = await this.db.query<{ id: string; indicator_id: string; text: string; rating: number | null; created_at: Date | string }>(
      `SELECT id::text AS id, indicator_id, text, rating, created_at FROM indicator_feedback
        WHERE indicator_id = $1 ORDER BY created_at DESC, id LIMIT $2 OFFSET $3`,
      [indicatorId, count, offset],
    );
    return r.rows.map((x) => ({
      id: x.id,
      indicatorId: x.indicator_id,
      text: x.text,
      rating: x.rating === null ? null : Number(x.rating),
      createdAt: new Date(x.created_at).toISOString(),
    }));
  }
}

/** A fixed-window limiter per client key (e.g. IP address): `take` is false once `limit` is spent in the window. */
export class RateLimiter {
  private windows = new Map<string, { start: number; used: number }>();

  constructor(
    private readonly limit: number,
    private readonly windowMs: number,
    private readonly now: () => number = Date.now,
  ) {}

  /** Spends one unit for `key`; returns whether it was allowed and, if not, seconds until it will be. */
  take(key: string): { allowed: true } | { allowed: false; retryAfterSeconds: number } {
    const t = this.now();
    if (this.windows.size > 10_000) this.sweep(t);
    let w = this.windows.get(key);
    if (!w || t - w.start >= this.windowMs) {
      w = { start: t, used: 0 };
      this.windows.set(key, w);
    }
    if (w.used >= this.limit) return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil((w.start + this.windowMs - t) / 1000)) };
    w.used += 1;
    return { allowed: true };
  }

  private sweep(t: number): void {
    for (const [k, w] of this.windows) if (t - w.start >= this.windowMs) this.windows.delete(k);
  }
}
