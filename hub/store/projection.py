"""The case projection: the `cases` table, written inside the append transaction, rebuildable."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import asyncpg

from connectors.callbacks import callback_url
from dispatch.case import Case, apply, new_case
from dispatch.events import is_case_event
from hub.infra.db import Connection
from hub.store.events import Accepted, read_after

# The columns a case row fills, in the order of `case_row`'s values.
CASE_COLUMNS = [
    "case_id", "version", "state", "county_code", "township_code", "grid_code", "category", "ticket_no",
    "last_position", "created_at", "updated_at", "doc", "community_code", "next_due_at", "lng", "lat", "device_id",
    "category_code", "source", "callback_url", "reported_at", "imported", "callback_at", "closed_at", "address"]
_UPSERT = f"""
INSERT INTO {{table}} ({", ".join(CASE_COLUMNS)})
SELECT * FROM unnest($1::uuid[], $2::int[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                     $8::text[], $9::bigint[], $10::timestamptz[], $11::timestamptz[], $12::jsonb[], $13::text[],
                     $14::timestamptz[], $15::float8[], $16::float8[], $17::text[], $18::text[], $19::text[],
                     $20::text[], $21::timestamptz[], $22::bool[], $23::timestamptz[], $24::timestamptz[],
                     $25::text[])
ON CONFLICT (case_id) DO UPDATE SET
    version = excluded.version, state = excluded.state, county_code = excluded.county_code,
    township_code = excluded.township_code, grid_code = excluded.grid_code,
    community_code = excluded.community_code, category = excluded.category,
    ticket_no = excluded.ticket_no, last_position = excluded.last_position, next_due_at = excluded.next_due_at,
    lng = excluded.lng, lat = excluded.lat, device_id = excluded.device_id,
    category_code = excluded.category_code, source = excluded.source, callback_url = excluded.callback_url,
    reported_at = excluded.reported_at, imported = excluded.imported, callback_at = excluded.callback_at,
    closed_at = excluded.closed_at, address = excluded.address,
    updated_at = excluded.updated_at, doc = excluded.doc
"""


def _code(case: Case, level: str) -> str | None:
    area = (case.get("areas") or {}).get(level)
    return area["code"] if area else None


def reported_at(case: Case) -> datetime:
    """When the report behind a case was made (its channel's `reported_at`), else when the case began:
    early warning and analysis count reports at this time."""
    at = (case.get("report") or {}).get("reported_at")
    return datetime.fromisoformat(at if isinstance(at, str) else case["created_at"])


def _moment(value: Any) -> datetime | None:
    return datetime.fromisoformat(value) if isinstance(value, str) else None


def callback_at(case: Case) -> datetime | None:
    """When the case's latest callback (回访) was recorded: the analysis funnel's "evaluated" time."""
    callbacks = case.get("callbacks") or []
    return _moment(callbacks[-1].get("at")) if callbacks else None


NextDue = Callable[[Case], datetime | None]


async def upsert_cases(conn: Connection, rows: list[tuple[Case, int]], table: str = "cases",
                       next_due: NextDue | None = None) -> None:
    """Write (case, last_position) rows; the latest version of each case wins."""
    latest: dict[str, tuple[Case, int]] = {}
    for case, position in rows:
        prev = latest.get(case["case_id"])
        if prev is None or prev[0]["version"] < case["version"]:
            latest[case["case_id"]] = (case, position)
    cols: list[list[Any]] = [[] for _ in CASE_COLUMNS]
    for case, position in latest.values():
        for col, value in zip(cols, case_row(case, position, next_due), strict=True):
            col.append(value)
    await conn.execute(_UPSERT.format(table=table), *cols)


def case_row(case: Case, position: int, next_due: NextDue | None) -> tuple[Any, ...]:
    """A case's row of the `cases` table (CASE_COLUMNS), `position` the last event folded into it."""
    report = case.get("report") or {}
    return (
        case["case_id"], case["version"], case["state"], _code(case, "county"), _code(case, "township"),
        _code(case, "grid"), report.get("category"), report.get("ticket_no"), position,
        datetime.fromisoformat(case["created_at"]), datetime.fromisoformat(case["updated_at"]), case,
        _code(case, "community"), next_due(case) if next_due is not None else None,
        *((loc["lng"], loc["lat"]) if (loc := case.get("location")) else (None, None)),
        report.get("device_id"), (case.get("category") or {}).get("code"), case.get("source"),
        callback_url(case, None), reported_at(case), bool(case.get("imported")), callback_at(case),
        _moment(case.get("closed_at")), report.get("address"),
    )


class CaseProjection:
    """The `cases` table: written by the committer in the append transaction (each request carries the
    case as the domain folded it), and rebuildable from the events with the same settings. `next_due`
    says when a case's next SLA step falls due, for the timer sweep."""

    def __init__(self, next_due: NextDue | None = None) -> None:
        self._next_due = next_due

    async def __call__(self, conn: Connection, accepted: Accepted) -> None:
        await upsert_cases(conn, [(req.projection, res.last_position) for req, res in accepted
                                  if req.projection is not None and is_case_event(req.events[0].type)],
                           next_due=self._next_due)

    async def rebuild(self, pool: asyncpg.Pool, page: int = 20_000) -> int:
        return await rebuild_cases(pool, page, self._next_due)


async def rebuild_cases(pool: asyncpg.Pool, page: int = 20_000, next_due: NextDue | None = None) -> int:
    """Replay every event into a fresh copy of `cases` and swap it in; return the events replayed
    (hub.store.rebuild, which rebuilds `kpi_assignments` in the same pass when asked)."""
    from hub.store.rebuild import rebuild_projections  # it builds on this module

    return await rebuild_projections(pool, next_due, page, kpis=False)


async def replay_cases_after(conn: Connection, position: int, page: int, next_due: NextDue | None,
                             table: str) -> int:
    """Replay the events after `position` in store order onto the cases already in `table` (a rebuild's copy,
    under the events lock); the number of events read."""
    count = 0
    while batch := await read_after(conn, position, page):
        cases: dict[str, tuple[Case, int]] = {}
        stored = {r["case_id"]: r["doc"] for r in await conn.fetch(
            f"SELECT case_id, doc FROM {table} WHERE case_id = ANY($1::uuid[])",
            list({ev.stream_id for ev in batch}))}
        for ev in batch:
            if not is_case_event(ev.type):
                continue
            key = str(ev.stream_id)
            prev = cases[key][0] if key in cases else stored.get(ev.stream_id) or new_case(key, ev.occurred_at)
            cases[key] = (apply(prev, ev.type, ev.data, ev.version, ev.occurred_at), ev.position)
        if cases:
            await upsert_cases(conn, list(cases.values()), table=table, next_due=next_due)
        count += len(batch)
        position = batch[-1].position
    return count
