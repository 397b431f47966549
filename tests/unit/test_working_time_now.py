"""Whether working time runs at an instant and when that changes (the consoles' 非工作时间，计时暂停), and the
demo's policy: every limit as many times shorter as its crew is faster, on the same clocks and calendar."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, timezone

from dispatch.calendar import WorkingCalendar
from dispatch.policy import Policy
from dispatch.sla_policy import SlaPolicy
from tools.demo import demo_policy

CST = timezone(timedelta(hours=8))


def at(day: int, hour: int, minute: int = 0) -> datetime:
    return datetime(2026, 11, day, hour, minute, tzinfo=CST)  # November 2026: Monday the 23rd, Saturday the 28th


def test_working_time_runs_in_the_periods_of_working_days_and_says_when_it_changes() -> None:
    calendar = WorkingCalendar()
    assert calendar.running_at(at(23, 9)) == (True, at(23, 12))
    assert calendar.running_at(at(23, 12)) == (False, at(23, 14, 30))  # lunch
    assert calendar.running_at(at(23, 17, 30)) == (False, at(24, 8))  # the night
    assert calendar.running_at(at(27, 18)) == (False, at(30, 8))  # Friday evening: Monday morning
    assert calendar.running_at(at(28, 10)) == (False, at(30, 8))
    moment = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)  # the answer keeps the question's zone
    assert calendar.running_at(moment)[1].tzinfo is UTC
    # A holiday is not worked; contiguous periods are one stretch, not a pause at their seam.
    off = WorkingCalendar(extra_holidays=frozenset({date(2026, 11, 24)}),
                          periods=((time(8), time(12)), (time(12), time(17))))
    assert off.running_at(at(23, 9)) == (True, at(23, 17))
    assert off.running_at(at(23, 18)) == (False, at(25, 8))


def test_the_demo_policy_is_the_real_one_sixty_times_faster_on_the_same_clocks() -> None:
    real, fast = SlaPolicy(), demo_policy(60).sla
    assert fast is not None and fast.calendar == real.calendar and fast.warn_at == real.warn_at
    for name in real.classes:
        kind, sign, resolve = real.limits_for(name, None)
        assert fast.limits_for(name, None) == (kind, round(sign / 60), round(resolve / 60)), name
    assert fast.limits_for("normal", "exposed_rubbish")[2] == 4 * 60  # "4h" → 4 min
    assert fast.seconds(fast.callback_window, "calendar") == 72 * 60
    assert Policy.model_validate_json(demo_policy(60).model_dump_json()) == demo_policy(60)  # the file it writes
