-- The public Open311 list's partial index (0012) tested `doc->>'source'`, so building it detoasted every case
-- document: 1.4 s of each projection rebuild over a million events. The slim `source` column (0014) holds the
-- same value; the index and the listing's filter (hub.store.reads.OPEN311_PUBLIC) use it instead (~0.05 s).
DROP INDEX cases_open311_recent;
CREATE INDEX cases_open311_recent ON cases (created_at DESC, case_id DESC) WHERE source = 'open311';
