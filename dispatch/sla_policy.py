"""Time limits (PRODUCT.md section 3) as validated configuration, and how to read them on a clock.

Limits are written as short durations ("30m", "2h", "5d", "1d4h", "90s"). On a working-time clock a day is the
calendar's working day (7 h by default), so "5d" means five working days; on a calendar clock it is 24 h.
Seconds are for limits shorter than real ones (a demo or a test that runs time faster).
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import Annotated, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, model_validator

from dispatch.calendar import WorkingCalendar, default_calendar

ClockKind = Literal["calendar", "working"]
Duration = Annotated[str, Field(pattern=r"^(\d+d)?(\d+h)?(\d+m)?(\d+s)?$", min_length=2,
                                description="e.g. 30m, 2h, 1d4h, 90s")]
_PART = re.compile(r"(\d+)([dhms])")


class ClassLimits(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    clock: ClockKind
    sign: Duration
    resolve: Duration


class CategoryLimits(BaseModel):
    """Per-category overrides of the class (e.g. exposed rubbish: resolve within 4 working hours)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    sla_class: str | None = None
    sign: Duration | None = None
    resolve: Duration | None = None


DEFAULT_CLASSES: dict[str, ClassLimits] = {
    "critical": ClassLimits(clock="calendar", sign="30m", resolve="2h"),   # 特急
    "urgent": ClassLimits(clock="calendar", sign="1h", resolve="24h"),     # 紧急
    "normal": ClassLimits(clock="working", sign="2h", resolve="5d"),       # 一般
    "complex": ClassLimits(clock="working", sign="1d", resolve="15d"),     # 复杂
}
DEFAULT_CATEGORIES: dict[str, CategoryLimits] = {
    "exposed_rubbish": CategoryLimits(resolve="4h"),
    "water_outage": CategoryLimits(sla_class="urgent"),
    "manhole_cover": CategoryLimits(sla_class="urgent"),  # an open manhole is a fall risk
    "gas_leak": CategoryLimits(sla_class="critical"),
    "road_collapse": CategoryLimits(sla_class="critical"),
    "flooding": CategoryLimits(sla_class="critical"),
}


EmergencyLevel = Literal["I", "II", "III", "IV"]  # 特别重大 / 重大 / 较大 / 一般 (国家突发事件应急预案分级)
# Sign-off steps an emergency level may skip; only "sign" (签收 counts as done at dispatch) exists today.
SkippableStep = Literal["sign"]


class EmergencyLimits(BaseModel):
    """The limits of a case linked to an active incident of one level (平急转换): calendar time, since an
    emergency runs around the clock, and never longer than the case's own calendar limits."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    sign: Duration
    resolve: Duration
    skip: tuple[SkippableStep, ...] = ()


class SlaPolicy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    calendar: WorkingCalendar = Field(default_factory=default_calendar)
    classes: dict[str, ClassLimits] = Field(default_factory=lambda: dict(DEFAULT_CLASSES))
    categories: dict[str, CategoryLimits] = Field(default_factory=lambda: dict(DEFAULT_CATEGORIES))
    default_class: str = "normal"
    clock_start: Literal["dispatch", "sign_off"] = "dispatch"  # when the resolution clock starts
    warn_at: float = Field(default=0.8, gt=0, lt=1)  # share of a limit after which consoles warn
    # How far past the deadline, as a share of the limit, 督办 and 挂牌督办 follow 催办 (which is at the
    # deadline). Shares scale with the class: a 2 h limit is supervised after 1 h more, 5 days after 2.5.
    supervise_after: float | None = Field(default=0.5, ge=0)
    flag_after: float | None = Field(default=1.0, ge=0)
    callback_window: Duration = "72h"  # calendar time after resolution; then an unanswered case closes
    # Emergency footing per incident level: a case reported in an active incident's area and categories
    # takes these limits (and skips the named steps). A level absent here keeps the ordinary limits.
    emergency: dict[EmergencyLevel, EmergencyLimits] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        known = set(self.classes)
        if self.default_class not in known:
            raise ValueError(f"default_class: {self.default_class!r} is not one of the classes {sorted(known)}")
        for name, limits in self.categories.items():
            if limits.sla_class is not None and limits.sla_class not in known:
                raise ValueError(f"categories.{name}.sla_class: unknown class {limits.sla_class!r}")
        supervise, flag = self.supervise_after, self.flag_after
        if supervise is not None and flag is not None and flag < supervise:
            raise ValueError("flag_after: 挂牌督办 cannot come before 督办 (supervise_after)")
        return self

    def class_of(self, report: dict[str, object]) -> str:
        """The report's own urgency wins (the hotline operator heard the caller); else the category's."""
        urgency = report.get("urgency")
        if isinstance(urgency, str) and urgency in self.classes:
            return urgency
        override = self.categories.get(str(report.get("category")))
        if override is not None and override.sla_class is not None:
            return override.sla_class
        return self.default_class

    def limits_for(self, sla_class: str, category: str | None,
                   emergency: str | None = None) -> tuple[ClockKind, int, int]:
        """(clock, sign-off limit, resolution limit) in seconds of that clock. `emergency`: the level of the
        active incident the case is linked to; its limits apply on a calendar clock, unless the case's own
        calendar limits are shorter still (a gas leak stays at 30 minutes under a level-IV incident)."""
        base = self.classes[sla_class]
        override = self.categories.get(category or "")
        sign = override.sign if override is not None and override.sign else base.sign
        resolve = override.resolve if override is not None and override.resolve else base.resolve
        limits = self.emergency_limits(emergency)
        if limits is not None:
            fast_sign, fast_resolve = self.seconds(limits.sign, "calendar"), self.seconds(limits.resolve, "calendar")
            if base.clock == "calendar":
                fast_sign = min(fast_sign, self.seconds(sign, "calendar"))
                fast_resolve = min(fast_resolve, self.seconds(resolve, "calendar"))
            return "calendar", fast_sign, fast_resolve
        return base.clock, self.seconds(sign, base.clock), self.seconds(resolve, base.clock)

    def emergency_limits(self, level: str | None) -> EmergencyLimits | None:
        return next((limits for key, limits in self.emergency.items() if key == level), None)

    def skipped_steps(self, level: str | None) -> tuple[str, ...]:
        """The sign-off steps an incident of this level skips (none without one)."""
        limits = self.emergency_limits(level)
        return limits.skip if limits is not None else ()

    def seconds(self, duration: str, clock: ClockKind) -> int:
        day = self.calendar.day_length if clock == "working" else timedelta(days=1)
        units = {"d": day, "h": timedelta(hours=1), "m": timedelta(minutes=1), "s": timedelta(seconds=1)}
        return int(sum((int(n) * units[u] for n, u in _PART.findall(duration)), timedelta()).total_seconds())

    def after(self, start: datetime, seconds: int, clock: ClockKind) -> datetime:
        if clock == "working":
            return self.calendar.add_working(start, timedelta(seconds=seconds))
        return start + timedelta(seconds=seconds)

    def measure(self, a: datetime, b: datetime, clock: ClockKind) -> int:
        if clock == "working":
            return int(self.calendar.working_between(a, b).total_seconds())
        return max(0, int((b - a).total_seconds()))
