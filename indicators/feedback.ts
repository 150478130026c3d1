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
