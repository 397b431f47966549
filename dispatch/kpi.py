"""KPIs (考核评价, PRODUCT.md section 7) accumulated from recorded events, so they can always be rebuilt.

The unit of account is an assignment: one dispatch of a case to a lead unit. Each assignment belongs to
the period in which it was dispatched (a cohort), and counts for its unit, its township, its county and
the city. Rates are judged `as_of` a moment: an assignment still open past its deadline counts as late
there and then — counting only finished cases would flatter exactly the units that sit on their work.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from datetime import datetime, timedelta, timezone
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from dispatch.events import Case, JsonDict
from dispatch.fold import apply, new_case

Period = Literal["day", "week", "month"]
_GONE = frozenset({"closed", "rejected"})  # terminal: the case document is no longer needed


class KpiWeights(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    response: float = Field(default=0.1, ge=0)
    resolution: float = Field(default=0.5, ge=0)
    satisfaction: float = Field(default=0.4, ge=0)
    basically_satisfied: float = Field(default=0.9, ge=0, le=1)  # how much 基本满意 counts as 满意


@dataclass
class _Assignment:
    unit: dict[str, str]
    areas: dict[str, dict[str, str]]
    dispatched_at: datetime
    sign_by: datetime | None
    resolve_by: datetime | None
    signed_at: datetime | None = None
    signed_by_deadline: datetime | None = None  # the sign-off deadline in force when it was signed
    resolved_at: datetime | None = None
    resolved_on_time: bool | None = None
    returned: bool = False
    resolutions: int = 0
    redos: int = 0
    callbacks: list[tuple[bool, bool, str]] = field(default_factory=list)  # valid ones only
    ended: bool = False  # superseded by a re-dispatch (改派)


@dataclass
class KpiRow:
    level: str  # unit | township | county | city
    code: str
    name: str
    period: str
    dispatched: int = 0
    returns: int = 0
    sign_counted: int = 0
    signed_on_time: int = 0
    resolve_counted: int = 0
    resolved_on_time: int = 0
    resolutions: int = 0
    redos: int = 0
    valid_callbacks: int = 0
    contacted: int = 0
    solved: int = 0
    satisfied: int = 0
    basically_satisfied: int = 0
    signed: int = 0
    hours_to_sign: float = 0.0
    resolved: int = 0
    hours_to_resolve: float = 0.0

    @property
    def overdue(self) -> int:
        """超期数: resolved late, or still open past the deadline."""
        return self.resolve_counted - self.resolved_on_time

    def rates(self, weights: KpiWeights) -> dict[str, float | None]:
        def ratio(a: float, b: float) -> float | None:
            return round(a / b, 6) if b else None
        satisfaction = ratio(self.satisfied + weights.basically_satisfied * self.basically_satisfied,
                             self.valid_callbacks)
        response, resolution = ratio(self.contacted, self.valid_callbacks), ratio(self.solved, self.valid_callbacks)
        composite = None
        if response is not None and resolution is not None and satisfaction is not None:
            composite = round(weights.response * response + weights.resolution * resolution
                              + weights.satisfaction * satisfaction, 6)
        return {
            "response_rate": response, "resolution_rate": resolution, "satisfaction_rate": satisfaction,
            "composite": composite,
            "on_time_sign_rate": ratio(self.signed_on_time, self.sign_counted),
            "on_time_resolution_rate": ratio(self.resolved_on_time, self.resolve_counted),
            "return_rate": ratio(self.returns, self.dispatched), "redo_rate": ratio(self.redos, self.resolutions),
            "mean_hours_to_sign": ratio(self.hours_to_sign, self.signed),
            "mean_hours_to_resolve": ratio(self.hours_to_resolve, self.resolved),
        }

    def as_json(self, weights: KpiWeights) -> JsonDict:
        counts = {f.name: getattr(self, f.name) for f in fields(self)}
        return {**counts, "overdue": self.overdue, **self.rates(weights)}


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


class KpiAccumulator:
    """Feed every recorded event in store order with `add`; read the figures with `rows(as_of)`.

    `as_of` should not precede the last event added: the state of each case is the one after it."""

    def __init__(self, period: Period = "month", utc_offset_minutes: int = 480) -> None:
        self.period = period
        self._tz = timezone(timedelta(minutes=utc_offset_minutes))
        self._cases: dict[str, Case] = {}
        self._current: dict[str, _Assignment] = {}
        self._state: dict[str, str] = {}
        self._assignments: list[tuple[str, _Assignment]] = []

    def add(self, case_id: str, event_type: str, data: JsonDict, version: int, at: datetime) -> None:
        before = self._cases.get(case_id) or new_case(case_id, at)
        after = apply(before, event_type, data, version, at)
        self._state[case_id] = after["state"]
        if after["state"] in _GONE:
            self._cases.pop(case_id, None)
        else:
            self._cases[case_id] = after
        deadlines = after.get("deadlines") or {}
        if event_type == "case.dispatched":
            if case_id in self._current:
                self._current[case_id].ended = True
            a = _Assignment(dict(after["units"]["lead"]), dict(after["areas"]), at,
                            _time(deadlines.get("sign_by")), _time(deadlines.get("resolve_by")))
            self._current[case_id] = a
            self._assignments.append((case_id, a))
            return
        a_or_none = self._current.get(case_id)
        if a_or_none is None:
            return
        a = a_or_none
        if event_type == "case.accepted":
            a.signed_at, a.signed_by_deadline = at, a.sign_by
        elif event_type == "case.return_requested":
            a.returned = True
        elif event_type == "case.resolved":
            a.resolutions += 1
            a.resolved_at, a.resolved_on_time = at, a.resolve_by is None or at <= a.resolve_by
        elif event_type == "case.redone":
            a.redos += 1
            a.resolved_at, a.resolved_on_time = None, None
        elif event_type == "case.callback_recorded" and data.get("valid"):
            a.callbacks.append((bool(data["contacted"]), bool(data["solved"]), str(data["satisfaction"])))
        # moved deadlines: a refused return's pause, an approved extension, a redo
        a.sign_by = _time(deadlines.get("sign_by")) or a.sign_by
        a.resolve_by = _time(deadlines.get("resolve_by")) or a.resolve_by

    def _period_of(self, moment: datetime, period: Period | None = None) -> str:
        local = moment.astimezone(self._tz)
        period = period or self.period
        if period == "day":
            return local.date().isoformat()
        if period == "week":
            year, week, _ = local.isocalendar()
            return f"{year}-W{week:02d}"
        return f"{local.year}-{local.month:02d}"

    def rows(self, as_of: datetime, period: Period | None = None) -> list[KpiRow]:
        """The figures as of `as_of`, grouped by `period` (default: the accumulator's own); adding events
        does not depend on the period, so one accumulator serves days, weeks and months."""
        table: dict[tuple[str, str, str], KpiRow] = {}
        for case_id, a in self._assignments:
            period_key = self._period_of(a.dispatched_at, period)
            keys = [("unit", a.unit["code"], a.unit["name"])]
            keys += [(lv, a.areas[lv]["code"], a.areas[lv]["name"]) for lv in ("township", "county", "city")
                     if lv in a.areas]
            for level, code, name in keys:
                row = table.setdefault((level, code, period_key), KpiRow(level, code, name, period_key))
                _count(row, a, self._state.get(case_id, ""), as_of)
        return sorted(table.values(), key=lambda r: (r.period, r.level, r.code))


def _count(row: KpiRow, a: _Assignment, state: str, as_of: datetime) -> None:
    row.dispatched += 1
    row.returns += a.returned
    live = not a.ended and state in ("dispatched", "accepted")  # still this unit's to do; not paused or parked
    if a.signed_at is not None:
        row.sign_counted += 1
        row.signed_on_time += a.signed_by_deadline is None or a.signed_at <= a.signed_by_deadline
        row.signed += 1
        row.hours_to_sign += (a.signed_at - a.dispatched_at).total_seconds() / 3600
    elif live and a.sign_by is not None and as_of > a.sign_by:
        row.sign_counted += 1  # open and past the sign-off deadline: late
    if a.resolved_at is not None:
        row.resolve_counted += 1
        row.resolved_on_time += bool(a.resolved_on_time)
        row.resolved += 1
        row.hours_to_resolve += (a.resolved_at - a.dispatched_at).total_seconds() / 3600
    elif live and a.resolve_by is not None and as_of > a.resolve_by:
        row.resolve_counted += 1  # open and past the resolution deadline: late
    row.resolutions += a.resolutions
    row.redos += a.redos
    for contacted, solved, satisfaction in a.callbacks:
        row.valid_callbacks += 1
        row.contacted += contacted
        row.solved += solved
        row.satisfied += satisfaction == "satisfied"
        row.basically_satisfied += satisfaction == "basically_satisfied"


def kpi_rows(events: list[tuple[str, str, JsonDict, int, datetime]], as_of: datetime, period: Period = "month",
             weights: KpiWeights | None = None) -> list[dict[str, Any]]:
    """One call for a report: (case_id, type, data, version, at) in store order → rows as JSON."""
    acc = KpiAccumulator(period)
    for event in events:
        acc.add(*event)
    return [row.as_json(weights or KpiWeights()) for row in acc.rows(as_of)]
