"""The case projection: the `cases` table, written inside the append transaction, rebuildable."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from connectors.callbacks import callback_url
from dispatch.case import Case, apply, new_case
from dispatch.events import is_case_event
from hub.infra.db import Connection
from hub.store.events import Accepted, head_position, read_after

_UPSERT = """
INSERT INTO {table} (case_id, version, state, county_code, township_code, grid_code, category, ticket_no,
                   last_position, created_at, updated_at, doc, community_code, next_due_at, lng, lat, device_id,
                   category_code, source, callback_url, reported_at, imported)
SELECT * FROM unnest($1::uuid[], $2::int[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[],
                     $8::text[], $9::bigint[], $10::timestamptz[], $11::timestamptz[], $12::jsonb[], $13::text[],
                     $14::timestamptz[], $15::float8[], $16::float8[], $17::text[], $18::text[], $19::text[],
                     $20::text[], $21::timestamptz[], $22::bool[])
ON CONFLICT (case_id) DO UPDATE SET
    version = excluded.version, state = excluded.state, county_code = excluded.county_code,
    township_code = excluded.township_code, grid_code = excluded.grid_code,
    community_code = excluded.community_code, category = excluded.category,
    ticket_no = excluded.ticket_no, last_position = excluded.last_position, next_due_at = excluded.next_due_at,
    lng = excluded.lng, lat = excluded.lat, device_id = excluded.device_id,
    category_code = excluded.category_code, source = excluded.source, callback_url = excluded.callback_url,
    reported_at = excluded.reported_at, imported = excluded.imported,
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


NextDue = Callable[[Case], datetime | None]


async def upsert_cases(conn: Connection, rows: list[tuple[Case, int]], table: str = "cases",
                       next_due: NextDue | None = None) -> None:
    """Write (case, last_position) rows; the latest version of each case wins."""
    latest: dict[str, tuple[Case, int]] = {}
    for case, position in rows:
        prev = latest.get(case["case_id"])
        if prev is None or prev[0]["version"] < case["version"]:
            latest[case["case_id"]] = (case, position)
    cols: list[list[Any]] = [[] for _ in range(22)]
    for case, position in latest.values():
        report = case.get("report") or {}
        values = (
            case["case_id"], case["version"], case["state"], _code(case, "county"), _code(case, "township"),
            _code(case, "grid"), report.get("category"), report.get("ticket_no"), position,
            datetime.fromisoformat(case["created_at"]), datetime.fromisoformat(case["updated_at"]), case,
            _code(case, "community"), next_due(case) if next_due is not None else None,
            *((loc["lng"], loc["lat"]) if (loc := case.get("location")) else (None, None)),
            report.get("device_id"), (case.get("category") or {}).get("code"), case.get("source"),
            callback_url(case, None), reported_at(case), bool(case.get("imported")),
        )
        for col, value in zip(cols, values, strict=True):
            col.append(value)
    await conn.execute(_UPSERT.format(table=table), *cols)


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

    async def rebuild(self, pool: asyncpg.Pool, page: int = 5_000) -> int:
        return await rebuild_cases(pool, page, self._next_due)



async def rebuild_cases(pool: asyncpg.Pool, page: int = 5_000, next_due: NextDue | None = None) -> int:
    """Replay every event into a fresh copy of `cases` and swap it in; return the events replayed.

    Writers are blocked only for the swap: the bulk replay reads the store without a lock (positions
    are gap-free, so "everything up to P" is well defined), then the lock is taken, the few events
    committed meanwhile are replayed too, and the table is replaced with DELETE + INSERT in the same
    transaction — MVCC-safe, so a console's snapshot sees either the old or the new table, never an
    empty one.

    The bulk replay reads stream by stream (the `(stream_id, version)` index), so each case is folded
    from its events in one go and written once, whatever the interleaving of the store; only the events
    committed during the rebuild are replayed in position order onto cases read back from the copy.
    """
    async with pool.acquire() as conn:
        await conn.execute("CREATE TEMP TABLE IF NOT EXISTS cases_rebuild (LIKE cases INCLUDING ALL)")
        await conn.execute("TRUNCATE cases_rebuild")  # private temp table: nobody else can see it
        head = await head_position(conn)
        count = await _replay_streams(conn, head, page, next_due)
        async with conn.transaction():
            await conn.execute("LOCK TABLE events IN EXCLUSIVE MODE")
            more = await _replay_after(conn, head, page, next_due)
            await conn.execute("DELETE FROM cases")
            await conn.execute("INSERT INTO cases SELECT * FROM cases_rebuild")
        await conn.execute("DROP TABLE cases_rebuild")
    return count + more


_BY_STREAM = """
SELECT position, stream_id, version, type, data, occurred_at FROM events
WHERE position <= $1 AND (stream_id, version) > ($2, $3) ORDER BY stream_id, version LIMIT $4
"""
# Only case streams are folded into `cases`; the store holds other streams too (alerts, ...).


async def _replay_streams(conn: Connection, head: int, page: int, next_due: NextDue | None) -> int:
    """Fold every stream's events up to `head` into `cases_rebuild`; the number of events read."""
    count = 0
    after: tuple[UUID, int] = (UUID(int=0), 0)
    rows: list[tuple[Case, int]] = []
    case: Case | None = None
    last = 0
    while batch := await conn.fetch(_BY_STREAM, head, *after, page):
        for ev in batch:
            if not is_case_event(ev["type"]):
                continue
            key = str(ev["stream_id"])
            if case is None or case["case_id"] != key:
                if case is not None:
                    rows.append((case, last))
                case, last = new_case(key, ev["occurred_at"]), 0
            case = apply(case, ev["type"], ev["data"], ev["version"], ev["occurred_at"])
            last = max(last, ev["position"])
        count += len(batch)
        after = (batch[-1]["stream_id"], batch[-1]["version"])
        if len(rows) >= page:
            await upsert_cases(conn, rows, table="cases_rebuild", next_due=next_due)
            rows = []
    if case is not None:
        rows.append((case, last))
    if rows:
        await upsert_cases(conn, rows, table="cases_rebuild", next_due=next_due)
    return count


async def _replay_after(conn: Connection, position: int, page: int, next_due: NextDue | None) -> int:
    """Replay the events after `position` in store order onto the cases already in `cases_rebuild`."""
    count = 0
    while batch := await read_after(conn, position, page):
        cases: dict[str, tuple[Case, int]] = {}
        stored = {r["case_id"]: r["doc"] for r in await conn.fetch(
            "SELECT case_id, doc FROM cases_rebuild WHERE case_id = ANY($1::uuid[])",
            list({ev.stream_id for ev in batch}))}
        for ev in batch:
            if not is_case_event(ev.type):
                continue
            key = str(ev.stream_id)
            prev = cases[key][0] if key in cases else stored.get(ev.stream_id) or new_case(key, ev.occurred_at)
            cases[key] = (apply(prev, ev.type, ev.data, ev.version, ev.occurred_at), ev.position)
        if cases:
            await upsert_cases(conn, list(cases.values()), table="cases_rebuild", next_due=next_due)
        count += len(batch)
        position = batch[-1].position
    return count
