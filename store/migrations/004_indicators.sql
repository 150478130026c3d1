-- Transparency indicator snapshots and public feedback (issue #5).
--
-- A snapshot is one refresh: every requested indicator for one reporting period, AFTER disclosure
-- control. `figures` holds only published values (suppressed cells as null with a reason); raw counts
-- below the disclosure threshold are never written here. Snapshots are never changed: a new refresh
-- writes a new snapshot, and what is published for a period is its latest complete snapshot (an
-- incomplete one is still kept and shown, marked incomplete with the sources that were unavailable).
CREATE TABLE indicator_snapshot (
  id                   uuid PRIMARY KEY,
  period_start         date NOT NULL,
  period_end           date NOT NULL CHECK (period_end >= period_start),
  computed_at          timestamptz NOT NULL,
  -- Token subject of the analyst who asked for the refresh (a member of staff, never a patient).
  requested_by         text NOT NULL,
  complete             boolean NOT NULL,
  -- [{source, status, version?, reason?}] as reported by each source for this run.
  source_statuses      jsonb NOT NULL,
  unavailable_sources  text[] NOT NULL DEFAULT '{}',
  -- Persons excluded for opting out of secondary use, as published: {value, suppressed, reason?}
  -- (disclosure-controlled like every other count; the raw number is not kept).
  opt_outs_applied     jsonb NOT NULL,
  -- {threshold, rounding} used for this snapshot.
  disclosure_policy    jsonb NOT NULL,
  indicator_ids        text[] NOT NULL,
  stored_at            timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX indicator_snapshot_period_idx ON indicator_snapshot (period_end DESC, period_start, computed_at DESC);

-- The published figures of one indicator in one snapshot (one row per indicator, so one
-- organisation's history or one indicator's latest snapshot is read without loading the others).
CREATE TABLE indicator_snapshot_figures (
  snapshot_id   uuid NOT NULL REFERENCES indicator_snapshot (id),
  indicator_id  text NOT NULL,
  complete      boolean NOT NULL,
  figures       jsonb NOT NULL,
  PRIMARY KEY (snapshot_id, indicator_id)
);

CREATE INDEX indicator_snapshot_figures_indicator_idx ON indicator_snapshot_figures (indicator_id, snapshot_id);

-- Public feedback on an indicator. Nothing about the sender is stored (no name, e-mail or address).
CREATE TABLE indicator_feedback (
  id            uuid PRIMARY KEY,
  indicator_id  text NOT NULL,
  text          text NOT NULL CHECK (char_length(text) BETWEEN 1 AND 2000),
  rating        smallint CHECK (rating BETWEEN 1 AND 5),
  created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE INDEX indicator_feedback_indicator_idx ON indicator_feedback (indicator_id, created_at DESC);

-- Append-only, like the audit trail: published figures never change silently.
CREATE RULE indicator_snapshot_no_update AS ON UPDATE TO indicator_snapshot DO INSTEAD NOTHING;
CREATE RULE indicator_snapshot_no_delete AS ON DELETE TO indicator_snapshot DO INSTEAD NOTHING;
CREATE RULE indicator_snapshot_figures_no_update AS ON UPDATE TO indicator_snapshot_figures DO INSTEAD NOTHING;
CREATE RULE indicator_snapshot_figures_no_delete AS ON DELETE TO indicator_snapshot_figures DO INSTEAD NOTHING;
CREATE RULE indicator_feedback_no_update AS ON UPDATE TO indicator_feedback DO INSTEAD NOTHING;
CREATE RULE indicator_feedback_no_delete AS ON DELETE TO indicator_feedback DO INSTEAD NOTHING;

REVOKE UPDATE, DELETE, TRUNCATE ON indicator_snapshot, indicator_snapshot_figures, indicator_feedback FROM PUBLIC;
