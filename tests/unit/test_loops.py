"""The background round (hub.infra.loops.every): transient database trouble is ridden out, a bug is not."""

from __future__ import annotations

import asyncio

import asyncpg
import pytest

from hub.infra.loops import StoreNews, every


async def test_a_round_that_meets_a_transient_error_is_tried_again_and_a_wake_starts_one_at_once() -> None:
    rounds: list[int] = []
    done = asyncio.Event()

    async def work() -> None:
        rounds.append(len(rounds))
        if len(rounds) == 1:
            raise ConnectionRefusedError("PostgreSQL is restarting")
        if len(rounds) == 2:
            raise asyncpg.exceptions.AdminShutdownError("terminating connection")
        done.set()

    wake = asyncio.Event()
    loop = asyncio.create_task(every(3600.0, work, failure="test round failed", wake=wake))
    for _ in range(3):  # an hour-long interval: only the wake-ups can start these rounds
        wake.set()
        await asyncio.sleep(0.01)
    async with asyncio.timeout(5):
        await done.wait()
    assert rounds == [0, 1, 2] and not loop.done()
    loop.cancel()
    with pytest.raises(asyncio.CancelledError):
        await loop


async def test_a_bug_ends_the_loop_for_its_supervisor_to_report() -> None:
    async def work() -> None:
        raise KeyError("a bug, not the database")

    with pytest.raises(KeyError):
        async with asyncio.timeout(5):
            await every(0.001, work, failure="never logged")


async def test_a_follower_starts_a_round_for_news_or_a_poll_never_for_positions_it_has_read() -> None:
    news = StoreNews()
    news.wake(10)  # a commit's echo through Redis, for positions the follower has read
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.2):
            await news.next_round(lambda: 10, poll_s=3600)
    for later in (11, 0):  # a later position, or news whose position is unknown
        news.wake(10)
        news.wake(later)
        async with asyncio.timeout(1):
            await news.next_round(lambda: 10, poll_s=3600)
    async with asyncio.timeout(1):  # nothing at all: the poll
        await news.next_round(lambda: 10, poll_s=0.05)
