"""The working calendar (工作日历): which hours count for working-time limits.

Asia/Shanghai is a fixed UTC+8 (no daylight saving since 1991), so the zone is a plain offset: that keeps
the domain free of tz-database reads and exact for every date it will ever see. Working hours default to
the winter schedule of Guangxi's government offices; deployments set their own.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from functools import lru_cache
from typing import Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from dispatch.holidays import holidays, makeup_workdays

_MAX_DAYS = 3660  # ten years of searching means a calendar without working days: a configuration error


class WorkingCalendar(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    utc_offset_minutes: int = 480  # Asia/Shanghai
    periods: tuple[tuple[time, time], ...] = ((time(8, 0), time(12, 0)), (time(14, 30), time(17, 30)))
    holidays: frozenset[date] = Field(default_factory=holidays)
    workdays: frozenset[date] = Field(default_factory=makeup_workdays)  # 调休: weekend days worked
    extra_holidays: frozenset[date] = frozenset()
    extra_workdays: frozenset[date] = frozenset()

    @model_validator(mode="after")
    def _periods_ordered(self) -> Self:
        if not self.periods:
            raise ValueError("periods: at least one working period is needed")
        previous = time.min
        for start, end in self.periods:
            if start >= end or start < previous:
                raise ValueError("periods: each period must end after it starts, in order, without overlap")
            previous = end
        return self

    @property
    def tz(self) -> timezone:
        return _timezone(self.utc_offset_minutes)

    @property
    def day_length(self) -> timedelta:
        """One working day, used to read limits such as "5 working days" as working time."""
        return sum((_span(s, e) for s, e in self.periods), timedelta())

    def is_working_day(self, day: date) -> bool:
        if day in self.extra_workdays or day in self.workdays:
            return True
        if day in self.extra_holidays or day in self.holidays:
            return False
        return day.weekday() < 5

    def _windows(self, day: date) -> tuple[tuple[datetime, datetime], ...]:
        if not self.is_working_day(day):
            return ()
        return _day_windows(tuple(self.periods), self.utc_offset_minutes, day)

    def add_working(self, start: datetime, duration: timedelta) -> datetime:
        """The earliest instant by which `duration` of working time has passed since `start`."""
        _aware(start)
        if duration < timedelta():
            raise ValueError("duration must not be negative")
        if duration == timedelta():
            return start
        remaining = duration
        cursor = start.astimezone(self.tz)
        day = cursor.date()
        for _ in range(_MAX_DAYS):
            for open_at, close_at in self._windows(day):
                if cursor >= close_at:
                    continue
                begin = max(open_at, cursor)
                if remaining <= close_at - begin:
                    return (begin + remaining).astimezone(start.tzinfo)
                remaining -= close_at - begin
            day += timedelta(days=1)
        raise ValueError("no working time within ten years: check the calendar configuration")

    def running_at(self, moment: datetime) -> tuple[bool, datetime]:
        """Whether working time runs at `moment` (working-time clocks count), and when that next changes: the
        end of this stretch of working time, or the start of the next one (a night, a weekend, a holiday)."""
        _aware(moment)
        cursor = moment.astimezone(self.tz)
        day = cursor.date()
        running = False
        for _ in range(_MAX_DAYS):
            for open_at, close_at in self._windows(day):
                if running:
                    if open_at > cursor:  # a gap after the stretch that was running
                        return True, cursor.astimezone(moment.tzinfo)
                    cursor = close_at  # contiguous periods: one stretch
                elif cursor < open_at:
                    return False, open_at.astimezone(moment.tzinfo)
                elif cursor < close_at:
                    running, cursor = True, close_at
            day += timedelta(days=1)
        raise ValueError("no working time within ten years: check the calendar configuration")

    def working_between(self, a: datetime, b: datetime) -> timedelta:
        """Working time in [a, b); zero when b is not after a."""
        _aware(a)
        _aware(b)
        if b <= a:
            return timedelta()
        total = timedelta()
        day, last = a.astimezone(self.tz).date(), b.astimezone(self.tz).date()
        while day <= last:
            for open_at, close_at in self._windows(day):
                begin, end = max(open_at, a), min(close_at, b)
                if end > begin:
                    total += end - begin
            day += timedelta(days=1)
        return total


def _span(start: time, end: time) -> timedelta:
    return datetime.combine(date.min, end) - datetime.combine(date.min, start)


def _aware(moment: datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError("datetimes must carry a time zone")


@lru_cache(maxsize=1)
def default_calendar() -> WorkingCalendar:
    return WorkingCalendar()


def add_working(start: datetime, duration: timedelta, calendar: WorkingCalendar | None = None) -> datetime:
    return (calendar or default_calendar()).add_working(start, duration)


def working_between(a: datetime, b: datetime, calendar: WorkingCalendar | None = None) -> timedelta:
    return (calendar or default_calendar()).working_between(a, b)


# Every deadline walks the calendar day by day; the same few days recur for every case dispatched
# that week, so their working windows are computed once (the SLA start was ~150 µs per case without).
@lru_cache(maxsize=64)
def _timezone(offset_minutes: int) -> timezone:
    return timezone(timedelta(minutes=offset_minutes))


@lru_cache(maxsize=4096)
def _day_windows(periods: tuple[tuple[time, time], ...], offset_minutes: int,
                 day: date) -> tuple[tuple[datetime, datetime], ...]:
    tz = _timezone(offset_minutes)
    return tuple((datetime.combine(day, s, tz), datetime.combine(day, e, tz)) for s, e in periods)

