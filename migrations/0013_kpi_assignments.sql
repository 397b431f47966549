-- The KPI projection (issue 14): one slim row per assignment (one dispatch of a case to a lead unit),
-- written by the committer in the same transaction as the events, so a hub never replays the store to
-- compute KPIs. Figures are aggregated from these rows at read time, judged `as_of` the moment asked
-- (an open assignment past its deadline counts as late while its case is still being worked on).
CREATE TABLE kpi_assignments (
    position            bigint PRIMARY KEY,  -- of its case.dispatched event: identity and store order
    case_id             uuid        NOT NULL,
    unit_code           text        NOT NULL,
    unit_name           text        NOT NULL,
    township_code       text,
    township_name       text,
    county_code         text,
    county_name         text,
    city_code           text,
    city_name           text,
    dispatched_at       timestamptz NOT NULL,
    sign_by             timestamptz,
    resolve_by          timestamptz,
    signed_at           timestamptz,
    signed_by_deadline  timestamptz,          -- the sign-off deadline in force when it was signed
    resolved_at         timestamptz,
    resolved_on_time    boolean,
    returned            boolean     NOT NULL,
    resolutions         integer     NOT NULL,
    redos               integer     NOT NULL,
    valid_callbacks     integer     NOT NULL,
    contacted           integer     NOT NULL,
    solved              integer     NOT NULL,
    satisfied           integer     NOT NULL,
    basically_satisfied integer     NOT NULL,
    ended               boolean     NOT NULL, -- superseded by a re-dispatch (改派)
    case_state          text        NOT NULL  -- the case's state, kept current on its current assignment
);
-- The committer loads a case's current assignment when one of its later events arrives.
CREATE INDEX kpi_assignments_current ON kpi_assignments (case_id) WHERE NOT ended;
-- Reads pick the periods asked for.
CREATE INDEX kpi_assignments_dispatched_at ON kpi_assignments (dispatched_at);

-- A store that already held events when this table was created has no rows for them until
-- `cityloop projections rebuild`, which sets `missing_up_to` back to 0; the hub warns at start-up meanwhile.
CREATE TABLE kpi_backfill (
    only_row      boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    missing_up_to bigint  NOT NULL
);
INSERT INTO kpi_backfill (missing_up_to) SELECT coalesce(max(position), 0) FROM events;
