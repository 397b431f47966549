"""Duplicate detection: same category nearby and recently, or the same IoT device."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, cast

import pytest
from pydantic import ValidationError

from dispatch.case import Case
from dispatch.merge import MergePolicy, best_match, haversine_m, merge_decision, merge_score

CST = timezone(timedelta(hours=8))
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=CST)
POLICY = MergePolicy()
METRE_OF_LATITUDE = 1 / 111_195.08  # degrees per metre on the mean-radius sphere


def case(case_id: str, lat_offset_m: float = 0.0, age_h: float = 0.0, category: str = "exposed_rubbish",
         state: str = "dispatched", **report: Any) -> Case:
    # Only the keys the merge rules read.
    return cast(Case, {"case_id": case_id, "state": state, "created_at": (NOW - timedelta(hours=age_h)).isoformat(),
            "location": {"lng": 108.37, "lat": 22.82 + lat_offset_m * METRE_OF_LATITUDE},
            "report": {"category": category, **report}, "category": None})


def test_haversine_distances() -> None:
    assert haversine_m(108.0, 22.0, 108.0, 23.0) == pytest.approx(111_195, rel=1e-4)
    assert haversine_m(108.37, 22.82, 108.37, 22.82 + 100 * METRE_OF_LATITUDE) == pytest.approx(100, abs=0.01)
    assert haversine_m(1.0, 2.0, 1.0, 2.0) == 0.0


@pytest.mark.parametrize(("metres", "hours", "score", "decision"), [
    (0, 0, 1.0, "auto"),            # 0.6 × 1 + 0.4 × 1
    (15, 0, 0.94, "auto"),          # 0.6 × 0.9 + 0.4
    (0, 36, 0.8, "suggest"),        # 0.6 + 0.4 × 0.5
    (75, 0, 0.7, "suggest"),        # 0.6 × 0.5 + 0.4
    (120, 54, 0.22, "none"),        # 0.6 × 0.2 + 0.4 × 0.25
    (151, 0, 0.0, "none"),          # outside 150 m
    (0, 73, 0.0, "none"),           # older than 72 h
])
def test_closeness_in_space_and_time(metres: float, hours: float, score: float, decision: str) -> None:
    got = merge_score(case("new"), case("old", metres, hours), NOW, POLICY)
    assert got == pytest.approx(score, abs=1e-3) and merge_decision(got, POLICY) == decision


def test_other_categories_and_closed_or_merged_cases_never_match() -> None:
    assert merge_score(case("new"), case("old", category="noise"), NOW, POLICY) == 0.0
    for state in ("closed", "rejected", "merged", "resolved"):
        assert merge_score(case("new"), case("old", state=state), NOW, POLICY) == 0.0
    assert merge_score(case("same"), case("same"), NOW, POLICY) == 0.0


def test_repeated_alarms_from_one_device_are_the_same_incident() -> None:
    far_and_old = case("old", 5_000, 100, category="manhole_cover", device_id="MH-0001")
    assert merge_score(case("new", category="manhole_cover", device_id="MH-0001"), far_and_old, NOW, POLICY) == 1.0


def test_without_coordinates_an_identical_address_is_a_weaker_sign() -> None:
    a, b = case("new", address="青秀区民族大道100号"), case("old", address="青秀区民族大道100号")
    a["location"] = b["location"] = None
    assert merge_score(a, b, NOW, POLICY) == pytest.approx(0.6 * 0.8 + 0.4)
    b["report"]["address"] = "别处"
    assert merge_score(a, b, NOW, POLICY) == 0.0


def test_the_best_open_case_is_picked_with_what_to_do() -> None:
    new = case("new")
    assert best_match(new, [case("far", 140), case("near", 10), case("other", category="noise")], NOW, POLICY) == (
        "near", pytest.approx(0.96), "auto")  # type: ignore[comparison-overlap]  # approx is typed as no float
    assert best_match(new, [case("far", 140, 70)], NOW, POLICY) is None
    loose = MergePolicy(radius_m=300, auto_threshold=0.99, suggest_threshold=0.3)
    assert best_match(new, [case("mid", 140)], NOW, loose) == (  # type: ignore[comparison-overlap]  # as above
        "mid", pytest.approx(0.72), "suggest")


def test_thresholds_are_validated() -> None:
    with pytest.raises(ValidationError, match="suggest_threshold"):
        MergePolicy(auto_threshold=0.5, suggest_threshold=0.7)
