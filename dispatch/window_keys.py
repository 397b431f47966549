"""How the early-warning windows hold a report: one int, its key, shared by the city's list and the report's six
cells. Pure: no I/O.

Why: every report of the longest window (24 h) is held until it leaves it, and at the bench's 200,000 tickets in a
day that was the hub's largest per-ticket holder. A report used to be a (reported_at, case id) tuple: 56 bytes for
the tuple, 48 for the datetime and 88 for the 36-character id, ~250 bytes held with the seven list slots pointing
at it. Its key is one 48-byte int (~110 bytes held with the slots), and ordering keys orders the reports exactly as
the pairs were: by time, then by case id.

A key is (microseconds since the epoch << ID_BITS) | the case's number. A canonical UUID (every case id the hub
makes) is numbered by its 128-bit value × 2, whose order is its text's order (hex digits at the same places: '0' <
'9' < 'a' < 'f'), so it needs no table. Any other id (the tests', the evaluation tool's) gets an odd number from
`CaseIds`, kept while a window or an open episode holds it; reports of the same moment are then put in the order of
their ids' text when read (`reports_in_order`), as the pairs were. A time is kept as an instant: it reads back in
UTC (`moment_at`, a crossing's first report), which is how the hub's reports carry it (timestamptz).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from itertools import groupby, islice
from typing import Final

ID_BITS: Final = 129  # a UUID's 128 bits, shifted left by one: the low bit says "not a UUID" (CaseIds)
ID_MASK: Final = (1 << ID_BITS) - 1
_EPOCH: Final = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND: Final = timedelta(microseconds=1)
_CANONICAL_UUID: Final = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def micros(at: datetime) -> int:
    """An aware moment as whole microseconds since the epoch (exact: a datetime holds microseconds)."""
    return (at - _EPOCH) // _MICROSECOND


def moment(key: int) -> int:
    """A key's time, in microseconds since the epoch."""
    return key >> ID_BITS


def moment_at(key: int) -> datetime:
    """A key's time as a UTC datetime (what the hub's reports carry: timestamptz reads back in UTC)."""
    return _EPOCH + timedelta(microseconds=key >> ID_BITS)


def after(at: datetime) -> int:
    """The smallest key later than every report of `at`: `bisect_left` for it skips the reports of `at` and before."""
    return (micros(at) + 1) << ID_BITS


class CaseIds:
    """Case ids ↔ the numbers keys carry (module docstring)."""

    def __init__(self) -> None:
        self._numbers: dict[str, int] = {}  # ids other than canonical UUIDs → odd numbers
        self._names: dict[int, str] = {}
        self._next = 1

    def key(self, at: datetime, case_id: str) -> int:
        return (micros(at) << ID_BITS) | self.number(case_id)

    def number(self, case_id: str) -> int:
        if _CANONICAL_UUID.fullmatch(case_id):
            return int(case_id.replace("-", ""), 16) << 1
        number = self._numbers.get(case_id)
        if number is None:
            number = self._numbers[case_id] = (self._next << 1) | 1
            self._names[number] = case_id
            self._next += 1
        return number

    def case_id(self, number: int) -> str:
        if number & 1:
            return self._names[number]
        h = f"{number >> 1:032x}"
        return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"

    @property
    def tabled(self) -> int:
        """How many ids other than canonical UUIDs are in the table."""
        return len(self._names)

    def keep_only(self, numbers: Iterable[int]) -> None:
        """Forget the other ids whose numbers are not among `numbers` (those still held): the table stays as small
        as the windows. Numbers are never reused, so a key left at the front of a cell not yet pruned is never
        read as another case."""
        live = {n for n in numbers if n & 1}
        self._names = {n: name for n, name in self._names.items() if n in live}
        self._numbers = {name: n for n, name in self._names.items()}


def reports_in_order(window: Sequence[int], first: int, ids: CaseIds) -> Iterator[int]:
    """The keys of window[first:] in (time, case id) order, lazily (an alert reads at most its `max_case_ids`): as
    they are while every id is a UUID, whose number sorts as its text; else with the reports of each moment sorted
    by their ids' text."""
    if not ids.tabled:
        return islice(window, first, None)
    return _by_text(window, first, ids)


def _by_text(window: Sequence[int], first: int, ids: CaseIds) -> Iterator[int]:
    for _, run in groupby(islice(window, first, None), key=moment):
        keys = list(run)
        if any(key & 1 for key in keys):
            keys.sort(key=lambda key: ids.case_id(key & ID_MASK))
        yield from keys
