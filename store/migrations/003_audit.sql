-- Append-only, tamper-evident audit trail (issue #3). One row per audited event; the full FHIR R4
-- AuditEvent is kept in `resource`, the columns beside it exist only to search.
--
-- seq is assigned by the application inside one transaction holding an advisory lock, so the chain
-- has no gaps and no forks even with several service instances. hash = sha256(prev_hash || canonical
-- JSON of the row's content); prev_hash of seq 1 is 64 zeros. See consent/audit.ts.
CREATE TABLE audit_event (
  seq           bigint PRIMARY KEY CHECK (seq >= 1),
  id            uuid NOT NULL UNIQUE,
  recorded      timestamptz NOT NULL,
  patient_id    uuid,
  user_sub      text NOT NULL,
  user_role     text NOT NULL,
  organisation  text,
  action        text NOT NULL,
  decision      text NOT NULL CHECK (decision IN ('permit', 'deny')),
  purpose       text NOT NULL,
  request_id    text NOT NULL,
  resource      jsonb NOT NULL,
  prev_hash     text NOT NULL CHECK (prev_hash ~ '^[0-9a-f]{64}$'),
  hash          text NOT NULL UNIQUE CHECK (hash ~ '^[0-9a-f]{64}$')
);

CREATE INDEX audit_event_patient_idx ON audit_event (patient_id, recorded DESC) WHERE patient_id IS NOT NULL;
CREATE INDEX audit_event_user_idx ON audit_event (user_sub, recorded DESC);
CREATE INDEX audit_event_organisation_idx ON audit_event (organisation, recorded DESC) WHERE organisation IS NOT NULL;
CREATE INDEX audit_event_recorded_idx ON audit_event (recorded DESC);
CREATE INDEX audit_event_decision_idx ON audit_event (decision, recorded DESC);

-- Append-only for every ordinary statement: UPDATE and DELETE are rewritten to nothing (0 rows
-- affected, no error). Rules need no function body, so they work in these plain-statement migrations
-- on PostgreSQL and PGlite alike. They do not stop TRUNCATE, nor the table owner or a superuser
-- dropping the rules; that is what the hash chain (consent/audit.ts, scripts/verify-audit.ts) detects.
CREATE RULE audit_event_no_update AS ON UPDATE TO audit_event DO INSTEAD NOTHING;
CREATE RULE audit_event_no_delete AS ON DELETE TO audit_event DO INSTEAD NOTHING;

-- Least privilege for roles other than the owner (the owner is not affected by REVOKE).
REVOKE UPDATE, DELETE, TRUNCATE ON audit_event FROM PUBLIC;
