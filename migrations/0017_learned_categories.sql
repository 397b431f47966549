-- What the hub learned from dispatchers' 研判 (issue 16): a hotline's own category wording → the leaf a dispatcher
-- chose for it, keyed by the normalised wording (dispatch.learned.learned_key). A revoked entry stays, with who
-- revoked it and when, and no longer applies; learning the same wording again makes it apply anew.
CREATE TABLE learned_categories (
    key text PRIMARY KEY,
    original text NOT NULL,
    code text NOT NULL,
    case_id uuid NOT NULL,
    learned_by text NOT NULL,
    learned_at timestamptz NOT NULL,
    revoked_by text,
    revoked_at timestamptz
);
