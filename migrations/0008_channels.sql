-- Channels (issue 5): the IoT device registry, the quarantine of input nobody could be answered about,
-- the outbox of hotline status callbacks, and named checkpoints of log readers.

CREATE TABLE devices (
    device_id   text PRIMARY KEY,
    kind        text NOT NULL,
    name        text,
    lng         double precision NOT NULL,   -- WGS84, whatever the registration's CRS was
    lat         double precision NOT NULL,
    crs         text NOT NULL,               -- the CRS the location was registered in (kept for audit)
    owner_unit  text,
    created_at  timestamptz NOT NULL DEFAULT now(),
    updated_at  timestamptz NOT NULL DEFAULT now()
);

-- The device a machine-detected case came from: its repeated alarms join the open case.
ALTER TABLE cases ADD COLUMN device_id text;
CREATE INDEX cases_device ON cases (device_id, created_at) WHERE device_id IS NOT NULL;

CREATE TABLE quarantine (
    id           bigserial PRIMARY KEY,
    channel      text NOT NULL,              -- mqtt, iot_http, callback, ...
    reason       text NOT NULL,
    payload      bytea NOT NULL,             -- exactly what arrived (or what could not be delivered)
    meta         jsonb NOT NULL DEFAULT '{}',-- topic, device, outbox id, ...
    state        text NOT NULL DEFAULT 'held' CHECK (state IN ('held', 'replayed', 'discarded')),
    attempts     int NOT NULL DEFAULT 0,
    received_at  timestamptz NOT NULL DEFAULT now(),
    resolved_at  timestamptz,
    resolution   jsonb
);
CREATE INDEX quarantine_held ON quarantine (channel, id) WHERE state = 'held';

CREATE TABLE outbox (
    id              bigserial PRIMARY KEY,
    case_id         uuid NOT NULL,
    event_position  bigint NOT NULL UNIQUE,  -- one callback per event: the writer is idempotent
    event           text NOT NULL,
    url             text NOT NULL,
    body            jsonb NOT NULL,
    state           text NOT NULL DEFAULT 'pending' CHECK (state IN ('pending', 'delivered', 'dead')),
    attempts        int NOT NULL DEFAULT 0,
    next_attempt_at timestamptz NOT NULL DEFAULT now(),
    leased_until    timestamptz,
    last_status     int,
    last_error      text,
    created_at      timestamptz NOT NULL DEFAULT now(),
    delivered_at    timestamptz
);
CREATE INDEX outbox_due ON outbox (next_attempt_at) WHERE state = 'pending';
CREATE INDEX outbox_case_pending ON outbox (case_id, id) WHERE state = 'pending';

CREATE TABLE checkpoints (
    name      text PRIMARY KEY,
    position  bigint NOT NULL
);

-- Callbacks start with the outbox: events recorded before it existed are history, not news.
INSERT INTO checkpoints (name, position) SELECT 'outbox', coalesce(max(position), 0) FROM events;
