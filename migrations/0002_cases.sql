-- Case projection, written in the same transaction as the events it folds, so it is never behind.
-- `doc` is the case as the API shows it; the columns are what queries filter on.
CREATE TABLE cases (
    case_id       uuid PRIMARY KEY,
    version       integer     NOT NULL,
    state         text        NOT NULL,
    county_code   text,
    township_code text,
    grid_code     text,
    category      text,
    ticket_no     text,
    last_position bigint      NOT NULL,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    doc           jsonb       NOT NULL
);
CREATE INDEX cases_state ON cases (state, last_position);
CREATE INDEX cases_county ON cases (county_code, last_position);
CREATE INDEX cases_township ON cases (township_code, last_position);
CREATE INDEX cases_ticket_no ON cases (ticket_no) WHERE ticket_no IS NOT NULL;
CREATE INDEX cases_last_position ON cases (last_position);
