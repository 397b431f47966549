"""The one-pass rebuild of `cases` and `kpi_assignments` (hub.store.rebuild) against the real store: events
committed while the bulk pass runs are replayed under the lock into both tables, streams that are not cases are
read past, and the result equals what the committer wrote live."""

from __future__ import annotations

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
