-- Intake's duplicate search for a report with an address and no point compared `doc->'report'->>'address'` of
-- every case: a sequential scan that detoasted each case document, 11 ms a batch after 15,000 tickets and most of
-- PostgreSQL's CPU under saturated ingest (pg_stat_statements, 2026-12-07), growing with the store. The report's
-- address is a slim column like the others (0014), written by the projection, with an index for that search.
ALTER TABLE cases ADD COLUMN address text;
UPDATE cases SET address = doc->'report'->>'address' WHERE doc->'report'->>'address' IS NOT NULL;
CREATE INDEX cases_category_address ON cases (category, address, created_at) WHERE address IS NOT NULL;
