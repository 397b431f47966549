"""KPIs (考核评价) as a projection: per-period accumulators fed from the store in position order.

Each hub process replays the store when it starts (that is the rebuild) and then follows it like the
console feed, woken by commits. Figures are read with an `as_of` time so that open overdue cases count
against on-time rates. Memory grows with the number of dispatches (one small record each); a province
deployment would persist the per-unit counters instead.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import date, datetime, time, timedelta, timezone
from typing import Any, Literal

import asyncpg

from dispatch.kpi import KpiAccumulator, KpiWeights
from hub.infra.loops import every
from hub.store.events import read_after

log = logging.getLogger(__name__)

Period = Literal["day", "week", "month"]
CHINA = timezone(timedelta(hours=8))


def period_key(moment: date, period: Period) -> str:
    """The key KpiAccumulator uses for a local date (Asia/Shanghai)."""
    if period == "day":
        return moment.isoformat()
    if period == "week":
        year, week, _ = moment.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{moment.year}-{moment.month:02d}"


class KpiProjection:
    def __init__(self, pool: asyncpg.Pool, weights: KpiWeights | None = None, poll_s: float = 1.0) -> None:
        self._pool = pool
        self._weights = weights or KpiWeights()
        self._poll_s = poll_s
        self._wake = asyncio.Event()
        self.position = 0
        self._acc = KpiAccumulator()  # one fold per event; rows() groups by any period
        # One reader at a time: two interleaved catch-ups would read the same events and count them twice.
        self._reading = asyncio.Lock()

    def wake(self, _position: int = 0) -> None:
        self._wake.set()

    async def catch_up(self) -> int:
        """Feed every event after our position; return how many."""
        count = 0
        async with self._reading:
            while batch := await read_after(self._pool, self.position, 5_000):
                for ev in batch:
                    self._acc.add(str(ev.stream_id), ev.type, ev.data, ev.version, ev.occurred_at)
                self.position = batch[-1].position
                count += len(batch)
        return count

    async def run(self) -> None:
        await every(self._poll_s, self.catch_up, wake=self._wake,
                    failure="KPI projection cannot read the store; retrying")

    def rows(self, *, level: str | None, period: Period, start: date, end: date, as_of: datetime,
             ) -> list[dict[str, Any]]:
        first, last = period_key(start, period), period_key(end, period)
        out = []
        for row in self._acc.rows(as_of, period):
            if (level is None or row.level == level) and first <= row.period <= last:
                out.append(row.as_json(self._weights))
        out.sort(key=lambda r: (r["period"], r["level"], -(r["composite"] or 0), r["code"]))
        return out


def rebuilt_rows(events: list[tuple[str, str, dict[str, Any], int, datetime]], period: Period, as_of: datetime,
                 weights: KpiWeights | None = None) -> list[dict[str, Any]]:
    """The same figures from scratch (for checks): every event through a fresh accumulator."""
    acc = KpiAccumulator(period)
    for event in events:
        acc.add(*event)
    return [r.as_json(weights or KpiWeights()) for r in acc.rows(as_of)]


def local_day_start(day: date) -> datetime:
    return datetime.combine(day, time(0), CHINA)
