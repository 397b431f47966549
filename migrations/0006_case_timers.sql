-- When the next SLA step (warning, 催办, 督办, 挂牌督办, callback window) of a case falls due; the timer
-- sweep reads it, so timers live in the store and survive restarts.
ALTER TABLE cases ADD COLUMN next_due_at timestamptz;
CREATE INDEX cases_next_due ON cases (next_due_at) WHERE next_due_at IS NOT NULL;
