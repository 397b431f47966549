"""Rebuilding the case and KPI projections (`cases`, `kpi_assignments`) from the store, in one pass.

The bulk of the store is read once, stream by stream (the `(stream_id, version)` index), on a connection of
its own: each case is folded from its events with the domain's fold (`dispatch.fold.apply`) and its
assignments run through the KPI rules (`dispatch.kpi.Assignments`, which are per case, so stream order gives
what store order gives), and both are written once with binary COPY into new tables beside the live ones
(`cases_next`, `kpi_assignments_next`: hub.store.table_swap), without indexes yet — while the next page is
folded. Hubs keep appending meanwhile: nothing is locked.

Then the new tables get every index and constraint of the live ones (built in bulk, not row by row), their
statistics, owner and grants, and catch up with the events committed since, still without a lock (the live
committer's code, in store order, onto the rebuilt cases and assignments). Last, one short transaction takes
the events lock (writers wait from here), has a second connection replay and commit the few events that came
during the catch-up, takes ACCESS EXCLUSIVE on the live tables (waiting at most SWAP_LOCK_TIMEOUT_S for readers
in the middle of a query; else it lets go of everything and tries again later) and renames: the live tables
become `*_old` (dropped after the commit), the new ones take their names and their indexes' names.

What a reader sees. A statement under READ COMMITTED (every read of the hub but the console snapshot's) sees
the old table or the new one, complete and current: one that started on the old table holds its lock to the
end of its transaction, which the swap waits for; one that arrives during the swap waits (milliseconds), then
reads the new table with a snapshot taken after the swap committed. A REPEATABLE READ transaction whose
snapshot was taken before the swap committed and which first touches the table after it sees the new table
as of its snapshot — PostgreSQL's rule for every rewritten table (TRUNCATE, CLUSTER, ALTER TABLE): the rows
the rebuild had committed by then. That is never empty (the bulk rows are committed long before), and it
is current as long as the snapshot was taken after the last replay committed — which holds for the console
snapshot (hub.live.gateway), whose first statement reads `cases`: it either reads the old table before the
swap or waits for the swap's lock, requested after that replay committed. A reader that took its snapshot
before and waited past the swap may miss, at worst, the events of the last replay (a few milliseconds of them).

A current assignment keeps its case's state: the bulk pass takes it from the case it has just folded, the
catch-ups from the rebuilt cases — what the committer writes live (`KpiProjection`), so the tables equal the
live ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import time
from collections.abc import Iterator
from typing import Any

import asyncpg

from dispatch.case import Case, apply, new_case
from dispatch.events import CASE_EVENT_PREFIX
from dispatch.kpi import KPI_EVENTS, Assignments
from hub.infra.db import Connection, session_lock
from hub.store import kpi_projection, table_swap
from hub.store.events import head_position
from hub.store.projection import CASE_COLUMNS, NextDue, case_row, replay_cases_after

log = logging.getLogger(__name__)

CASES, KPIS = "cases", kpi_projection.TABLE
# Cases per COPY: their documents are the bulk pass's memory (a folded case is ~20 KB of Python objects).
COPY_CASES = 2_000
# How long the swap waits for a reader holding a live table (writers wait meanwhile), before it lets go and
# tries again after a pause that doubles up to SWAP_RETRY_MAX_S.
SWAP_LOCK_TIMEOUT_S = 0.3
SWAP_RETRY_MAX_S = 10.0
# Catch-up passes before the swap: each replays what came during the previous one, so the tail left for the
# swap (replayed while writers wait) is what a pass of a few events lets through. More passes only help a
# store that is appended to faster than it is replayed, which they cannot.
CATCH_UP_PASSES = 3
# One rebuild at a time: the new tables have fixed names ("CLRB").
_REBUILD_LOCK = 0x434C5242
# Every event up to the head, in stream order; the data only of case events (the others are skipped).
_BY_STREAM = """
SELECT position, stream_id, version, type, CASE WHEN starts_with(type, $2) THEN data END AS data, occurred_at
FROM events WHERE position <= $1 ORDER BY stream_id, version
"""


class RebuildRefused(RuntimeError):
    """A live table has something a swap by rename would lose or leave behind (hub.store.table_swap)."""


async def rebuild_projections(pool: asyncpg.Pool, next_due: NextDue | None = None, page: int = 20_000, *,
                              cases: bool = True, kpis: bool = True) -> int:
    """Replay every event into fresh copies of `cases` and/or `kpi_assignments` and swap them in (see the
    module docstring); return the events replayed. `page`: events per read, cases per COPY. Needs two of
    the pool's connections."""
    swapped = [table for table, wanted in ((CASES, cases), (KPIS, kpis)) if wanted]
    async with pool.acquire() as conn, _exclusive(conn):
        for table in swapped:
            if problems := await table_swap.refusals(conn, table):
                raise RebuildRefused(f"{table} cannot be swapped by rename: {'; '.join(problems)}")
        try:
            started = time.perf_counter()
            # The cases are rebuilt either way: a current assignment takes its state from the rebuilt case.
            await table_swap.create_copy(conn, CASES)
            if kpis:
                await table_swap.create_copy(conn, KPIS)
            head = await head_position(conn)
            async with pool.acquire() as reader, reader.transaction(isolation="repeatable_read", readonly=True):
                with _collector_paused():
                    count = await _bulk(reader, conn, head, page, next_due, kpis)
            bulk = time.perf_counter()
            # Built once over the loaded rows; a cases copy that only serves the KPIs needs only its key.
            await table_swap.build_indexes(conn, CASES, keys_only=not cases)
            if kpis:
                await table_swap.build_indexes(conn, KPIS)
            await conn.execute(f"ANALYZE {', '.join(table_swap.copy_of(t) for t in (CASES, KPIS)[:1 + kpis])}")
            for table in swapped:
                await table_swap.carry_access(conn, table)
            built = time.perf_counter()
            async with pool.acquire() as other:
                more, position = 0, head
                for _ in range(CATCH_UP_PASSES):
                    n, position = await _catch_up(other, position, page, next_due, kpis)
                    more += n
                    if n == 0:
                        break
                more += await _swap(conn, other, position, page, next_due, kpis, swapped)
            await conn.execute(f"DROP TABLE {', '.join(table_swap.old_of(t) for t in swapped)}")
            done = time.perf_counter()
            log.info("projection rebuild: %d events, bulk pass %.1f s, indexes and statistics %.1f s, catch-up and "
                     "swap %.1f s", count + more, bulk - started, built - bulk, done - built,
                     extra={"events": count + more, "bulk_s": round(bulk - started, 1),
                            "indexes_s": round(built - bulk, 1), "swap_s": round(done - built, 1)})
        finally:
            with contextlib.suppress(asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
                # What a failed rebuild left (the next one would drop it too), and a scratch copy of `cases`.
                await conn.execute("DROP TABLE IF EXISTS " + ", ".join(
                    name for t in (CASES, KPIS) for name in (table_swap.copy_of(t), table_swap.old_of(t))))
    return count + more


async def _catch_up(conn: Connection, position: int, page: int, next_due: NextDue | None,
                    kpis: bool) -> tuple[int, int]:
    """Replay the events after `position` onto the new tables and commit: (events read, the head replayed to).
    One snapshot for both tables (REPEATABLE READ), so both stop at the same event."""
    async with conn.transaction(isolation="repeatable_read"):
        head = await head_position(conn)
        count = await replay_cases_after(conn, position, page, next_due, table_swap.copy_of(CASES))
        if kpis and count:
            new_kpis = table_swap.copy_of(KPIS)
            await kpi_projection.replay(conn, position, page, new_kpis)
            await conn.execute(kpi_projection.STATES.format(table=new_kpis, cases=table_swap.copy_of(CASES)),
                               position)
    return count, head


async def _swap(conn: Connection, other: Connection, position: int, page: int, next_due: NextDue | None,
                kpis: bool, swapped: list[str]) -> int:
    """Swap the new tables in (module docstring); the events replayed on the way."""
    count, pause = 0, SWAP_LOCK_TIMEOUT_S
    while True:
        try:
            async with conn.transaction():
                await conn.execute("LOCK TABLE events IN EXCLUSIVE MODE")
                locked = time.perf_counter()
                # Committed by `other` while the lock holds writers back: a snapshot taken from here on (a
                # console's, see the module docstring) finds it in the new tables.
                n, position = await _catch_up(other, position, page, next_due, kpis)
                count += n
                replayed = time.perf_counter()
                await conn.execute(f"SET LOCAL lock_timeout = {int(SWAP_LOCK_TIMEOUT_S * 1000)}")
                await conn.execute(f"LOCK TABLE {', '.join(swapped)} IN ACCESS EXCLUSIVE MODE")
                readers = time.perf_counter()
                for table in swapped:
                    await table_swap.swap(conn, table)
                if kpis:
                    await conn.execute("UPDATE kpi_backfill SET missing_up_to = 0")
            done = time.perf_counter()
            log.info("projection rebuild swapped in: writers waited %.0f ms (%d events replayed in %.0f ms), "
                     "readers %.0f ms", 1000 * (done - locked), n, 1000 * (replayed - locked),
                     1000 * (done - replayed), extra={"tail_events": n, "writers_ms": round(1000 * (done - locked)),
                                                       "readers_ms": round(1000 * (done - replayed)),
                                                       "readers_lock_ms": round(1000 * (readers - replayed))})
            return count
        except asyncpg.LockNotAvailableError:
            log.warning("projection rebuild: readers held %s for %.1f s; trying again in %.1f s",
                        " and ".join(swapped), SWAP_LOCK_TIMEOUT_S, pause)
        await asyncio.sleep(pause)
        pause = min(2 * pause, SWAP_RETRY_MAX_S)
        n, position = await _catch_up(other, position, page, next_due, kpis)
        count += n


def _exclusive(conn: Connection) -> contextlib.AbstractAsyncContextManager[None]:
    """Hold the rebuild lock for this session: one rebuild at a time (the new tables have fixed names)."""
    return session_lock(conn, _REBUILD_LOCK)


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
    """COPYs pages of rows into the new tables on `conn`, one page in flight while the next is folded
    (assignments only when `kpis`)."""

    def __init__(self, conn: Connection, kpis: bool) -> None:
        self._conn = conn
        self._kpis = kpis
        self._pending: asyncio.Task[None] | None = None

    async def write(self, cases: list[tuple[Any, ...]], assignments: list[tuple[Any, ...]]) -> None:
        await self.wait()
        self._pending = asyncio.ensure_future(self._copy(cases, assignments))

    async def _copy(self, cases: list[tuple[Any, ...]], assignments: list[tuple[Any, ...]]) -> None:
        if cases:
            await self._conn.copy_records_to_table(table_swap.copy_of(CASES), records=cases, columns=CASE_COLUMNS)
        if assignments and self._kpis:
            await self._conn.copy_records_to_table(table_swap.copy_of(KPIS), records=assignments,
                                                   columns=kpi_projection.COLUMNS)

    async def wait(self) -> None:
        if self._pending is not None:
            pending, self._pending = self._pending, None
            await pending


async def _bulk(reader: Connection, conn: Connection, head: int, page: int, next_due: NextDue | None,
                kpis: bool = True) -> int:
    """Fold every stream up to `head` (read on `reader`) into the new tables (written on `conn`)."""
    writer = _Writer(conn, kpis)
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

