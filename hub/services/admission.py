"""Admission control for the intake endpoints: a bound on the work in flight, taken before any work is done,
and a deadline on the answer.

The bound is the expected wait, not a count (2026-12-06): a request is let in only if the tickets already in
progress ahead of it, drained at the rate this hub has been measured to finish them, leave it done within
`intake_wait_budget_s` — `admissible` is the rule, `DrainRate` the measurement (an EWMA of tickets finished
per second, sampled only over stretches when the hub had work in progress the whole time, so that a quiet
hub does not teach it a low rate). A hub that has measured nothing yet lets `intake_min_in_flight` tickets in,
and one whose estimate is low still does (and so measures again); `intake_max_in_flight` stays a ceiling.

Why before any work: the group committer's queue used to be the only bound, and it is reached only after
validation, routing and the duplicate check — so under overload every request did all of that before being
told to go away, and the answers came after tens of seconds. Here a request takes its slots (one per ticket:
a batch of 100 takes 100) right after authentication and reading its body; when they are not free it is
answered 503 at once. The slots are given back when the answer is ready.

Why a deadline: a hung PostgreSQL (stopped, not refusing) answers nothing, and each wait on it has its own
timeout (pool acquire, statement, commit); the deadline bounds their sum, so that every intake answer comes
within `intake_timeout_s`. The work is shielded, not cancelled: it goes on and is recorded at most once, as
when a client gives up — a retry with the same idempotency key gets the first answer. Work that outlives its
answer keeps one slot until it ends: the bound counts the work really going on, so a hub that falls behind
does not let new work in on top of the old.

Which 503: `overloaded` while the database is committing (the hub has more work than it does in time),
`store_unavailable` when it is not — a deadline passed with no commit since the request began, or the hub has
been full for a whole deadline without a single commit (the slots are held by work stuck on the database).

One process, one event loop: the counts need no lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import time
from collections.abc import AsyncIterator, Callable, Coroutine, Iterator
from typing import Any, TypeVar

from hub.store.events import StoreOverloaded, StoreUnavailable

log = logging.getLogger(__name__)

T = TypeVar("T")

# A rate sample spans at least this long of uninterrupted work (shorter busy stretches are dropped: one ticket
# answered in 3 ms says nothing about how many the hub finishes per second), and the EWMA forgets with this
# time constant — a second of new load outweighs what came before.
SAMPLE_S = 0.1
EWMA_TAU_S = 1.0


def admissible(wanted: int, ahead: int, rate_per_s: float | None, budget_s: float, floor: int) -> int:
    """How many of `wanted` tickets may come in behind the `ahead` already in progress: those that finish within
    `budget_s` when the hub drains `rate_per_s` tickets a second — the k-th of them waits (ahead + k) / rate.
    Up to `floor` tickets in progress whatever the rate, and no more while no rate is measured yet (a fresh hub
    meeting a burst does not take in a second's work before it knows its pace)."""
    room = floor if rate_per_s is None else max(floor, math.floor(rate_per_s * budget_s))
    return max(0, min(wanted, room - ahead))


def expected_wait_s(ahead: int, rate_per_s: float) -> float:
    """How long a ticket behind `ahead` others is expected to wait for its answer."""
    return ahead / rate_per_s


class DrainRate:
    """Tickets finished per second of work in progress: an EWMA over samples of at least SAMPLE_S each."""

    def __init__(self) -> None:
        self.per_s: float | None = None

    def observe(self, finished: int, elapsed_s: float) -> None:
        sample = finished / elapsed_s
        if self.per_s is None:
            self.per_s = sample
            return
        weight = 1.0 - math.exp(-elapsed_s / EWMA_TAU_S)
        self.per_s += weight * (sample - self.per_s)


class Admission:
    def __init__(self, capacity: int, timeout_s: float, clock: Callable[[], float] = time.monotonic, *,
                 budget_s: float = math.inf, floor: int | None = None) -> None:
        """Without a budget and a floor, the bound is `capacity` tickets in progress alone."""
        self.capacity = capacity
        self.timeout_s = timeout_s
        self.budget_s = budget_s
        self.floor = capacity if floor is None else floor
        self.in_flight = 0
        self.drain = DrainRate()
        self._clock = clock
        self._window_start = 0.0  # the current rate sample: since when, and how many tickets finished in it
        self._window_done = 0
        self._last_commit = 0.0  # when (on the clock) this process last committed
        self._busy_since = 0.0  # when in_flight last went from 0 to more
        # Work that outlived its deadline: kept referenced (asyncio holds tasks weakly) and ended at shutdown.
        self._leftovers: set[asyncio.Task[Any]] = set()

    @contextlib.contextmanager
    def slots(self, wanted: int, *, partial: bool = False) -> Iterator[int]:
        """Take `wanted` slots for the block, or raise (503) when none are free. With `partial`, as many as are
        free (at least one) and the block gets how many; without, all or none."""
        fits = self.free()
        granted = min(wanted, fits) if partial else (wanted if wanted <= fits else 0)
        if wanted > 0 and granted <= 0:
            raise self._refusal(wanted)
        self._take(granted)
        try:
            yield granted
        finally:
            self._finish(granted)

    def free(self) -> int:
        """How many tickets would be let in now: 0 when a request of any size would be refused."""
        return min(self.capacity - self.in_flight,
                   admissible(self.capacity, self.in_flight, self.drain.per_s, self.budget_s, self.floor))

    def refuse_if_full(self) -> None:
        """The 503 `slots` would answer, raised before a request's body is read when not one ticket would be let
        in (a batch's size is known only once its body is parsed; a full hub need not parse it to refuse it)."""
        if self.free() <= 0:
            raise self._refusal(1)

    def _take(self, count: int) -> None:
        if self.in_flight == 0:
            self._busy_since = self._window_start = self._clock()
            self._window_done = 0
        self.in_flight += count

    def _finish(self, count: int) -> None:
        """`count` tickets answered: the drain rate learns from each stretch of SAMPLE_S or more of work."""
        self.in_flight -= count
        self._window_done += count
        now = self._clock()
        elapsed = now - self._window_start
        if elapsed >= SAMPLE_S:
            self.drain.observe(self._window_done, elapsed)
            self._window_start, self._window_done = now, 0

    def _refusal(self, wanted: int) -> Exception:
        now = self._clock()
        if now - max(self._last_commit, self._busy_since) > self.timeout_s:
            return StoreUnavailable(f"the hub is full ({self.in_flight} tickets in progress) and nothing has been "
                                    f"committed for {self.timeout_s:g} s: the database is not answering; nothing "
                                    "was done — retry after Retry-After")
        rate = self.drain.per_s
        if rate is None and self.in_flight < self.capacity:
            return StoreOverloaded(f"{self.in_flight} tickets are in progress (the limit is {self.floor} until this "
                                   "hub has measured its pace); nothing was done — retry after Retry-After")
        if rate is not None and self.in_flight < self.capacity:
            wait = expected_wait_s(self.in_flight + wanted, rate)
            return StoreOverloaded(
                f"{self.in_flight} tickets are in progress, about {wait:.1f} s of work at {rate:,.0f} tickets/s "
                f"(the budget is {self.budget_s:g} s); nothing was done — retry after Retry-After")
        return StoreOverloaded(f"{self.in_flight} tickets are in progress (the limit is {self.capacity}); nothing "
                               "was done — retry after Retry-After")

    def committed(self, _position: int) -> None:
        """Committer listener: the database is answering (tells a slow hub from a stalled database)."""
        self._last_commit = self._clock()

    async def within(self, work: Coroutine[Any, Any, T]) -> T:
        """`work`'s result, or StoreUnavailable/StoreOverloaded when it is not done within the deadline;
        the work itself goes on (it may have been committed: the caller must be told the outcome is unknown)."""
        started = self._clock()
        task = asyncio.ensure_future(work)
        try:
            async with asyncio.timeout(self.timeout_s):
                return await asyncio.shield(task)
        except TimeoutError:
            if task.done() and not task.cancelled():
                failure = task.exception()
                if failure is None:  # done in the same instant as the deadline
                    return task.result()
                # The work itself timed out (a pool acquire, a statement).
                raise self._late(started, within_work=True) from failure
            self._keep(task)
            raise self._late(started, within_work=False) from None
        except asyncio.CancelledError:  # the handler itself was cancelled (shutdown): the work still ends well
            if not task.done():
                self._keep(task)
            raise

    @contextlib.asynccontextmanager
    async def deadline(self) -> AsyncIterator[None]:
        """The same deadline for a read (authentication): cancelled when late, since nothing is written."""
        started = self._clock()
        try:
            async with asyncio.timeout(self.timeout_s):
                yield
        except TimeoutError:
            raise self._late(started, within_work=False) from None

    def _late(self, started: float, *, within_work: bool) -> Exception:
        # Commits since this request began: the database answers and the hub is behind (its admitted work is
        # more than it does in time) — "overloaded". None: the database is stalled or gone — "unavailable".
        what = "a database wait timed out" if within_work else f"no answer within {self.timeout_s:g} s"
        if self._last_commit > started:
            return StoreOverloaded(f"{what}: the hub is behind; the outcome is unknown — retrying with the same "
                                   "idempotency key is safe")
        return StoreUnavailable(f"{what}: the database is not answering; the outcome is unknown — retrying with "
                                "the same idempotency key is safe")

    def _keep(self, task: asyncio.Task[Any]) -> None:
        """Late work holds a slot of its own until it ends (its request's slots are given back with the 503)."""
        self._take(1)
        self._leftovers.add(task)
        task.add_done_callback(self._settled)

    def _settled(self, task: asyncio.Task[Any]) -> None:
        self._finish(1)
        self._leftovers.discard(task)
        if not task.cancelled() and (exc := task.exception()) is not None:
            log.info("work answered 503 after its deadline ended later with an error",
                     extra={"error": f"{type(exc).__name__}: {exc}"})

    async def close(self, wait_s: float = 5.0) -> None:
        """At shutdown: give late work a moment to finish (it is bounded by the store's own timeouts), then
        cancel what is left, so that no task outlives the application."""
        if not self._leftovers:
            return
        _, pending = await asyncio.wait(set(self._leftovers), timeout=wait_s)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
