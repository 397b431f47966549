"""Who is on duty at a moment (hub.services.duty.officer_at): a timed shift covering it wins over the whole day's;
a shift that ends at or before it starts runs into the next morning and belongs to the day it starts."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from hub.services.duty import officer_at

DAY = date(2026, 12, 7)


def entry(name: str, day: date = DAY, shift: str = "", starts: str | None = None, ends: str | None = None
          ) -> dict[str, Any]:
    return {"name": name, "day": day, "shift": shift, "starts": time.fromisoformat(starts) if starts else None,
            "ends": time.fromisoformat(ends) if ends else None}


def at(local: str, day: date = DAY) -> datetime:
    """A local (UTC+8) time of `day`, as a UTC moment."""
    return (datetime.combine(day, time.fromisoformat(local)) - timedelta(hours=8)).replace(tzinfo=UTC)


def who(rows: list[dict[str, Any]], moment: datetime) -> str | None:
    found = officer_at(rows, moment)
    return None if found is None else str(found["name"])


def test_a_timed_shift_wins_over_the_whole_day_and_the_whole_day_fills_the_rest() -> None:
    rows = [entry("全天"), entry("白班", shift="白班", starts="08:00", ends="18:00")]
    assert who(rows, at("07:59")) == "全天"
    assert who(rows, at("08:00")) == "白班" and who(rows, at("17:59")) == "白班"
    assert who(rows, at("18:00")) == "全天", "a shift's end is not in it"


def test_a_night_shift_runs_into_the_next_morning_of_the_next_day() -> None:
    rows = [entry("夜班", shift="夜班", starts="18:00", ends="08:00")]
    assert who(rows, at("17:00")) is None and who(rows, at("18:00")) == "夜班"
    next_day = DAY + timedelta(days=1)
    assert who(rows, at("07:59", next_day)) == "夜班" and who(rows, at("08:00", next_day)) is None
    assert who(rows, at("07:00")) is None, "the night before belongs to another day's shift"


def test_tonights_shift_wins_over_last_nights_only_when_it_covers_the_moment() -> None:
    rows = [entry("昨夜", DAY - timedelta(days=1), "夜班", "20:00", "09:00"), entry("今日", shift="早班",
                                                                               starts="08:00", ends="12:00")]
    assert who(rows, at("08:30")) == "今日", "today's own shift first"
    assert who(rows, at("07:30")) == "昨夜"
