"""Contract of the event store against real PostgreSQL: ordering, idempotency, optimistic concurrency."""

from __future__ import annotations

import asyncio
import random
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime

import asyncpg
import pytest

from dispatch.events import DomainEvent
from hub.infra.db import Connection, create_pool
from hub.store.committer import GroupCommitter
from hub.store.events import AppendRequest, AppendResult, VersionConflict, append_batch, read_after, read_stream


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database_url, min_size=2, max_size=20)
    yield pool
    await pool.close()


@pytest.fixture
async def committer(pool: asyncpg.Pool) -> AsyncIterator[GroupCommitter]:
    committer = GroupCommitter(pool)
    task = asyncio.create_task(committer.run())
    yield committer
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def request(stream: uuid.UUID, expected: int | None, n: int = 1, key: str | None = None) -> AppendRequest:
    events = [DomainEvent("test.happened", {"i": i}) for i in range(n)]
    return AppendRequest(stream, expected, events, datetime.now(UTC), {"actor": "test"}, key)


class Rollback(Exception):
    pass


async def test_append_then_read_back_in_order(pool: asyncpg.Pool, committer: GroupCommitter) -> None:
    stream = uuid.uuid4()
    first = await committer.append(request(stream, 0, n=2))
    second = await committer.append(request(stream, 2, n=1))
    assert (first.version, second.version) == (2, 3)
    assert first.first_position < first.last_position < second.first_position
    events = await read_stream(pool, stream)
    assert [e.version for e in events] == [1, 2, 3]
    assert [e.data["i"] for e in events] == [0, 1, 0]
    after = await read_after(pool, first.first_position)
    assert [e.position for e in after] == [first.last_position, second.first_position]


async def test_stale_expected_version_is_a_typed_conflict(committer: GroupCommitter) -> None:
    stream = uuid.uuid4()
    await committer.append(request(stream, 0))
    with pytest.raises(VersionConflict) as info:
        await committer.append(request(stream, 0))
    assert (info.value.expected, info.value.actual) == (0, 1)


async def test_retried_idempotency_key_returns_the_first_result(pool: asyncpg.Pool, committer: GroupCommitter) -> None:
    first = await committer.append(request(uuid.uuid4(), 0, n=2, key="hotline:T1"))
    again = await committer.append(request(uuid.uuid4(), 0, n=2, key="hotline:T1"))
    assert not first.duplicate and again.duplicate
    assert (again.stream_id, again.first_position, again.last_position) == (
        first.stream_id, first.first_position, first.last_position)
    assert await pool.fetchval("SELECT count(*) FROM events") == 2


async def test_one_bad_item_does_not_abort_its_batch(pool: asyncpg.Pool) -> None:
    existing = uuid.uuid4()
    async with pool.acquire() as conn, conn.transaction():
        await append_batch(conn, [request(existing, 0, key="k-dup")])
    fresh = uuid.uuid4()
    async with pool.acquire() as conn, conn.transaction():
        answers = await append_batch(conn, [
            request(fresh, 0),                    # fine
            request(existing, 0),                 # stale version
            request(uuid.uuid4(), 0, key="k-dup"),  # seen before
            request(fresh, 1),                    # builds on the first item of the same batch
            request(fresh, 1),                    # and this one is now stale
        ])
    assert isinstance(answers[0], AppendResult) and answers[0].version == 1
    assert isinstance(answers[1], VersionConflict)
    assert isinstance(answers[2], AppendResult) and answers[2].duplicate and answers[2].stream_id == existing
    assert isinstance(answers[3], AppendResult) and answers[3].version == 2
    assert isinstance(answers[4], VersionConflict) and answers[4].actual == 2
    assert [e.version for e in await read_stream(pool, fresh)] == [1, 2]


async def test_reader_following_concurrent_writers_sees_every_commit_once_in_order(pool: asyncpg.Pool) -> None:
    """16 writers hold their transactions open for random times after inserting, and 5 % roll back.
    Without serialised appends a reader would see a later position commit first and skip the earlier."""
    rng = random.Random(7)
    committed: set[int] = set()
    rolled_back: set[int] = set()
    writers_done = asyncio.Event()

    async def writer(n: int) -> None:
        for _ in range(25):
            stream = uuid.uuid4()
            async with pool.acquire() as conn:
                try:
                    async with conn.transaction():
                        [result] = await append_batch(conn, [request(stream, 0, n=rng.randint(1, 3))])
                        assert isinstance(result, AppendResult)
                        await asyncio.sleep(rng.uniform(0, 0.01))
                        if rng.random() < 0.05:
                            raise Rollback
                except Rollback:
                    assert isinstance(result, AppendResult)
                    rolled_back.update(range(result.first_position, result.last_position + 1))
                    continue
            committed.update(range(result.first_position, result.last_position + 1))
            await asyncio.sleep(rng.uniform(0, 0.005))

    seen: list[int] = []

    async def reader() -> None:
        position = 0
        while True:
            done = writers_done.is_set()  # read once more after the writers finish
            for event in await read_after(pool, position, limit=50):
                seen.append(event.position)
                position = event.position
            if done:
                return
            await asyncio.sleep(0.001)

    reading = asyncio.create_task(reader())
    await asyncio.gather(*(writer(n) for n in range(16)))
    writers_done.set()
    await reading

    assert rolled_back, "the test must exercise rollbacks"
    assert seen == sorted(seen) and len(seen) == len(set(seen)), "every event once, in position order"
    assert set(seen) == committed
    assert not set(seen) & rolled_back


async def test_hundred_concurrent_appends_with_one_key_make_one_event(pool: asyncpg.Pool,
                                                                      committer: GroupCommitter) -> None:
    # Through the group committer (one process) ...
    results = await asyncio.gather(*(committer.append(request(uuid.uuid4(), 0, key="one-key")) for _ in range(100)))
    assert sum(not r.duplicate for r in results) == 1
    assert len({r.stream_id for r in results}) == 1

    # ... and through independent transactions (as several hub processes would).
    async def separate() -> AppendResult:
        async with pool.acquire() as conn, conn.transaction():
            [answer] = await append_batch(conn, [request(uuid.uuid4(), 0, key="other-key")])
            assert isinstance(answer, AppendResult)
            return answer

    results = await asyncio.gather(*(separate() for _ in range(100)))
    assert sum(not r.duplicate for r in results) == 1
    assert await pool.fetchval("SELECT count(*) FROM events") == 2
    assert await pool.fetchval("SELECT count(*) FROM idempotency_keys") == 2


async def test_fifty_concurrent_commands_on_one_case_one_wins(pool: asyncpg.Pool, committer: GroupCommitter) -> None:
    stream = uuid.uuid4()
    await committer.append(request(stream, 0))

    async def command() -> AppendResult | VersionConflict:
        try:
            return await committer.append(request(stream, 1))
        except VersionConflict as conflict:
            return conflict

    outcomes = await asyncio.gather(*(command() for _ in range(50)))
    assert sum(isinstance(o, AppendResult) for o in outcomes) == 1
    assert sum(isinstance(o, VersionConflict) for o in outcomes) == 49
    assert [e.version for e in await read_stream(pool, stream)] == [1, 2]

    async def separate() -> AppendResult | VersionConflict:
        async with pool.acquire() as conn, conn.transaction():
            [answer] = await append_batch(conn, [request(stream, 2)])
            assert isinstance(answer, (AppendResult, VersionConflict))
            return answer

    outcomes = await asyncio.gather(*(separate() for _ in range(50)))
    assert sum(isinstance(o, AppendResult) for o in outcomes) == 1
    assert [e.version for e in await read_stream(pool, stream)] == [1, 2, 3]


async def test_projection_is_written_in_the_append_transaction(pool: asyncpg.Pool) -> None:
    seen: list[int] = []

    async def projector(conn: Connection, accepted: list[tuple[AppendRequest, AppendResult]]) -> None:
        seen.extend(result.version for _, result in accepted)
        raise RuntimeError("projection failed")

    committer = GroupCommitter(pool, projector)
    task = asyncio.create_task(committer.run())
    try:
        with pytest.raises(RuntimeError, match="projection failed"):
            await committer.append(request(uuid.uuid4(), 0))
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert seen == [1]
    # The projection failed, so the events were rolled back with it: nothing half-written.
    assert await pool.fetchval("SELECT count(*) FROM events") == 0


async def test_a_batch_is_appended_in_three_statements_and_its_keys_name_their_positions(pool: asyncpg.Pool) -> None:
    """The lock, one read of the streams' versions and keys seen, one insert of the events with their keys: each
    statement is a round trip of the commit, which every acknowledgement waits for."""
    streams = [uuid.uuid4() for _ in range(3)]
    batch = [request(streams[0], 0, n=3, key="k-a"), request(streams[1], 0, key="k-b"), request(streams[2], 0)]
    sent: list[str] = []

    def log(record: asyncpg.connection.LoggedQuery) -> None:
        sent.append(record.query)

    async with pool.acquire() as conn:
        async with conn.transaction():  # asyncpg's first use of the statements reads their types: not counted
            await append_batch(conn, [request(uuid.uuid4(), 0, key="warm-up")])
        conn.add_query_logger(log)
        async with conn.transaction():
            answers = await append_batch(conn, batch)
        conn.remove_query_logger(log)
    statements = [q for q in sent if q.strip() not in ("BEGIN;", "COMMIT;")]
    assert len(statements) == 3, statements
    assert all(isinstance(a, AppendResult) for a in answers)
    keys = {r["key"]: (r["stream_id"], r["first_position"], r["last_position"])
            for r in await pool.fetch("SELECT * FROM idempotency_keys WHERE key = ANY($1::text[])", ["k-a", "k-b"])}
    first, second = answers[0], answers[1]
    assert isinstance(first, AppendResult) and isinstance(second, AppendResult)
    assert keys == {"k-a": (streams[0], first.first_position, first.last_position),
                    "k-b": (streams[1], second.first_position, second.last_position)}
    assert first.last_position - first.first_position == 2
