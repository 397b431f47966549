-- Slim columns for the hot path (issue 14, "derive once"): intake's duplicate search compares the matrix's
-- category code, and the callback writer picks the events of hotline cases with somewhere to call back,
-- without decoding case documents.
ALTER TABLE cases ADD COLUMN category_code text, ADD COLUMN source text, ADD COLUMN callback_url text;
UPDATE cases SET category_code = doc->'category'->>'code', source = doc->>'source',
                 callback_url = CASE WHEN doc->>'source' = 'hotline' THEN doc->'report'->>'callback_url' END;
CREATE INDEX cases_hotline ON cases (case_id) WHERE source = 'hotline';
