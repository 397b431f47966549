"""The consoles' headline figures (在办工单, 超时, 预警, 待研判, 今日新增), counted by the server for a scope.

A console's snapshot holds only some of its cases (open ones, up to a limit), so figures counted in the
browser differ between screens; these are counted in SQL on the case projection, the same for every
console of a jurisdiction. A thousand consoles of a thousand townships refresh them when events arrive and as
SLA states move with the clock, so the count is not made per scope: one grouped query counts the whole city by
place (county, township, community, grid) at most once per `ttl_s` (and per `ttl_s` of the hub's clock), and
each scope's figures are summed from those rows with the access rule's own test (`case_in_scopes`) — one query
per `ttl_s` however many scopes ask, concurrent askers waiting for the one under way.

A console asks at least `ttl_s` after an event reached it (its refresh is debounced for longer), so an
answer it is given was computed after that event was committed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import asyncpg

from geo.areas import code_prefix
from hub.identity.access import CITY_CODE, case_in_scopes
from hub.services.kpis import CHINA, local_day_start
from hub.store.reads import CaseReads

FIGURES = ("open", "overdue", "warning", "triage", "today")
_PLACE = ("county_code", "township_code", "community_code", "grid_code")
# The lengths code_prefix gives: a county-level code without its "00" pairs, or a whole deeper code.
_PREFIX_LENGTHS = (2, 4, 6, 9, 12, 15)


@dataclass(frozen=True, slots=True)
class Figures:
    as_of: datetime
    counts: dict[str, int]


@dataclass(frozen=True, slots=True)
class _ByPlace:
    """The whole city's figures by place: (the place's area codes, its counts), and summed by every code prefix
    a scope can have, so that a one-area scope — every console's — is a dictionary lookup."""

    as_of: datetime
    places: list[tuple[list[str], tuple[int, ...]]]
    by_prefix: dict[str, list[int]]
    computed: float  # monotonic time the query started


def today_start(now: datetime) -> datetime:
    """The start of the local (Asia/Shanghai) day containing `now`: "今日" is China's day."""
    return local_day_start(now.astimezone(CHINA).date())


def _places(rows: Sequence[asyncpg.Record]) -> list[tuple[list[str], tuple[int, ...]]]:
    return [([r[c] for c in _PLACE if r[c]], tuple(int(r[f]) for f in FIGURES)) for r in rows]


def _by_prefix(places: list[tuple[list[str], tuple[int, ...]]]) -> dict[str, list[int]]:
    """Counts by every prefix a scope's code can have (code_prefix: 2, 4 or 6 digits of a county-level code,
    or a whole 9-, 12- or 15-digit code; a community's code also counts under the township code it begins
    with). A place counts once under a prefix however many of its codes share it — exactly `case_in_scopes`
    for a one-area scope; an unplaced place counts under the city's prefixes."""
    sums: dict[str, list[int]] = {}
    for codes, counts in places:
        prefixes = {code[:n] for code in (codes or [CITY_CODE]) for n in _PREFIX_LENGTHS if n <= len(code)}
        for prefix in prefixes:
            total = sums.setdefault(prefix, [0] * len(FIGURES))
            for i, n in enumerate(counts):
                total[i] += n
    return sums


class Headline:
    def __init__(self, reads: CaseReads, ttl_s: float = 2.0) -> None:
        self._reads = reads
        self._ttl = ttl_s
        self._by_place: _ByPlace | None = None
        self._running: asyncio.Future[_ByPlace] | None = None
        self.computed = 0  # queries run (diagnostics and tests)

    def _fresh(self, by_place: _ByPlace | None, now: datetime) -> bool:
        return (by_place is not None and time.monotonic() - by_place.computed < self._ttl
                and abs(now - by_place.as_of) < timedelta(seconds=self._ttl))

    async def figures(self, scopes: frozenset[str], now: datetime) -> Figures:
        by_place = self._by_place
        if not self._fresh(by_place, now):
            if self._running is None:
                self._running = asyncio.ensure_future(self._compute(now))
                self._running.add_done_callback(self._done)
            # Shielded: one asker hanging up does not cancel the query the others wait for.
            by_place = await asyncio.shield(self._running)
        assert by_place is not None
        if len(scopes) == 1:
            totals = by_place.by_prefix.get(code_prefix(next(iter(scopes))), [0] * len(FIGURES))
        else:  # several areas may share places: each place once, by the access rule itself
            totals = [0] * len(FIGURES)
            for codes, counts in by_place.places:
                if case_in_scopes(codes, scopes):
                    for i, n in enumerate(counts):
                        totals[i] += n
        return Figures(by_place.as_of, dict(zip(FIGURES, totals, strict=True)))

    def _done(self, _future: asyncio.Future[_ByPlace]) -> None:
        self._running = None

    async def _compute(self, now: datetime) -> _ByPlace:
        started = time.monotonic()
        rows = await self._reads.headline(now, today_start(now))
        self.computed += 1
        places = _places(rows)
        self._by_place = _ByPlace(now, places, _by_prefix(places), started)
        return self._by_place
