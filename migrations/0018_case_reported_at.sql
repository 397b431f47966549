-- Early warning and analysis (issue 17) count *reports* by when they were reported, not by when the hub
-- received them: an imported history and a ticket pushed late both count at their original time. Every
-- report is its own case (a duplicate is merged, not dropped), so the case projection carries the time
-- and whether the case came from the old system's history (imported cases never start SLA clocks or
-- callbacks, but do feed baselines, KPIs and analysis).
ALTER TABLE cases ADD COLUMN reported_at timestamptz, ADD COLUMN imported boolean NOT NULL DEFAULT false;
UPDATE cases SET reported_at = (doc->'report'->>'reported_at')::timestamptz
WHERE doc->'report'->>'reported_at' IS NOT NULL;
UPDATE cases SET reported_at = created_at WHERE reported_at IS NULL;
ALTER TABLE cases ALTER COLUMN reported_at SET NOT NULL;
CREATE INDEX cases_reported ON cases (reported_at);
