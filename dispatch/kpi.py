"""KPIs (考核评价, PRODUCT.md section 7) accumulated from recorded events, so they can always be rebuilt.

The unit of account is an assignment: one dispatch of a case to a lead unit. Each assignment belongs to
the period in which it was dispatched (a cohort), and counts for its unit, its township, its county and
the city. Rates are judged `as_of` a moment: an assignment still open past its deadline counts as late
there and then — counting only finished cases would flatter exactly the units that sit on their work.
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from datetime import datetime, timedelta, timezone
from typing import Any, Final, Literal

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


# The events that change an assignment.
ASSIGNMENT_EVENTS: Final = frozenset({
    "case.dispatched", "case.accepted", "case.return_requested", "case.return_reviewed",
    "case.extension_reviewed", "case.resolved", "case.redone", "case.callback_recorded",
})
# The events that may move a case to another state once it has an assignment (see the fold's handlers; a test
# holds this list to them): an assignment counts as late while open only if its case is still being worked on
# (`live`). Not `case.received`: it opens a case, before any assignment (and carries the whole report).
STATE_EVENTS: Final = frozenset({
    "case.triaged", "case.dispatched", "case.accepted", "case.return_requested",
    "case.return_reviewed", "case.resolved", "case.closed", "case.redone", "case.merged", "case.split",
    "case.parked", "case.reopened", "case.rejected",
})
KPI_EVENTS: Final = ASSIGNMENT_EVENTS | STATE_EVENTS  # everything else leaves the figures as they are
LIVE_STATES: Final = ("dispatched", "accepted")  # still the unit's to do: not paused, parked or finished
LEVELS: Final = ("township", "county", "city")  # the areas an assignment counts for, besides its unit


@dataclass(slots=True)
class Assignment:
    """One dispatch of a case to a lead unit, as slim as the figures allow: a few timestamps and counters.

    `position` is the store position of its `case.dispatched` event: its identity, and the store order
    (the name a row shows is the one of its earliest assignment)."""

    case_id: str
    position: int
    unit: tuple[str, str]  # (code, name)
    areas: dict[str, tuple[str, str]]  # level -> (code, name), for the LEVELS the dispatch named
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
    valid_callbacks: int = 0  # unreachable callbacks do not count
    contacted: int = 0
    solved: int = 0
    satisfied: int = 0
    basically_satisfied: int = 0
    ended: bool = False  # superseded by a re-dispatch (改派)
    state: str = "dispatched"  # the case's current state, kept up to date while this is its current assignment


def _time(text: str | None) -> datetime | None:
    return datetime.fromisoformat(text) if text else None


def _moved_deadlines(event_type: str, data: JsonDict) -> JsonDict | None:
    """The new schedule an event puts in force, if it moves the clocks. Mirrors the fold (handlers_lifecycle
    `_set_clocks`): only these events replace `deadlines`, and only on these conditions; `case.resolved`
    adds `callback_by`, which is not a KPI deadline."""
    if "deadlines" not in data:
        return None
    if event_type in ("case.accepted", "case.redone"):
        return dict(data["deadlines"])
    if event_type == "case.return_reviewed" and not data["approved"]:
        return dict(data["deadlines"])
    if event_type == "case.extension_reviewed" and data["approved"]:
        return dict(data["deadlines"])
    return None


def dispatched(case_id: str, position: int, data: JsonDict, at: datetime) -> Assignment:
    """The assignment a `case.dispatched` event starts."""
    deadlines = data.get("deadlines") or {}
    areas = data.get("areas") or {}
    lead = data["lead"]
    return Assignment(case_id, position, (str(lead["code"]), str(lead["name"])),
                      {lv: (str(areas[lv]["code"]), str(areas[lv]["name"])) for lv in LEVELS if areas.get(lv)},
                      at, _time(deadlines.get("sign_by")), _time(deadlines.get("resolve_by")))


def advance(a: Assignment, event_type: str, data: JsonDict, at: datetime) -> None:
    """What one event (other than a dispatch) does to the case's current assignment."""
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
        a.valid_callbacks += 1
        a.contacted += bool(data["contacted"])
        a.solved += bool(data["solved"])
        a.satisfied += data["satisfaction"] == "satisfied"
        a.basically_satisfied += data["satisfaction"] == "basically_satisfied"
    # moved deadlines: a refused return's pause, an approved extension, a redo. A schedule without one of
    # the deadlines (signed off: no sign_by any more) keeps the one the assignment had.
    moved = _moved_deadlines(event_type, data)
    if moved is not None:
        a.sign_by = _time(moved.get("sign_by")) or a.sign_by
        a.resolve_by = _time(moved.get("resolve_by")) or a.resolve_by


class Assignments:
    """Events in store order → the assignments they start and change.

    `current` holds each case's latest assignment, as far as the caller knows it (the hub loads the ones a
    batch needs from PostgreSQL); `touched` collects every assignment changed since the last `take_touched`,
    once each however many of its case's events came by — a re-dispatch touches the one it ends too."""

    def __init__(self, current: dict[str, Assignment] | None = None) -> None:
        self.current: dict[str, Assignment] = current if current is not None else {}
        self._touched: dict[int, Assignment] = {}

    def add(self, case_id: str, event_type: str, data: JsonDict, position: int, at: datetime) -> None:
        if event_type == "case.dispatched":
            previous = self.current.get(case_id)
            if previous is not None:
                # The re-dispatch puts the case back in "dispatched": the last state this assignment saw
                # (whatever happened in between, which a replay without the fold could not know).
                previous.ended, previous.state = True, "dispatched"
                self._touched[previous.position] = previous
            a = self.current[case_id] = dispatched(case_id, position, data, at)
        elif event_type in ASSIGNMENT_EVENTS and (found := self.current.get(case_id)) is not None:
            a = found
            advance(a, event_type, data, at)
        else:
            return
        self._touched[a.position] = a

    def settle(self, case_id: str, state: str) -> None:
        """The case's state after the events added so far (the caller folds it; the rules do not)."""
        a = self.current.get(case_id)
        if a is not None and a.state != state:
            a.state = state
            self._touched[a.position] = a

    def take_touched(self) -> list[Assignment]:
        touched, self._touched = list(self._touched.values()), {}
        return touched


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
    time_to_sign: timedelta = timedelta(0)  # summed exactly (PostgreSQL sums the same intervals); shown in hours
    resolved: int = 0
    time_to_resolve: timedelta = timedelta(0)

    @property
    def hours_to_sign(self) -> float:
        return self.time_to_sign.total_seconds() / 3600

    @property
    def hours_to_resolve(self) -> float:
        return self.time_to_resolve.total_seconds() / 3600

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

    def samples(self) -> dict[str, int]:
        """n behind each rate: the count its ratio divides by (a rate of 10 callbacks is not one of 1,000)."""
        return {rate: getattr(self, count) for rate, count in SAMPLE_OF.items()}

    def as_json(self, weights: KpiWeights) -> JsonDict:
        counts = {_SHOWN.get(f.name, f.name): getattr(self, _SHOWN.get(f.name, f.name)) for f in fields(self)}
        return {**counts, "overdue": self.overdue, **self.rates(weights), "samples": self.samples()}


_SHOWN = {"time_to_sign": "hours_to_sign", "time_to_resolve": "hours_to_resolve"}
# Each rate and the count it is a share of (KpiRow.rates): valid callbacks (有效回访) behind the three
# callback rates and the composite; the assignments judged for on-time sign-off and resolution; ...
SAMPLE_OF: Final = {
    "response_rate": "valid_callbacks", "resolution_rate": "valid_callbacks", "satisfaction_rate": "valid_callbacks",
    "composite": "valid_callbacks", "on_time_sign_rate": "sign_counted", "on_time_resolution_rate": "resolve_counted",
    "return_rate": "dispatched", "redo_rate": "resolutions", "mean_hours_to_sign": "signed",
    "mean_hours_to_resolve": "resolved",
}


def rank_rows(rows: list[JsonDict], min_samples: int) -> None:
    """Rank rows (as_json) within each period and level by composite score, best first; a row with fewer than
    `min_samples` valid callbacks, or no composite, is not ranked (`rank` None, `ranked` False): a township
    with one satisfied caller would otherwise top the 红榜 at 100. Ties are broken by code."""
    groups: dict[tuple[str, str], list[JsonDict]] = {}
    for r in rows:
        r["ranked"] = r["composite"] is not None and r["valid_callbacks"] >= min_samples
        r["rank"] = None
        if r["ranked"]:
            groups.setdefault((r["period"], r["level"]), []).append(r)
    for group in groups.values():
        group.sort(key=lambda r: (-r["composite"], str(r["code"])))
        for i, r in enumerate(group, 1):
            r["rank"] = i


def period_of(moment: datetime, period: Period, utc_offset_minutes: int = 480) -> str:
    """The period key of a moment, in local time: 2026-11-23, 2026-W48 (ISO week), 2026-11."""
    local = moment.astimezone(timezone(timedelta(minutes=utc_offset_minutes)))
    if period == "day":
        return local.date().isoformat()
    if period == "week":
        year, week, _ = local.isocalendar()
        return f"{year}-W{week:02d}"
    return f"{local.year}-{local.month:02d}"


def live(a: Assignment) -> bool:
    """Still this unit's to do: not superseded, and the case is not paused, parked or finished."""
    return not a.ended and a.state in LIVE_STATES


def count(row: KpiRow, a: Assignment, as_of: datetime) -> None:
    """Add one assignment to a row, judged `as_of`. The hub runs the same rule as SQL over its
    `kpi_assignments` table (hub.services.kpis); a test holds the two equal."""
    row.dispatched += 1
    row.returns += a.returned
    if a.signed_at is not None:
        row.sign_counted += 1
        row.signed_on_time += a.signed_by_deadline is None or a.signed_at <= a.signed_by_deadline
        row.signed += 1
        row.time_to_sign += a.signed_at - a.dispatched_at
    elif live(a) and a.sign_by is not None and as_of > a.sign_by:
        row.sign_counted += 1  # open and past the sign-off deadline: late
    if a.resolved_at is not None:
        row.resolve_counted += 1
        row.resolved_on_time += bool(a.resolved_on_time)
        row.resolved += 1
        row.time_to_resolve += a.resolved_at - a.dispatched_at
    elif live(a) and a.resolve_by is not None and as_of > a.resolve_by:
        row.resolve_counted += 1  # open and past the resolution deadline: late
    row.resolutions += a.resolutions
    row.redos += a.redos
    row.valid_callbacks += a.valid_callbacks
    row.contacted += a.contacted
    row.solved += a.solved
    row.satisfied += a.satisfied
    row.basically_satisfied += a.basically_satisfied


def keys_of(a: Assignment) -> list[tuple[str, str, str]]:
    """(level, code, name) of every row an assignment counts in: its unit, township, county and city."""
    return [("unit", *a.unit), *((lv, *a.areas[lv]) for lv in LEVELS if lv in a.areas)]


class KpiAccumulator:
    """Feed every recorded event in store order with `add`; read the figures with `rows(as_of)`.

    The reference implementation, all in memory (tests, one-off reports): it keeps every assignment and folds
    each open case for its state. The hub keeps the same assignments in PostgreSQL instead, written in the
    append transaction with the state of the case as the domain folded it (hub.store.kpi_projection).

    `as_of` should not precede the last event added: the state of each case is the one after it."""

    def __init__(self, period: Period = "month", utc_offset_minutes: int = 480) -> None:
        self.period = period
        self._offset = utc_offset_minutes
        self._cases: dict[str, Case] = {}
        self._assignments = Assignments()
        self._all: list[Assignment] = []
        self._position = 0

    def add(self, case_id: str, event_type: str, data: JsonDict, version: int, at: datetime) -> None:
        before = self._cases.get(case_id) or new_case(case_id, at)
        after = apply(before, event_type, data, version, at)
        if after["state"] in _GONE:
            self._cases.pop(case_id, None)
        else:
            self._cases[case_id] = after
        self._position += 1  # events come in store order: their count orders the assignments the same way
        self._assignments.add(case_id, event_type, data, self._position, at)
        self._assignments.settle(case_id, after["state"])
        if event_type == "case.dispatched":
            self._all.append(self._assignments.current[case_id])
        self._assignments.take_touched()  # all kept in memory already

    def rows(self, as_of: datetime, period: Period | None = None) -> list[KpiRow]:
        """The figures as of `as_of`, grouped by `period` (default: the accumulator's own); adding events
        does not depend on the period, so one accumulator serves days, weeks and months."""
        table: dict[tuple[str, str, str], KpiRow] = {}
        for a in self._all:
            period_key = period_of(a.dispatched_at, period or self.period, self._offset)
            for level, code, name in keys_of(a):
                row = table.setdefault((level, code, period_key), KpiRow(level, code, name, period_key))
                count(row, a, as_of)
        return sorted(table.values(), key=lambda r: (r.period, r.level, r.code))


def kpi_rows(events: list[tuple[str, str, JsonDict, int, datetime]], as_of: datetime, period: Period = "month",
             weights: KpiWeights | None = None) -> list[dict[str, Any]]:
    """One call for a report: (case_id, type, data, version, at) in store order → rows as JSON."""
    acc = KpiAccumulator(period)
    for event in events:
        acc.add(*event)
    return [row.as_json(weights or KpiWeights()) for row in acc.rows(as_of)]
