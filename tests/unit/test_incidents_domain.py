"""Emergency incidents in the pure domain: which new case links to which incident, the emergency limits per
level, the steps a level skips, and the incident's fold."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, cast

import pytest

from dispatch import commands as c
from dispatch.case import Case, Intake, Routing, fold, receive
from dispatch.events import DomainEvent
from dispatch.incidents import Incident, apply_incident, change_level, close, declared, incident_for, linkable, linked
from dispatch.lifecycle import decide
from dispatch.permissions import Actor, Refusal
from dispatch.sla_policy import EmergencyLimits, SlaPolicy
from tests.unit.test_dispatch_matrix import HENGZHOU, NOW
from tests.unit.test_dispatch_matrix import QINGXIU as XINZHU
from tools.demo_matrix import demo_policy

# NOW: a Monday in working hours; XINZHU: 新竹街道 of 青秀区; HENGZHOU: 横州镇 of 横州市.
POLICY = demo_policy()
# Drainage (0103: blocked sewer 010301, storm-drain grate 010302) in 青秀区.
FLOOD = Incident("inc-1", "II", ("450103",), ("0103",), "flood", "内涝", "2026-11-23T00:00:00+00:00")


def _receive(category: str, areas: dict[str, dict[str, str]], incidents: tuple[Incident, ...] = (FLOOD,),
             urgency: str | None = None) -> list[DomainEvent]:
    report = {"category": category, "content": "x", **({"urgency": urgency} if urgency else {})}
    return receive(Intake("hotline", report, {"lng": 108.3, "lat": 22.8}), Routing(inside=True, areas=areas),
                   now=NOW, policy=POLICY, incidents=incidents)


def _case(events: list[DomainEvent]) -> Case:
    case = fold("c1", [(e.type, e.data, i + 1, NOW) for i, e in enumerate(events)])
    assert case is not None
    return case


def test_a_case_in_the_area_and_a_category_under_the_incidents_links_to_it() -> None:
    case = _case(_receive("drain_blocked", XINZHU))
    assert case["incident"] == {"incident_id": "inc-1", "level": "II", "kind": "flood", "title": "内涝"}
    assert "emergency" in case["flags"]


@pytest.mark.parametrize(("category", "areas"), [
    ("drain_blocked", HENGZHOU),  # the category, another county
    ("streetlight", XINZHU),  # the area, another category
])
def test_a_case_outside_the_area_or_the_categories_does_not_link(category: str, areas: dict[str, Any]) -> None:
    case = _case(_receive(category, areas))
    assert case["incident"] is None and "emergency" not in case["flags"]
    assert case["sla"] is not None and case["sla"]["clock"] == "working" and "emergency" not in case["sla"]


def test_an_incident_without_categories_takes_every_category_and_the_city_covers_every_county() -> None:
    city_wide = Incident("inc-2", "IV", ("450100",), ())
    assert city_wide.covers(["450100", "450181", "450181100"], "010101")
    assert city_wide.covers(["450100", "450103"], None)
    assert not Incident("inc-3", "IV", ("450103001",), ()).covers(["450100", "450103", "450103002"], "010101")


def test_the_most_severe_incident_wins_then_the_earliest() -> None:
    level_iv = Incident("a", "IV", ("450103",), (), declared_at="2026-11-23T00:00:00")
    level_i = Incident("b", "I", ("450103001",), ("01",), declared_at="2026-11-23T01:00:00")
    later_i = Incident("c", "I", ("450103",), (), declared_at="2026-11-23T02:00:00")
    found = incident_for(["450100", "450103", "450103001"], "010301", [level_iv, later_i, level_i])
    assert found is not None and found.incident_id == "b"
    assert incident_for(["450181"], "010301", [level_i]) is None


@pytest.mark.parametrize(("level", "sign_s", "resolve_s", "skipped"), [
    ("I", 300, 3600, True), ("II", 600, 7200, True), ("III", 900, 14400, False), ("IV", 1800, 28800, False),
])
def test_each_level_sets_shorter_calendar_limits_and_skips_what_the_policy_names(
        level: str, sign_s: int, resolve_s: int, skipped: bool) -> None:
    incident = Incident("inc", level, ("450103",), ("0103",))
    events = _receive("drain_blocked", XINZHU, (incident,))
    case = _case(events)
    sla = case["sla"]
    assert sla is not None
    assert (sla["clock"], sla["sign"]["limit_s"], sla["resolve"]["limit_s"], sla["emergency"]) == (
        "calendar", sign_s, resolve_s, level)
    resolve_by = datetime.fromisoformat(case["deadlines"]["resolve_by"])
    assert resolve_by == NOW + timedelta(seconds=resolve_s)
    ordinary = _case(_receive("drain_blocked", XINZHU, ()))
    assert ordinary["sla"] is not None and ordinary["sla"]["clock"] == "working"
    assert datetime.fromisoformat(ordinary["deadlines"]["resolve_by"]) > resolve_by + timedelta(hours=8)
    if skipped:  # 签收 counts as done at dispatch: the case is being handled at once
        assert [e.type for e in events] == ["case.received", "case.dispatched", "case.accepted"]
        assert events[-1].data["skipped"] == "sign"
        assert (case["state"], case["accepted_at"]) == ("accepted", NOW.isoformat())
    else:
        assert [e.type for e in events] == ["case.received", "case.dispatched"]
        assert case["state"] == "dispatched"


def test_a_shorter_own_limit_stays_under_emergency() -> None:
    policy = SlaPolicy(emergency={"IV": EmergencyLimits(sign="1h", resolve="8h")})
    assert policy.limits_for("critical", None, "IV") == ("calendar", 1800, 7200)  # 30 min / 2 h stay
    assert policy.limits_for("normal", None, "IV") == ("calendar", 3600, 28800)
    assert policy.limits_for("normal", None, "I") == policy.limits_for("normal", None)  # no level I configured
    assert policy.skipped_steps("IV") == ()


def test_a_redispatch_keeps_the_emergency_limits() -> None:
    incident = Incident("inc", "III", ("450103",), ("0103",))
    case = _case(_receive("drain_blocked", XINZHU, (incident,)))
    actor = Actor("op", "city_operator", "450100")
    events = decide(case, c.Dispatch(unit="450103-cgj", area="450103"), actor, NOW + timedelta(minutes=5), POLICY)
    assert not isinstance(events, Refusal)
    assert events[0].data["sla"]["emergency"] == "III" and events[0].data["sla"]["sign"]["limit_s"] == 900


def test_linkable_takes_open_unlinked_cases_in_the_area_and_categories() -> None:
    open_case = _case(_receive("drain_blocked", XINZHU, ()))
    assert linkable(open_case, FLOOD, {"dispatched", "accepted"})
    assert not linkable(cast(Case, {**open_case, "state": "closed"}), FLOOD, {"dispatched", "accepted"})
    assert not linkable(cast(Case, {**open_case, "incident": FLOOD.ref()}), FLOOD, {"dispatched"})
    assert not linkable(_case(_receive("streetlight", XINZHU, ())), FLOOD, {"dispatched"})


def test_the_incident_folds_its_declaration_level_changes_links_and_close() -> None:
    by = {"username": "op", "role": "city_operator", "name": "值班员"}
    fields = {"kind": "flood", "level": "III", "title": "内涝", "areas": [{"code": "450103"}],
              "categories": [{"code": "0103"}]}
    event, doc = declared("inc-9", fields, by, NOW)
    assert (doc["state"], doc["level"], doc["version"], doc["declared_by"]) == ("active", "III", 1, by)
    assert change_level(doc, "III", by, NOW) == "the incident is already level III"
    up = change_level(doc, "I", by, NOW)
    assert not isinstance(up, str)
    doc = apply_incident(doc, up.type, up.data, 2)
    assert doc["level"] == "I" and [lv["level"] for lv in doc["levels"]] == ["III", "I"]
    link = linked(["c1", "c2"], "by_hand", NOW, by)
    doc = apply_incident(doc, link.type, link.data, 3)
    done = close(doc, by, "雨停水退", NOW)
    assert not isinstance(done, str)
    doc = apply_incident(doc, done.type, done.data, 4)
    assert (doc["state"], doc["summary"], doc["version"]) == ("closed", "雨停水退", 4)
    assert close(doc, by, "again", NOW) == "the incident is already closed"
    assert change_level(doc, "II", by, NOW) == "the incident is closed"
