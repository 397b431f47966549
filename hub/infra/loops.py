"""The hub's background rounds: do some work every so often (or at once when woken), for the life of
the process, riding out a database that is briefly unreachable."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sys
from collections.abc import Awaitable, Callable

import asyncpg

log = logging.getLogger(__name__)

async def wake_or_timeout(wake: asyncio.Event, timeout_s: float) -> None:
    """Return on a wake-up or after `timeout_s` (the slow poll that covers lost wake-ups), re-armed.

    asyncio.timeout, not wait_for: on Python 3.11 a wait_for racing a cancellation can leave the task
    hanging at shutdown."""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(timeout_s):
            await wake.wait()
    wake.clear()


class StoreNews:
    """When a follower of the event store (the console feed, early warning, the callback writer) reads it again.

    A wake-up says "the store has news up to position P" (0: news, position unknown). Each commit wakes a
    follower twice — at once in the committing process, and again when its position comes back through Redis
    (hub.live.bus) for the other processes — and the second, which may arrive before, during or after the round
    the first started, is news only if the follower has not read that far: at 10 tickets/s the echoes' rounds
    were a quarter of the hub's statements (20.4 → 15.5 a ticket, pg_stat_statements, 2026-12-07)."""

    _UNKNOWN = sys.maxsize

    def __init__(self) -> None:
        self._event = asyncio.Event()
        self._upto = 0  # the highest position announced since the last round began (_UNKNOWN: some news)

    def wake(self, position: int = 0) -> None:
        self._upto = max(self._upto, position if position > 0 else self._UNKNOWN)
        self._event.set()

    @staticmethod
    def is_news(position: int, read_upto: int) -> bool:
        """Whether a wake-up for `position` may be news to a follower that has read up to `read_upto`."""
        return position <= 0 or position > read_upto

    async def next_round(self, read_upto: Callable[[], int], poll_s: float, coalesce_s: float = 0.0) -> None:
        """Return when a round should begin: after a wake-up for positions beyond `read_upto()` (or one naming
        none), or after `poll_s` without any wake-up (the poll that covers lost ones) — then `coalesce_s` later,
        the wake-ups of the pause being this round's (under load a commit comes every few milliseconds)."""
        while True:
            await wake_or_timeout(self._event, poll_s)
            if coalesce_s:
                await asyncio.sleep(coalesce_s)
            self._event.clear()
            upto, self._upto = self._upto, 0
            if upto == 0 or upto > read_upto():  # a poll, or news
                return


# What a round may meet while PostgreSQL restarts or the network blips: logged, and tried next round.
# Anything else is a bug and ends the loop, whose supervisor (hub.app) logs it loudly and restarts it.
TRANSIENT = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError)


async def every(interval_s: float, work: Callable[[], Awaitable[object]], *, failure: str,
                wake: asyncio.Event | None = None) -> None:
    """Run `work` every `interval_s` seconds — sooner when `wake` is set — until cancelled. `failure` is
    the log line when a round meets a transient database error."""
    while True:
        if wake is None:
            await asyncio.sleep(interval_s)
        else:
            await wake_or_timeout(wake, interval_s)
        try:
            await work()
        except TRANSIENT as exc:
            log.warning(failure, extra={"error": repr(exc)})
