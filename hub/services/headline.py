"""The consoles' headline figures (在办工单, 超时, 预警, 待研判, 今日新增), counted by the server for a scope.

A console's snapshot holds only some of its cases (open ones, up to a limit), so figures counted in the
browser differ between screens; these are counted in SQL on the case projection, the same for every
console of a jurisdiction. Thousands of consoles refresh them when events arrive and as SLA states move
with the clock: each scope is computed at most once per `ttl_s` (and per `ttl_s` of the hub's clock) and
the answer shared, concurrent askers waiting for the one query under way.

A console asks at least `ttl_s` after an event reached it (its refresh is debounced for longer), so an
answer it is given was computed after that event was committed.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

from hub.services.kpis import CHINA, local_day_start
from hub.store.reads import CaseReads

FIGURES = ("open", "overdue", "warning", "triage", "today")


@dataclass(frozen=True, slots=True)
class Figures:
    as_of: datetime
    counts: dict[str, int]
    computed: float  # monotonic time the query started


def today_start(now: datetime) -> datetime:
    """The start of the local (Asia/Shanghai) day containing `now`: "今日" is China's day."""
    return local_day_start(now.astimezone(CHINA).date())


class Headline:
    def __init__(self, reads: CaseReads, ttl_s: float = 2.0) -> None:
        self._reads = reads
        self._ttl = ttl_s
        self._cache: dict[frozenset[str], Figures] = {}
        self._running: dict[frozenset[str], asyncio.Future[Figures]] = {}
        self.computed = 0  # queries run (diagnostics and tests)

    def _fresh(self, figures: Figures | None, now: datetime) -> bool:
        return (figures is not None and time.monotonic() - figures.computed < self._ttl
                and abs(now - figures.as_of) < timedelta(seconds=self._ttl))

    async def figures(self, scopes: frozenset[str], now: datetime) -> Figures:
        cached = self._cache.get(scopes)
        if self._fresh(cached, now):
            assert cached is not None
            return cached
        running = self._running.get(scopes)
        if running is None:
            running = self._running[scopes] = asyncio.ensure_future(self._compute(scopes, now))
            running.add_done_callback(lambda _f: self._running.pop(scopes, None))
        # Shielded: one asker hanging up does not cancel the query the others wait for.
        return await asyncio.shield(running)

    async def _compute(self, scopes: frozenset[str], now: datetime) -> Figures:
        started = time.monotonic()
        counts = await self._reads.headline(scopes, now, today_start(now))
        self.computed += 1
        figures = Figures(now, counts, started)
        if len(self._cache) > 10_000:  # scopes are jurisdictions, few; a bound all the same
            self._cache.clear()
        self._cache[scopes] = figures
        return figures
