"""The read side of the case projection: every query on the `cases` table outside the projection's own
writer (hub.store.projection) lives here, so the table's columns and indexes are known in one place.

Each method is one query, unchanged from where it used to be written; callers keep the decisions that are
not SQL (clipping scopes, redaction, the exact in-scope check of access.case_in_scopes). Methods that must
read inside a caller's transaction take its connection.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import asyncpg

from dispatch.events import Case
from dispatch.states import FINISHED_STATES, OPEN_STATES
from geo.areas import code_prefix
from hub.identity.access import CITY_CODE
from hub.infra.db import Connection

# "The case is open" on the projection's `state` column. The states are the domain's constants, not
# input, so they are written into the SQL text (queries that use it stay plain strings).
OPEN_CASE_SQL: Final = "state NOT IN ({})".format(", ".join(f"'{s}'" for s in sorted(FINISHED_STATES)))

# The operators' queues: each is a filter on the case projection; `$now` is the hub's clock.
QUEUES: Final[dict[str, str]] = {
    "triage": "state = 'triage'",
    "returns": "state = 'return_requested'",
    # Open cases only: a request left on a case merged or closed meanwhile can no longer be reviewed.
    "extensions": f"{OPEN_CASE_SQL} AND doc->'extension' IS NOT NULL AND doc->'extension' <> 'null'::jsonb",
    "overdue": (
        "((state = 'dispatched' AND (doc->'deadlines'->>'sign_by')::timestamptz < $now)"
        " OR (state IN ('dispatched', 'accepted') AND (doc->'deadlines'->>'resolve_by')::timestamptz < $now))"),
    "merge_suggestions": (f"{OPEN_CASE_SQL}"
                          " AND doc->'merge_suggestion' IS NOT NULL AND doc->'merge_suggestion' <> 'null'::jsonb"),
    "supervised": (f"{OPEN_CASE_SQL}"
                   " AND coalesce((doc->>'supervision_level')::int, 0) > 0"),
}

# The consoles' headline figures (在办, 超时, 预警, 待研判, 今日新增), counted once for the whole city by place: one
# row per (county, township, community, grid) with its counts, from which hub.services.headline sums any scope.
# Two parts, each an index scan rather than a pass over every case: the open cases (by state, `cases_state`) and
# those created since `$today` (the local day's start, `cases_created` of migration 0016). Overdue is the
# `overdue` queue's own filter; 预警 is a case not overdue whose running clock (签收 while dispatched, 办结 once
# accepted) passed its warning step — what the consoles colour amber. Parameters: $1 now, $2 today.
_OPEN_STATES_SQL = "state IN ({})".format(", ".join(f"'{s}'" for s in sorted(OPEN_STATES)))
_HEADLINE_OVERDUE = "coalesce(" + QUEUES["overdue"].replace("$now", "$1") + ", false)"
_HEADLINE_WARNING = (
    "coalesce((state = 'dispatched' AND (doc->'sla'->'sign'->'steps'->>'warning')::timestamptz < $1)"
    " OR (state = 'accepted' AND (doc->'sla'->'resolve'->'steps'->>'warning')::timestamptz < $1), false)")
_PLACE = "county_code, township_code, community_code, grid_code"
HEADLINE_SQL: Final = f"""
SELECT {_PLACE}, count(*) AS open,
       count(*) FILTER (WHERE {_HEADLINE_OVERDUE}) AS overdue,
       count(*) FILTER (WHERE NOT {_HEADLINE_OVERDUE} AND {_HEADLINE_WARNING}) AS warning,
       count(*) FILTER (WHERE state = 'triage') AS triage, 0 AS today
FROM cases WHERE {_OPEN_STATES_SQL} GROUP BY {_PLACE}
UNION ALL
SELECT {_PLACE}, 0, 0, 0, 0, count(*) FROM cases WHERE created_at >= $2 GROUP BY {_PLACE}
"""

# What the public Open311 API publishes: requests submitted through Open311, nothing else. A 12345 hotline
# complaint, a sensor alarm or a grid report is the government's record, not a public one (the partial
# index of migration 0026 serves exactly this filter, on the projection's `source` column).
OPEN311_PUBLIC: Final = "source = 'open311'"

# The hotspot levels and the projection column each counts by.
HOTSPOT_COLUMNS: Final = {"county": "county_code", "township": "township_code", "community": "community_code"}

@dataclass(frozen=True, slots=True)
class NearBox:
    """A duplicate search by place: cases of `category` inside a lat/lng box."""
    i: int
    category: str
    lat: tuple[float, float]
    lng: tuple[float, float]


@dataclass(frozen=True, slots=True)
class AtAddress:
    """A duplicate search for a report without a location: cases of `category` at the same address text."""
    i: int
    category: str
    address: str


_CANDIDATE_COLUMNS = "c.case_id, c.state, c.created_at, c.lng, c.lat, c.device_id, c.category_code"
# One statement for a whole intake batch: boxes use cases_category_place, the few reports with an address and no
# point cases_category_address (never a case document: see migrations/0027). Imported history is
# never a parent: a live report joins live work, not a ticket of the old system.
_DUPLICATE_CANDIDATES = f"""
SELECT b.i, c.*, NULL::text AS address
FROM unnest($1::int[], $2::text[], $3::float8[], $4::float8[], $5::float8[], $6::float8[])
     AS b(i, category, lat0, lat1, lng0, lng1)
CROSS JOIN LATERAL (
    SELECT {_CANDIDATE_COLUMNS} FROM cases c
    WHERE c.category = b.category AND c.lat BETWEEN b.lat0 AND b.lat1 AND c.lng BETWEEN b.lng0 AND b.lng1
      AND c.created_at > $10 AND c.state = ANY($11::text[]) AND NOT c.imported
    ORDER BY c.created_at DESC LIMIT 50) c
UNION ALL
SELECT b.i, c.*
FROM unnest($7::int[], $8::text[], $9::text[]) AS b(i, category, address)
CROSS JOIN LATERAL (
    SELECT {_CANDIDATE_COLUMNS}, c.address FROM cases c
    WHERE c.category = b.category AND c.address = b.address
      AND c.created_at > $10 AND c.state = ANY($11::text[]) AND NOT c.imported
    ORDER BY c.created_at DESC LIMIT 50) c
"""

# Each case with the hotline key that pushed its ticket (the actor of its first event) and that key's
# callback origins now: the callback writer checks every new callback against them.
_WITH_CALLBACK_KEYS = """
SELECT c.case_id, c.doc, k.name AS key_name, k.callback_origins
FROM cases c
LEFT JOIN events e ON e.stream_id = c.case_id AND e.version = 1
LEFT JOIN api_keys k ON e.metadata->>'actor' LIKE 'hotline:%' AND k.name = substr(e.metadata->>'actor', 9)
                     AND k.role = 'hotline' AND k.revoked_at IS NULL
WHERE c.case_id = ANY($1::uuid[])
"""


def visible_clause(scopes: frozenset[str], first_param: int = 1) -> tuple[str, list[Any]]:
    """SQL prefilter for cases inside `scopes` (callers refine with access.case_in_scopes): any of the
    case's area columns starting with a scope's code prefix; unplaced cases for city-wide scopes."""
    prefixes = [code_prefix(s) + "%" for s in scopes]
    city_wide = any(code_prefix(CITY_CODE).startswith(code_prefix(s)) for s in scopes)
    p, q = f"${first_param}", f"${first_param + 1}"
    sql = (f"(county_code LIKE ANY({p}::text[]) OR township_code LIKE ANY({p}::text[]) "
           f"OR community_code LIKE ANY({p}::text[]) OR grid_code LIKE ANY({p}::text[]) "
           f"OR ({q} AND county_code IS NULL))")
    return sql, [prefixes, city_wide]


class CaseReads:
    """Queries on the case projection. One per hub, opened by the composition root (hub.app)."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def get(self, case_id: uuid.UUID | str) -> Case | None:
        doc: Case | None = await self._pool.fetchval("SELECT doc FROM cases WHERE case_id = $1", case_id)
        return doc

    async def get_many(self, case_ids: Sequence[str]) -> dict[str, Case]:
        """The documents of these cases by id (missing ones are left out)."""
        rows = await self._pool.fetch("SELECT doc FROM cases WHERE case_id = ANY($1::uuid[])", list(case_ids))
        return {r["doc"]["case_id"]: r["doc"] for r in rows}

    async def page(self, scopes: frozenset[str], *, state: str | None, category: str | None,
                   ticket_no: str | None, before: tuple[datetime, uuid.UUID] | None,
                   limit: int) -> list[asyncpg.Record]:
        """GET /api/v1/cases: (case_id, created_at, doc) rows in `scopes`, newest first, strictly before
        the cursor `before` (created_at, case_id), at most `limit`."""
        clause, args = visible_clause(scopes)
        where = [clause]
        for column, value in (("state", state), ("category", category), ("ticket_no", ticket_no)):
            if value is not None:
                args.append(value)
                where.append(f"{column} = ${len(args)}")
        if before is not None:
            args += list(before)
            where.append(f"(created_at, case_id) < (${len(args) - 1}, ${len(args)})")
        args.append(limit)
        rows: list[asyncpg.Record] = await self._pool.fetch(
            f"SELECT case_id, created_at, doc FROM cases WHERE {' AND '.join(where)} "
            f"ORDER BY created_at DESC, case_id DESC LIMIT ${len(args)}", *args)
        return rows

    async def queue(self, name: str, scopes: frozenset[str], now: datetime, limit: int) -> list[Case]:
        """The cases of the operators' queue `name` (one of QUEUES) in `scopes`, most recently changed first."""
        clause, args = visible_clause(scopes)
        condition = QUEUES[name]
        if "$now" in condition:
            args.append(now)
            condition = condition.replace("$now", f"${len(args)}")
        args.append(limit)
        rows = await self._pool.fetch(
            f"SELECT doc FROM cases WHERE {clause} AND {condition} ORDER BY last_position DESC LIMIT ${len(args)}",
            *args)
        return [r["doc"] for r in rows]

    async def headline(self, now: datetime, today: datetime) -> list[asyncpg.Record]:
        """The headline figures by place (HEADLINE_SQL): rows of county_code, township_code, community_code,
        grid_code and open, overdue, warning, triage, today (created since `today`); a place may have two rows."""
        rows: list[asyncpg.Record] = await self._pool.fetch(HEADLINE_SQL, now, today)
        return rows

    async def open_in_scopes(self, conn: Connection, scopes: frozenset[str], limit: int) -> list[Case]:
        """The open cases in `scopes`, most recently changed first: a console's snapshot, read on `conn`
        so that it matches the position read in the same transaction."""
        clause, args = visible_clause(scopes)
        rows = await conn.fetch(
            f"SELECT doc FROM cases WHERE {OPEN_CASE_SQL} AND {clause} "
            "ORDER BY last_position DESC LIMIT $3", *args, limit)
        return [r["doc"] for r in rows]

    async def duplicate_candidates(self, near: Sequence[NearBox], at_address: Sequence[AtAddress],
                                   since: datetime, states: Sequence[str]) -> list[asyncpg.Record]:
        """Intake's duplicate search for a whole batch in one statement, on slim columns (no case document is
        decoded): per box or address, the 50 most recent cases of its category in `states` created after
        `since`. Rows: `i` (the box's or address's own number), case_id, state, created_at, lng, lat,
        device_id, category_code, address (address searches only)."""
        return await self._pool.fetch(
            _DUPLICATE_CANDIDATES,
            [b.i for b in near], [b.category for b in near], [b.lat[0] for b in near], [b.lat[1] for b in near],
            [b.lng[0] for b in near], [b.lng[1] for b in near],
            [a.i for a in at_address], [a.category for a in at_address], [a.address for a in at_address],
            since, list(states))

    async def latest_of_device(self, device_id: str, states: Sequence[str]) -> Case | None:
        """The newest case of an IoT device in one of `states`."""
        doc: Case | None = await self._pool.fetchval(
            "SELECT doc FROM cases WHERE device_id = $1 AND state = ANY($2::text[]) "
            "ORDER BY created_at DESC LIMIT 1", device_id, list(states))
        return doc

    async def due(self, now: datetime, limit: int) -> list[Case]:
        """The SLA sweep's work: cases whose next timer step is due at `now`, earliest first."""
        rows = await self._pool.fetch(
            "SELECT doc FROM cases WHERE next_due_at <= $1 ORDER BY next_due_at LIMIT $2", now, limit)
        return [r["doc"] for r in rows]

    async def with_callback_keys(self, conn: Connection,
                                 ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, asyncpg.Record]:
        """(case_id, doc, key_name, callback_origins) by case id, read in the callback writer's transaction."""
        return {r["case_id"]: r for r in await conn.fetch(_WITH_CALLBACK_KEYS, list(ids))}

    async def hotspots(self, scopes: frozenset[str], level: str, since: datetime, category: str | None,
                       limit: int) -> list[asyncpg.Record]:
        """(code, name, category, category_name, cases) counts by area of `level` and category."""
        clause, args = visible_clause(scopes)
        column = HOTSPOT_COLUMNS[level]
        # Merged duplicates are one problem, counted once (at their parent); the category is the matrix's leaf.
        rows: list[asyncpg.Record] = await self._pool.fetch(
            f"SELECT {column} AS code, max(doc->'areas'->'{level}'->>'name') AS name, "
            "coalesce(doc->'category'->>'code', category) AS category, "
            "max(doc->'category'->'path'->>-1) AS category_name, count(*) AS cases "
            f"FROM cases WHERE {clause} AND created_at >= ${len(args) + 1} AND state <> 'merged' "
            f"AND {column} IS NOT NULL AND (${len(args) + 2}::text IS NULL OR category = ${len(args) + 2} "
            f"OR doc->'category'->>'code' = ${len(args) + 2}) "
            f"GROUP BY 1, 3 ORDER BY cases DESC LIMIT ${len(args) + 3}",
            *args, since, category, limit)
        return rows

    async def open311_page(self, *, ids: list[uuid.UUID] | None, start: datetime | None, end: datetime | None,
                           categories: list[str] | None, states: list[str] | None, limit: int) -> list[Case]:
        """Open311's public list: newest first, at most `limit`. With ids, every other filter is ignored
        (GeoReport v2)."""
        where: list[str] = [OPEN311_PUBLIC]
        args: list[Any] = []

        def add(clause: str, value: Any) -> None:
            args.append(value)
            where.append(clause.format(f"${len(args)}"))
        if ids is not None:
            add("case_id = ANY({}::uuid[])", ids)
        else:
            for clause, value in (("created_at >= {}", start), ("created_at <= {}", end),
                                  ("category = ANY({}::text[])", categories),
                                  ("state = ANY({}::text[])", states)):
                if value is not None:
                    add(clause, value)
        args.append(limit)
        rows = await self._pool.fetch(f"SELECT doc FROM cases WHERE {' AND '.join(where)} "
                                      f"ORDER BY created_at DESC, case_id DESC LIMIT ${len(args)}", *args)
        return [r["doc"] for r in rows]

    async def open311_get(self, case_id: uuid.UUID) -> Case | None:
        """One public Open311 request; None alike for a missing case and one that is not public."""
        doc: Case | None = await self._pool.fetchval(
            f"SELECT doc FROM cases WHERE case_id = $1 AND {OPEN311_PUBLIC}", case_id)
        return doc
