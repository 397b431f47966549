"""Early warning (监测预警): surges of reports per category × area × window, and IoT area alarms. Pure: no I/O.

Method: a prospective Poisson upper-tail test of each cell against a seasonal baseline, with its threshold set
from the expected number of false alarms per day (Kulldorff M., "Prospective time periodic geographical disease
surveillance using a scan statistic", J. R. Stat. Soc. A 164(1):61–72, 2001 — the "recurrence interval" of a
prospective test is 1 / (p-value threshold × tests per day)). Why this and not EARS C2/C3 or a CUSUM: at a city's
background of a few reports a day spread over a hundred townships most cells see zero reports for weeks, where the
EARS methods' standard deviation of a 7-day baseline is 0 (every single report is "infinite sigma") and a CUSUM
needs a per-cell reference value it cannot estimate; the exact Poisson tail is well defined at μ = 0.01 and says
precisely how surprising 12 reports are.

Expected count of a cell (category c at any level of the tree, area a = a county or a township) over a window
(t − w, t]: rate(c, a) × the mass of the hour-of-week profile over the window. The profile (168 bins, local time,
mean 1) is learned city-wide from the history; the cell's rate is shrunk towards its prior, the city's rate of the
category × the area's share of all reports (a gamma-Poisson posterior mean with `shrinkage_hours` of pseudo
exposure), so that a cell with little history borrows from the parent area and does not see 0 expected.

The city's level: the expectation is scaled up by how far the whole city's other reports in the window exceed what
the history expects of them, (others + k) / (expected others + k), never below 1 — conditioning on the observed
total as the space-time permutation scan statistic does (Kulldorff M. et al., "A space-time permutation scan
statistic for disease outbreak detection", PLoS Medicine 2(3):e59, 2005), which needs no population at risk and
follows a city whose overall volume moved away from its history (a history imported from a smaller system, a
holiday season, the demo's fast simulator). "Others" leaves the cell's own reports out, so a surge never masks
itself; k (`level_pseudo_reports`) keeps one stray report elsewhere on a quiet night from scaling anything. A
surge of one category in one place still stands out; a rise of everything everywhere is not a surge of anything
(it is an incident, for people to declare). The p-value threshold likewise follows the live volume: tests per day
are counted from the larger of the history's and the last window's reports.

Episodes: a cell that crosses the threshold raises one alert; while it keeps crossing (until one window has
passed since its last crossing) later reports update that alert. Of the cells one report makes cross, only one is
alerted: one whose episode is already open (updated), else the most specific (deepest category, township before
county, shortest window) — an ancestor cell is not alerted again for the same evidence.
"""

from __future__ import annotations

import math
import uuid
from bisect import bisect_left, bisect_right, insort
from collections.abc import Callable, Iterable, Mapping, Sequence, Set
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from itertools import islice
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field
from scipy.special import gammainc  # type: ignore[import-untyped]

from dispatch.matrix import Matrix
from dispatch.window_keys import ID_MASK, CaseIds, after, micros, moment, moment_at, reports_in_order

JsonDict = dict[str, Any]
ALERT_NAMESPACE: Final = uuid.UUID("6f1c3a52-6c1e-4a8e-9d55-0a7e57a1e717")
METHOD: Final = "poisson_upper_tail"  # Kulldorff 2001 recurrence-interval thresholding
HOURS_PER_WEEK: Final = 168
AREA_LEVELS: Final = ("county", "township")
ALERT_STATES: Final = ("open", "acknowledged", "closed")
# Category codes nest by prefix (01 → 0101 → 010101): the tree's levels are these prefix lengths.
CATEGORY_LEVELS: Final = (2, 4, 6)


class WarningPolicy(BaseModel):
    """What the city configures for early warning (the policy's `warning`)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    windows_h: tuple[float, ...] = Field(default=(1.0, 6.0, 24.0), min_length=1)
    false_alarms_per_day: float = Field(default=0.1, gt=0)  # expected, over every cell tested
    min_count: int = Field(default=3, ge=1)  # fewer reports than this in a window never alert
    shrinkage_hours: float = Field(default=720.0, ge=0)  # pseudo exposure of a cell's prior (gamma-Poisson)
    history_days: int = Field(default=56, ge=1)  # the baseline learns from this much history
    baseline_refresh_s: float = Field(default=3600.0, gt=0)
    utc_offset_minutes: int = 480  # hour of day and weekday are local (Asia/Shanghai)
    # Not residents' reports: machine alarms are watched by the IoT rule, and grid workers' patrol findings
    # measure where the patrols walked that day, not what is happening to the people there.
    excluded_sources: tuple[str, ...] = ("iot", "grid")
    iot_devices: int = Field(default=3, ge=2)  # distinct devices of one kind alarming in one township …
    iot_window_h: float = Field(default=1.0, gt=0)  # … within this window raise an area alert
    max_case_ids: int = Field(default=200, ge=1)  # evidence kept per alert
    level_pseudo_reports: float = Field(default=1.0, gt=0)  # k of the city-level factor (module docstring)


@dataclass(frozen=True, slots=True)
class Place:
    level: str
    code: str
    name: str


@dataclass(frozen=True, slots=True)
class Report:
    """One report as the detector needs it (a row of the `cases` projection)."""

    case_id: str
    at: datetime  # reported_at
    category: str | None  # leaf code, None while in triage
    county: Place | None
    township: Place | None
    source: str
    device_id: str | None = None
    sensor_kind: str | None = None


@dataclass(frozen=True, slots=True)
class Cell:
    kind: str  # "surge" | "iot_cluster"
    category: str  # a category code (any level), or for iot_cluster the device kind
    level: str
    area: str
    window_h: float

    @property
    def key(self) -> str:
        return f"{self.kind}|{self.category}|{self.level}|{self.area}|{self.window_h:g}"


def category_levels(code: str) -> list[str]:
    """The code and its ancestors' codes, most general first: 010101 → [01, 0101, 010101]."""
    return [code[:n] for n in CATEGORY_LEVELS if n <= len(code)] or [code]


_LOG_MARGIN = 1e-9  # the upper bound decides only when it is below alpha by more than this (in log)


def tail_exceeds(observed: int, mu: float, alpha: float) -> bool:
    """Whether P(X ≥ observed) > `alpha` for X ~ Poisson(mu): `poisson_sf(observed, mu) > alpha`, decided by the
    point mass P(X = observed) — a lower bound of the tail, one log-gamma — whenever that alone exceeds `alpha`,
    and by an upper bound of the tail whenever that is below it. Most cells tested hold about what they are
    expected to, where the point mass is ~1/√(2πμ) and the threshold ~1e-6; in a store with little history yet,
    a cell of a few reports against an expectation near zero is far past it. The incomplete gamma (a SciPy
    ufunc call, several µs) is computed only near the threshold."""
    if observed <= 0 or mu <= 0:
        return poisson_sf(observed, mu) > alpha
    log_mass = observed * math.log(mu) - mu - math.lgamma(observed + 1)
    log_alpha = math.log(alpha)
    if log_mass > log_alpha:
        return True
    # Each term after the point mass is at most μ/(observed + 1) times the one before it, so the tail is at most
    # the point mass times (observed + 1)/(observed + 1 − μ): a geometric series. Where that bound is tight
    # (small counts) the log-space rounding is ~1e-15, far inside the margin; at large counts the rounding grows
    # (~4e-11 at 10⁴ reports) but the bound there is looser than the margin by far (≥ 1 % near the threshold).
    if mu < observed + 1 and log_mass + math.log((observed + 1) / (observed + 1 - mu)) < log_alpha - _LOG_MARGIN:
        return False
    return poisson_sf(observed, mu) > alpha


def poisson_sf(observed: int, mu: float) -> float:
    """P(X ≥ observed) for X ~ Poisson(mu): the regularised lower incomplete gamma P(observed, mu), which scipy
    computes accurately in the far tail (12 reports at μ = 0.01 is 2e-33, not 0) in under a microsecond."""
    if observed <= 0:
        return 1.0
    if mu <= 0:
        return 0.0
    return float(gammainc(observed, mu))


@dataclass(frozen=True, slots=True)
class HistoryRow:
    """One group of the baseline query: reports of a leaf category in a township, in an hour of the week."""

    category: str | None
    county: str | None
    township: str | None
    hour_of_week: int
    count: int


class Baseline:
    """Expected counts per cell, learned from `hours` of history (see the module docstring)."""

    def __init__(self, rows: Iterable[HistoryRow], hours: float, policy: WarningPolicy,
                 per_hour: Sequence[int] | None = None) -> None:
        """`rows`: the history grouped by category, county, township and hour of the week — or, with `per_hour`
        (reports per local hour of the week, Monday 00:00 first), grouped without the hour, whose `hour_of_week`
        is then not read: 168 times fewer rows for the same baseline (the hub's start-up reads it so)."""
        self.hours = max(hours, 1.0)
        self._shrink = policy.shrinkage_hours
        self._offset = timedelta(minutes=policy.utc_offset_minutes)
        per_how = [float(n) for n in per_hour] if per_hour is not None else [0.0] * HOURS_PER_WEEK
        if len(per_how) != HOURS_PER_WEEK:
            raise ValueError(f"per_hour: {len(per_how)} hours, not {HOURS_PER_WEEK}")
        cells: dict[tuple[str, str, str], int] = {}  # (category, level, area) → reports
        cats: dict[str, int] = {}
        areas: dict[tuple[str, str], int] = {}
        total = 0
        for row in rows:
            if per_hour is None:
                per_how[row.hour_of_week % HOURS_PER_WEEK] += row.count
            total += row.count
            for level, code in (("county", row.county), ("township", row.township)):
                if code:
                    areas[(level, code)] = areas.get((level, code), 0) + row.count
            for cat in category_levels(row.category) if row.category else ():
                cats[cat] = cats.get(cat, 0) + row.count
                for level, code in (("county", row.county), ("township", row.township)):
                    if code:
                        cells[(cat, level, code)] = cells.get((cat, level, code), 0) + row.count
        self.total = total
        self._cells, self._cats, self._areas = cells, cats, areas
        self._area_counts = {lv: sum(n for (level, _), n in areas.items() if level == lv) for lv in AREA_LEVELS}
        self._area_kinds = {lv: sum(1 for (level, _) in areas if level == lv) for lv in AREA_LEVELS}
        # Hour-of-week profile, mean 1, with one pseudo report per bin so an empty hour is not impossible.
        mean = (total + HOURS_PER_WEEK) / HOURS_PER_WEEK
        profile = [(n + 1.0) / mean for n in per_how]
        self._cum = [0.0]
        for value in profile:
            self._cum.append(self._cum[-1] + value)

    @property
    def reports_per_day(self) -> float:
        return self.total / self.hours * 24.0

    def rate(self, category: str, level: str, area: str) -> float:
        """Reports per hour (profile mean) of a cell: its own history shrunk towards the category's city rate
        × the area's share of the reports (0.5 pseudo report per category, 1 per area: never exactly 0)."""
        city_rate = (self._cats.get(category, 0) + 0.5) / self.hours
        share = (self._areas.get((level, area), 0) + 1.0) / (self._area_counts[level] + self._area_kinds[level] + 1.0)
        prior = city_rate * share
        own = self._cells.get((category, level, area), 0)
        return (own + self._shrink * prior) / (self.hours + self._shrink)

    def profile_mass(self, start: datetime, end: datetime) -> float:
        """∫ profile over [start, end) in hours (local hour of week)."""
        return self._position(end) - self._position(start)

    def _position(self, at: datetime) -> float:
        """Cumulative profile mass from a fixed Monday 00:00 local to `at`."""
        local = at.astimezone(UTC) + self._offset
        epoch = datetime(1970, 1, 5, tzinfo=UTC)  # a Monday
        hours = (local - epoch).total_seconds() / 3600.0
        weeks, rest = divmod(hours, HOURS_PER_WEEK)
        whole = int(rest)
        return weeks * self._cum[-1] + self._cum[whole] + (rest - whole) * (self._cum[whole + 1] - self._cum[whole])

    def expected(self, category: str, level: str, area: str, end: datetime, window_h: float) -> float:
        return self.rate(category, level, area) * self.window_mass(end, window_h)

    def expected_city(self, end: datetime, window_h: float) -> float:
        """Every report of the city (all categories and areas) expected over the window."""
        return self.city_rate() * self.window_mass(end, window_h)

    def window_mass(self, end: datetime, window_h: float) -> float:
        """The profile's mass over the window of `window_h` hours ending at `end` (the same for every cell: the
        detector computes it once per report and window)."""
        return self.profile_mass(end - timedelta(hours=window_h), end)

    def city_rate(self) -> float:
        return self.total / self.hours


@dataclass(slots=True)
class Episode:
    alert_id: str
    cell: Cell
    expires: datetime  # one window after the last crossing
    observed: int
    case_ids: list[str]


@dataclass(frozen=True, slots=True)
class Raise:
    alert_id: str
    evidence: JsonDict


@dataclass(frozen=True, slots=True)
class Update:
    alert_id: str
    evidence: JsonDict


Decision = Raise | Update


@dataclass(slots=True)
class _Crossing:
    cell: Cell
    observed: int
    expected: float
    p_value: float
    start: datetime
    # The keys of the window's reports (dispatch.window_keys), in report order. Read from the detector's own list
    # rather than copied: of the cells one report makes cross only the chosen one's are read, and during a dense
    # surge a window holds thousands of reports (the list is not changed before the report's decision is made).
    reports: Callable[[], Iterable[int]]
    place: Place
    devices: list[str] = field(default_factory=list)
    county: str | None = None

    def held(self, limit: int, skip: Set[int] = frozenset()) -> list[int]:
        """The keys of the window's reports whose case numbers are not in `skip`, at most `limit`, in report order."""
        return list(islice((key for key in self.reports() if key & ID_MASK not in skip), limit))


CategoryPath = Mapping[str, Sequence[str]]  # code → names from the root


class Detector:
    """The detector's running state: the reports of the longest window per cell, and the open episodes.
    `observe` is called once per newly committed report, with the time it is evaluated at."""

    def __init__(self, policy: WarningPolicy, baseline: Baseline, paths: CategoryPath | None = None) -> None:
        self.policy = policy
        self.alpha = 0.0
        self.baseline = baseline
        self.with_baseline(baseline)
        self._paths = paths or {}
        self._span = timedelta(hours=max(policy.windows_h))
        self._iot_span = timedelta(hours=policy.iot_window_h)
        # Each window holds its reports' keys (dispatch.window_keys: one int per report, in (time, case id) order).
        self._ids = CaseIds()
        self._recent: dict[tuple[str, str, str], list[int]] = {}
        self._city: list[int] = []  # every counted report of the longest window, for the level
        self._iot: dict[tuple[str, str], list[tuple[datetime, str, str]]] = {}
        self._places: dict[tuple[str, str], Place] = {}
        self.episodes: dict[Cell, Episode] = {}
        # The reports an episode still held already alerted on (by their keys in the windows), and that episode's
        # cell key: another cell (an ancestor: the county, the parent category) tests only the reports no other
        # episode explains, so one surge is one alert. Kept by key, entries added as episodes grow and dropped with
        # their episode in _forget: during a city-wide surge _test reads it for every crossing cell of every report,
        # and rebuilding it (formatting each cell's key again) at each alert update cost more than the test itself.
        self._explained: dict[int, str] = {}
        # A restored episode's reports, by case number (CaseIds), until they are found in the windows (the next
        # observe looks at those already there; a report added later is looked up as it comes).
        self._restored: dict[int, str] = {}
        self._look_for_restored = False
        self._episode_numbers: dict[Cell, set[int]] = {}  # the case numbers of each episode's case_ids
        self.tests = 0  # cells evaluated, for the measurement tool
        self._observed = 0

    def with_baseline(self, baseline: Baseline) -> None:
        self.baseline = baseline
        # The windows' starts and profile masses at the last evaluation instant (`_windows`): the masses are the
        # baseline's, made again with a new one.
        self._windows_at: tuple[datetime, list[tuple[float, int]], dict[float, float]] | None = None
        self._set_alpha(0.0)

    def _set_alpha(self, live_per_day: float) -> None:
        """The p-value threshold: false alarms per day / tests per day (Kulldorff's recurrence interval), the tests
        counted at the larger of the history's volume and the live one."""
        cells_per_report = len(CATEGORY_LEVELS) * len(AREA_LEVELS) * len(self.policy.windows_h)
        tests_per_day = max(self.baseline.reports_per_day, live_per_day, 1.0) * cells_per_report
        self.alpha = self.policy.false_alarms_per_day / tests_per_day

    def restore(self, episode: Episode) -> None:
        """An episode already raised (read back after a restart): later reports update it, never raise it again."""
        self.episodes[episode.cell] = episode
        numbers = [self._ids.number(cid) for cid in episode.case_ids]
        self._episode_numbers[episode.cell] = set(numbers)
        for number in numbers:
            self._restored.setdefault(number, episode.cell.key)
        self._look_for_restored = True

    def remember(self, report: Report, now: datetime) -> None:
        """Add a report already evaluated (the windows' contents after a restart) without deciding anything."""
        self.observe(report, now, decide=False)

    def observe(self, report: Report, now: datetime, *, decide: bool = True) -> list[Decision]:
        """Add one report and say which alert it raises or updates (at most one surge and one IoT alert)."""
        at = min(report.at, now)
        out: list[Decision] = []
        self._observed += 1
        if self._observed % 1000 == 0:
            self._forget(now)
        if report.source == "iot" and report.sensor_kind and report.device_id and report.township:
            out += self._observe_iot(report, at, now, decide)
        if report.source in self.policy.excluded_sources or not report.category or at <= now - self._span:
            return out
        # One key shared by the city's list and the report's six cells: a window of a busy day holds every report
        # of it (dispatch.window_keys: ~110 bytes per report held).
        entry = self._ids.key(at, report.case_id)
        if self._restored:
            self._find_restored(entry)
        insort(self._city, entry)
        kept = after(now - self._span)  # the smallest key the longest window keeps
        _prune(self._city, kept)
        if decide:
            self._set_alpha(len(self._city) * 24.0 / (self._span.total_seconds() / 3600.0))
        crossings: list[_Crossing] = []
        starts, masses = self._windows(now) if decide else ([], {})
        for place in (report.county, report.township):
            if place is None:
                continue
            self._places[(place.level, place.code)] = place
            for cat in category_levels(report.category):
                recent = self._recent.setdefault((cat, place.level, place.code), [])
                insort(recent, entry)
                _prune(recent, kept)
                for window, start in starts:
                    self.tests += 1
                    first = bisect_left(recent, start)
                    if len(recent) - first < self.policy.min_count:
                        continue  # most cells, most of the time: no Cell built, no expectation computed
                    city = len(self._city) - bisect_left(self._city, start)
                    mass = masses.get(window)
                    if mass is None:
                        mass = masses[window] = self.baseline.window_mass(now, window)
                    crossing = self._test(cat, window, recent, first, now, place, city, mass)
                    if crossing is not None:
                        crossing.county = report.county.code if report.county else None
                        crossings.append(crossing)
        if crossings:
            out.append(self._decide(crossings, now))
        return out

    def _windows(self, now: datetime) -> tuple[list[tuple[float, int]], dict[float, float]]:
        """Where each window ending at `now` starts, as the key bisect compares with (after every report of that
        moment), and each window's profile mass (filled as cells need it): the same for every report evaluated
        at `now` — the hub evaluates a page of new reports at one instant."""
        if self._windows_at is None or self._windows_at[0] != now:
            starts = [(window, after(now - timedelta(hours=window))) for window in self.policy.windows_h]
            self._windows_at = (now, starts, {})
        return self._windows_at[1], self._windows_at[2]

    def _forget(self, now: datetime) -> None:
        """Memory stays flat however long the hub runs: drop ended episodes and cells with no recent report."""
        self.episodes = {cell: ep for cell, ep in self.episodes.items() if ep.expires > now}
        held = {cell.key for cell in self.episodes}
        self._explained = {k: key for k, key in self._explained.items() if key in held}
        self._restored = {n: key for n, key in self._restored.items() if key in held}
        self._episode_numbers = {cell: ns for cell, ns in self._episode_numbers.items() if cell in self.episodes}
        oldest = micros(now - self._span)
        for key in [k for k, items in self._recent.items() if not items or moment(items[-1]) <= oldest]:
            del self._recent[key]
        for iot_key in [k for k, seen in self._iot.items() if not seen or seen[-1][0] <= now - self._iot_span]:
            del self._iot[iot_key]
        if self._ids.tabled:  # ids other than UUIDs (tests, the evaluation tool): keep those still held
            self._ids.keep_only([k & ID_MASK for items in self._recent.values() for k in items]
                                + [k & ID_MASK for k in self._explained] + list(self._restored)
                                + [n for numbers in self._episode_numbers.values() for n in numbers])

    def _find_restored(self, entry: int) -> None:
        """Explain the reports of restored episodes: once those already in the windows, then `entry` as it comes.
        (The city's list holds every report of the windows' reach.)"""
        if self._look_for_restored:
            self._look_for_restored = False
            for held in self._city:
                self._explain_restored(held)
        self._explain_restored(entry)

    def _explain_restored(self, entry: int) -> None:
        key = self._restored.pop(entry & ID_MASK, None)
        if key is not None:
            self._explained.setdefault(entry, key)

    def _test(self, category: str, window: float, recent: list[int], first: int, now: datetime,
              place: Place, city: int, mass: float) -> _Crossing | None:
        """`city`: every counted report of the city in the cell's window, the cell's own included; `mass`: the
        baseline profile's mass over the window. The Cell is built only for a crossing (most tested cells do not
        cross, and a frozen dataclass costs a microsecond to build)."""
        observed = len(recent) - first
        rate = self.baseline.rate(category, place.level, place.code)
        # The p-value only grows as `observed` shrinks (fewer reports, and a larger expectation through the city's
        # level), so a cell that does not cross with every report of its window counted cannot cross with fewer:
        # the reports other episodes explain are counted only for a cell that crosses without leaving them out.
        if tail_exceeds(observed - 1, self._expected(observed, rate, mass, city), self.alpha):
            return None
        cell = Cell("surge", category, place.level, place.code, window)
        if self._explained:  # leave out what another open episode has already alerted on
            # The episodes explaining the window's reports, looked up in C (map, filter): during a city-wide surge
            # this runs over whole windows for every crossing cell of every report.
            by = list(filter(None, map(self._explained.get, islice(recent, first, None))))
            observed -= len(by) - by.count(cell.key)
            if observed < self.policy.min_count:
                return None
            if tail_exceeds(observed - 1, self._expected(observed, rate, mass, city), self.alpha):
                return None
        expected, p = self._p_value(observed, rate, mass, city)
        return _Crossing(cell, observed, expected, p, moment_at(recent[first]),
                         partial(reports_in_order, recent, first, self._ids), place)

    def _p_value(self, observed: int, rate: float, mass: float, city: int) -> tuple[float, float]:
        """(expected, p-value) of a cell's window holding `observed` reports."""
        expected = self._expected(observed, rate, mass, city)
        # Tested at a report's arrival, the window holds that report for sure: under the baseline the others
        # are Poisson(expected) (the Palm distribution of a Poisson process), so the p-value is of observed − 1.
        # Testing `observed` itself would make every arrival look one report more surprising than it is.
        # (`_test` asks the same question of `tail_exceeds` first.)
        return expected, poisson_sf(observed - 1, expected)

    def _expected(self, observed: int, rate: float, mass: float, city: int) -> float:
        """The cell's expected count over the window, at the city's level (module docstring)."""
        expected = rate * mass
        others_expected = max(self.baseline.city_rate() * mass - expected, 0.0)
        k = self.policy.level_pseudo_reports
        return expected * max(1.0, (city - observed + k) / (others_expected + k))

    def _observe_iot(self, report: Report, at: datetime, now: datetime, decide: bool) -> list[Decision]:
        assert report.township is not None and report.sensor_kind is not None and report.device_id is not None
        key = (report.sensor_kind, report.township.code)
        recent = self._iot.setdefault(key, [])
        insort(recent, (at, report.device_id, report.case_id))
        _prune_alarms(recent, now - self._iot_span)
        devices = sorted({device for _, device, _ in recent})
        if len(devices) < self.policy.iot_devices or not decide:
            return []
        cell = Cell("iot_cluster", report.sensor_kind, "township", report.township.code, self.policy.iot_window_h)
        first_seen: dict[str, datetime] = {}  # a case once, though its device may alarm again
        for seen_at, _, cid in recent:
            first_seen.setdefault(cid, seen_at)
        # Keys as the windows' (an alarm's case is in none of them): the evidence reads them as it reads a surge's.
        alarms = [self._ids.key(seen_at, cid) for cid, seen_at in first_seen.items()]
        crossing = _Crossing(cell, len(devices), 0.0, 0.0, recent[0][0], lambda: alarms, report.township, devices,
                             report.county.code if report.county else None)
        evidence = self._evidence(crossing, now) | {
            "category": self._category(report.category) if report.category else {"code": None, "path": []},
            "sensor_kind": report.sensor_kind, "devices": devices,
            "statistic": {"method": "distinct_devices", "devices": len(devices),
                          "threshold": self.policy.iot_devices}}
        return [self._episode(crossing, evidence, now)]

    def _decide(self, crossings: list[_Crossing], now: datetime) -> Decision:
        def specificity(c: _Crossing) -> tuple[int, int, float]:
            return (-len(c.cell.category), -AREA_LEVELS.index(c.cell.level), c.cell.window_h)

        ongoing = [c for c in crossings if (ep := self.episodes.get(c.cell)) is not None and ep.expires > now]
        chosen = min(ongoing or crossings, key=specificity)
        evidence = self._evidence(chosen, now) | {"category": self._category(chosen.cell.category),
                                                  "statistic": {"method": METHOD, "p_value": chosen.p_value,
                                                                "threshold": self.alpha}}
        return self._episode(chosen, evidence, now)

    def _episode(self, crossing: _Crossing, evidence: JsonDict, now: datetime) -> Decision:
        cell = crossing.cell
        expires = now + timedelta(hours=cell.window_h)
        episode = self.episodes.get(cell)
        if episode is not None and episode.expires > now:
            episode.expires = expires
            room = self.policy.max_case_ids - len(episode.case_ids)
            numbers = self._episode_numbers[cell]
            added = crossing.held(room, numbers) if room > 0 else []
            # a new list: an Update already emitted keeps its own
            episode.case_ids = episode.case_ids + [self._ids.case_id(key & ID_MASK) for key in added]
            numbers.update(key & ID_MASK for key in added)
            episode.observed = max(episode.observed, crossing.observed)
            self._explain(cell.key, added)
            return Update(episode.alert_id, evidence | {"case_ids": episode.case_ids})
        # The episode's id is fixed by its cell and its first report: the same evidence, evaluated again after a
        # restart, names the same alert (and the store's expected version refuses a second raise).
        alert_id = str(uuid.uuid5(ALERT_NAMESPACE, f"{cell.key}|{crossing.start.isoformat()}"))
        held = crossing.held(self.policy.max_case_ids)
        ids = [self._ids.case_id(key & ID_MASK) for key in held]
        self.episodes[cell] = Episode(alert_id, cell, expires, crossing.observed, ids)
        self._episode_numbers[cell] = {key & ID_MASK for key in held}
        self._explain(cell.key, held)
        return Raise(alert_id, evidence | {"case_ids": ids})

    def _explain(self, key: str, reports: Iterable[int]) -> None:
        for held in reports:
            self._explained.setdefault(held, key)

    def _evidence(self, c: _Crossing, now: datetime) -> JsonDict:
        return {
            "kind": c.cell.kind, "cell": c.cell.key,
            "area": {"level": c.place.level, "code": c.place.code, "name": c.place.name}, "county_code": c.county,
            "observed": c.observed, "expected": round(c.expected, 4),
            "window": {"hours": c.cell.window_h, "start": (now - timedelta(hours=c.cell.window_h)).isoformat(),
                       "end": now.isoformat(), "first_report_at": c.start.isoformat()},
            "at": now.isoformat(),
        }

    def _category(self, code: str) -> JsonDict:
        return {"code": code, "path": list(self._paths.get(code, ()))}


def _prune(keys: list[int], kept: int) -> None:
    """Drop the reports whose keys are below `kept` (`after` the moment the window starts)."""
    cut = bisect_left(keys, kept)
    if cut:
        del keys[:cut]


def _prune_alarms(recent: list[tuple[datetime, str, str]], before: datetime) -> None:
    cut = bisect_right(recent, (before, "\uffff"))
    if cut:
        del recent[:cut]


def category_paths(matrix: Matrix | None) -> dict[str, list[str]]:
    """Each category code of the tree → the names from the root (an alert's `category.path`)."""
    out: dict[str, list[str]] = {}
    for path in matrix.leaves() if matrix is not None else []:
        for depth in range(1, len(path) + 1):
            out.setdefault(path[depth - 1].code, [n.name for n in path[:depth]])
    return out


def cell_of(key: str) -> Cell:
    kind, category, level, area, window = key.split("|")
    return Cell(kind, category, level, area, float(window))


# The alert document: what the API, the projection and the consoles show, folded from the alert's events.
def new_alert(alert_id: str) -> JsonDict:
    return {"alert_id": alert_id, "kind": None, "category": None, "area": None, "county_code": None,
            "observed": 0, "expected": 0.0, "statistic": None, "window": None, "raised_at": None, "updated_at": None,
            "state": "open", "case_ids": [], "acknowledged_by": None, "acknowledged_at": None, "closed_by": None,
            "closed_at": None, "note": None, "version": 0}


_EVIDENCE_FIELDS: Final = ("kind", "category", "area", "county_code", "observed", "expected", "statistic", "window",
                           "case_ids", "devices", "sensor_kind", "cell")


def apply_alert(alert: JsonDict, event_type: str, data: JsonDict, version: int) -> JsonDict:
    """Fold one alert event into the alert document (a copy)."""
    doc = dict(alert)
    doc["version"] = version
    if event_type in ("alert.raised", "alert.updated"):
        for key in _EVIDENCE_FIELDS:
            if key in data:
                doc[key] = data[key]
        if event_type == "alert.raised":
            doc["raised_at"] = data["at"]
        doc["updated_at"] = data["at"]
    elif event_type == "alert.acknowledged":
        doc |= {"state": "acknowledged", "acknowledged_by": data["by"], "acknowledged_at": data["at"],
                "note": data.get("note"), "updated_at": data["at"]}
    elif event_type == "alert.closed":
        doc |= {"state": "closed", "closed_by": data["by"], "closed_at": data["at"],
                "note": data.get("note") or doc.get("note"), "updated_at": data["at"]}
    return doc


# Who may act on an alert they can see (PRODUCT.md: the command centre is told, the township concerned acts):
# acknowledging says "we are on it" — anyone who handles or dispatches cases there; closing ends the watch and is
# for those who dispatch (a township handler acknowledges and reports, the dispatcher closes). The auditor and
# grid workers only read.
ACKNOWLEDGE_ROLES: Final = frozenset({"admin", "city_operator", "county_dispatcher", "township_handler"})
CLOSE_ROLES: Final = frozenset({"admin", "city_operator", "county_dispatcher"})
ALERT_ACTIONS: Final = {"acknowledge": ("alert.acknowledged", ACKNOWLEDGE_ROLES, frozenset({"open"})),
                        "close": ("alert.closed", CLOSE_ROLES, frozenset({"open", "acknowledged"}))}


def area_scope(evidence: Mapping[str, Any]) -> list[str]:
    """The area codes an alert belongs to (its county and, for a township alert, the township): who sees it."""
    codes = [evidence["county_code"]] if evidence.get("county_code") else []
    code = evidence["area"]["code"]
    return codes + ([code] if code not in codes else [])


__all__ = ["Baseline", "Cell", "Detector", "Episode", "HistoryRow", "Place", "Raise", "Report", "Update",
           "WarningPolicy", "apply_alert", "area_scope", "category_paths", "cell_of", "new_alert", "poisson_sf",
           "tail_exceeds"]
