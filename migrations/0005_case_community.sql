-- Cases placed down to the community/village level: filter on it directly (community codes from the
-- statistical tables do not always share their township's prefix).
ALTER TABLE cases ADD COLUMN community_code text;
CREATE INDEX cases_community ON cases (community_code, last_position);
