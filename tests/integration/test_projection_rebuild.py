"""The one-pass rebuild of `cases` and `kpi_assignments` (hub.store.rebuild) against the real store: events
committed while the bulk pass runs reach both tables, streams that are not cases are read past, and the result
equals what the committer wrote live. The new tables are swapped in by rename: they keep every name, grant and
setting the live ones had; a reader in the middle of a query holds the swap back, not the writers; readers see the
old table or the new one, never an empty or an older one; what a rename cannot carry is refused before any work."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any

import asyncpg
import pytest

from dispatch import commands as c
from dispatch.events import DomainEvent
from hub.infra.db import Connection, create_pool
from hub.store import rebuild
from hub.store.events import AppendRequest, append_batch, head_position
from hub.store.kpi_projection import rebuild_kpis
from hub.store.projection import rebuild_cases
from tests.integration.test_kpi_projection import Desk
from tests.unit.test_dispatch_kpi import COUNTY, TOWNSHIP, at


def utc(day: int, hour: int) -> datetime:
    """The hub's clock is UTC: the fold writes the time it is given into the case, and the rebuild gives it the
    store's `occurred_at` (UTC)."""
    return at(day, hour).astimezone(UTC)


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database_url, max_size=3)
    yield pool
    await pool.close()


async def tables(db: asyncpg.Pool | Connection) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    return ([dict(r) for r in await db.fetch("SELECT * FROM cases ORDER BY case_id")],
            [dict(r) for r in await db.fetch("SELECT * FROM kpi_assignments ORDER BY position")])


async def test_events_committed_during_the_bulk_pass_reach_both_tables(
        pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch) -> None:
    desk = Desk()
    a, b, d = desk.open(utc(23, 9)), desk.open(utc(23, 9)), desk.open(utc(23, 9))
    desk.do(b, c.Return(reason="wrong_area", note="x"), TOWNSHIP, utc(23, 10))
    await desk.commit(pool)
    async with pool.acquire() as conn, conn.transaction():  # a stream that is no case: read past, not folded
        await append_batch(conn, [AppendRequest(uuid.uuid4(), 0, [DomainEvent("note.kept", {"n": 1})], utc(23, 11))])
    head = await head_position(pool)
    live: list[tuple[list[dict[str, Any]], list[dict[str, Any]]]] = []
    bulk = rebuild._bulk

    async def bulk_then_more(*args: Any) -> int:
        count = await bulk(*args)
        # Committed after the bulk pass read the store, before the lock: A signed (its state changes on its
        # current assignment), B re-dispatched (改派: its assignment ends, a new one starts), a new case E.
        desk.do(a, c.Accept(), TOWNSHIP, utc(23, 12))
        desk.do(b, c.ReviewReturn(approve=True), COUNTY, utc(23, 13))
        desk.do(d, c.Accept(), TOWNSHIP, utc(23, 12))
        desk.do(d, c.Resolve(note="ok"), TOWNSHIP, utc(24, 9))
        desk.open(utc(23, 14))
        await desk.commit(pool)
        live.append(await tables(pool))
        return count

    monkeypatch.setattr(rebuild, "_bulk", bulk_then_more)
    total = await rebuild.rebuild_projections(pool, page=2)  # pages end mid-stream; a COPY every two cases

    assert total == await pool.fetchval("SELECT count(*) FROM events") > head, "every event, the tail's too"
    cases, assignments = await tables(pool)
    assert (cases, assignments) == live[0], "both tables equal what the committer wrote live"
    assert len(cases) == 4 and {r["state"] for r in cases if r["case_id"] in (a, d)} == {"accepted", "resolved"}
    by_case = {r["case_id"]: r for r in assignments if not r["ended"]}
    assert by_case[a]["case_state"] == "accepted" and by_case[d]["case_state"] == "resolved"
    assert [r["ended"] for r in assignments if r["case_id"] == b] == [True, False], "re-dispatched in the tail"


TABLES = ["cases", "kpi_assignments"]


async def catalog(db: asyncpg.Pool | Connection) -> dict[str, Any]:
    """What the catalog says of the two tables, read independently of hub.store.table_swap: index names and
    definitions, constraint names and definitions, owner, grants, storage parameters, comment, statistics targets."""
    return {
        "indexes": [tuple(r) for r in await db.fetch(
            "SELECT tablename, indexname, replace(indexdef, ' ON public.' || tablename || ' ', ' ON ') FROM pg_indexes "
            "WHERE tablename = ANY($1) ORDER BY 1, 2", TABLES)],
        "constraints": [tuple(r) for r in await db.fetch(
            "SELECT conrelid::regclass::text, conname, contype::text, pg_get_constraintdef(oid) FROM pg_constraint "
            "WHERE conrelid = ANY($1::regclass[]) ORDER BY 1, 2", TABLES)],
        "tables": [tuple(r) for r in await db.fetch(
            "SELECT relname, relowner::regrole::text, relacl::text[], reloptions, obj_description(oid, 'pg_class') "
            "FROM pg_class WHERE oid = ANY($1::regclass[]) ORDER BY 1", TABLES)],
        "statistics": [tuple(r) for r in await db.fetch(
            "SELECT attrelid::regclass::text, attname, attstattarget FROM pg_attribute "
            "WHERE attrelid = ANY($1::regclass[]) AND attnum > 0 AND NOT attisdropped ORDER BY 1, 2", TABLES)],
    }


async def oids(db: asyncpg.Pool | Connection) -> list[int]:
    return [await db.fetchval("SELECT $1::regclass::oid", t) for t in TABLES]


async def leftovers(db: asyncpg.Pool | Connection) -> list[str]:
    return [r["relname"] for r in await db.fetch(
        "SELECT relname FROM pg_class WHERE relname LIKE ANY(ARRAY['cases\\_%', 'kpi\\_assignments\\_%']) "
        "AND relkind = 'r'")]


async def test_the_swapped_tables_keep_every_name_grant_and_setting(pool: asyncpg.Pool) -> None:
    """The live tables are replaced (new ones), yet a later migration finds every index and constraint the
    migrations named where it was, and what an operator set on them (a grant, storage parameters, a statistics
    target, a comment) stays; the committer's upserts go on working on the new tables."""
    role = f"cityloop_reader_{uuid.uuid4().hex[:8]}"
    await pool.execute(f"CREATE ROLE {role} NOLOGIN")
    try:
        await pool.execute(f"GRANT SELECT ON cases, kpi_assignments TO {role}")
        await pool.execute(f"GRANT UPDATE ON kpi_assignments TO {role} WITH GRANT OPTION")
        await pool.execute("ALTER TABLE cases SET (fillfactor = 90, autovacuum_vacuum_scale_factor = 0.05)")
        await pool.execute("ALTER TABLE kpi_assignments SET (autovacuum_enabled = false)")
        await pool.execute("ALTER TABLE cases ALTER COLUMN doc SET STATISTICS 10")
        await pool.execute("COMMENT ON TABLE cases IS 'the case projection'")
        # What a rebuild that failed half-way left behind.
        await pool.execute("CREATE TABLE cases_next (x int); CREATE TABLE kpi_assignments_old (x int)")
        desk = Desk()
        for _ in range(3):
            desk.open(utc(23, 9))
        await desk.commit(pool)
        before, live, old = await catalog(pool), await tables(pool), await oids(pool)
        names = {name for _, name, *_ in before["indexes"]} | {name for _, name, *_ in before["constraints"]}
        assert {"cases_pkey", "cases_state", "cases_open311_recent", "kpi_assignments_pkey",
                "kpi_assignments_case"} <= names, "what migrations/ names"

        assert await rebuild.rebuild_projections(pool) == await pool.fetchval("SELECT count(*) FROM events")

        assert all(a != b for a, b in zip(old, await oids(pool), strict=True)), "both tables were swapped"
        assert await catalog(pool) == before
        assert await tables(pool) == live
        assert await leftovers(pool) == [], "no copy, no old table, nothing a failed rebuild left"
        desk.do(next(iter(desk.cases)), c.Accept(), TOWNSHIP, utc(23, 10))  # ON CONFLICT on the new tables
        desk.open(utc(23, 11))
        await desk.commit(pool)
        assert await pool.fetchval("SELECT count(*) FROM cases WHERE state = 'accepted'") == 1
        assert await pool.fetchval("SELECT count(*) FROM cases") == 4
    finally:
        await pool.execute(f"DROP OWNED BY {role}")
        await pool.execute(f"DROP ROLE {role}")


async def test_a_reader_in_the_old_table_holds_the_swap_back_not_the_writers(
        pool: asyncpg.Pool, database_url: str, monkeypatch: pytest.MonkeyPatch,
        caplog: pytest.LogCaptureFixture) -> None:
    """The swap waits a little for a reader in the middle of a transaction on `cases`, lets go of the events lock and
    tries again: writers are never held for the reader's whole time, and the reader's transaction keeps the old
    table to its end. The events committed while the swap waited reach the new tables."""
    monkeypatch.setattr(rebuild, "SWAP_LOCK_TIMEOUT_S", 0.1)
    caplog.set_level(logging.WARNING, logger=rebuild.__name__)
    desk = Desk()
    for _ in range(5):
        desk.open(utc(23, 9))
    await desk.commit(pool)
    reader = await asyncpg.connect(database_url)
    waits: list[float] = []
    try:
        async with reader.transaction():
            await reader.fetchval("SELECT count(*) FROM cases")
            table = await reader.fetchval("SELECT 'cases'::regclass::oid")
            rebuilding = asyncio.create_task(rebuild.rebuild_projections(pool))
            held = time.monotonic()
            async with asyncio.timeout(60):
                while sum("trying again" in r.getMessage() for r in caplog.records) < 2 or time.monotonic() - held < 2:
                    started = time.perf_counter()
                    desk.open(utc(23, 10))
                    await desk.commit(pool)
                    waits.append(time.perf_counter() - started)
                    await asyncio.sleep(0.02)
            assert not rebuilding.done()
            assert await reader.fetchval("SELECT 'cases'::regclass::oid") == table, "the old table, to the end"
            assert await reader.fetchval("SELECT count(*) FROM cases") == 5 + len(waits), "kept up by the writers"
        await rebuilding
    finally:
        await reader.close()
    assert len(waits) > 10 and max(waits) < 1.0, f"writers waited {max(waits):.2f} s while the reader held on 2 s"
    live = await tables(pool)
    assert len(live[0]) == 5 + len(waits)
    await rebuild.rebuild_projections(pool)
    assert await tables(pool) == live, "the events committed while the swap waited are in the new tables"


async def test_readers_see_the_old_table_or_the_new_never_an_empty_or_an_older_one(
        pool: asyncpg.Pool, database_url: str) -> None:
    """Tickets keep coming while the tables are rebuilt and swapped three times. A statement (READ COMMITTED) never
    counts fewer cases than the one before it, nor none; a console-like snapshot (REPEATABLE READ, `cases` read
    first, as hub.live.gateway does) counts as many cases as the events of its own snapshot have streams."""
    desk = Desk()
    for _ in range(10):
        desk.open(utc(23, 9))
    await desk.commit(pool)
    stop = asyncio.Event()

    async def statements() -> list[int]:
        conn, counts = await asyncpg.connect(database_url), []
        try:
            while not stop.is_set():
                counts.append(await conn.fetchval("SELECT count(*) FROM cases"))
        finally:
            await conn.close()
        return counts

    async def snapshots() -> list[tuple[int, int]]:
        conn, seen = await asyncpg.connect(database_url), []
        try:
            while not stop.is_set():
                async with conn.transaction(isolation="repeatable_read", readonly=True):
                    cases = await conn.fetchval("SELECT count(*) FROM cases")
                    streams = await conn.fetchval(
                        "SELECT count(DISTINCT stream_id) FROM events WHERE starts_with(type, 'case.')")
                    seen.append((cases, streams))
        finally:
            await conn.close()
        return seen

    async def tickets() -> None:
        while not stop.is_set():
            desk.open(utc(23, 10))
            await desk.commit(pool)
            await asyncio.sleep(0.005)

    counting, snapshotting = asyncio.create_task(statements()), asyncio.create_task(snapshots())
    writer = asyncio.create_task(tickets())
    try:
        for _ in range(3):
            await rebuild.rebuild_projections(pool, page=3)
    finally:
        stop.set()
    await writer
    counts, seen = await counting, await snapshotting
    assert len(counts) > 20 and len(seen) > 20
    assert counts[0] >= 10 and all(a <= b for a, b in zip(counts, counts[1:], strict=False)), counts
    assert [(cases, streams) for cases, streams in seen if cases != streams] == []


async def test_a_cases_only_or_kpi_only_rebuild_swaps_that_table_alone(pool: asyncpg.Pool) -> None:
    desk = Desk()
    a = desk.open(utc(23, 9))
    desk.do(a, c.Accept(), TOWNSHIP, utc(23, 10))
    await desk.commit(pool)
    live, (cases, kpis) = await tables(pool), await oids(pool)
    await rebuild_cases(pool)
    assert await tables(pool) == live and (await oids(pool))[1] == kpis and (await oids(pool))[0] != cases
    cases = (await oids(pool))[0]
    await rebuild_kpis(pool)
    assert await tables(pool) == live and (await oids(pool))[0] == cases and (await oids(pool))[1] != kpis
    assert await leftovers(pool) == [], "the scratch copy of cases a KPI rebuild folds is gone"


async def test_what_a_rename_would_lose_is_refused_before_any_work(pool: asyncpg.Pool) -> None:
    """A trigger on `cases` would stay on the old table: the rebuild says so and leaves everything as it was."""
    desk = Desk()
    desk.open(utc(23, 9))
    await desk.commit(pool)
    await pool.execute("CREATE FUNCTION keep_quiet() RETURNS trigger LANGUAGE plpgsql AS 'BEGIN RETURN NEW; END'; "
                       "CREATE TRIGGER cases_audit BEFORE UPDATE ON cases FOR EACH ROW EXECUTE FUNCTION keep_quiet()")
    live, before = await tables(pool), await oids(pool)
    with pytest.raises(rebuild.RebuildRefused, match="trigger cases_audit on table cases"):
        await rebuild.rebuild_projections(pool)
    assert await tables(pool) == live and await oids(pool) == before and await leftovers(pool) == []
    await pool.execute("DROP TRIGGER cases_audit ON cases")
    await rebuild.rebuild_projections(pool)  # and the rebuild lock was let go
    assert await tables(pool) == live
