-- Directives (政令一键智达, issue 18): each directive is a stream in the event store (directive.issued,
-- .acknowledged, .replied, .reminded, .overdue); this projection is written in the append transaction, like
-- `alerts`, and rebuilt from the events by `cityloop projections rebuild`.
CREATE TABLE directives (
    directive_id  uuid PRIMARY KEY,
    version       integer     NOT NULL,
    state         text        NOT NULL,  -- open | overdue | completed
    issuer_area   text        NOT NULL,
    incident_id   text,
    issued_at     timestamptz NOT NULL,
    due           timestamptz NOT NULL,
    next_due_at   timestamptz,           -- the next reminder or the deadline; NULL when no timer is left
    last_position bigint      NOT NULL,
    doc           jsonb       NOT NULL
);
CREATE INDEX directives_issued ON directives (issued_at DESC);
CREATE INDEX directives_next_due ON directives (next_due_at) WHERE next_due_at IS NOT NULL;
CREATE INDEX directives_incident ON directives (incident_id) WHERE incident_id IS NOT NULL;
-- One row per recipient unit: "the directives addressed to my unit" and "in my areas" without reading documents.
CREATE TABLE directive_recipients (
    directive_id uuid NOT NULL REFERENCES directives (directive_id) ON DELETE CASCADE,
    unit_code    text NOT NULL,
    area_code    text NOT NULL,
    state        text NOT NULL,
    PRIMARY KEY (directive_id, unit_code)
);
CREATE INDEX directive_recipients_unit ON directive_recipients (unit_code);
CREATE INDEX directive_recipients_area ON directive_recipients (area_code text_pattern_ops);
