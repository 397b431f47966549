"""A commit costs each follower of the store one round, not two. Every commit wakes the console feed, early
warning and the callback writer twice: at once in the committing process, and again when its position comes back
through Redis (hub.live.bus) for the other processes. The second wake-up read the store again and found nothing
(20.4 statements per ticket at 10 tickets/s, 15.5 without them, pg_stat_statements 2026-12-07): a wake-up for
positions a follower has read is dropped, and those that come while a round waits to coalesce are that round's."""

from __future__ import annotations

import asyncio

from hub.infra.settings import Settings
from hub.keys import GATEWAY, LEADERSHIP, OUTBOX, SURGE
from tests.conftest import Hub, running_hub
from tests.e2e.test_hotline_to_console import QINGXIU_SEAT, push, ticket
from tests.integration.test_leadership import until


def empty_rounds(hub: Hub) -> dict[str, int]:
    return {"console feed": hub.app[GATEWAY].empty_rounds, "early warning": hub.app[SURGE].empty_steps,
            "callback writer": hub.app[OUTBOX].empty_rounds}


async def test_each_commit_is_one_round_of_each_follower_not_two(settings: Settings) -> None:
    # Polls an hour apart: only wake-ups start rounds here.
    quiet = settings.model_copy(update={"store_poll_s": 3600.0, "outbox_poll_s": 3600.0})
    async with running_hub(quiet) as hub:
        key = await hub.hotline_key()
        await until(lambda: hub.app[LEADERSHIP].is_leader, 30)  # the writer and early warning run in the leader
        await asyncio.sleep(1.0)  # start-up's own first rounds
        before = empty_rounds(hub)
        for _ in range(4):  # one at a time: each ticket its own commit, and each round after the last settled
            status, _ = await push(hub, key, ticket(QINGXIU_SEAT))
            assert status == 202
            await asyncio.sleep(0.6)
        after = empty_rounds(hub)
        assert {name: after[name] - before[name] for name in after} == {name: 0 for name in after}
