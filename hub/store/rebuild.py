"""Rebuilding the case and KPI projections (`cases`, `kpi_assignments`) from the store, in one pass.

The bulk of the store is read once, stream by stream (the `(stream_id, version)` index), on a connection of
its own: each case is folded from its events with the domain's fold (`dispatch.fold.apply`) and its
assignments run through the KPI rules (`dispatch.kpi.Assignments`, which are per case, so stream order gives
what store order gives), and both are written once with binary COPY into private temp tables that have no
index yet — while the next page is folded. Hubs keep appending meanwhile: nothing is locked.

Then the temp tables get the indexes the last step needs, and one transaction takes the events lock, replays
the few events committed since (in store order, onto the cases and assignments read back from the temp
tables — the live committer's code), and replaces the live tables with DELETE + INSERT: MVCC-safe, so a
console's snapshot sees the old rows or the new, never an empty table. Writers wait only for that step.

A current assignment keeps its case's state: the bulk pass takes it from the case it has just folded, the
last step from the rebuilt cases — what the committer writes live (`KpiProjection`), so the tables equal the
live ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
from collections.abc import Iterator
from typing import Any

import asyncpg

from dispatch.case import Case, apply, new_case
from dispatch.events import CASE_EVENT_PREFIX
from dispatch.kpi import KPI_EVENTS, Assignments
from hub.infra.db import Connection
from hub.store import kpi_projection
from hub.store.events import head_position
from hub.store.projection import CASE_COLUMNS, NextDue, case_row, replay_cases_after

CASES, KPIS = "cases_rebuild", "kpi_rebuild"
# Cases per COPY: their documents are the bulk pass's memory (a folded case is ~20 KB of Python objects).
COPY_CASES = 2_000
# Every event up to the head, in stream order; the data only of case events (the others are skipped).
_BY_STREAM = """
SELECT position, stream_id, version, type, CASE WHEN starts_with(type, $2) THEN data END AS data, occurred_at
FROM events WHERE position <= $1 ORDER BY stream_id, version
"""


async def rebuild_projections(pool: asyncpg.Pool, next_due: NextDue | None = None, page: int = 20_000, *,
                              cases: bool = True, kpis: bool = True) -> int:
    """Replay every event into fresh copies of `cases` and/or `kpi_assignments` and swap them in (see the
    module docstring); return the events replayed. `page`: events per read, cases per COPY."""
    async with pool.acquire() as conn:
        await conn.execute(f"DROP TABLE IF EXISTS {CASES}, {KPIS}")  # private temp tables: nobody else sees them
        await conn.execute(f"CREATE TEMP TABLE {CASES} (LIKE cases INCLUDING DEFAULTS)")
        await conn.execute(f"CREATE TEMP TABLE {KPIS} (LIKE {kpi_projection.TABLE} INCLUDING DEFAULTS)")
        head = await head_position(conn)
        async with pool.acquire() as reader, reader.transaction(isolation="repeatable_read", readonly=True):
            with _collector_paused():
                count = await _bulk(reader, conn, head, page, next_due)
        # What the last step looks rows up by (and upserts on), built once over the loaded rows.
        await conn.execute(f"ALTER TABLE {CASES} ADD PRIMARY KEY (case_id)")
        await conn.execute(f"ALTER TABLE {KPIS} ADD PRIMARY KEY (position)")
        await conn.execute(f"CREATE INDEX ON {KPIS} (case_id) WHERE NOT ended")
        # Row counts and the keys' statistics for the last step's plans (not the documents: that would detoast them).
        await conn.execute(f"ANALYZE {CASES} (case_id), {KPIS} (position, case_id, ended)")
        async with conn.transaction():
            await conn.execute("LOCK TABLE events IN EXCLUSIVE MODE")
            # The cases' tail is replayed either way: a current assignment takes its state from the rebuilt case.
            more = await replay_cases_after(conn, head, page, next_due, CASES)
            if kpis:
                await kpi_projection.replay(conn, head, page, KPIS)
                await conn.execute(kpi_projection.STATES.format(table=KPIS, cases=CASES))
            if cases:
                await conn.execute("DELETE FROM cases")
                await conn.execute(f"INSERT INTO cases SELECT * FROM {CASES}")
            if kpis:
                await conn.execute(f"DELETE FROM {kpi_projection.TABLE}")
                await conn.execute(f"INSERT INTO {kpi_projection.TABLE} SELECT * FROM {KPIS}")
                await conn.execute("UPDATE kpi_backfill SET missing_up_to = 0")
        await conn.execute(f"DROP TABLE {CASES}, {KPIS}")
    return count + more


@contextlib.contextmanager
def _collector_paused() -> Iterator[None]:
    """No cyclic garbage collection while the bulk pass runs. Decoding and folding a million events makes
    millions of acyclic objects (dicts, lists, strings), each allocation counting towards a collection that
    walks every live object: the collector took more time than the decoding itself. Nothing the pass makes is
    cyclic, so reference counting frees it all the same."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


class _Writer:
    """COPYs pages of rows into the temp tables on `conn`, one page in flight while the next is folded."""

    def __init__(self, conn: Connection) -> None:
        self._conn = conn
        self._pending: asyncio.Task[None] | None = None

    async def write(self, cases: list[tuple[Any, ...]], assignments: list[tuple[Any, ...]]) -> None:
        await self.wait()
        self._pending = asyncio.ensure_future(self._copy(cases, assignments))

    async def _copy(self, cases: list[tuple[Any, ...]], assignments: list[tuple[Any, ...]]) -> None:
        if cases:
            await self._conn.copy_records_to_table(CASES, records=cases, columns=CASE_COLUMNS)
        if assignments:
            await self._conn.copy_records_to_table(KPIS, records=assignments, columns=kpi_projection.COLUMNS)

    async def wait(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            await pending


async def _bulk(reader: Connection, conn: Connection, head: int, page: int, next_due: NextDue | None) -> int:
    """Fold every stream up to `head` (read on `reader`) into the temp tables (written on `conn`)."""
    writer = _Writer(conn)
    count = 0
    cases: list[tuple[Any, ...]] = []
    assignments = Assignments()
    case: Case | None = None
    last = 0

    def finish(case: Case, last: int) -> None:
        assignments.settle(case["case_id"], case["state"])
        cases.append(case_row(case, last, next_due))

    try:
        async for ev in reader.cursor(_BY_STREAM, head, CASE_EVENT_PREFIX, prefetch=page):
            count += 1
            data = ev["data"]
            if data is None:
                continue  # not a case event
            key = str(ev["stream_id"])
            if case is None or case["case_id"] != key:
                if case is not None:
                    finish(case, last)
                    if len(cases) >= min(page, COPY_CASES):
                        await _flush(writer, cases, assignments)
                        cases, assignments = [], Assignments()
                case, last = new_case(key, ev["occurred_at"]), 0
            event_type, at, position = ev["type"], ev["occurred_at"], ev["position"]
            case = apply(case, event_type, data, ev["version"], at)
            last = max(last, position)
            if event_type in KPI_EVENTS:
                assignments.add(key, event_type, data, position, at)
        if case is not None:
            finish(case, last)
        await _flush(writer, cases, assignments)
    finally:
        await writer.wait()
    return count


async def _flush(writer: _Writer, cases: list[tuple[Any, ...]], assignments: Assignments) -> None:
    await writer.write(cases, [kpi_projection.row(a) for a in assignments.take_touched()])

