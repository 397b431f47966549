"""Pure rules: the intake decision, the case fold, jurisdiction clipping and privacy views."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import cast

import pytest
from hypothesis import given
from hypothesis import strategies as st

from connectors.hotline import HotlineTicket
from dispatch.case import Case, Intake, Routing, area_codes, fold, receive
from dispatch.events import DomainEvent
from dispatch.responsibility import responsible_unit
from hub.identity.access import (
    Principal,
    case_in_scopes,
    clip_scopes,
    mask_name,
    mask_phone,
    redact_case,
    redact_event_data,
)

NOW = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)
QINGXIU = {"city": {"code": "450100", "name": "南宁市"}, "county": {"code": "450103", "name": "青秀区"}}


def intake(location: dict[str, float] | None = None) -> Intake:
    return Intake("hotline", {"ticket_no": "T1", "category": "streetlight", "content": "路灯不亮"}, location)


def folded(events: list[DomainEvent]) -> Case:
    case = fold("c1", [(e.type, e.data, i + 1, NOW) for i, e in enumerate(events)])
    assert case is not None
    return case


def test_a_placed_case_is_dispatched_to_the_county_government_as_fallback() -> None:
    events = receive(intake({"lng": 108.49, "lat": 22.79}), Routing(inside=True, areas=QINGXIU))
    assert [e.type for e in events] == ["case.received", "case.dispatched"]
    case = folded(events)
    assert case["state"] == "dispatched" and case["version"] == 2
    assert case["units"]["lead"] == {"code": "450103-gov", "name": "青秀区人民政府"}
    assert case["rule"] == "fallback:county_government"
    assert area_codes(case) == ["450100", "450103"]


def test_the_township_government_is_preferred_over_the_county() -> None:
    areas = {**QINGXIU, "township": {"code": "450103001", "name": "新竹街道"}}
    unit, rule = responsible_unit(areas)
    assert unit.name == "新竹街道人民政府" and rule == "fallback:township_government"


def test_near_boundary_is_flagged_on_the_case() -> None:
    case = folded(receive(intake({"lng": 1, "lat": 1}), Routing(inside=True, near_boundary=True, areas=QINGXIU)))
    assert case["flags"] == ["near_boundary"]


@pytest.mark.parametrize(("location", "routing", "reason"), [
    (None, Routing(inside=False, reason="no_location"), "no_location"),
    ({"lng": 100.0, "lat": 30.0}, Routing(inside=False), "outside_city"),
])
def test_unplaceable_cases_go_to_triage_with_a_reason(location: dict[str, float] | None, routing: Routing,
                                                      reason: str) -> None:
    case = folded(receive(intake(location), routing))
    assert (case["state"], case["triage_reason"], case["units"]["lead"]) == ("triage", reason, None)


def test_ticket_needs_a_place_or_a_content_to_read_one_from() -> None:
    base = {"ticket_no": "T1", "type": "help", "category": "c", "content": "x", "reported_at": NOW.isoformat()}
    assert HotlineTicket.model_validate(base).submission().content == "x"  # placed from its content, or triage
    with pytest.raises(ValueError, match="content"):
        HotlineTicket.model_validate({k: v for k, v in base.items() if k != "content"})
    assert HotlineTicket.model_validate({**base, "address": "青秀区"}).location is None
    with pytest.raises(ValueError, match="timezone"):
        HotlineTicket.model_validate({**base, "address": "x", "reported_at": "2026-11-22T09:00:00"})


@pytest.mark.parametrize(("home", "requested", "expected"), [
    ("450100", [], {"450100"}),
    ("450100", ["450103"], {"450103"}),
    ("450102", ["450103"], set()),
    ("450102", ["450100"], {"450102"}),  # asked for the city: gets its own county
    ("450103", ["450103001", "450102001"], {"450103001"}),
])
def test_subscriptions_are_clipped_to_the_callers_jurisdiction(home: str, requested: list[str],
                                                               expected: set[str]) -> None:
    assert clip_scopes(Principal("u", "county_dispatcher", home), requested) == expected


def test_machines_have_no_jurisdiction() -> None:
    assert clip_scopes(Principal("k", "hotline", None), ["450100"]) == frozenset()


def test_case_visibility_follows_the_deepest_area() -> None:
    assert case_in_scopes(["450100", "450103"], frozenset({"450100"}))
    assert case_in_scopes(["450100", "450103"], frozenset({"450103"}))
    assert not case_in_scopes(["450100", "450103"], frozenset({"450102"}))
    assert not case_in_scopes(["450100", "450103"], frozenset({"450103001"})), "a township sees only its own"
    assert case_in_scopes([], frozenset({"450100"})) and not case_in_scopes([], frozenset({"450103"}))


@given(st.from_regex(r"1[3-9][0-9]{9}", fullmatch=True))
def test_mobile_numbers_keep_only_the_first_three_and_last_four_digits(phone: str) -> None:
    masked = mask_phone(phone)
    assert masked == phone[:3] + "****" + phone[-4:]


def test_names_keep_only_the_family_name() -> None:
    assert (mask_name("张三"), mask_name("欧阳娜娜")) == ("张*", "欧***")


def test_confidential_reports_hide_content_and_place_from_masked_views() -> None:
    report = {"content": "举报内容", "confidential": True, "address": "某路1号",
              "reporter": {"name": "李四", "phone": "13900001111"}}
    case = cast(Case, {"report": report, "location": {"lng": 1.0, "lat": 2.0}})  # what redaction reads
    masked = redact_case(case, "masked")
    assert masked["report"]["content"] == "【保密】" and "address" not in masked["report"]
    assert masked["location"] is None and masked["report"]["reporter"]["phone"] == "139****1111"
    assert redact_case(case, "full") is case
    data = redact_event_data("case.received", {"report": report, "location": case["location"]}, "masked")
    assert data["report"]["reporter"]["name"] == "李*" and data["location"] is None
