-- Early warning (issue 17): each alert is a stream in the event store (alert.raised, alert.updated,
-- alert.acknowledged, alert.closed); this projection is written in the append transaction, like `cases`.
CREATE TABLE alerts (
    alert_id      uuid PRIMARY KEY,
    version       integer     NOT NULL,
    state         text        NOT NULL,
    kind          text        NOT NULL,
    level         text        NOT NULL,
    area_code     text        NOT NULL,
    county_code   text,
    category_code text,
    cell          text        NOT NULL,  -- the detector's cell (kind|category|level|area|window): episodes
    raised_at     timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL,
    last_position bigint      NOT NULL,
    doc           jsonb       NOT NULL
);
CREATE INDEX alerts_state ON alerts (state, raised_at DESC);
CREATE INDEX alerts_area ON alerts (area_code);
-- Where the early-warning follower (the leader's) has read the store up to: a restart resumes there.
CREATE TABLE store_followers (
    name     text PRIMARY KEY,
    position bigint NOT NULL
);
