import { createHmac } from 'node:crypto';
import type { Db } from './db.js';

/**
 * Fixed-window rate limits kept in the database (table `rate_limit`, store/migrations/006_shared_rate_limits.sql),
 * so every service instance over one PostgreSQL spends from the same allowance: a client cannot multiply its
 * limit by the number of instances behind the load balancer. A window starts at the client's first request
 * (database clock) and lasts `windowMs`; within it `limit` requests are allowed.
 *
 * One statement per `take`: an upsert that either starts a new window or counts one more request in the
 * current one. PostgreSQL serialises upserts of one row, so concurrent requests on different instances are
 * counted exactly. The client key (e.g. an IP address) is stored only as an HMAC under a server secret, and
 * rows are deleted once two windows old.
 */
export interface RateLimiter {
  /** Spends one unit for `client`; says whether it was allowed and, if not, the seconds until it will be. */
  take(client: string): Promise<RateDecision>;
}

export type RateDecision = { allowed: true } | { allowed: false; retryAfterSeconds: number };

export interface RateLimitOptions {
  /** Names this limit (several limits share the table). */
  bucket: string;
  limit: number;
  windowMs: number;
  /** Keys the HMAC of client keys; every instance must use the same secret (config INDICATOR_PSEUDONYM_SECRET). */
  secret: Uint8Array;
}

/** A rate limiter shared through the database by every instance using it. */
export function sharedRateLimiter(db: Db, opts: RateLimitOptions): RateLimiter {
  const hmacKey = createHmac('sha256', opts.secret).update('rate-limit-client-key', 'utf8').digest();
  return {
    async take(client) {
      const key = createHmac('sha256', hmacKey).update(`${opts.bucket}\0${client}`, 'utf8').digest('hex');
      const r = await db.query<{ used: number; remaining_ms: number | string }>(
        `INSERT INTO rate_limit AS r (bucket, client_key, window_start, used)
         VALUES ($1, $2, clock_timestamp(), 1)
         ON CONFLICT (bucket, client_key) DO UPDATE SET
           window_start = CASE WHEN r.window_start <= EXCLUDED.window_start - $3::double precision * interval '1 millisecond'
                               THEN EXCLUDED.window_start ELSE r.window_start END,
           used = CASE WHEN r.window_start <= EXCLUDED.window_start - $3::double precision * interval '1 millisecond'
                       THEN 1 ELSE r.used + 1 END
         RETURNING r.used,
                   extract(epoch FROM (r.window_start + $3::double precision * interval '1 millisecond' - clock_timestamp())) * 1000 AS remaining_ms`,
        [opts.bucket, key, opts.windowMs],
      );
      // Windows two windows old are of no further use: delete them (only this limit's rows; cheap, indexed).
      await db.query(
        `DELETE FROM rate_limit WHERE bucket = $1 AND window_start < clock_timestamp() - 2 * $2::double precision * interval '1 millisecond'`,
        [opts.bucket, opts.windowMs],
      );
      const row = r.rows[0]!;
      if (Number(row.used) <= opts.limit) return { allowed: true };
      return { allowed: false, retryAfterSeconds: Math.max(1, Math.ceil(Number(row.remaining_ms) / 1000)) };
    },
  };
}
