-- The public Open311 list shows only requests submitted through Open311, newest first (issue 12):
-- a partial index keeps that listing cheap however many cases other channels bring.
CREATE INDEX cases_open311_recent ON cases (created_at DESC, case_id DESC) WHERE doc->>'source' = 'open311';
