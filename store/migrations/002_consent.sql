-- Consents: every change is a new version; nothing is updated in place or deleted.
CREATE TABLE consent_version (
  id           uuid NOT NULL,
  version      integer NOT NULL CHECK (version > 0),
  patient_id   uuid NOT NULL REFERENCES patient (id),
  status       text NOT NULL,
  scope        text NOT NULL,
  resource     jsonb NOT NULL,
  recorded_at  timestamptz NOT NULL DEFAULT now(),
  recorded_by  text NOT NULL,
  PRIMARY KEY (id, version)
);

CREATE INDEX consent_version_patient_idx ON consent_version (patient_id, id, version);

-- The registered GP practice (ODS code) as last seen in the GP record: one input to the
-- legitimate-relationship test, so a decision needs no call to a source.
ALTER TABLE patient ADD COLUMN registered_practice text;

-- Emergency (break-glass) access grants, bound to one user and one patient, time-limited.
CREATE TABLE emergency_grant (
  id            uuid PRIMARY KEY,
  user_sub      text NOT NULL,
  user_role     text NOT NULL,
  organisation  text,
  patient_id    uuid NOT NULL REFERENCES patient (id),
  reason_code   text NOT NULL,
  reason_text   text NOT NULL,
  created_at    timestamptz NOT NULL DEFAULT now(),
  expires_at    timestamptz NOT NULL,
  review_status text NOT NULL DEFAULT 'open' CHECK (review_status IN ('open', 'reviewed')),
  review_outcome text CHECK (review_outcome IN ('appropriate', 'inappropriate')),
  reviewed_by   text,
  reviewed_at   timestamptz,
  review_note   text
);

CREATE INDEX emergency_grant_lookup_idx ON emergency_grant (user_sub, patient_id, expires_at);
CREATE INDEX emergency_grant_review_idx ON emergency_grant (review_status, created_at);
