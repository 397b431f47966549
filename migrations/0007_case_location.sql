-- The case's point (WGS84) as columns, so that the duplicate check at intake can ask for open cases
-- of the same category in a small box instead of reading every recent case of the county.
ALTER TABLE cases ADD COLUMN lng double precision, ADD COLUMN lat double precision;
CREATE INDEX cases_category_place ON cases (category, lat, lng) WHERE lat IS NOT NULL;
