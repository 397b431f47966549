"""The KPI projection: `kpi_assignments`, one slim row per assignment, written inside the append transaction.

The rules (what an event does to an assignment) are pure, in `dispatch.kpi`; this module only moves
assignments in and out of PostgreSQL. Per commit: nothing for a batch without KPI events (timer steps,
comments, progress); otherwise at most one SELECT (the current assignment of cases that existed before the
batch — none for new tickets) and one upsert, both set-based. A case may appear many times in one batch and
be re-dispatched in it: its events go through the rules in store order and each assignment touched is
written once, as it ends up. Each assignment also keeps its case's current state (from the case the domain
folded, which each append request carries), so that reads never join the case documents.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from dispatch.events import JsonDict, is_case_event
from dispatch.kpi import KPI_EVENTS, LEVELS, Assignment, Assignments
from hub.infra.db import Connection
from hub.store.events import Accepted

TABLE = "kpi_assignments"
# (name, PostgreSQL array type) in table order; the first two never change once a row is written.
_COLUMNS = (
    ("position", "bigint"), ("case_id", "uuid"), ("unit_code", "text"), ("unit_name", "text"),
    ("township_code", "text"), ("township_name", "text"), ("county_code", "text"), ("county_name", "text"),
    ("city_code", "text"), ("city_name", "text"), ("dispatched_at", "timestamptz"), ("sign_by", "timestamptz"),
    ("resolve_by", "timestamptz"), ("signed_at", "timestamptz"), ("signed_by_deadline", "timestamptz"),
    ("resolved_at", "timestamptz"), ("resolved_on_time", "boolean"), ("returned", "boolean"),
    ("resolutions", "int"), ("redos", "int"), ("valid_callbacks", "int"), ("contacted", "int"), ("solved", "int"),
    ("satisfied", "int"), ("basically_satisfied", "int"), ("ended", "boolean"), ("case_state", "text"),
)
COLUMNS = [name for name, _ in _COLUMNS]
_NAMES = ", ".join(COLUMNS)
_UPSERT = (
    f"INSERT INTO {{table}} ({_NAMES}) SELECT * FROM unnest("
    + ", ".join(f"${i}::{kind}[]" for i, (_, kind) in enumerate(_COLUMNS, 1))
    + ") ON CONFLICT (position) DO UPDATE SET "
    + ", ".join(f"{name} = excluded.{name}" for name, _ in _COLUMNS[2:])
)
# A case has one current (not ended) assignment; ordered so that the latest wins should there be more.
_CURRENT = f"SELECT {_NAMES} FROM {{table}} WHERE case_id = ANY($1::uuid[]) AND NOT ended ORDER BY position"

# (case_id, event type, data, position, occurred_at, the case's state after it or None if unknown): one KPI
# event, in store order.
Item = tuple[str, str, JsonDict, int, datetime, str | None]


def row(a: Assignment) -> tuple[Any, ...]:
    """An assignment's row of the table (COLUMNS)."""
    areas = [part for lv in LEVELS for part in a.areas.get(lv, (None, None))]
    return (a.position, UUID(a.case_id), *a.unit, *areas, a.dispatched_at, a.sign_by, a.resolve_by, a.signed_at,
            a.signed_by_deadline, a.resolved_at, a.resolved_on_time, a.returned, a.resolutions, a.redos,
            a.valid_callbacks, a.contacted, a.solved, a.satisfied, a.basically_satisfied, a.ended, a.state)


def _assignment(row: asyncpg.Record) -> Assignment:
    areas = {lv: (row[f"{lv}_code"], row[f"{lv}_name"]) for lv in LEVELS if row[f"{lv}_code"] is not None}
    return Assignment(
        str(row["case_id"]), row["position"], (row["unit_code"], row["unit_name"]), areas, row["dispatched_at"],
        row["sign_by"], row["resolve_by"], row["signed_at"], row["signed_by_deadline"], row["resolved_at"],
        row["resolved_on_time"], row["returned"], row["resolutions"], row["redos"], row["valid_callbacks"],
        row["contacted"], row["solved"], row["satisfied"], row["basically_satisfied"], row["ended"],
        row["case_state"])


async def project(conn: Connection, items: list[Item], existing: Iterable[str], table: str = TABLE) -> None:
    """Run KPI events (store order) through the rules and write what they changed. `existing`: the cases
    among them that may already have an assignment in `table` (streams that existed before these events)."""
    if not items:
        return
    wanted = {case_id for case_id, *_ in items} & set(existing)
    current = {}
    if wanted:
        rows = await conn.fetch(_CURRENT.format(table=table), [UUID(c) for c in wanted])
        current = {str(r["case_id"]): _assignment(r) for r in rows}
    assignments = Assignments(current)
    for case_id, event_type, data, position, at, state in items:
        assignments.add(case_id, event_type, data, position, at)
        if state is not None:
            assignments.settle(case_id, state)
    touched = assignments.take_touched()
    if touched:
        columns = list(zip(*(row(a) for a in touched), strict=True))
        await conn.execute(_UPSERT.format(table=table), *columns)


class KpiProjection:
    """The projector the committer runs after CaseProjection, with the batch it already holds: the events
    as the domain produced them (no decoding), their positions from the append's result."""

    async def __call__(self, conn: Connection, accepted: Accepted) -> None:
        items: list[Item] = []
        seen: set[str] = set()
        existing: set[str] = set()  # streams that had events before this batch (not new tickets)
        for req, res in accepted:
            if not is_case_event(req.events[0].type):
                continue  # an alert's (or another non-case stream's) append: no KPI in it
            case_id = str(req.stream_id)
            if case_id not in seen:
                seen.add(case_id)
                if res.version > len(req.events):
                    existing.add(case_id)
            # One INSERT under the events table lock gives a request's events consecutive positions.
            mine = [(case_id, e.type, e.data, res.first_position + k, req.occurred_at, None)
                    for k, e in enumerate(req.events) if e.type in KPI_EVENTS]
            if mine and req.projection is not None:  # the case after the request: its state after the last one
                mine[-1] = (*mine[-1][:5], req.projection["state"])
            items += mine
        await project(conn, items, existing)


_READ = """
SELECT position, stream_id, version, type, CASE WHEN type = ANY($3::text[]) THEN data END AS data, occurred_at
FROM events WHERE position > $1 ORDER BY position LIMIT $2
"""


async def replay(conn: Connection, position: int, page: int, table: str) -> tuple[int, int]:
    """Every event after `position` into `table`, a page at a time (memory: one page and its cases)."""
    count, kinds = 0, sorted(KPI_EVENTS)
    while rows := await conn.fetch(_READ, position, page, kinds):
        items: list[Item] = [(str(r["stream_id"]), r["type"], r["data"], r["position"], r["occurred_at"], None)
                             for r in rows if r["data"] is not None]
        first_version: dict[str, int] = {}
        for r in rows:
            first_version.setdefault(str(r["stream_id"]), r["version"])
        await project(conn, items, [case_id for case_id, version in first_version.items() if version > 1], table)
        count += len(rows)
        position = rows[-1]["position"]
    return count, position


# Replay has the events but not the folded cases: the current assignment of each case with events after $1
# takes its case's state from the cases table given (a rebuild's copy, up to date to the events replayed).
STATES = """
UPDATE {table} k SET case_state = c.state FROM {cases} c
WHERE c.case_id = k.case_id AND NOT k.ended AND k.case_state IS DISTINCT FROM c.state
  AND k.case_id IN (SELECT stream_id FROM events WHERE position > $1)
"""


async def rebuild_kpis(pool: asyncpg.Pool, page: int = 20_000) -> int:
    """Replay the store into a fresh copy of `kpi_assignments` and swap it in; return the events read
    (hub.store.rebuild: the same rules as the committer's, fed stream by stream, so the rebuilt table equals
    the live one; writers are blocked only for the swap)."""
    from hub.store.rebuild import rebuild_projections  # it builds on this module

    return await rebuild_projections(pool, page=page, cases=False)


async def missing_up_to(conn: Connection | asyncpg.Pool) -> int:
    """The last position whose KPI rows are missing (events recorded before the table existed), 0 if none."""
    return int(await conn.fetchval("SELECT coalesce(max(missing_up_to), 0) FROM kpi_backfill"))
