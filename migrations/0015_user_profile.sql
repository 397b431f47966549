-- Who a user is to the people they work with (issue 15): the name consoles show for their actions, and the
-- unit (a responsibility-matrix unit code, e.g. 450103001-gov) whose cases they handle. A township handler
-- without an explicit unit belongs to their township's government (hub.identity.auth.default_unit).
ALTER TABLE users ADD COLUMN display_name text, ADD COLUMN unit text;
UPDATE users SET unit = area || '-gov' WHERE role = 'township_handler' AND unit IS NULL AND area IS NOT NULL;
