-- MQTT shared subscriptions (issue 19 item 5): with `$share/<group>/…` the broker hands each reading to any one
-- of several hubs, so two readings of one device may arrive at two hubs in either order. Every hub first records
-- what it received here (one row per device + seq: a redelivery is the same row); the readings of a device are
-- then applied in `seq` order by whichever hub holds the device's advisory lock (hub.services.iot.order).
CREATE TABLE iot_inbox (
    device_id   text        NOT NULL,
    seq         bigint      NOT NULL,
    at          timestamptz NOT NULL,  -- the device's own time of the reading: tells a restart from a late reading
    topic       text        NOT NULL,
    payload     bytea       NOT NULL,
    received_at timestamptz NOT NULL DEFAULT clock_timestamp(),
    PRIMARY KEY (device_id, seq)
);
-- The last reading applied per device: the next one in order is last_seq + 1.
CREATE TABLE iot_device_order (
    device_id text        PRIMARY KEY,
    last_seq  bigint      NOT NULL,
    last_at   timestamptz NOT NULL
);
