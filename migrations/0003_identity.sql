-- People sign in with a password (argon2id hash); machines use API keys (sha256 of a 256-bit random
-- key: the key itself has full entropy, so a slow KDF would add cost without adding safety).
CREATE TABLE users (
    username      text PRIMARY KEY,
    password_hash text        NOT NULL,
    role          text        NOT NULL,
    area          text,
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE sessions (
    token_hash bytea PRIMARY KEY,
    username   text        NOT NULL REFERENCES users (username) ON DELETE CASCADE,
    expires_at timestamptz NOT NULL
);
CREATE INDEX sessions_expires ON sessions (expires_at);

CREATE TABLE api_keys (
    key_hash   bytea PRIMARY KEY,
    name       text        NOT NULL UNIQUE,
    role       text        NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);
