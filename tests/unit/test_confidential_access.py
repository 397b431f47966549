"""The 保密 rule (issue 15, item 1): a confidential ticket hides the caller, not the problem. The units that must
solve it — its lead unit and its assisting (协办) units — read its content; other units, the grid, the auditor and
the machines do not; the caller's name and number stay with the roles that phone callers back."""

from __future__ import annotations

from typing import Any, cast

import pytest

from dispatch.case import Case
from hub.identity.access import (
    LIST_VIEW,
    Principal,
    list_view,
    listed_view,
    redact_case,
    redact_case_fields,
    redact_event_data,
    revealed,
    sees_confidential_content,
    view_of,
)

TOWNSHIP = "450103001"  # 青秀区 新竹街道
OTHER_TOWNSHIP = "450103002"
LEAD = f"{TOWNSHIP}-gov"
ASSIST = "450103-cgj"
CONTENT = "邻居深夜装修噪音扰民"


def case_doc(*, confidential: bool = True, county: str = "450103", township: str = TOWNSHIP) -> Case:
    return cast(Case, {
        "case_id": "c1", "version": 2, "state": "dispatched",
        "areas": {"city": {"code": "450100", "name": "南宁市"}, "county": {"code": county, "name": "青秀区"},
                  "township": {"code": township, "name": "新竹街道"}},
        "units": {"lead": {"code": LEAD, "name": "新竹街道办事处"},
                  "assist": [{"code": ASSIST, "name": "青秀区城市管理局"}]},
        "location": {"lng": 108.37, "lat": 22.82},
        "report": {"content": CONTENT, "title": "噪音", "address": "新竹路1号", "confidential": confidential,
                   "photos": ["p1"], "reporter": {"name": "李四", "phone": "13900001111"}},
    })


# Every role, as the people and machines that hold it: (principal, sees the content, sees the caller).
ROLES: dict[str, tuple[Principal, bool, bool]] = {
    "admin": (Principal("a", "admin", "450100"), True, True),
    "city_operator": (Principal("o", "city_operator", "450100"), True, True),
    "county_dispatcher": (Principal("d", "county_dispatcher", "450103"), True, False),
    "other county's dispatcher": (Principal("d2", "county_dispatcher", "450102"), False, False),
    "lead unit's handler": (Principal("h", "township_handler", TOWNSHIP, unit=LEAD), True, False),
    "assisting unit's staff": (Principal("b", "township_handler", "450103", unit=ASSIST), True, False),
    "another township's handler": (Principal("x", "township_handler", OTHER_TOWNSHIP,
                                             unit=f"{OTHER_TOWNSHIP}-gov"), False, False),
    "a handler of the township with no unit": (Principal("n", "township_handler", TOWNSHIP), False, False),
    "another unit's staff in the county": (Principal("z", "township_handler", "450103", unit="450103-zjj"),
                                           False, False),
    "grid_worker": (Principal("g", "grid_worker", f"{TOWNSHIP}001", unit=LEAD), False, False),
    "auditor": (Principal("u", "auditor", "450100"), False, False),
    "open311": (Principal("p", "open311", None), False, False),
    "hotline": (Principal("t", "hotline", None), False, False),
}


@pytest.mark.parametrize("who", list(ROLES))
def test_the_rule_for_every_role(who: str) -> None:
    principal, content, caller = ROLES[who]
    case = case_doc()
    assert sees_confidential_content(principal, case) is content
    shown = redact_case(case, view_of(principal, case))
    report: dict[str, Any] = shown["report"]
    assert (report["content"] == CONTENT) is content
    assert (CONTENT in str(shown) or "新竹路1号" in str(shown) or "p1" in str(report)) is content
    assert bool(report.get("content_hidden")) is not content, "a console is told the content was hidden"
    assert (shown["location"] is not None) is content
    assert (report["reporter"]["phone"] == "13900001111") is caller
    if not caller:
        assert "13900001111" not in str(shown) and "李四" not in str(shown)
    # The access audit records exactly what this view unmasks.
    expected = (["reporter"] if caller else []) + (["confidential_content"] if content else [])
    assert revealed(case, view_of(principal, case)) == expected


# Lists, queues and the live feed: the content of a confidential case only to the staff of its handling units.
IN_LISTS = {"lead unit's handler", "assisting unit's staff"}


@pytest.mark.parametrize("who", list(ROLES))
def test_lists_and_the_feed_show_a_confidential_case_only_to_its_units_staff_and_never_a_caller(who: str) -> None:
    principal, content, _caller = ROLES[who]
    case = case_doc()
    view = list_view(principal)
    shown = redact_case(case, listed_view(view, case))
    assert (CONTENT in str(shown)) is (who in IN_LISTS)
    assert who not in IN_LISTS or content, "lists never show more than a case read"
    assert "13900001111" not in str(shown) and "李四" not in str(shown)
    plain = case_doc(confidential=False)
    assert redact_case(plain, listed_view(view, plain)) == redact_case(plain, LIST_VIEW), "one shared view"


@pytest.mark.parametrize("who", list(ROLES))
def test_a_case_that_is_not_confidential_hides_only_the_caller(who: str) -> None:
    principal, _content, caller = ROLES[who]
    case = case_doc(confidential=False)
    shown = redact_case(case, view_of(principal, case))
    assert shown["report"]["content"] == CONTENT and "content_hidden" not in shown["report"]
    assert (shown["report"]["reporter"]["phone"] == "13900001111") is caller
    assert revealed(case, view_of(principal, case)) == (["reporter"] if caller else [])


def test_a_unit_that_no_longer_handles_the_case_no_longer_reads_it() -> None:
    """Re-dispatched (改派) to another unit: the units of the case as it is now decide."""
    handler = ROLES["lead unit's handler"][0]
    case = case_doc()
    case["units"] = {"lead": {"code": f"{OTHER_TOWNSHIP}-gov", "name": "另一街道"}, "assist": []}
    assert not sees_confidential_content(handler, case)
    assert redact_case(case, view_of(handler, case))["report"]["content"] == "【保密】"


def test_the_handling_view_is_the_same_for_a_whole_case_its_patches_and_its_received_event() -> None:
    case = case_doc()
    whole = redact_case(case, "content")
    patch = redact_case_fields({"report": case["report"], "location": case["location"]}, "content", confidential=True)
    assert patch == {"report": whole["report"], "location": whole["location"]}
    received = redact_event_data("case.received", {"report": case["report"], "location": case["location"]}, "content")
    assert received["report"] == whole["report"] and received["report"]["content"] == CONTENT
    assert received["report"]["reporter"] == {"name": "李*", "phone": "139****1111"}


def test_the_words_intake_recognised_a_confidential_case_by_are_hidden_where_its_content_is() -> None:
    """The understanding's evidence and danger words quote the content, as the triage suggestions do."""
    case: dict[str, Any] = {"case_id": "c", "report": {"confidential": True, "content": "燃气泄漏，有人受伤"},
            "understanding": {"code": "060301", "confidence": 0.97, "evidence": ["燃气泄漏"], "rule": "keywords",
                              "danger": ["有人受伤"], "urgency": "critical"},
            "suggestions": [{"code": "060301", "confidence": 0.9, "evidence": ["燃气泄漏"], "rule": "keywords"}]}
    masked = redact_case(case, "masked")  # type: ignore[arg-type]
    assert masked["understanding"] == {**case["understanding"], "evidence": [], "danger": []}
    assert masked["suggestions"][0]["evidence"] == []
    assert redact_case(case, "content")["understanding"] == case["understanding"]  # type: ignore[arg-type]
    plain: dict[str, Any] = {**case, "report": {"content": "燃气泄漏，有人受伤"}}
    assert redact_case(plain, "masked")["understanding"] == case["understanding"]  # type: ignore[arg-type]


def test_later_events_of_a_confidential_case_hide_the_words_they_quote_from_its_content() -> None:
    """The timeline and the live feed show a triage's suggestions and a dispatch's understanding; where the reader
    may not see a confidential case's content, their evidence words go too. Other cases' events are untouched."""
    triaged = {"reason": "unknown_category", "areas": {"county": {"code": "450103", "name": "青秀区"}},
               "suggestions": [{"code": "060301", "confidence": 0.6, "evidence": ["煤气味"], "rule": "keywords"}]}
    dispatched = {"understanding": {"code": "060301", "confidence": 0.95, "evidence": ["燃气泄漏"], "rule": "model",
                                    "danger": ["燃气泄漏"], "urgency": "critical"}}
    hidden = redact_event_data("case.triaged", triaged, "masked", confidential=True)
    assert hidden["suggestions"][0]["evidence"] == [] and hidden["areas"] == triaged["areas"]
    understood = redact_event_data("case.dispatched", dispatched, "masked", confidential=True)["understanding"]
    assert understood["evidence"] == [] and understood["danger"] == [] and understood["code"] == "060301"
    assert redact_event_data("case.triaged", triaged, "content", confidential=True) == triaged
    assert redact_event_data("case.triaged", triaged, "masked", confidential=False) == triaged
    assert redact_event_data("case.dispatched", dispatched, "full", confidential=True) == dispatched
