-- transactional: false
-- Indexes matched to the queries that read them (an audit of every query on cases, outbox and kpi_assignments,
-- with EXPLAIN ANALYZE on 300,000 cases, 2026-12-07). Built and dropped CONCURRENTLY, outside a transaction: a
-- plain CREATE or DROP INDEX holds a lock on the table that stops every commit (each writes the projection)
-- for as long as it runs — seconds on a city's cases, while another hub may still be serving. A build
-- interrupted half-way leaves an INVALID index of the new name: drop it and migrate again.
--
-- The callback writer numbers each case's callbacks by counting its outbox rows (hub.services.outbox,
-- OUTBOX_SEQUENCES). The only index by case was partial (pending rows), so the count read the whole outbox —
-- a table that only grows: 27 ms at 316,000 rows, on every round that writes a callback. A full index serves
-- the count and the claim's "no earlier pending row of this case" test alike.
CREATE INDEX CONCURRENTLY IF NOT EXISTS outbox_case ON outbox (case_id, id);
DROP INDEX CONCURRENTLY IF EXISTS outbox_case_pending;

-- Redundant: the primary key finds a hotline case by id as fast (the outbox page's only use); one index entry
-- less per hotline ticket.
DROP INDEX CONCURRENTLY IF EXISTS cases_hotline;
-- Redundant: kpi_assignments_case (case_id, position) serves the committer's open-assignment read as fast;
-- one index entry less per dispatch.
DROP INDEX CONCURRENTLY IF EXISTS kpi_assignments_current;

-- The area indexes' second column was last_position, which no query by area orders or filters on; the queries
-- by area are the analysis's (hub.services.analysis: a place's code and a period of reported_at). Keyed by
-- both, a township's volumes went from 4.0 to 0.3 ms and a county's daily series from 10.6 to 1.8 ms; writing
-- them costs the same. (reported_at never changes, so an update that keeps the area leaves them alone.)
CREATE INDEX CONCURRENTLY IF NOT EXISTS cases_county_reported ON cases (county_code, reported_at);
CREATE INDEX CONCURRENTLY IF NOT EXISTS cases_township_reported ON cases (township_code, reported_at);
CREATE INDEX CONCURRENTLY IF NOT EXISTS cases_community_reported ON cases (community_code, reported_at);
DROP INDEX CONCURRENTLY IF EXISTS cases_county;
DROP INDEX CONCURRENTLY IF EXISTS cases_township;
DROP INDEX CONCURRENTLY IF EXISTS cases_community;
