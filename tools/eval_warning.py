"""`cityloop eval-warning`: the early-warning detector measured on simulated traffic, through the hub's own code.

Background: Poisson reports at a city-wide rate (default 3 a day, as in the issue) with an hour-of-week profile
(busy daytime, quieter nights and weekends), spread over Nanning's townships and the policy's leaf categories with
skewed (Zipf) weights, deterministic from a seed. The baseline learns from `history_weeks` of it (the same
`dispatch.warning.Baseline` the hub builds from its grouped query); then `weeks` more are fed, one report at a
time in time order, through the same `Detector.observe` the leader runs → false alarms per simulated week, and
the detector's cost per report.

Surges: `trials` times per size, k reports of one leaf category in one township at uniform random moments within
an hour, on top of the background of the preceding day and of that hour → sensitivity (an alert naming the surge's
reports by the end of the hour), which report raised it, and the delay after the k-th report (0 when the alert
was raised at or before it: the detector decides on each report's arrival; the hub's own latency from the commit
to the alert is measured end to end in tests/e2e/test_early_warning.py).
"""

from __future__ import annotations

import math
import random
import statistics
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from dispatch.matrix import Matrix
from dispatch.policy import Policy
from dispatch.warning import Baseline, Detector, HistoryRow, Place, Raise, Report, WarningPolicy, category_paths
from geo.areas import read_townships
from hub.data import DEMO_POLICY_FILE

SIZES = (4, 6, 8, 12, 20)
START = datetime(2026, 1, 5, 0, 0, tzinfo=UTC) - timedelta(hours=8)  # a Monday, 00:00 Beijing time


def hour_weight(local_hour_of_week: int) -> float:
    """The shape of a city's hotline day: busy 8–22 h, a lunch dip, quiet nights, weekends at 70 %."""
    day, hour = divmod(local_hour_of_week, 24)
    base = 0.15 if hour < 7 else 0.6 if hour < 8 else 1.4 if hour < 12 else 1.0 if hour < 14 else 1.3 \
        if hour < 18 else 0.9 if hour < 22 else 0.35
    return base * (0.7 if day >= 5 else 1.0)


@dataclass(frozen=True, slots=True)
class World:
    townships: list[tuple[Place, Place]]  # (county, township)
    township_weights: list[float]
    categories: list[str]
    category_weights: list[float]
    paths: dict[str, list[str]]


def world(matrix: Matrix) -> World:
    counties = matrix.counties
    towns = [(Place("county", t.county_code, counties.get(t.county_code, t.county_code)),
              Place("township", t.code, t.name)) for t in read_townships() if t.county_code in counties]
    leaves = matrix.leaves()
    rng = random.Random(17)
    order = list(range(len(towns)))
    rng.shuffle(order)
    return World(towns, [1.0 / (1 + order[i]) ** 0.8 for i in range(len(towns))],
                 [p[-1].code for p in leaves], [1.0 / (1 + i) for i in range(len(leaves))], category_paths(matrix))


def background(w: World, per_day: float, start: datetime, hours: int, rng: random.Random,
               prefix: str = "bg") -> list[Report]:
    """Poisson reports hour by hour at `per_day` a day on average, shaped by `hour_weight`."""
    mean_weight = sum(hour_weight(h) for h in range(168)) / 168
    out: list[Report] = []
    for h in range(hours):
        at = start + timedelta(hours=h)
        local_how = int(((at + timedelta(hours=8)) - START - timedelta(hours=8)).total_seconds() // 3600) % 168
        lam = per_day / 24 * hour_weight(local_how) / mean_weight
        for _ in range(_poisson(rng, lam)):
            county, town = rng.choices(w.townships, w.township_weights)[0]
            category = rng.choices(w.categories, w.category_weights)[0]
            out.append(Report(f"{prefix}-{len(out)}", at + timedelta(seconds=rng.uniform(0, 3600)), category,
                              county, town, "hotline"))
    out.sort(key=lambda r: r.at)
    return out


def _poisson(rng: random.Random, lam: float) -> int:
    limit, k, p = math.exp(-lam), 0, rng.random()
    while p > limit:
        k += 1
        p *= rng.random()
    return k


def baseline_of(reports: Sequence[Report], hours: float, policy: WarningPolicy) -> Baseline:
    counts: dict[tuple[str | None, str | None, str | None, int], int] = {}
    offset = timedelta(minutes=policy.utc_offset_minutes)
    for r in reports:
        local = r.at + offset
        how = local.weekday() * 24 + local.hour
        key = (r.category, r.county.code if r.county else None, r.township.code if r.township else None, how)
        counts[key] = counts.get(key, 0) + 1
    return Baseline((HistoryRow(c, co, t, how, n) for (c, co, t, how), n in counts.items()), hours, policy)


@dataclass(frozen=True, slots=True)
class Figures:
    per_day: float
    weeks: int
    reports: int
    false_alarms: int
    us_per_report: float
    alpha: float
    surges: dict[int, tuple[float, float, float]]  # size → (sensitivity, median report that raised it, max delay s)


def evaluate(policy: Policy, per_day: float = 3.0, weeks: int = 52, history_weeks: int = 8, trials: int = 100,
             seed: int = 2026, sizes: Sequence[int] = SIZES) -> Figures:
    assert policy.matrix is not None
    wp = policy.warning
    w = world(policy.matrix)
    rng = random.Random(seed)
    history_hours = history_weeks * 168
    base = baseline_of(background(w, per_day, START, history_hours, rng, "h"), history_hours, wp)
    start = START + timedelta(hours=history_hours)
    live = background(w, per_day, start, weeks * 168, rng)
    detector = Detector(wp, base, w.paths)
    began = time.perf_counter()
    raised = sum(isinstance(d, Raise) for r in live for d in detector.observe(r, r.at))
    us = (time.perf_counter() - began) / max(len(live), 1) * 1e6
    surges = {k: _surges(w, wp, base, per_day, start, weeks, k, trials, rng) for k in sizes}
    return Figures(per_day, weeks, len(live), raised, us, detector.alpha, surges)


def _surges(w: World, wp: WarningPolicy, base: Baseline, per_day: float, start: datetime, weeks: int, k: int,
            trials: int, rng: random.Random) -> tuple[float, float, float]:
    found, which, delays = 0, [], []
    for trial in range(trials):
        onset = start + timedelta(hours=rng.randrange(24, weeks * 168 - 2), minutes=rng.uniform(0, 60))
        county, town = rng.choices(w.townships, w.township_weights)[0]
        category = rng.choices(w.categories, w.category_weights)[0]
        day_before = background(w, per_day, onset - timedelta(hours=24), 25, rng, f"b{trial}")
        surge = sorted((Report(f"s{trial}-{i}", onset + timedelta(seconds=rng.uniform(0, 3600)), category, county,
                               town, "hotline") for i in range(k)), key=lambda r: r.at)
        ids = {r.case_id for r in surge}
        detector = Detector(wp, base, w.paths)
        hit: int | None = None
        at_hit: datetime | None = None
        for r in sorted(day_before + surge, key=lambda r: r.at):
            for d in detector.observe(r, r.at):
                if hit is None and ids & set(d.evidence["case_ids"]):
                    hit = sum(1 for s in surge if s.at <= r.at)
                    at_hit = r.at
        if hit is not None and at_hit is not None:
            found += 1
            which.append(hit)
            delays.append(max(0.0, (at_hit - surge[-1].at).total_seconds()))
    return found / trials, statistics.median(which) if which else math.nan, max(delays) if delays else math.nan


def main(per_days: Sequence[float], weeks: int, trials: int, seed: int) -> int:
    policy = Policy.model_validate_json(DEMO_POLICY_FILE.read_bytes())
    wp = policy.warning
    print(f"method: Poisson upper tail vs seasonal baseline (Kulldorff 2001 recurrence interval); "
          f"false_alarms_per_day={wp.false_alarms_per_day} min_count={wp.min_count} windows_h={list(wp.windows_h)}")
    for per_day in per_days:
        f = evaluate(policy, per_day, weeks, trials=trials, seed=seed)
        print(f"\nbackground {per_day:g} reports/day, {f.weeks} simulated weeks ({f.reports} reports), "
              f"p threshold {f.alpha:.2e}")
        print(f"  false alarms: {f.false_alarms} = {f.false_alarms / f.weeks:.2f} per week; "
              f"detector cost {f.us_per_report:.1f} µs per report")
        for k, (sens, median_report, delay) in f.surges.items():
            print(f"  surge of {k:>2} in one township within 1 h: sensitivity {sens:.0%} ({trials} trials), "
                  f"alerted at report #{median_report:g} (median), delay after report #{k}: max {delay:.0f} s")
    return 0


if __name__ == "__main__":  # the same as `cityloop eval-warning` with its defaults
    sys.exit(main([3.0, 30.0, 300.0], 52, 100, 2026))
