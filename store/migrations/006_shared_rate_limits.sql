-- Rate limits shared by every service instance over this database (store/rate-limits.ts;
-- docs/operations-scale-out.md). One row per (limit, client) holds a fixed window: when it started
-- (the database clock, so instances with drifting clocks agree) and how many requests it has seen.
-- The client is never stored as given: client_key is HMAC-SHA256 under a server secret of the client's
-- address, and a row is deleted once its window is two windows old.
CREATE TABLE rate_limit (
  bucket        text NOT NULL,
  client_key    text NOT NULL CHECK (client_key ~ '^[0-9a-f]{64}$'),
  window_start  timestamptz NOT NULL,
  used          integer NOT NULL CHECK (used >= 1),
  PRIMARY KEY (bucket, client_key)
);

CREATE INDEX rate_limit_window_idx ON rate_limit (bucket, window_start);
