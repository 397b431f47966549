-- The duty roster (值班, issue 18 item 3): who is on duty in a unit on a day, so that urgent cases and directives
-- name someone to phone. An administrative record like `users`, not events: the event store's streams are cases
-- (every projection and console feed reads them all), and a roster is set, changed and cleared as a whole, not a
-- history that decides anything. Auditable all the same: every change is appended to `duty_roster_changes`
-- (who, when, what was there before and after) in the same transaction, and that log is append-only.
--
-- A day may have several officers, one per shift: `shift` '' is the whole day; a label (白班, 夜班 …) with its
-- local times `starts`–`ends` is one shift of it, and a shift whose end is not after its start ends the next
-- morning (a night shift 18:00–08:00 belongs to the day it starts). `unit` is a responsibility-matrix unit code
-- (450103-gov, 450103-cgj, 450103001-gov, 450100-zhzx); `day` is the local (Asia/Shanghai) date.
CREATE TABLE duty_roster (
    unit   text        NOT NULL,
    day    date        NOT NULL,
    shift  text        NOT NULL DEFAULT '',
    starts time,
    ends   time,
    name   text        NOT NULL,
    phone  text        NOT NULL,
    note   text,
    set_by text        NOT NULL,
    set_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (unit, day, shift),
    CHECK ((starts IS NULL) = (ends IS NULL))
);
-- "Today's officers in my jurisdiction": by day, units by prefix.
CREATE INDEX duty_roster_day ON duty_roster (day, unit text_pattern_ops);

CREATE TABLE duty_roster_changes (
    id     bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at     timestamptz NOT NULL DEFAULT now(),
    by     text        NOT NULL,  -- "role:username" through the API, "cli:<os user>" from the command line
    action text        NOT NULL CHECK (action IN ('set', 'clear')),
    unit   text        NOT NULL,
    day    date        NOT NULL,
    shift  text        NOT NULL,
    before jsonb,                 -- the entry replaced or cleared; NULL when there was none
    after  jsonb                  -- the entry set; NULL for a clear
);
CREATE INDEX duty_roster_changes_unit ON duty_roster_changes (unit, day, id);

-- Append-only as audit_log is (migration 0010); one function for any table that must be (later logs reuse it).
CREATE FUNCTION refuse_change_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION '% is append-only: % refused', TG_TABLE_NAME, TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER duty_roster_changes_no_update_delete BEFORE UPDATE OR DELETE ON duty_roster_changes
    FOR EACH ROW EXECUTE FUNCTION refuse_change_append_only();
CREATE TRIGGER duty_roster_changes_no_truncate BEFORE TRUNCATE ON duty_roster_changes
    FOR EACH STATEMENT EXECUTE FUNCTION refuse_change_append_only();
