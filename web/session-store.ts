/**
 * Browser sessions in the database (table web_session, store/migrations/005_web_sessions.sql), so every
 * service instance sees the same sessions and nothing authoritative lives in process memory. The cookie
 * carries a random 256-bit id; only its SHA-256 is stored.
 */
import { createHash, randomBytes } from 'node:crypto';
import type { Db } from '../store/db.js';
import type { Principal } from '../identity/principal.js';

/** What a session holds. Never patient identifiers other than a patient's own NHS number in `principal`. */
export interface SessionData {
  principal?: Principal;
  /** Synchroniser token for every form of this session. */
  csrf: string;
  /** Idle limit of this session (minutes). */
  idleMinutes: number;
  /** The ID token, kept as the hint for RP-initiated logout. */
  idToken?: string;
  /** An authorisation request in flight (sign-in started, callback not yet seen). */
  signIn?: { state: string; nonce: string; codeVerifier: string; returnTo: string };
  /** Where to go after signing in (a path on this service). */
  returnTo?: string;
}

export interface StoredSession {
  id: string;
  data: SessionData;
  lastSeenAt: Date;
  expiresAt: Date;
}

const hashOf = (id: string) => createHash('sha256').update(id).digest('base64url');

/** A new random session id (43 base64url characters). */
export const newSessionId = () => randomBytes(32).toString('base64url');
/** A new random CSRF token. */
export const newCsrfToken = () => randomBytes(32).toString('base64url');

export class SessionStore {
  private created = 0;

  constructor(private readonly db: Db) {}

  /** The session for a cookie value, or undefined when unknown or past its absolute expiry. */
  async get(id: string, now: Date): Promise<StoredSession | undefined> {
    if (!/^[A-Za-z0-9_-]{43}$/.test(id)) return undefined;
    const r = await this.db.query<{ data: SessionData; last_seen_at: Date | string; expires_at: Date | string }>(
      'SELECT data, last_seen_at, expires_at FROM web_session WHERE id_hash = $1',
      [hashOf(id)],
    );
    const row = r.rows[0];
    if (!row) return undefined;
    const expiresAt = new Date(row.expires_at);
    if (expiresAt <= now) {
      await this.delete(id);
      return undefined;
    }
    const data = typeof row.data === 'string' ? (JSON.parse(row.data) as SessionData) : row.data;
    return { id, data, lastSeenAt: new Date(row.last_seen_at), expiresAt };
  }

  /** Stores a new session under a fresh id and returns the id. */
  async create(data: SessionData, now: Date, maxHours: number): Promise<string> {
    const id = newSessionId();
    await this.db.query('INSERT INTO web_session (id_hash, data, last_seen_at, expires_at) VALUES ($1, $2, $3, $4)', [
      hashOf(id),
      JSON.stringify(data),
      now,
      new Date(now.getTime() + maxHours * 3_600_000),
    ]);
    if (++this.created % 50 === 0) await this.sweep(now).catch(() => undefined);
    return id;
  }

  /** Writes the session's data and marks it used now. */
  async save(id: string, data: SessionData, now: Date): Promise<void> {
    await this.db.query('UPDATE web_session SET data = $2, last_seen_at = $3 WHERE id_hash = $1', [hashOf(id), JSON.stringify(data), now]);
  }

  /** Marks the session used now (the idle clock restarts). */
  async touch(id: string, now: Date): Promise<void> {
    await this.db.query('UPDATE web_session SET last_seen_at = $2 WHERE id_hash = $1', [hashOf(id), now]);
  }

  async delete(id: string): Promise<void> {
    await this.db.query('DELETE FROM web_session WHERE id_hash = $1', [hashOf(id)]);
  }

  /**
   * Deletes sessions past their absolute expiry or idle for longer than their own limit (a sign-in never
   * finished goes after 10 minutes, not hours), and any idle for longer than any session may be.
   */
  async sweep(now: Date): Promise<void> {
    await this.db.query(
      `DELETE FROM web_session WHERE expires_at < $1 OR last_seen_at < $2
          OR last_seen_at < $1::timestamptz - make_interval(mins => COALESCE((data->>'idleMinutes')::int, 240))`,
      [now, new Date(now.getTime() - 4 * 3_600_000)],
    );
  }
}
