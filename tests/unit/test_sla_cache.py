"""The SLA deadline cache (dispatch.sla.after, per policy and minute) gives exactly what walking the working
calendar gives, at every second of the minutes where a working period opens or closes, across weekends,
holidays and midnight, and for starts in any time zone."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dispatch import sla
from dispatch.sla_policy import SlaPolicy

CST = timezone(timedelta(hours=8))
POLICY = SlaPolicy()
# Periods that open and close within a minute (08:00:30, 12:00:20, ...): minutes that are partly working time.
ODD = SlaPolicy.model_validate({"calendar": {"periods": [["08:00:30", "12:00:20"], ["14:29:45", "17:30:10"]]}})
# From 1 s to 20 working days; limits that end just before, at and just after a close or an opening.
LIMITS = [1, 30, 59, 60, 61, 119, 3_600, 7_170, 7_200, 7_230, 4 * 3_600 - 30, 4 * 3_600, 5 * 7 * 3_600,
          20 * 7 * 3_600]


def _edges() -> list[datetime]:
    """Minutes around every opening and close (08:00, 12:00, 14:30, 17:30 Beijing), midnight, a Friday
    evening, the eve of National Day and the make-up working Saturday after it."""
    days = [date(2026, 11, 23), date(2026, 11, 27), date(2026, 9, 30), date(2026, 10, 10)]
    clocks = [time(7, 59), time(8, 0), time(11, 59), time(12, 0), time(14, 29), time(14, 30), time(17, 29),
              time(17, 30), time(23, 59), time(0, 0), time(10, 0)]
    return [datetime.combine(day, clock, CST) for day in days for clock in clocks]


@pytest.mark.parametrize("policy", [POLICY, ODD], ids=["minute-periods", "odd-second-periods"])
def test_the_cached_deadline_is_the_walked_one_at_every_second_of_the_edge_minutes(policy: SlaPolicy) -> None:
    sla._after_cache.clear()
    for minute in _edges():
        for limit in LIMITS:
            for second in range(60):
                start = minute + timedelta(seconds=second)
                assert sla.after(policy, start, limit, "working") == policy.after(start, limit, "working"), (
                    start, limit)
    # The cache was used, not bypassed: one entry per (minute, limit), most of them carried over.
    modes = [mode for _, _, mode in sla._after_cache.values()]
    assert len(modes) == len(_edges()) * len(LIMITS)
    assert modes.count(sla._SHIFTS) > 0 and modes.count(sla._WAITS) > 0 and modes.count(sla._NOT_SHIFTABLE) > 0


@settings(max_examples=400)
@given(st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2026, 12, 31)),
       st.integers(min_value=0, max_value=20 * 7 * 3_600), st.integers(min_value=0, max_value=59),
       st.sampled_from([CST, UTC, timezone(timedelta(hours=-5, minutes=-30))]))
def test_any_two_starts_in_a_minute_get_the_walked_deadline(start: datetime, seconds: int, other_second: int,
                                                            zone: timezone) -> None:
    first = start.replace(tzinfo=zone)
    second = first.replace(second=other_second, microsecond=0)  # the same minute: the second call is a hit
    for moment in (first, second):
        cached = sla.after(POLICY, moment, seconds, "working")
        walked = POLICY.after(moment, seconds, "working")
        assert cached == walked
        assert cached.utcoffset() == walked.utcoffset()  # the caller's zone, like the walk's answer


def test_the_cache_is_per_policy() -> None:
    """Two policies whose calendars differ never read each other's answers for the same minute."""
    late = SlaPolicy.model_validate({"calendar": {"periods": [["09:00", "12:00"], ["13:00", "18:00"]]}})
    start = datetime(2026, 11, 23, 8, 30, 15, tzinfo=CST)
    assert sla.after(POLICY, start, 3_600, "working") == datetime(2026, 11, 23, 9, 30, 15, tzinfo=CST)
    assert sla.after(late, start, 3_600, "working") == datetime(2026, 11, 23, 10, 0, tzinfo=CST)


def _uncached(monkeypatch: pytest.MonkeyPatch, report: dict[str, Any], now: datetime) -> dict[str, Any]:
    with monkeypatch.context() as patch:
        patch.setattr(sla, "after", lambda policy, start, seconds, kind: policy.after(start, seconds, kind))
        patch.setattr(sla, "_limits_for", lambda policy, sla_class, category, emergency: policy.limits_for(
            sla_class, category, emergency))
        return sla.start_clocks(report, now, POLICY)


@pytest.mark.parametrize("report", [{"category": "streetlight"}, {"category": "exposed_rubbish"},
                                    {"category": "flooding"}, {"category": "noise", "urgency": "complex"}])
def test_a_schedule_started_from_the_cache_is_the_uncached_schedule(monkeypatch: pytest.MonkeyPatch,
                                                                   report: dict[str, Any]) -> None:
    for minute in _edges():
        for second in (0, 1, 29, 59):
            now = minute + timedelta(seconds=second, microseconds=250_000)
            assert sla.start_clocks(report, now, POLICY) == _uncached(monkeypatch, report, now)
