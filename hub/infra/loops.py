"""The hub's background rounds: do some work every so often (or at once when woken), for the life of
the process, riding out a database that is briefly unreachable."""

from __future__ import annotations

import asyncio
import contextlib
import logging
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
