"""Leadership of the once-per-deployment loops, on a real PostgreSQL: one leader among the processes sharing a
database; when the leader's lock connection dies its loops stop and another process takes over; a leader that
stops (shutdown) hands over at once."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable

import asyncpg

from hub.infra.leader import LEADER_LOCK, Leadership


class Candidate:
    """A Leadership whose loops only record that they run."""

    def __init__(self, database_url: str) -> None:
        self.running = False
        self.leadership = Leadership(database_url, self._loops, check_s=0.2)
        self.task: asyncio.Task[None] | None = None

    async def _loops(self) -> None:
        self.running = True
        try:
            await asyncio.Event().wait()
        finally:
            self.running = False

    def start(self) -> None:
        self.task = asyncio.create_task(self.leadership.run())

    async def stop(self) -> None:
        assert self.task is not None
        self.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self.task


@contextlib.asynccontextmanager
async def candidates(database_url: str, count: int) -> AsyncIterator[list[Candidate]]:
    group = [Candidate(database_url) for _ in range(count)]
    for candidate in group:
        candidate.start()
    try:
        yield group
    finally:
        for candidate in group:
            await candidate.stop()


async def until(check: Callable[[], bool] | Callable[[], Awaitable[bool]], timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while True:
            result = check()
            if result if isinstance(result, bool) else await result:
                return
            await asyncio.sleep(0.02)


def leaders(group: list[Candidate]) -> list[Candidate]:
    return [c for c in group if c.leadership.is_leader]


async def test_one_of_three_leads_and_only_the_leader_runs_the_loops(database_url: str) -> None:
    async with candidates(database_url, 3) as group:
        await until(lambda: len(leaders(group)) == 1)
        await asyncio.sleep(1.0)  # followers have asked several times meanwhile
        assert len(leaders(group)) == 1
        assert [c.running for c in group] == [c.leadership.is_leader for c in group]


async def test_a_leader_whose_connection_dies_stops_its_loops_and_another_takes_over(database_url: str) -> None:
    admin = await asyncpg.connect(database_url)
    try:
        async with candidates(database_url, 2) as group:
            await until(lambda: len(leaders(group)) == 1)
            first = leaders(group)[0]
            other = next(c for c in group if c is not first)
            assert first.running and not other.running
            # The leader's session is ended from outside (a network cut, a DBA, a failover): the lock goes with it.
            ended = await admin.fetchval(
                "SELECT pg_terminate_backend(pid) FROM pg_locks WHERE locktype = 'advisory' AND granted "
                "AND objid = $1 AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
                LEADER_LOCK)
            assert ended
            await until(lambda: not first.running and not first.leadership.is_leader)
            await until(lambda: other.leadership.is_leader and other.running)
            assert first.leadership.terms == 1 and other.leadership.terms == 1
    finally:
        await admin.close()


async def test_a_leader_that_stops_hands_over_and_a_lone_process_keeps_leading(database_url: str) -> None:
    async with candidates(database_url, 2) as group:
        await until(lambda: len(leaders(group)) == 1)
        first = leaders(group)[0]
        other = next(c for c in group if c is not first)
        await first.stop()
        assert not first.running and not first.leadership.is_leader
        await until(lambda: other.leadership.is_leader and other.running)
        terms = other.leadership.terms
        await asyncio.sleep(1.0)  # it checks its hold several times and keeps it
        assert other.leadership.is_leader and other.leadership.terms == terms
