-- Security issue 12, items 2 and 8.

-- Where a hotline key's status callbacks may go: normalised origins (scheme://host[:port]), loaded with the
-- key on every push (hub.auth) and read again by the outbox before anything is sent.
ALTER TABLE api_keys ADD COLUMN callback_origins text[] NOT NULL DEFAULT '{}';

-- The key whose ticket a callback answers, so the deliverer checks that key's origins at send time (an
-- origin removed meanwhile stops the callback). NULL: no key (only CITYLOOP_CALLBACK_ALLOWED_ORIGINS applies).
ALTER TABLE outbox ADD COLUMN key_name text;
-- Callbacks not yet delivered learn their key from the actor of their case's first event ("hotline:NAME"),
-- so that origins registered for that key after the upgrade let them through.
UPDATE outbox o SET key_name = substr(e.metadata->>'actor', 9)
FROM events e
WHERE o.state <> 'delivered' AND e.stream_id = o.case_id AND e.version = 1 AND e.metadata->>'actor' LIKE 'hotline:%';

-- The quarantine keeps the first 64 KB of a payload, with the size and the sha256 of the whole.
ALTER TABLE quarantine ADD COLUMN payload_size bigint, ADD COLUMN payload_sha256 text;
UPDATE quarantine SET payload_size = octet_length(payload), payload_sha256 = encode(sha256(payload), 'hex');
UPDATE quarantine SET payload = substring(payload FROM 1 FOR 65536) WHERE octet_length(payload) > 65536;
ALTER TABLE quarantine ALTER COLUMN payload_size SET NOT NULL, ALTER COLUMN payload_sha256 SET NOT NULL;
COMMENT ON COLUMN quarantine.payload IS 'the first 64 KB of what arrived (or could not be delivered)';
