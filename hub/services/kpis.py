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

from dispatch.kpi import KpiAccumulator, KpiRow, KpiWeights

Period = Literal["day", "week", "month"]
CHINA = timezone(timedelta(hours=8))
UTC_OFFSET_MINUTES = 480  # periods are local (Asia/Shanghai) days, ISO weeks and months
_FORMATS: dict[Period, str] = {"day": "YYYY-MM-DD", "week": 'IYYY-"W"IW', "month": "YYYY-MM"}

_ROWS = """
WITH a AS (
    SELECT k.*, to_char((k.dispatched_at AT TIME ZONE 'UTC') + make_interval(mins => $5), $6) AS period,
           (NOT k.ended AND c.state IN ('dispatched', 'accepted')) AS live
    FROM kpi_assignments k LEFT JOIN cases c ON c.case_id = k.case_id
    WHERE k.dispatched_at >= $1 AND k.dispatched_at < $2
)
SELECT v.level, v.code, (array_agg(v.name ORDER BY a.position))[1] AS name, a.period,
       count(*) AS dispatched,
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
FROM a CROSS JOIN LATERAL (VALUES ('unit', a.unit_code, a.unit_name), ('township', a.township_code, a.township_name),
                                  ('county', a.county_code, a.county_name), ('city', a.city_code, a.city_name)
                          ) AS v(level, code, name)
WHERE v.code IS NOT NULL AND ($4::text IS NULL OR v.level = $4)
GROUP BY v.level, v.code, a.period
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
            as_of, level, UTC_OFFSET_MINUTES, _FORMATS[period])
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
