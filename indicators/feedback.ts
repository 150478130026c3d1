import { randomUUID } from 'node:crypto';
import type { Db } from '../store/db.js';

/**
 * Public feedback on indicators and on the pages of the public site (table `indicator_feedback`, append-only;
 * store/migrations/004_indicators.sql and 007_feedback_page.sql). Nothing about the sender is asked for or
 * stored: only what it is about (an indicator, a page or both), the text, an optional 1–5 rating and the time.
 */

export const FEEDBACK_MAX_CHARS = 2000;

export interface Feedback {
  id: string;
  /** The indicator it is about (null for feedback on a page that is not an indicator's). */
  indicatorId: string | null;
  /** The public page it was sent from (its path), when sent through the pages. */
  page: string | null;
  text: string;
  rating: number | null;
  createdAt: string;
}

/** What is wrong with submitted feedback (the API and the pages word it each their own way). */
export type FeedbackProblem =
  | { field: 'text'; kind: 'empty' | 'too-long' | 'personal-data' }
  | { field: 'rating'; kind: 'rating' };

/** Text that looks like someone's NHS number or e-mail address: feedback must not carry personal data. */
const NHS_NUMBER_LIKE = /(?<!\d)\d{3}[ -]?\d{3}[ -]?\d{4}(?!\d)/;
const EMAIL_LIKE = /[^\s@]+@[^\s@]+\.[^\s@]+/;

/** Checks feedback before it is stored: text present, not too long, no personal data; rating null or 1–5. */
export function feedbackProblems(text: unknown, rating: unknown): FeedbackProblem[] {
  const problems: FeedbackProblem[] = [];
  if (typeof text !== 'string' || text.trim() === '') problems.push({ field: 'text', kind: 'empty' });
  else if (text.length > FEEDBACK_MAX_CHARS) problems.push({ field: 'text', kind: 'too-long' });
  else if (NHS_NUMBER_LIKE.test(text) || EMAIL_LIKE.test(text)) problems.push({ field: 'text', kind: 'personal-data' });
  if (rating !== null && rating !== undefined && (typeof rating !== 'number' || !Number.isInteger(rating) || rating < 1 || rating > 5)) {
    problems.push({ field: 'rating', kind: 'rating' });
  }
  return problems;
}

type Row = { id: string; indicator_id: string | null; page: string | null; text: string; rating: number | null; created_at: Date | string };
const feedbackOf = (x: Row): Feedback => ({
  id: x.id,
  indicatorId: x.indicator_id,
  page: x.page,
  text: x.text,
  rating: x.rating === null ? null : Number(x.rating),
  createdAt: new Date(x.created_at).toISOString(),
});

export class FeedbackStore {
  constructor(private readonly db: Db) {}

  /** Stores feedback about an indicator, a page of the public site, or both (at least one). */
  async add(indicatorId: string | null, text: string, rating: number | null, page: string | null = null): Promise<Feedback> {
    const id = randomUUID();
    const r = await this.db.query<{ created_at: Date | string }>(
      'INSERT INTO indicator_feedback (id, indicator_id, text, rating, page) VALUES ($1, $2, $3, $4, $5) RETURNING created_at',
      [id, indicatorId, text, rating, page],
    );
    return { id, indicatorId, page, text, rating, createdAt: new Date(r.rows[0]!.created_at).toISOString() };
  }

  /** One indicator's feedback, newest first. */
  async list(indicatorId: string, count = 100, offset = 0): Promise<Feedback[]> {
    const r = await this.db.query<Row>(
      `SELECT id::text AS id, indicator_id, page, text, rating, created_at FROM indicator_feedback
        WHERE indicator_id = $1 ORDER BY created_at DESC, id LIMIT $2 OFFSET $3`,
      [indicatorId, count, offset],
    );
    return r.rows.map(feedbackOf);
  }

  /** All feedback (indicators and pages), newest first. */
  async listAll(count = 100, offset = 0): Promise<Feedback[]> {
    const r = await this.db.query<Row>(
      `SELECT id::text AS id, indicator_id, page, text, rating, created_at FROM indicator_feedback
        ORDER BY created_at DESC, id LIMIT $1 OFFSET $2`,
      [count, offset],
    );
    return r.rows.map(feedbackOf);
  }
}
