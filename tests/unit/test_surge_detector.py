"""The early-warning detector (dispatch.warning): Poisson tail, seasonal baseline, threshold, episodes, IoT."""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta

import pytest

from dispatch.warning import (
    Baseline,
    Detector,
    Episode,
    HistoryRow,
    Place,
    Raise,
    Report,
    Update,
    WarningPolicy,
    apply_alert,
    category_levels,
    cell_of,
    new_alert,
    poisson_sf,
    tail_exceeds,
)

COUNTY = Place("county", "450103", "青秀区")
TOWN_A = Place("township", "450103001", "新竹街道")
TOWN_B = Place("township", "450103002", "中山街道")
# Monday 2026-11-30 10:00 Beijing time
MONDAY_10 = datetime(2026, 11, 30, 2, 0, tzinfo=UTC)


def poisson_sf_reference(k: int, mu: float) -> float:
    return 1.0 - sum(math.exp(-mu) * mu**i / math.factorial(i) for i in range(k))


@pytest.mark.parametrize(("k", "mu"), [(1, 0.5), (3, 0.2), (5, 2.0), (12, 0.05), (10, 9.5), (2, 3.0)])
def test_poisson_tail_matches_the_textbook_sum(k: int, mu: float) -> None:
    assert poisson_sf(k, mu) == pytest.approx(poisson_sf_reference(k, mu), rel=1e-6, abs=1e-15)


def test_poisson_tail_edges() -> None:
    assert poisson_sf(0, 1.0) == 1.0
    assert poisson_sf(3, 0.0) == 0.0
    assert poisson_sf(12, 0.01) < 1e-30  # finite and tiny, not 0 by underflow of a subtraction
    assert poisson_sf(12, 0.01) > 0


@pytest.mark.parametrize("alpha", [1e-9, 1e-6, 1e-3, 0.05, 0.5, 0.99])
def test_the_tails_quick_answer_is_the_exact_tails(alpha: float) -> None:
    """`tail_exceeds` skips the incomplete gamma when the point mass alone exceeds alpha, or when the tail's
    geometric upper bound is below it: over counts and expectations from nothing to far past the threshold, it
    answers exactly as the exact tail compared."""
    for mu in (0.0, 1e-6, 1e-4, 0.01, 0.0213, 0.3, 1.0, 2.5, 7.0, 30.0, 150.0, 900.0, 999.5, 1500.0):
        for observed in [0, 1, 2, 3, 4, 5, 6, 8, 10, 13, 21, 40, 80, 160, 320, 1000, 2000]:
            assert tail_exceeds(observed, mu, alpha) == (poisson_sf(observed, mu) > alpha), (observed, mu, alpha)


@pytest.mark.parametrize("alpha", [1e-9, 1e-6, 1e-3, 0.05])
def test_the_tails_quick_answer_holds_right_at_the_threshold(alpha: float) -> None:
    """Where both bounds are closest to deciding wrongly: expectations that put the exact tail within a few parts
    in a million of alpha, either side (found by bisection on the exact tail, which grows with μ)."""
    for observed in (1, 2, 3, 5, 8, 20, 100, 1000):
        low, high = 0.0, observed + 50.0 * math.sqrt(observed) + 50.0
        for _ in range(200):
            mid = (low + high) / 2
            low, high = (mid, high) if poisson_sf(observed, mid) <= alpha else (low, mid)
        for mu in (low * (1 - 1e-6), low, high, high * (1 + 1e-6)):
            assert tail_exceeds(observed, mu, alpha) == (poisson_sf(observed, mu) > alpha), (observed, mu, alpha)


def test_a_new_baseline_is_used_for_reports_evaluated_at_the_same_instant() -> None:
    """The windows' profile masses are kept per evaluation instant: a new baseline must not reuse the old one's."""
    policy = WarningPolicy(windows_h=(1.0,), min_count=1, false_alarms_per_day=0.1)
    # The same reports a week, all on Monday 09:00–11:00 (local) in one, spread over the other hours in the other:
    # the window before Monday 10:00 expects hundreds in the first and a fraction of one in the second.
    busy_mornings = Baseline(history({9: 500, 10: 500}), 24 * 7 * 8, policy)
    other_hours = Baseline(history({h: 6 for h in range(168) if h not in (9, 10)}), 24 * 7 * 8, policy)
    detector = Detector(policy, busy_mornings)
    at = MONDAY_10
    assert detector.observe(Report("c1", at, "010101", COUNTY, TOWN_A, "hotline"), at) == []
    detector.with_baseline(other_hours)
    surged = [d for i in range(2, 12) for d in detector.observe(Report(f"c{i}", at, "010101", COUNTY, TOWN_A,
                                                                       "hotline"), at)]
    assert any(isinstance(d, Raise) for d in surged)


def test_category_levels_are_the_tree_prefixes() -> None:
    assert category_levels("010101") == ["01", "0101", "010101"]
    assert category_levels("03") == ["03"]


def history(per_hour: dict[int, int], weeks: int = 8, category: str = "010101",
            township: Place = TOWN_A) -> list[HistoryRow]:
    return [HistoryRow(category, COUNTY.code, township.code, how, n * weeks) for how, n in per_hour.items()]


def test_the_baseline_follows_the_hour_of_week_profile() -> None:
    # Reports only on weekday mornings (Mon–Fri 09–12 local): a quiet night expects far less than a morning.
    busy = {day * 24 + hour: 3 for day in range(5) for hour in (9, 10, 11)}
    base = Baseline(history(busy), 8 * 168, WarningPolicy())
    morning = base.expected("010101", "township", TOWN_A.code, MONDAY_10 + timedelta(hours=1), 1.0)
    night = base.expected("010101", "township", TOWN_A.code, MONDAY_10 + timedelta(hours=15), 1.0)
    sunday = base.expected("010101", "township", TOWN_A.code, MONDAY_10 - timedelta(hours=23), 1.0)
    assert morning > 20 * night
    assert morning > 20 * sunday
    # Over a whole week the expectation is the rate: 45 reports a week.
    week = base.expected("010101", "township", TOWN_A.code, MONDAY_10, 168.0)
    assert week == pytest.approx(45, rel=0.1)


def test_a_cell_without_history_borrows_from_its_parents() -> None:
    base = Baseline(history({10: 5}), 8 * 168, WarningPolicy())
    own = base.rate("010101", "township", TOWN_A.code)
    other_town = base.rate("010101", "township", TOWN_B.code)
    unknown_category = base.rate("040101", "township", TOWN_A.code)
    assert 0 < other_town < own
    assert 0 < unknown_category < own


def test_threshold_comes_from_false_alarms_per_day_over_tests_per_day() -> None:
    policy = WarningPolicy(false_alarms_per_day=0.1, windows_h=(1.0, 6.0, 24.0))
    base = Baseline(history({h: 1 for h in range(0, 168, 8)}, weeks=1), 168, policy)  # 3 reports a day
    detector = Detector(policy, base)
    # 3 reports a day × (3 category levels × 2 area levels × 3 windows) = 54 tests a day
    assert base.reports_per_day == pytest.approx(3.0)
    assert detector.alpha == pytest.approx(0.1 / 54)
    looser = Detector(policy.model_copy(update={"false_alarms_per_day": 1.0}), base)
    assert looser.alpha == pytest.approx(10 * detector.alpha)


def report(i: int, at: datetime, township: Place = TOWN_A, category: str = "030101", **kw: object) -> Report:
    return Report(f"case-{i}", at, category, COUNTY, township, str(kw.pop("source", "hotline")), **kw)  # type: ignore[arg-type]


def quiet_detector(**policy: object) -> Detector:
    p = WarningPolicy(**policy)  # type: ignore[arg-type]
    return Detector(p, Baseline(history({h: 1 for h in range(0, 168, 8)}), 8 * 168, p),
                    {"03": ["市容环境"], "0301": ["市容环境", "环卫"], "030101": ["市容环境", "环卫", "垃圾"]})


def test_a_surge_raises_one_alert_then_updates_it() -> None:
    detector = quiet_detector()
    decisions = []
    for i in range(12):
        decisions += detector.observe(report(i, MONDAY_10 + timedelta(minutes=3 * i)),
                                      MONDAY_10 + timedelta(minutes=3 * i))
    raised = [d for d in decisions if isinstance(d, Raise)]
    assert len(raised) == 1
    first = raised[0].evidence
    # the most specific cell: the leaf category in the township, the shortest window
    assert (first["category"]["code"], first["area"]["level"], first["window"]["hours"]) == ("030101", "township", 1.0)
    assert first["category"]["path"] == ["市容环境", "环卫", "垃圾"]
    assert first["observed"] == 3  # the minimum count
    assert first["statistic"]["p_value"] <= first["statistic"]["threshold"]
    assert first["county_code"] == "450103"
    updates = [d for d in decisions if isinstance(d, Update)]
    assert all(u.alert_id == raised[0].alert_id for u in updates)
    assert updates[-1].evidence["observed"] == 12
    assert len(updates[-1].evidence["case_ids"]) == 12


def test_an_alert_keeps_its_reports_in_order_up_to_the_cap_and_each_update_is_a_snapshot() -> None:
    detector = quiet_detector(max_case_ids=5)
    decisions = []
    for i in range(9):
        at = MONDAY_10 + timedelta(minutes=3 * i)
        decisions += detector.observe(report(i, at), at)
    lists = [d.evidence["case_ids"] for d in decisions]
    assert lists[0] == ["case-0", "case-1", "case-2"]  # raised by the third report
    # each decision's evidence is what was known then: later updates never change an earlier one's list
    assert [len(ids) for ids in lists] == [3, 4, 5, 5, 5, 5, 5]
    assert lists[-1] == [f"case-{i}" for i in range(5)]  # the first reports, in report order; the cap holds
    assert [d.evidence["observed"] for d in decisions][-1] == 9


def test_a_report_is_held_once_however_many_cells_count_it() -> None:
    """Memory: a window of a busy day holds every report of it in the city's list and in six cells (three category
    levels × county and township); they share one entry rather than holding seven copies."""
    detector = quiet_detector()
    detector.observe(report(1, MONDAY_10), MONDAY_10)
    held = [entry for entries in [detector._city, *detector._recent.values()] for entry in entries]
    assert len(held) == 7 and len({id(entry) for entry in held}) == 1


def test_a_report_held_costs_an_int_and_its_list_slots() -> None:
    """Memory: the bench's 200,000 tickets are all in the 24-hour window. As the hub reads them (a fresh case id
    string and datetime per row) a report held was ~250 bytes (a tuple, the datetime, the id string, seven list
    slots); its key is one 48-byte int (dispatch.window_keys), the id string and the datetime are let go."""
    import gc
    import tracemalloc
    import uuid

    rng = random.Random(3)
    towns = [Place("township", f"4501030{i:02d}", f"街道{i}") for i in range(1, 13)]
    detector = quiet_detector()
    n = 20_000
    gc.collect()
    tracemalloc.start()
    try:
        start = tracemalloc.get_traced_memory()[0]
        for _ in range(n):
            at = MONDAY_10 + timedelta(seconds=rng.randrange(180), microseconds=rng.randrange(1_000_000))
            detector.remember(Report(str(uuid.UUID(int=rng.getrandbits(128))), at, rng.choice(LEAVES), COUNTY,
                                     rng.choice(towns), "hotline"), MONDAY_10 + timedelta(minutes=5))
        held = tracemalloc.get_traced_memory()[0] - start
    finally:
        tracemalloc.stop()
    assert len(detector._city) == n
    assert held / n < 130, held / n


def test_reports_of_one_moment_are_evidence_in_the_order_of_their_case_ids() -> None:
    """Ties are broken by the case id (as a restart reads them back in any order): the same evidence whatever order
    the reports of one moment came in."""
    import uuid

    ids = sorted(str(uuid.UUID(int=random.Random(i).getrandbits(128))) for i in range(6))
    later = MONDAY_10 + timedelta(minutes=1)
    for order in (ids, ids[::-1], ids[3:] + ids[:3]):
        detector = quiet_detector()
        for cid in order:  # the windows' contents after a restart: nothing decided on them
            detector.remember(Report(cid, MONDAY_10, "030101", COUNTY, TOWN_A, "hotline"), MONDAY_10)
        raised = detector.observe(Report("0" * 36, later, "030101", COUNTY, TOWN_A, "hotline"), later)
        assert [d.evidence["case_ids"] for d in raised] == [[*ids, "0" * 36]]


def test_ids_other_than_uuids_are_forgotten_once_their_reports_leave_the_windows() -> None:
    detector = quiet_detector()
    for i in range(3_000):  # one report every 2 minutes: about 720 in the 24-hour window
        at = MONDAY_10 + timedelta(minutes=2 * i)
        detector.observe(report(i, at, TOWN_A if i % 2 else TOWN_B, "010101"), at)
    assert detector._ids.tabled <= 720 + 1000  # what the windows hold, and the reports since the last clean-up


def test_fewer_than_the_minimum_never_alert() -> None:
    detector = quiet_detector(min_count=5)
    out = [d for i in range(4) for d in detector.observe(report(i, MONDAY_10), MONDAY_10)]
    assert out == []


def test_background_at_its_own_rate_does_not_alert() -> None:
    detector = quiet_detector()
    out = []
    for day in range(7):  # 3 a day, spread in time and space as the history was
        for k in range(3):
            at = MONDAY_10 + timedelta(days=day, hours=8 * k)
            out += detector.observe(report(day * 3 + k, at, TOWN_A if k % 2 else TOWN_B, "010101"), at)
    assert out == []


def test_a_new_episode_after_a_quiet_window() -> None:
    detector = quiet_detector(windows_h=(1.0,))
    first = [d for i in range(4) for d in detector.observe(report(i, MONDAY_10), MONDAY_10)]
    later = MONDAY_10 + timedelta(hours=3)
    second = [d for i in range(4, 8) for d in detector.observe(report(i, later), later)]
    ids = {d.alert_id for d in first + second if isinstance(d, Raise)}
    assert len(ids) == 2


def test_the_same_evidence_names_the_same_alert_after_a_restart() -> None:
    one, two = quiet_detector(), quiet_detector()
    a = [d for i in range(3) for d in one.observe(report(i, MONDAY_10), MONDAY_10)]
    b = [d for i in range(3) for d in two.observe(report(i, MONDAY_10), MONDAY_10)]
    assert [d.alert_id for d in a] == [d.alert_id for d in b]
    # restored from the store, the episode is updated and not raised again
    restored = quiet_detector()
    raised = a[0]
    cell = cell_of(raised.evidence["cell"])
    restored.restore(Episode(raised.alert_id, cell, MONDAY_10 + timedelta(hours=1), 3, raised.evidence["case_ids"]))
    for i in range(3):
        restored.remember(report(i, MONDAY_10), MONDAY_10)
    again = restored.observe(report(3, MONDAY_10), MONDAY_10)
    assert len(again) == 1 and isinstance(again[0], Update) and again[0].alert_id == raised.alert_id


def test_a_county_wide_rise_spread_over_townships_alerts_at_county_level() -> None:
    detector = quiet_detector(min_count=3)
    towns = [Place("township", f"450103{n:03d}", f"街道{n}") for n in range(1, 13)]
    out = []
    for i, town in enumerate(towns):  # one report in each of 12 townships within the hour
        out += detector.observe(report(i, MONDAY_10, town), MONDAY_10)
    raised = [d for d in out if isinstance(d, Raise)]
    assert raised and raised[0].evidence["area"]["level"] == "county"
    assert len({d.alert_id for d in out}) == 1


def test_iot_devices_alarming_together_raise_an_area_alert() -> None:
    detector = quiet_detector(iot_devices=3, iot_window_h=1.0)
    out = []
    for i, device in enumerate(["wl-1", "wl-2", "wl-2", "wl-3"]):
        at = MONDAY_10 + timedelta(minutes=10 * i)
        out += detector.observe(report(i, at, category="010301", source="iot", device_id=device,
                                       sensor_kind="waterlogging"), at)
    assert len(out) == 1 and isinstance(out[0], Raise)
    evidence = out[0].evidence
    assert evidence["kind"] == "iot_cluster"
    assert evidence["devices"] == ["wl-1", "wl-2", "wl-3"]
    assert evidence["observed"] == 3 and evidence["area"]["code"] == TOWN_A.code
    assert evidence["case_ids"] == ["case-0", "case-1", "case-2", "case-3"]  # every alarm's case, in order
    # iot reports are not counted as citizens' reports: no surge alert from them
    assert all(d.evidence["kind"] == "iot_cluster" for d in out)


def test_devices_in_other_townships_do_not_cluster() -> None:
    detector = quiet_detector(iot_devices=3)
    out = []
    for i, town in enumerate([TOWN_A, TOWN_B, TOWN_A]):
        out += detector.observe(report(i, MONDAY_10, town, source="iot", device_id=f"d{i}",
                                       sensor_kind="waterlogging"), MONDAY_10)
    assert out == []


def test_the_alert_document_folds_its_events() -> None:
    detector = quiet_detector()
    decisions = [d for i in range(4) for d in detector.observe(report(i, MONDAY_10), MONDAY_10)]
    doc = new_alert(decisions[0].alert_id)
    doc = apply_alert(doc, "alert.raised", decisions[0].evidence, 1)
    doc = apply_alert(doc, "alert.updated", decisions[1].evidence, 2)
    assert (doc["state"], doc["observed"], len(doc["case_ids"])) == ("open", 4, 4)
    who = {"username": "h1", "role": "township_handler", "name": "李"}
    doc = apply_alert(doc, "alert.acknowledged", {"by": who, "at": "2026-11-30T10:05:00+08:00", "note": "去看"}, 3)
    assert (doc["state"], doc["acknowledged_by"], doc["note"]) == ("acknowledged", who, "去看")
    doc = apply_alert(doc, "alert.closed", {"by": who, "at": "2026-11-30T11:00:00+08:00", "note": None}, 4)
    assert (doc["state"], doc["closed_at"], doc["note"], doc["version"]) == ("closed", "2026-11-30T11:00:00+08:00",
                                                                             "去看", 4)


def test_the_issue_targets_hold_on_simulated_traffic() -> None:
    """`cityloop eval-warning` in small: background of 3 a day → at most 1 false alarm a week; a surge of 12 in
    one township within an hour is always alerted, by its 12th report."""
    from dispatch.policy import Policy
    from hub.data import DEMO_POLICY_FILE
    from tools.eval_warning import evaluate

    figures = evaluate(Policy.model_validate_json(DEMO_POLICY_FILE.read_bytes()), per_day=3.0, weeks=26,
                       trials=20, sizes=(12,))
    assert figures.false_alarms / figures.weeks <= 1.0
    sensitivity, median_report, delay = figures.surges[12]
    assert sensitivity == 1.0 and median_report <= 12 and delay == 0.0


TOWNS = [Place("township", f"4501030{i:02d}", f"街道{i}") for i in range(1, 5)]
LEAVES = ["010101", "020101", "030101", "040101"]


def test_a_whole_city_busier_than_its_history_is_not_a_surge_but_a_surge_on_top_is() -> None:
    """The demo's simulator (or a history imported from a smaller system) sends 20x what the history knows, in
    the same proportions: conditioning on the city's level (space-time permutation), nothing alerts; a surge of one
    category in one township on top of that busy city still does."""
    import random

    policy = WarningPolicy()
    # 8 weeks of history: 6 reports an hour over 4 townships x 4 leaves, evenly (3 per cell-hour in 8 weeks).
    rows = [HistoryRow(leaf, COUNTY.code, town.code, how, 3) for how in range(168) for leaf in LEAVES for town in TOWNS]
    base = Baseline(rows, 8 * 168, policy)
    assert base.reports_per_day == pytest.approx(144)
    detector = Detector(policy, base)
    rng = random.Random(17)
    at, out, n = MONDAY_10, [], 0
    for _ in range(3 * 120):  # three hours at 120 reports an hour (20x the history)
        at += timedelta(seconds=rng.expovariate(120 / 3600))
        n += 1
        out += detector.observe(Report(f"c{n}", at, rng.choice(LEAVES), COUNTY, rng.choice(TOWNS), "hotline"), at)
    assert out == [], [d.evidence["cell"] for d in out]
    surge = []
    for i in range(30):  # 30 more of one leaf in one township within the next half hour, the busy city going on
        at += timedelta(seconds=60)
        surge += detector.observe(Report(f"s{i}", at, "030101", COUNTY, TOWNS[0], "hotline"), at)
        for _ in range(2):
            n += 1
            surge += detector.observe(Report(f"c{n}", at, rng.choice(LEAVES), COUNTY, rng.choice(TOWNS), "hotline"),
                                      at)
    # One alert, for the township and leaf; the county's cell of that leaf crossing on a later background report
    # elsewhere in the county is the same evidence, not a second alert.
    assert [d.evidence["cell"] for d in surge if isinstance(d, Raise)] == ["surge|030101|township|450103001|1"]


def test_patrol_findings_and_machine_alarms_are_not_residents_reports() -> None:
    """A grid worker logging twelve findings on one street in an hour is a patrol, not a surge."""
    detector = quiet_detector()
    patrol = [d for i in range(12)
              for d in detector.observe(report(i, MONDAY_10 + timedelta(minutes=i), source="grid"),
                                        MONDAY_10 + timedelta(minutes=i))]
    assert patrol == []
    calls = [d for i in range(12, 24)
             for d in detector.observe(report(i, MONDAY_10 + timedelta(minutes=i)), MONDAY_10 + timedelta(minutes=i))]
    assert any(isinstance(d, Raise) for d in calls)


def test_a_baseline_from_sums_per_cell_and_per_hour_is_the_one_from_rows_per_cell_and_hour() -> None:
    """The hub reads the history as two sums (per cell, per hour of the week) rather than one row per cell and
    hour: the baseline must be the same, expectations and profile alike."""
    import random

    rng = random.Random(5)
    rows = [HistoryRow(leaf, COUNTY.code, town.code, how, rng.randrange(0, 4))
            for how in range(168) for leaf in LEAVES for town in TOWNS]
    cells: dict[tuple[str, str, str], int] = {}
    per_hour = [0] * 168
    for row in rows:
        key = (row.category or "", row.county or "", row.township or "")
        cells[key] = cells.get(key, 0) + row.count
        per_hour[row.hour_of_week] += row.count
    policy = WarningPolicy()
    by_hour = Baseline(rows, 8 * 168, policy)
    summed = Baseline([HistoryRow(c, co, t, 0, n) for (c, co, t), n in cells.items()], 8 * 168, policy, per_hour)
    assert summed.total == by_hour.total and summed.reports_per_day == by_hour.reports_per_day
    for leaf in LEAVES:
        for town in TOWNS:
            for window in (1.0, 6.0, 24.0):
                assert summed.expected(leaf, "township", town.code, MONDAY_10, window) == \
                    pytest.approx(by_hour.expected(leaf, "township", town.code, MONDAY_10, window), rel=1e-12)
    with pytest.raises(ValueError, match="per_hour: 24 hours"):
        Baseline([], 168, policy, [0] * 24)
