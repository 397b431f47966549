"""The responsibility matrix: who leads, who assists, and why."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, cast

import pytest
from pydantic import ValidationError

from dispatch import commands as c
from dispatch.case import AREA_LEVELS, Case, Intake, Routing, area_codes, fold, receive
from dispatch.directives import DirectivePolicy
from dispatch.lifecycle import decide
from dispatch.matrix import Matrix, hints_of
from dispatch.permissions import Actor, Refusal
from dispatch.policy import Policy
from dispatch.sla_policy import SlaPolicy
from dispatch.understanding import IntakePolicy
from tools.demo_matrix import demo_matrix, demo_policy, nanning_matrix

CST = timezone(timedelta(hours=8))
NOW = datetime(2026, 11, 23, 9, 0, tzinfo=CST)
CITY_AREA = {"code": "450100", "name": "南宁市"}
QINGXIU = {"city": CITY_AREA, "county": {"code": "450103", "name": "青秀区"},
           "township": {"code": "450103001", "name": "新竹街道"}}
HENGZHOU = {"city": CITY_AREA, "county": {"code": "450181", "name": "横州市"},
            "township": {"code": "450181100", "name": "横州镇"}}
MATRIX = demo_matrix()


@pytest.mark.parametrize(("category", "lead", "assist"), [
    ("streetlight", "450103-cgj", []),
    ("exposed_rubbish", "450103001-gov", ["450103-cgj"]),
    ("road_damage", "450103-zjj", ["450103-jtj"]),
    ("illegal_parking", "450103-cgj", []),
    ("noise", "450103-sthjj", ["450103-cgj"]),
    ("water_outage", "450100-water", ["450103-zjj"]),
    ("manhole_cover", "450103-zjj", ["450103-cgj"]),
    ("drain_blocked", "450103-zjj", ["450103-slj"]),
    ("consult", "450103001-gov", []),  # no rule: 属地兜底
])
def test_every_simulator_category_has_a_lead_unit(category: str, lead: str, assist: list[str]) -> None:
    assignment = MATRIX.assign(category, QINGXIU)
    assert assignment.lead.code == lead
    assert [u.code for u in assignment.assist] == assist
    assert assignment.rule_id in assignment.explanation and "新竹街道" in assignment.explanation


def test_category_paths_follow_the_three_level_tree() -> None:
    assert [n.name for n in MATRIX.path("exposed_rubbish")] == ["市容环境", "环卫设施", "暴露垃圾"]
    assert MATRIX.path("030101") == MATRIX.path("exposed_rubbish")


def test_a_special_owner_overrides_the_area_rule() -> None:
    by_hint = MATRIX.assign("road_damage", QINGXIU, {"road": "national_highway"})
    assert (by_hint.lead.name, by_hint.rule_id) == ("青秀区交通运输局", "S-national-highway")
    assert hints_of({"content": "G322 国道边路面塌陷"}) == {"road": "national_highway"}
    assert MATRIX.assign("noise", QINGXIU, {"road": "national_highway"}).rule_id == "R-noise", "only its categories"


def test_an_area_rule_beats_the_level_rule_and_a_deeper_category_a_broader_one() -> None:
    hengzhou = MATRIX.assign("exposed_rubbish", HENGZHOU)
    assert (hengzhou.lead.code, [u.code for u in hengzhou.assist]) == ("450181-cgj", ["450181100-gov"])
    assert MATRIX.assign("road_collapse", QINGXIU).rule_id == "R-road-collapse"


def test_without_a_township_the_county_level_rule_or_county_government_decides() -> None:
    county_only = {k: QINGXIU[k] for k in ("city", "county")}
    assert MATRIX.assign("exposed_rubbish", county_only).rule_id == "R-sanitation-county"
    fallback = MATRIX.assign("consult", county_only)
    assert (fallback.lead.name, fallback.rule_id) == ("青秀区人民政府", "fallback:county_government")
    with pytest.raises(KeyError):
        MATRIX.assign("teleportation", QINGXIU)


def test_re_dispatch_proposes_the_next_best_unit_never_an_excluded_one() -> None:
    case = cast(Case, {"category": {"code": "030101"}, "report": {}, "areas": QINGXIU})  # what the matrix reads
    second = MATRIX.propose_alternative(case, {"450103001-gov"})
    assert second is not None and second.lead.code == "450103-cgj"
    third = MATRIX.propose_alternative(case, {"450103001-gov", "450103-cgj"})
    assert third is not None and third.lead.code == "450103-gov"
    assert MATRIX.propose_alternative(case, {"450103001-gov", "450103-cgj", "450103-gov"}) is None


def test_receive_with_the_matrix_records_units_explanation_and_deadlines() -> None:
    intake = Intake("hotline", {"ticket_no": "T9", "category": "exposed_rubbish", "content": "垃圾"}, None)
    events = receive(intake, Routing(inside=True, areas=QINGXIU), MATRIX, NOW, Policy())
    case = fold("k", [(e.type, e.data, i + 1, NOW) for i, e in enumerate(events)])
    assert case is not None and case["state"] == "dispatched"
    assert case["units"]["lead"] == {"code": "450103001-gov", "name": "新竹街道人民政府", "level": "township"}
    assert case["units"]["assist"][0]["name"] == "青秀区城市管理局"
    assert case["category"] == {"code": "030101", "path": ["市容环境", "环卫设施", "暴露垃圾"],
                                "path_en": ["City appearance", "Sanitation facilities", "Exposed rubbish"]}
    assert case["explanation_facts"] == MATRIX.assign("exposed_rubbish", QINGXIU).facts
    assert case["explanation"] is not None and "R-sanitation-township" in case["explanation"]
    assert case["deadlines"]["resolve_by"]
    unknown = receive(Intake("hotline", {"category": "ufo"}, None), Routing(inside=True, areas=QINGXIU), MATRIX)
    assert unknown[-1].type == "case.triaged" and unknown[-1].data["reason"] == "unknown_category"


def test_a_case_triaged_for_its_category_keeps_the_areas_its_point_routed_to() -> None:
    routing = Routing(inside=True, near_boundary=True, areas=QINGXIU, details={"method": "point"})
    events = receive(Intake("hotline", {"category": "ufo"}, {"lng": 108.49, "lat": 22.79}), routing, MATRIX)
    case = fold("k", [(e.type, e.data, i + 1, NOW) for i, e in enumerate(events)])
    assert case is not None and (case["state"], case["triage_reason"]) == ("triage", "unknown_category")
    assert case["areas"] == QINGXIU, "its county and township see it as 待研判"
    assert area_codes(case) == [QINGXIU[lv]["code"] for lv in AREA_LEVELS if lv in QINGXIU]
    assert (case["flags"], case["routing"]) == (["near_boundary"], {"method": "point"})


def test_an_approved_return_goes_to_the_unit_the_matrix_proposes() -> None:
    policy = Policy(matrix=MATRIX)
    intake = Intake("hotline", {"category": "exposed_rubbish"}, None)
    events = receive(intake, Routing(inside=True, areas=QINGXIU), now=NOW, policy=policy)
    rows = [(e.type, e.data, i + 1, NOW) for i, e in enumerate(events)]
    returned = decide(fold("k", rows) or cast(Case, {}), c.Return(reason="not_our_remit", note="应城管"),
                      Actor("w", "township_handler"), NOW, policy)
    assert not isinstance(returned, Refusal)
    rows += [(e.type, e.data, len(rows) + i + 1, NOW) for i, e in enumerate(returned)]
    reviewed = decide(fold("k", rows) or cast(Case, {}), c.ReviewReturn(approve=True), Actor("l", "county_dispatcher"),
                      NOW, policy)
    assert not isinstance(reviewed, Refusal)
    assert reviewed[-1].data["lead"]["code"] == "450103-cgj" and "alternative lead" in reviewed[-1].data["explanation"]


PLACE = [{"level": "county", "code": "450103", "name": "青秀区"},
         {"level": "township", "code": "450103001", "name": "新竹街道"}]


def test_a_rule_explains_itself_as_facts_the_consoles_put_into_words() -> None:
    facts = MATRIX.assign("streetlight", QINGXIU).facts
    assert facts == {
        "kind": "rule", "rule": "R-lighting", "alternative": False,
        "category": {"code": "010101", "name": "路灯", "name_en": "Streetlight"}, "place": PLACE,
        "rule_category": {"code": "0101", "name": "照明设施", "name_en": "Lighting"},
        "scope": {"level": "county", "area": None},
        "lead": {"code": "450103-cgj", "name": "青秀区城市管理局"}, "assist": []}


def test_an_area_rule_names_its_area_and_an_alternative_lead_says_so() -> None:
    facts = MATRIX.assign("exposed_rubbish", HENGZHOU).facts
    assert (facts["rule"], facts["scope"]) == ("R-sanitation-hengzhou",
                                               {"level": "county", "area": {"code": "450181", "name": "横州市"}})
    assert facts["assist"] == [{"code": "450181100-gov", "name": "横州镇人民政府"}]
    case = cast(Case, {"category": {"code": "030101"}, "report": {}, "areas": QINGXIU})
    second = MATRIX.propose_alternative(case, {"450103001-gov"})
    assert second is not None and second.facts["alternative"] is True
    assert second.facts["lead"] == {"code": "450103-cgj", "name": "青秀区城市管理局"}


def test_a_special_owner_and_the_fallback_explain_themselves_as_facts() -> None:
    owner = MATRIX.assign("road_damage", QINGXIU, {"road": "national_highway"}).facts
    assert (owner["kind"], owner["rule"], owner["hints"]) == ("special_owner", "S-national-highway",
                                                              {"road": "national_highway"})
    fallback = MATRIX.assign("consult", QINGXIU).facts
    assert {k: fallback[k] for k in ("kind", "rule", "level", "why", "lead")} == {
        "kind": "fallback", "rule": "fallback:township_government", "level": "township", "why": "no_rule",
        "lead": {"code": "450103001-gov", "name": "新竹街道人民政府"}}
    assert fallback["category"]["name_en"] == "Enquiry" and fallback["place"] == PLACE


def test_without_a_matrix_the_fallback_and_a_manual_dispatch_still_explain_themselves() -> None:
    events = receive(Intake("hotline", {"category": "x"}, None), Routing(inside=True, areas=QINGXIU))
    assert events[-1].data["explanation_facts"] == {
        "kind": "fallback", "rule": "fallback:township_government", "level": "township", "why": "no_matrix",
        "place": PLACE, "lead": {"code": "450103001-gov", "name": "新竹街道人民政府"}, "assist": []}
    case = fold("k", [(e.type, e.data, i + 1, NOW) for i, e in enumerate(events)]) or cast(Case, {})
    manual = decide(case, c.Dispatch(area="450103", unit="450103-cgj"), Actor("l", "county_dispatcher"), NOW,
                    Policy(matrix=MATRIX))
    assert not isinstance(manual, Refusal)
    assert {k: manual[0].data["explanation_facts"][k] for k in ("kind", "role", "lead")} == {
        "kind": "manual", "role": "county_dispatcher", "lead": {"code": "450103-cgj", "name": "青秀区城市管理局"}}


def test_every_category_of_the_demo_tree_has_an_english_name() -> None:
    missing = [key for key in MATRIX.category_keys() if not MATRIX.path(key)[-1].name_en]
    assert missing == []


def test_dispatching_to_a_unit_outside_the_matrix_needs_its_name() -> None:
    policy = Policy(matrix=MATRIX)
    triaged = receive(Intake("hotline", {"category": "consult"}, None), Routing(inside=False), policy=policy)
    case = fold("k", [(e.type, e.data, i + 1, NOW) for i, e in enumerate(triaged)]) or cast(Case, {})
    county = Actor("l", "county_dispatcher")
    refusal = decide(case, c.Dispatch(area="450103", unit="450103-xyz"), county, NOW, policy)
    assert isinstance(refusal, Refusal) and "unit_name" in refusal.reason
    named = decide(case, c.Dispatch(area="450103", unit="450103-xyz", unit_name="青秀区某办"), county, NOW, policy)
    assert not isinstance(named, Refusal) and named[0].data["lead"]["name"] == "青秀区某办"


def broken(change: Any) -> dict[str, Any]:
    config = nanning_matrix()
    change(config)
    return config


@pytest.mark.parametrize(("change", "message"), [
    (lambda m: m["rules"].append({"id": "X", "category": "99", "level": "county", "lead": "{county}-cgj"}),
     "X: unknown category '99'"),
    (lambda m: m["rules"].append({"id": "Y", "category": "01", "level": "county", "lead": "450999-abc"}),
     "Y: unknown unit"),
    (lambda m: m["rules"].append({"id": "Z", "category": "01", "level": "county", "lead": "{galaxy}-cgj"}),
     "Z: '{galaxy}-cgj' is neither"),
    (lambda m: m["categories"][0]["children"][0]["children"][0].update(aliases=["noise"]), "'noise' names two"),
    (lambda m: m["categories"][0]["children"][0]["children"][0].update(children=[{"code": "x", "name": "x"}]),
     "deeper than three levels"),
    (lambda m: m["rules"][0].update(level="planet"), "level"),
])
def test_a_broken_configuration_is_refused_with_the_reason(change: Any, message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        Matrix.model_validate(broken(change))


def test_the_demo_policy_file_is_the_matrix_and_the_default_policy() -> None:
    # The demo adds a hotline catalogue and the framing categories 咨询/建议/表扬 (dispatch.understanding),
    # emergency limits per incident level
    # (dispatch.incidents) and the city unit above the counties for overdue directives (dispatch.directives),
    # and otherwise keeps every default.
    catalogue = demo_policy().intake.hotline_catalogue
    demo_sla = demo_policy().sla
    assert demo_sla is not None
    emergency = demo_sla.emergency
    assert catalogue and set(emergency) == {"I", "II", "III", "IV"}
    assert demo_policy().intake.framing_categories == ("080101", "080201", "080202")
    intake = IntakePolicy(hotline_catalogue=catalogue, framing_categories=("080101", "080201", "080202"))
    assert demo_policy() == Policy(matrix=MATRIX, intake=intake,
                                   sla=SlaPolicy(emergency=emergency),
                                   directives=DirectivePolicy(city_superior="450100-zhzx"))


def test_the_indexes_are_plain_attributes_that_serialisation_and_equality_ignore() -> None:
    """Every dispatch reads the category and unit indexes; as pydantic private attributes each read went
    through BaseModel.__getattr__. They live in the instance's __dict__, and stay out of dumps and ==."""
    policy = Policy.model_validate_json(demo_policy().model_dump_json())
    matrix = policy.matrix
    assert matrix is not None
    assert not Matrix.__private_attributes__
    assert {"_nodes", "_units"} <= set(vars(matrix))
    dumped = matrix.model_dump()
    assert "_nodes" not in dumped and "_units" not in dumped
    again = Matrix.model_validate(dumped)
    assert again == matrix and again.path("streetlight") == matrix.path("streetlight")
    assert again.unit("450103-cgj") == matrix.unit("450103-cgj")
