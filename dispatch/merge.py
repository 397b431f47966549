"""Duplicate detection (PRODUCT.md section 4.4): is a new case the same problem as an open one?

Same category, within `radius_m` and `window_hours` of an open case scores by closeness in space and time;
an IoT alarm from the same device as an open case is the same incident outright. Above `auto_threshold`
the hub merges automatically; above `suggest_threshold` the operator is offered the merge.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from datetime import datetime
from typing import Final, Literal, Self, TypedDict

from pydantic import BaseModel, ConfigDict, Field, model_validator

from dispatch.events import Case, JsonDict
from dispatch.matrix import category_key
from dispatch.states import UNRESOLVED_STATES

EARTH_RADIUS_M: Final = 6_371_008.8  # mean radius (IUGG); plenty for a 150 m test
MergeDecision = Literal["auto", "suggest", "none"]


class MergePolicy(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")

    radius_m: float = Field(default=150.0, gt=0)
    window_hours: float = Field(default=72.0, gt=0)
    auto_threshold: float = Field(default=0.85, gt=0, le=1)
    suggest_threshold: float = Field(default=0.5, gt=0, le=1)
    spatial_weight: float = Field(default=0.6, ge=0, le=1)  # the rest weighs closeness in time
    same_address_closeness: float = Field(default=0.8, ge=0, le=1)  # no coordinates: identical address text

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.suggest_threshold > self.auto_threshold:
            raise ValueError("suggest_threshold must not exceed auto_threshold")
        return self


class Candidate(TypedDict):
    """What duplicate scoring reads of an open case. A whole Case is one; intake builds slim ones from the
    projection's columns so that it never decodes case documents to look for duplicates."""

    case_id: str
    state: str
    created_at: str  # ISO 8601
    location: JsonDict | None
    report: JsonDict  # device_id, address
    category: JsonDict | None  # {"code"}: the leaf the matrix placed it in


def haversine_m(lng1: float, lat1: float, lng2: float, lat2: float) -> float:
    """Great-circle distance in metres between two WGS84 points."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lng2 - lng1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(h)))


def _closeness_in_space(new_case: Case, open_case: Candidate, policy: MergePolicy) -> float:
    a, b = new_case.get("location"), open_case.get("location")
    if a and b:
        distance = haversine_m(a["lng"], a["lat"], b["lng"], b["lat"])
        return max(0.0, 1.0 - distance / policy.radius_m) if distance <= policy.radius_m else 0.0
    addr_a = (new_case.get("report") or {}).get("address")
    addr_b = (open_case.get("report") or {}).get("address")
    return policy.same_address_closeness if addr_a and addr_a == addr_b else 0.0


def merge_score(new_case: Case, open_case: Candidate, now: datetime, policy: MergePolicy) -> float:
    """0 (unrelated) … 1 (certainly the same incident)."""
    if open_case.get("state") not in UNRESOLVED_STATES or open_case.get("case_id") == new_case.get("case_id"):
        return 0.0
    device = (new_case.get("report") or {}).get("device_id")
    if device is not None and device == (open_case.get("report") or {}).get("device_id"):
        return 1.0  # repeated alarms from one device attach to its open case
    if category_key(new_case) is None or category_key(new_case) != category_key(open_case):
        return 0.0
    age_h = max(0.0, (now - datetime.fromisoformat(open_case["created_at"])).total_seconds() / 3600)
    if age_h > policy.window_hours:
        return 0.0
    space = _closeness_in_space(new_case, open_case, policy)
    if space == 0.0:
        return 0.0
    time_closeness = 1.0 - age_h / policy.window_hours
    return round(policy.spatial_weight * space + (1 - policy.spatial_weight) * time_closeness, 4)


def merge_decision(score: float, policy: MergePolicy) -> MergeDecision:
    if score >= policy.auto_threshold:
        return "auto"
    return "suggest" if score >= policy.suggest_threshold else "none"


def best_match(new_case: Case, open_cases: Iterable[Candidate], now: datetime,
               policy: MergePolicy) -> tuple[str, float, MergeDecision] | None:
    """The open case the new one most likely duplicates, with its score and what to do; None if none."""
    scored = [(merge_score(new_case, c, now, policy), str(c["case_id"])) for c in open_cases]
    best = max(scored, default=None, key=lambda s: (s[0], s[1]))
    if best is None or merge_decision(best[0], policy) == "none":
        return None
    return best[1], best[0], merge_decision(best[0], policy)
