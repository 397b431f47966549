-- Security (issue 12): accounts that can be disabled, and the append-only access audit (等保 2.0, GB/T 22239:
-- reads of unmasked personal data, sign-in failures and lock-outs, sign-outs, disabled accounts).

-- A disabled user cannot sign in, and every session of theirs is refused (and deleted when disabling).
ALTER TABLE users ADD COLUMN disabled_at timestamptz;

CREATE TABLE audit_log (
    id        bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    at        timestamptz NOT NULL DEFAULT now(),
    kind      text NOT NULL CHECK (kind IN ('personal_data_read', 'login_failed', 'login_locked', 'logout',
                                            'user_disabled')),
    username  text,           -- the reader; the account a sign-in named (as typed); the account disabled
    role      text,           -- the reader's role, when known
    address   text,           -- the client's address
    case_id   uuid,           -- the case whose personal data was read
    path      text,           -- through which path: "GET /api/v1/cases/…", "cli", …
    detail    jsonb NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_kind ON audit_log (kind, id);
CREATE INDEX audit_log_username ON audit_log (username, id);
CREATE INDEX audit_log_case ON audit_log (case_id, id) WHERE case_id IS NOT NULL;
CREATE INDEX audit_log_at ON audit_log (at);
-- Sign-in failures per account and per address in the last window: the lock-out count when Redis is away.
CREATE INDEX audit_log_failed_user ON audit_log (username, at) WHERE kind = 'login_failed';
CREATE INDEX audit_log_failed_address ON audit_log (address, at) WHERE kind = 'login_failed';

-- Append-only as a hard guarantee, not a convention: nothing the hub runs can change or remove an entry.
-- (Retention beyond the legal minimum is a DBA's job: disable the triggers in a maintenance window.)
CREATE FUNCTION audit_log_append_only() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'audit_log is append-only: % refused', TG_OP USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER audit_log_no_update_delete BEFORE UPDATE OR DELETE ON audit_log
    FOR EACH ROW EXECUTE FUNCTION audit_log_append_only();
CREATE TRIGGER audit_log_no_truncate BEFORE TRUNCATE ON audit_log
    FOR EACH STATEMENT EXECUTE FUNCTION audit_log_append_only();
