-- The patient index: one integrated patient per person, linked to each source's local patient.
CREATE TABLE patient (
  id          uuid PRIMARY KEY,
  nhs_number  text UNIQUE,
  created_at  timestamptz NOT NULL DEFAULT now()
);

-- One row per source-local patient record linked to an integrated patient.
-- match_method: 'nhs-number' (exact) or 'demographics' (scored; score kept for review).
CREATE TABLE patient_link (
  source             text NOT NULL,
  source_patient_id  text NOT NULL,
  patient_id         uuid NOT NULL REFERENCES patient (id),
  match_method       text NOT NULL CHECK (match_method IN ('nhs-number', 'demographics')),
  match_score        integer,
  linked_at          timestamptz NOT NULL DEFAULT now(),
  PRIMARY KEY (source, source_patient_id)
);

CREATE INDEX patient_link_patient_idx ON patient_link (patient_id);
