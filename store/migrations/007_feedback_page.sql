-- Feedback from any page of the public site (issue 18): the page it is about (its path, e.g. /organisations/A81001
-- or /indicators/flu-vaccination-65), beside the indicator when the page is an indicator's, or instead of it
-- (the listing, an organisation's page). Still nothing about the sender.
ALTER TABLE indicator_feedback ALTER COLUMN indicator_id DROP NOT NULL;
ALTER TABLE indicator_feedback ADD COLUMN page text CHECK (page IS NULL OR page ~ '^/[A-Za-z0-9/_.-]{0,200}$');
ALTER TABLE indicator_feedback ADD CONSTRAINT indicator_feedback_about CHECK (indicator_id IS NOT NULL OR page IS NOT NULL);
CREATE INDEX indicator_feedback_created_idx ON indicator_feedback (created_at DESC);
