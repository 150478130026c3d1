-- Browser sessions of the web pages (web/session-store.ts). Server-side: the cookie holds only a random
-- id; the table holds its SHA-256 (a copy of the table does not let anyone use a session). Several
-- service instances share them. Rows past expires_at (absolute) are deleted as they are met and swept.
CREATE TABLE IF NOT EXISTS web_session (
  id_hash      text PRIMARY KEY,
  data         jsonb NOT NULL,
  created_at   timestamptz NOT NULL DEFAULT now(),
  last_seen_at timestamptz NOT NULL,
  expires_at   timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS web_session_expires ON web_session (expires_at);
