-- Devices log in to the MQTT broker with an account of their own (issue 19 item 2): the username is the device
-- id, the password is shown once by `cityloop devices add|rotate` and only its hash is kept here — in
-- Mosquitto's own password-file format (PBKDF2-SHA512, `$7$…`), so the broker's files are derived from this
-- table alone (`cityloop devices broker-config`).
ALTER TABLE devices ADD COLUMN mqtt_password_hash text,
                    ADD COLUMN credentials_issued_at timestamptz;
