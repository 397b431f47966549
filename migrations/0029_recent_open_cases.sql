-- transactional: false
-- The consoles read cases "most recently changed first" only among open ones: a console's snapshot
-- (hub.store.reads.CaseReads.open_in_scopes) and the operators' queues ordered by last_position, whose
-- conditions all imply an open state (the extensions queue says so since this migration). A finished case
-- (closed, rejected, merged — most of a city's cases after a few months) need not be in that index: with 300,000
-- cases of which 11 % open, a city-wide snapshot read went from 7.4 to 0.4 ms and the overdue queue from 63 to
-- 1.9 ms, and closing a case writes no entry here. The predicate is hub.store.reads.OPEN_CASE_SQL: the planner
-- uses the index only for a query whose condition implies it (tests/integration/test_query_plans.py fails for
-- a snapshot or queue that would scan instead). Built and dropped CONCURRENTLY, as in 0028.
CREATE INDEX CONCURRENTLY IF NOT EXISTS cases_recent_open ON cases (last_position)
    WHERE state NOT IN ('closed', 'merged', 'rejected');
DROP INDEX CONCURRENTLY IF EXISTS cases_last_position;
