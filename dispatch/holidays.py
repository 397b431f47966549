"""China's public holidays and make-up working days (调休), as data.

Source: the State Council General Office's yearly notice (国务院办公厅关于 YYYY 年部分节假日安排的通知),
published each November/December for the next year; cross-checked in the tests against the
`chinese-calendar` package when it happens to be installed (it is not a dependency).

To add a year: append an entry to `SCHEDULE` with the notice's holiday ranges (weekends inside a break
included, as the notice lists them) and its make-up working days, and add the year to the cross-check.
A deployment that cannot wait for a release adds days without code through
`WorkingCalendar(extra_holidays=..., extra_workdays=...)` in its configuration.
"""

from __future__ import annotations

from datetime import date, timedelta
from typing import Final

# year -> (holiday ranges [first, last] inclusive, make-up working days)
SCHEDULE: Final[dict[int, tuple[tuple[tuple[str, str], ...], tuple[str, ...]]]] = {
    2025: (
        (("2025-01-01", "2025-01-01"),   # 元旦
         ("2025-01-28", "2025-02-04"),   # 春节
         ("2025-04-04", "2025-04-06"),   # 清明节
         ("2025-05-01", "2025-05-05"),   # 劳动节
         ("2025-05-31", "2025-06-02"),   # 端午节
         ("2025-10-01", "2025-10-08")),  # 国庆节、中秋节
        ("2025-01-26", "2025-02-08", "2025-04-27", "2025-09-28", "2025-10-11"),
    ),
    2026: (
        (("2026-01-01", "2026-01-03"),   # 元旦
         ("2026-02-15", "2026-02-23"),   # 春节
         ("2026-04-04", "2026-04-06"),   # 清明节
         ("2026-05-01", "2026-05-05"),   # 劳动节
         ("2026-06-19", "2026-06-21"),   # 端午节
         ("2026-09-25", "2026-09-27"),   # 中秋节
         ("2026-10-01", "2026-10-07")),  # 国庆节
        ("2026-01-04", "2026-02-14", "2026-02-28", "2026-05-09", "2026-09-20", "2026-10-10"),
    ),
}


def _days(first: str, last: str) -> list[date]:
    start, end = date.fromisoformat(first), date.fromisoformat(last)
    return [start + timedelta(days=i) for i in range((end - start).days + 1)]


def holidays() -> frozenset[date]:
    return frozenset(d for ranges, _ in SCHEDULE.values() for first, last in ranges for d in _days(first, last))


def makeup_workdays() -> frozenset[date]:
    return frozenset(date.fromisoformat(d) for _, workdays in SCHEDULE.values() for d in workdays)


def covered_years() -> frozenset[int]:
    """Years whose holidays are known; outside them the calendar only knows weekends."""
    return frozenset(SCHEDULE)
