-- The consoles' headline counts the cases created since the start of the day (今日新增) for every jurisdiction
-- once a second or so (GET /api/v1/console/headline): an index on creation time keeps that a short range scan.
CREATE INDEX cases_created ON cases (created_at);
