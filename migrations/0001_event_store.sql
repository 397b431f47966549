-- The event store: the only source of truth. Append-only; projections are rebuilt from it.
CREATE TABLE events (
    position    bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    stream_id   uuid        NOT NULL,
    version     integer     NOT NULL CHECK (version > 0),
    type        text        NOT NULL,
    data        jsonb       NOT NULL,
    metadata    jsonb       NOT NULL DEFAULT '{}'::jsonb,
    -- when the domain decided it (the clock the fold uses); recorded_at is when it was committed
    occurred_at timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    CONSTRAINT events_stream_version UNIQUE (stream_id, version)
);

-- One row per external input (hotline ticket_no, device id + seq, Open311 token): a retry finds the
-- first outcome here and gets the same answer.
CREATE TABLE idempotency_keys (
    key            text PRIMARY KEY,
    stream_id      uuid        NOT NULL,
    first_position bigint      NOT NULL,
    last_position  bigint      NOT NULL,
    recorded_at    timestamptz NOT NULL DEFAULT clock_timestamp()
);
