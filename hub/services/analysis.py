"""Analysis (研判分析, issue 17): report volumes, the handling funnel, returns and redos, repeat complaints and
the daily series a trend is forecast from — each one or a few grouped SQL queries over the slim columns of the
`cases` projection and the KPI projection (`kpi_assignments`), never a pass over cases in Python.

Reports are counted by `reported_at` (an imported history and a ticket pushed late count at their original
time), in local days (Asia/Shanghai) like the KPIs. Merged duplicates are reports too and count in volumes,
the trend and repeat complaints; the funnel follows cases (a merged report is worked on as its parent).

Every query is confined to one `Place`: the caller's jurisdiction, or an area inside it (hub.api.analysis
clips it). A place filters on its own level's column (`township_code = $n`), the exact test the cases list
uses for a township, so no area's numbers leak into another's.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, Final, Literal

import asyncpg

from dispatch.codes import level_of
from hub.services.kpis import Period, local_day_start, next_period_start, period_start

# Local (Asia/Shanghai, no daylight saving) time of a timestamptz column, the KPIs' convention.
_LOCAL: Final = "(({col} AT TIME ZONE 'UTC') + interval '8 hours')"
AREA_LEVELS: Final = ("county", "township", "community", "grid")
AREA_COLUMNS: Final = {level: f"{level}_code" for level in AREA_LEVELS}
SOURCES: Final = ("hotline", "open311", "iot", "grid", "reopen")
# Category codes have two digits per level of the tree (01 公用设施 → 0101 照明设施 → 010101 路灯).
CATEGORY_DIGITS: Final = 2
STEPS: Final = ("dispatch", "sign", "resolve", "evaluate", "close")
STAGES: Final = ("received", "dispatched", "signed", "resolved", "evaluated", "closed")
Dimension = Literal["source", "category", "area"]
# The mean Earth radius (IUGG), for distances between reports.
EARTH_RADIUS_M: Final = 6_371_008.8


@dataclass(frozen=True, slots=True)
class Place:
    """Where to look: an area by code (the city: everything), and optional filters on category (a code of any
    level of the tree: its prefix) and source."""

    area: str
    category: str | None = None
    source: str | None = None

    @property
    def level(self) -> str:
        return level_of(self.area)

    def where(self, first_param: int, alias: str = "") -> tuple[str, list[Any]]:
        """SQL conditions on `cases` (as `alias`) and their parameters, numbered from `first_param`."""
        p = f"{alias}." if alias else ""
        clauses: list[str] = []
        args: list[Any] = []

        def add(clause: str, value: Any) -> None:
            args.append(value)
            clauses.append(clause.format(f"${first_param + len(args) - 1}"))
        if self.level != "city":
            add(f"{p}{AREA_COLUMNS[self.level]} = {{}}", self.area)
        if self.category is not None:
            add(f"starts_with({p}category_code, {{}})", self.category)
        if self.source is not None:
            add(f"{p}source = {{}}", self.source)
        return " AND ".join(clauses) or "true", args


@dataclass(frozen=True, slots=True)
class Span:
    """Whole periods, [start, end) in local dates: the range asked for, widened to its periods' bounds."""

    start: date
    end: date

    @classmethod
    def of(cls, first: date, last: date, period: Period) -> Span:
        return cls(period_start(first, period), next_period_start(last, period))

    def buckets(self, period: Period) -> list[date]:
        out = []
        day = self.start
        while day < self.end:
            out.append(day)
            day = next_period_start(day, period)
        return out

    def before(self, period: Period) -> Span:
        """As many whole periods just before this span (the previous equal period)."""
        n = len(self.buckets(period))
        start = self.start
        for _ in range(n):
            start = period_start(start - timedelta(days=1), period)
        return Span(start, self.start)


def bucket_sql(period: Period, column: str = "reported_at") -> str:
    """The local date that starts the period containing `column` (ISO weeks start on Monday)."""
    return f"date_trunc('{period}', {_LOCAL.format(col=column)})::date"


def category_sql(level: int) -> str:
    return f"left(category_code, {level * CATEGORY_DIGITS})"


class Analysis:
    """The analysis queries of one hub (opened by the composition root)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def volumes(self, place: Place, span: Span, period: Period, by: tuple[Dimension, ...],
                      area_level: str, category_level: int) -> list[asyncpg.Record]:
        """Report counts by period and the chosen dimensions over `span` (callers pass the span that includes
        the previous equal period): (bucket, source?, category?, area?, n)."""
        columns = {"source": "source", "category": category_sql(category_level),
                   "area": AREA_COLUMNS[area_level]}
        dims = [f"{columns[d]} AS {d}" for d in by]
        where, args = place.where(3)
        group = ", ".join(["1", *[str(i + 2) for i in range(len(by))]])
        sql = (f"SELECT {bucket_sql(period)} AS bucket{''.join(', ' + d for d in dims)}, count(*) AS n "
               f"FROM cases WHERE reported_at >= $1 AND reported_at < $2 AND {where} GROUP BY {group}")
        rows: list[asyncpg.Record] = await self._pool.fetch(
            sql, local_day_start(span.start), local_day_start(span.end), *args)
        return rows

    async def daily(self, place: Place, start: date, end: date) -> list[asyncpg.Record]:
        """(day, n): reports per local day in [start, end)."""
        where, args = place.where(3)
        rows: list[asyncpg.Record] = await self._pool.fetch(
            f"SELECT {bucket_sql('day')} AS day, count(*) AS n FROM cases "
            f"WHERE reported_at >= $1 AND reported_at < $2 AND {where} GROUP BY 1 ORDER BY 1",
            local_day_start(start), local_day_start(end), *args)
        return rows

    async def funnel(self, place: Place, start: date, end: date, now: datetime) -> dict[str, list[asyncpg.Record]]:
        """The stages reached by the cases reported in [start, end), the durations of each step per unit (p50,
        p90 by PostgreSQL's percentile_cont), and the cases waiting now (whenever reported) by step and unit."""
        where, args = place.where(3, "c")
        lo, hi = local_day_start(start), local_day_start(end)
        async with self._pool.acquire() as conn:
            stages = await conn.fetch(_FUNNEL_CTE.format(where=where) + _STAGES, lo, hi, *args)
            steps = await conn.fetch(_FUNNEL_CTE.format(where=where) + _STEPS, lo, hi, *args)
            where_now, args_now = place.where(2, "c")
            waiting = await conn.fetch(_WAITING.format(where=where_now), now, *args_now)
        return {"stages": stages, "steps": steps, "waiting": waiting}

    async def returns(self, place: Place, start: date, end: date) -> list[asyncpg.Record]:
        """(kind, reason, unit_code, unit_name, count, cases): returns (退回) and redos (返工) that happened in
        [start, end), by the unit the case was with and the reason."""
        where, args = place.where(3, "c")
        rows: list[asyncpg.Record] = await self._pool.fetch(
            _RETURNS.format(where=where), local_day_start(start), local_day_start(end), *args)
        return rows

    async def repeat_pairs(self, place: Place, start: date, end: date, days: int, radius_m: float
                           ) -> list[asyncpg.Record]:
        """(a, b): pairs of reports of the same leaf category at the same place (within `radius_m`, or — with no
        point — at the same address of the same community) made at most `days` apart, in [start, end)."""
        where, args = place.where(5, "c")
        rows: list[asyncpg.Record] = await self._pool.fetch(
            _REPEAT_PAIRS.format(where=where), local_day_start(start), local_day_start(end),
            timedelta(days=days), radius_m, *args)
        return rows

    async def reports(self, case_ids: list[Any]) -> list[asyncpg.Record]:
        """The slim facts of these reports, for the repeat-complaint list."""
        rows: list[asyncpg.Record] = await self._pool.fetch(
            "SELECT case_id, ticket_no, state, source, category_code, county_code, township_code, community_code, "
            "lat, lng, reported_at, CASE WHEN lat IS NULL THEN doc->'report'->>'address' END AS address, "
            "coalesce((doc->'report'->>'confidential')::boolean, false) AS confidential "
            "FROM cases WHERE case_id = ANY($1::uuid[]) ORDER BY reported_at", case_ids)
        return rows


# The cases reported in the range ($1, $2) with their assignments (kpi_assignments, one per dispatch), from slim
# columns only (the callback and closing times: migration 0020), never the case documents.
_FUNNEL_CTE = """
WITH c AS (
    SELECT c.case_id, c.reported_at, c.state, c.callback_at,
           CASE WHEN c.state = 'closed' THEN c.closed_at END AS closed_at
    FROM cases c
    WHERE c.reported_at >= $1 AND c.reported_at < $2 AND c.state <> 'merged' AND {where}
), a AS (
    SELECT k.case_id, k.position, k.unit_code, k.unit_name, k.dispatched_at, k.signed_at, k.resolved_at,
           k.resolutions, k.valid_callbacks, k.ended, c.reported_at
    FROM kpi_assignments k JOIN c ON c.case_id = k.case_id
    WHERE k.dispatched_at >= $1  -- a case is dispatched after it is reported: lets recent ranges use the index
)
"""
_STAGES = """
, per AS (
    SELECT case_id, count(signed_at) > 0 AS signed, bool_or(resolutions > 0) AS resolved,
           bool_or(valid_callbacks > 0) AS evaluated
    FROM a GROUP BY case_id
)
SELECT count(*) AS received, count(per.case_id) AS dispatched, count(*) FILTER (WHERE per.signed) AS signed,
       count(*) FILTER (WHERE per.resolved) AS resolved, count(*) FILTER (WHERE per.evaluated) AS evaluated,
       count(*) FILTER (WHERE c.state = 'closed') AS closed
FROM c LEFT JOIN per ON per.case_id = c.case_id
"""
# Each step between two stages, charged to the unit that had the case: from the report to the first dispatch
# (the unit it went to), sign-off and resolution per assignment, then the callback and the closing on the
# case's current assignment. Per (step, unit) and per step over every unit (GROUPING SETS).
_STEPS = """
, s AS (
    SELECT * FROM (SELECT DISTINCT ON (case_id) 'dispatch' AS step, unit_code, unit_name,
                          dispatched_at - reported_at AS d
                   FROM a ORDER BY case_id, position) first_dispatch
    UNION ALL
    SELECT 'sign', unit_code, unit_name, signed_at - dispatched_at FROM a WHERE signed_at IS NOT NULL
    UNION ALL
    SELECT 'resolve', unit_code, unit_name, resolved_at - signed_at FROM a
    WHERE resolved_at IS NOT NULL AND signed_at IS NOT NULL
    UNION ALL
    SELECT 'evaluate', a.unit_code, a.unit_name, c.callback_at - a.resolved_at FROM c JOIN a USING (case_id)
    WHERE NOT a.ended AND c.state IN ('resolved', 'closed') AND c.callback_at >= a.resolved_at
    UNION ALL
    SELECT 'close', a.unit_code, a.unit_name, c.closed_at - c.callback_at FROM c JOIN a USING (case_id)
    WHERE NOT a.ended AND c.closed_at >= c.callback_at
)
SELECT step, unit_code, max(unit_name) AS unit_name, count(*) AS n,
       percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY extract(epoch FROM d)::float8) AS p
FROM s WHERE d >= interval '0' GROUP BY GROUPING SETS ((step, unit_code), (step))
"""
# The cases waiting now ($1) for each step, with the unit they wait on and since when: a case in triage waits
# to be dispatched since it arrived, a dispatched one to be signed for, an accepted one to be resolved (since it
# was signed for), a resolved one for its callback, a return for its review. Open cases only (cases_state).
_WAITING = """
WITH w AS (
    SELECT c.case_id, c.ticket_no, k.unit_code, k.unit_name,
           CASE c.state WHEN 'received' THEN 'dispatch' WHEN 'triage' THEN 'dispatch' WHEN 'dispatched' THEN 'sign'
                        WHEN 'accepted' THEN 'resolve' WHEN 'resolved' THEN 'evaluate'
                        WHEN 'return_requested' THEN 'return_review' END AS step,
           $1::timestamptz - CASE c.state WHEN 'dispatched' THEN k.dispatched_at WHEN 'accepted' THEN k.signed_at
                                          WHEN 'resolved' THEN k.resolved_at
                                          WHEN 'return_requested' THEN c.updated_at
                                          ELSE c.created_at END AS age
    FROM cases c LEFT JOIN kpi_assignments k ON k.case_id = c.case_id AND NOT k.ended
    WHERE c.state IN ('received', 'triage', 'dispatched', 'accepted', 'resolved', 'return_requested') AND {where}
)
SELECT step, unit_code, max(unit_name) AS unit_name, count(*) AS n,
       percentile_cont(ARRAY[0.5, 0.9]) WITHIN GROUP (ORDER BY extract(epoch FROM age)::float8) AS p,
       extract(epoch FROM max(age))::float8 AS oldest,
       (array_agg(case_id ORDER BY age DESC))[1:5] AS oldest_cases,
       (array_agg(ticket_no ORDER BY age DESC))[1:5] AS oldest_tickets
FROM w WHERE age IS NOT NULL GROUP BY step, unit_code
"""
# Returns and redos by when they happened (the partial index of migration 0020), with the unit the case was
# with then (its latest assignment before the event). A redo's reason is the callback that caused it, the
# event just before it in the same stream: unsolved (未解决) or solved but the caller dissatisfied (不满意).
_RETURNS = """
SELECT CASE e.type WHEN 'case.return_requested' THEN 'return' ELSE 'redo' END AS kind,
       CASE e.type WHEN 'case.return_requested' THEN e.data->>'reason'
                   ELSE CASE WHEN (cb.data->>'solved')::boolean THEN 'dissatisfied' ELSE 'unsolved' END
       END AS reason,
       u.unit_code, max(u.unit_name) AS unit_name, count(*) AS n, count(DISTINCT e.stream_id) AS cases
FROM events e
JOIN cases c ON c.case_id = e.stream_id
LEFT JOIN events cb ON e.type = 'case.redone' AND cb.stream_id = e.stream_id AND cb.version = e.version - 1
LEFT JOIN LATERAL (SELECT k.unit_code, k.unit_name FROM kpi_assignments k
                   WHERE k.case_id = e.stream_id AND k.position < e.position
                   ORDER BY k.position DESC LIMIT 1) u ON true
WHERE e.type IN ('case.return_requested', 'case.redone') AND e.occurred_at >= $1 AND e.occurred_at < $2
  AND {where}
GROUP BY 1, 2, 3
"""
# Pairs of reports of the same problem at the same place, at most $3 apart: both with a point, within $4 metres
# (equirectangular distance: exact to well under a metre at this scale), or both without one, at the same
# address text in the same community. Points are joined on the category and a band of latitude one radius
# high (each report meets the reports of its own band and the two beside it), so the join compares
# neighbours, not every pair of a category in the range (92 days of 20,000 cases: 3.1 million pairs → a few
# thousand).
_REPEAT_PAIRS = f"""
WITH r AS (
    SELECT c.case_id, c.category_code, c.community_code, c.lat, c.lng, c.reported_at,
           floor(c.lat / degrees($4::float8 / {EARTH_RADIUS_M}))::bigint AS band,
           CASE WHEN c.lat IS NULL THEN nullif(btrim(c.doc->'report'->>'address'), '') END AS address
    FROM cases c
    WHERE c.reported_at >= $1 AND c.reported_at < $2 AND c.category_code IS NOT NULL AND {{where}}
)
SELECT a.case_id AS a, b.case_id AS b
FROM r a CROSS JOIN (VALUES (-1), (0), (1)) AS near(d)
JOIN r b ON b.category_code = a.category_code AND b.band = a.band + near.d
WHERE b.case_id > a.case_id
  AND abs(extract(epoch FROM b.reported_at - a.reported_at)) <= extract(epoch FROM $3::interval)
  AND {EARTH_RADIUS_M} * sqrt(radians(a.lat - b.lat) ^ 2
                              + (cos(radians((a.lat + b.lat) / 2)) * radians(a.lng - b.lng)) ^ 2) <= $4::float8
UNION ALL
SELECT a.case_id, b.case_id
FROM r a JOIN r b ON b.category_code = a.category_code AND b.community_code = a.community_code
                 AND b.address = a.address
WHERE a.lat IS NULL AND b.lat IS NULL AND b.case_id > a.case_id
  AND abs(extract(epoch FROM b.reported_at - a.reported_at)) <= extract(epoch FROM $3::interval)
"""
