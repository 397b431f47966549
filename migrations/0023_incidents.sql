-- Emergency incidents (issue 18 item 2, 平急转换): each incident is a stream in the event store (incident.declared,
-- incident.updated, incident.case_linked, incident.closed); these projections are written in the append
-- transaction, like `cases` and `alerts`.
CREATE TABLE incidents (
    incident_id   uuid PRIMARY KEY,
    version       integer     NOT NULL,
    state         text        NOT NULL,
    kind          text        NOT NULL,
    level         text        NOT NULL,
    area_codes    text[]      NOT NULL,
    declared_at   timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    last_position bigint      NOT NULL,
    doc           jsonb       NOT NULL
);
CREATE INDEX incidents_state ON incidents (state, declared_at DESC);
-- The cases linked to an incident (at intake or on request): one row each.
CREATE TABLE incident_cases (
    incident_id uuid        NOT NULL,
    case_id     uuid        NOT NULL,
    how         text        NOT NULL,  -- automatic | by_hand
    linked_at   timestamptz NOT NULL,
    position    bigint      NOT NULL,
    PRIMARY KEY (incident_id, case_id)
);
CREATE INDEX incident_cases_case ON incident_cases (case_id);
-- Documents kept with an incident: the review report (复盘) produced when it is closed. Not a projection: a
-- product of the events, regenerated from them on request when missing.
CREATE TABLE incident_documents (
    incident_id uuid        NOT NULL,
    name        text        NOT NULL,  -- review.xlsx
    media_type  text        NOT NULL,
    content     bytea       NOT NULL,
    created_at  timestamptz NOT NULL,
    PRIMARY KEY (incident_id, name)
);
