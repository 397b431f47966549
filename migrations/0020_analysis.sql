-- Analysis (研判分析, issue 17): returns and redos by unit and reason are read from their events by the time
-- they happened, so a partial index over just those two event types keeps that a short range scan however
-- large the store grows (every other event type is left out of it: nothing else pays for it).
CREATE INDEX events_returns_redos ON events (occurred_at) WHERE type IN ('case.return_requested', 'case.redone');
-- The unit a case was with at a given event (its latest assignment before that event's position): one
-- index probe per return or redo. The only other index by case is partial (current assignments).
CREATE INDEX kpi_assignments_case ON kpi_assignments (case_id, position);
-- The funnel's last two steps (resolved → evaluated → closed) as slim columns, written by the case projection:
-- reading them from the case documents cost ~30 µs a case (their TOAST pages), 0.3 s for six months of a city.
ALTER TABLE cases ADD COLUMN callback_at timestamptz, ADD COLUMN closed_at timestamptz;
UPDATE cases SET callback_at = (doc->'callbacks'->-1->>'at')::timestamptz, closed_at = (doc->>'closed_at')::timestamptz
WHERE jsonb_array_length(coalesce(doc->'callbacks', '[]'::jsonb)) > 0 OR doc->>'closed_at' IS NOT NULL;
