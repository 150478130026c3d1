-- A source system's analytic extract (issue #5): the minimum each sandbox source keeps so that it can
-- answer aggregate queries AT THE SOURCE. Each source has its own schema (src_gp, src_hospital,
-- src_social_care); this file is applied inside it with search_path set. Only counts (and, for
-- cross-source indicators, keyed pseudonyms computed per refresh) ever leave a source.
--
-- Loaded from the sandbox's own FHIR/social-care data for the small populations (tests, npm start),
-- or generated in bulk by scripts/generate-population.ts (1,000,000 people for the benchmark).

CREATE TABLE IF NOT EXISTS person (
  person_id     bigint PRIMARY KEY,
  nhs_number    text,                 -- NULL when the source does not hold one (a third of social care)
  sex           text NOT NULL CHECK (sex IN ('male', 'female')),
  birth_date    date NOT NULL,
  org_code      text NOT NULL,        -- GP: registered practice (ODS); hospital: trust (ODS); social care: local authority (ONS)
  deceased_date date
);
CREATE INDEX IF NOT EXISTS person_org_idx ON person (org_code);
CREATE INDEX IF NOT EXISTS person_nhs_idx ON person (nhs_number);

-- One row per coded fact. kind: condition | observation | medication | immunization | procedure |
-- encounter | care-package | care-review. Dates: start = onset / effective / authored / admission /
-- package start; end = abatement / medication end / discharge / package end (NULL = ongoing).
CREATE TABLE IF NOT EXISTS fact (
  person_id   bigint NOT NULL REFERENCES person (person_id),
  kind        text NOT NULL,
  system      text NOT NULL,          -- http://snomed.info/sct, http://loinc.org, http://hl7.org/fhir/sid/cvx, …
  code        text NOT NULL,
  start_date  date NOT NULL,
  end_date    date,
  value       double precision,       -- observation value (e.g. BMI, HbA1c)
  value_code  text,                   -- coded observation value (e.g. smoking status 77176002 "Smoker")
  class       text,                   -- encounter class: EMER | IMP | AMB | …
  org_code    text                    -- where it was recorded (trust for encounters)
);
-- Extracts built before value_code existed gain it (additive).
ALTER TABLE fact ADD COLUMN IF NOT EXISTS value_code text;
CREATE INDEX IF NOT EXISTS fact_kind_code_idx ON fact (kind, code, start_date);
CREATE INDEX IF NOT EXISTS fact_person_idx ON fact (person_id, kind);

-- Organisation-level returns published by the source (not about any person): hospital food
-- standards returns (item 'food:<standard-id>', value 1 = met / 0 = not met), local authority
-- population estimates (item 'population:18+', value = people).
CREATE TABLE IF NOT EXISTS org_return (
  org_code    text NOT NULL,
  period_end  date NOT NULL,
  item        text NOT NULL,
  value       double precision NOT NULL,
  PRIMARY KEY (org_code, period_end, item)
);

-- When this extract was built (a source's data version is reported with every answer).
CREATE TABLE IF NOT EXISTS extract_info (
  version     text NOT NULL,
  built_at    timestamptz NOT NULL DEFAULT now()
);

-- People left out of one aggregate session (they opted out of secondary use), materialised once per
-- session from the keyed pseudonyms the service sends; rows go when the session ends.
CREATE TABLE IF NOT EXISTS excluded_person (
  session_id  text NOT NULL,
  person_id   bigint NOT NULL,
  PRIMARY KEY (session_id, person_id)
);
