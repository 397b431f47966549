"""KPIs (考核评价) read from the KPI projection: one SQL aggregation over slim assignment rows per request.

The rows are written by the committer in the append transaction (hub.store.kpi_projection), so a hub
holds no KPI state, starts without reading the store, and every process sees every commit at once.
Figures are judged `as_of` the moment asked: an assignment still open past its deadline counts as late,
which is why they are aggregated at read time rather than kept as counters. The SQL below is
`dispatch.kpi.count` over a GROUP BY; a test holds the two equal.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Literal

import asyncpg

from dispatch.kpi import LIVE_STATES, KpiAccumulator, KpiRow, KpiWeights

Period = Literal["day", "week", "month"]
CHINA = timezone(timedelta(hours=8))
UTC_OFFSET_MINUTES = 480  # periods are local (Asia/Shanghai) days, ISO weeks and months
_FORMATS: dict[Period, str] = {"day": "YYYY-MM-DD", "week": 'IYYY-"W"IW', "month": "YYYY-MM"}

# Two steps, so that the part that runs once per assignment has no ordered aggregate: (1) partial sums per
# unit, areas and period — assignments that count in exactly the same rows; (2) those few partial rows fanned
# out to their four levels and summed (3× faster than fanning out every assignment). A row's name is that of its
# earliest assignment, in store order, as before. Only `kpi_assignments` is read: rows carry their case's state.
_COUNTS = """
    count(*) FILTER (WHERE returned) AS returns,
    count(*) FILTER (WHERE signed_at IS NOT NULL OR (live AND sign_by < $3)) AS sign_counted,
    count(*) FILTER (WHERE signed_at IS NOT NULL AND (signed_by_deadline IS NULL OR signed_at <= signed_by_deadline))
        AS signed_on_time,
    count(*) FILTER (WHERE resolved_at IS NOT NULL OR (live AND resolve_by < $3)) AS resolve_counted,
    count(*) FILTER (WHERE resolved_at IS NOT NULL AND resolved_on_time) AS resolved_on_time,
    sum(resolutions) AS resolutions, sum(redos) AS redos, sum(valid_callbacks) AS valid_callbacks,
    sum(contacted) AS contacted, sum(solved) AS solved, sum(satisfied) AS satisfied,
    sum(basically_satisfied) AS basically_satisfied,
    count(signed_at) AS signed, coalesce(sum(signed_at - dispatched_at), '0') AS time_to_sign,
    count(resolved_at) AS resolved, coalesce(sum(resolved_at - dispatched_at), '0') AS time_to_resolve
"""
_INTS = ("returns", "sign_counted", "signed_on_time", "resolve_counted", "resolved_on_time", "resolutions", "redos",
         "valid_callbacks", "contacted", "solved", "satisfied", "basically_satisfied", "signed", "resolved")
_AREA_COLUMNS = "unit_code, unit_name, township_code, township_name, county_code, county_name, city_code, city_name"
_ROWS = f"""
WITH a AS (
    SELECT k.*, to_char((k.dispatched_at AT TIME ZONE 'UTC') + make_interval(mins => $5), $6) AS period,
           (NOT k.ended AND k.case_state = ANY($7::text[])) AS live
    FROM kpi_assignments k
    WHERE k.dispatched_at >= $1 AND k.dispatched_at < $2
), g AS (
    SELECT period, {_AREA_COLUMNS}, min(position) AS first, count(*) AS dispatched, {_COUNTS}
    FROM a GROUP BY period, {_AREA_COLUMNS}
)
SELECT v.level, v.code, (array_agg(v.name ORDER BY g.first))[1] AS name, g.period,
       sum(g.dispatched)::bigint AS dispatched,
       {", ".join(f"sum(g.{name})::bigint AS {name}" for name in _INTS)},
       sum(g.time_to_sign) AS time_to_sign, sum(g.time_to_resolve) AS time_to_resolve
FROM g CROSS JOIN LATERAL (VALUES ('unit', g.unit_code, g.unit_name), ('township', g.township_code, g.township_name),
                                  ('county', g.county_code, g.county_name), ('city', g.city_code, g.city_name)
                          ) AS v(level, code, name)
WHERE v.code IS NOT NULL AND ($4::text IS NULL OR v.level = $4)
GROUP BY v.level, v.code, g.period
"""


def period_start(day: date, period: Period) -> date:
    """The first day of the period (local date) that contains `day`."""
    if period == "day":
        return day
    if period == "week":
        return day - timedelta(days=day.weekday())  # ISO weeks start on Monday
    return day.replace(day=1)


def next_period_start(day: date, period: Period) -> date:
    start = period_start(day, period)
    if period == "day":
        return start + timedelta(days=1)
    if period == "week":
        return start + timedelta(days=7)
    return (start + timedelta(days=32)).replace(day=1)


def local_day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), CHINA)


class Kpis:
    def __init__(self, pool: asyncpg.Pool, weights: KpiWeights | None = None) -> None:
        self._pool = pool
        self._weights = weights or KpiWeights()

    async def rows(self, *, level: str | None, period: Period, start: date, end: date, as_of: datetime,
                   ) -> list[dict[str, Any]]:
        """Rows of the periods from the one containing `start` to the one containing `end`, ranked within
        each period and level by the composite score."""
        records = await self._pool.fetch(
            _ROWS, local_day_start(period_start(start, period)), local_day_start(next_period_start(end, period)),
            as_of, level, UTC_OFFSET_MINUTES, _FORMATS[period], list(LIVE_STATES))
        out = [KpiRow(**dict(r)).as_json(self._weights) for r in records]
        out.sort(key=lambda r: (r["period"], r["level"], -(r["composite"] or 0), r["code"]))
        return out


def rebuilt_rows(events: list[tuple[str, str, dict[str, Any], int, datetime]], period: Period, as_of: datetime,
                 weights: KpiWeights | None = None) -> list[dict[str, Any]]:
    """The same figures from scratch (for checks): every event through the in-memory reference."""
    acc = KpiAccumulator(period, UTC_OFFSET_MINUTES)
    for event in events:
        acc.add(*event)
    return [r.as_json(weights or KpiWeights()) for r in acc.rows(as_of)]
