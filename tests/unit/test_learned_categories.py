"""Which hotline wordings a dispatcher's choice teaches, under which key; and the dispatch with a chosen category
that records the choice (issue 16, item 3)."""

from __future__ import annotations

from datetime import UTC, datetime

from dispatch import commands as c
from dispatch.case import Intake, Routing, fold, receive
from dispatch.learned import GENERIC_WORDS, known_keys, learnable, learned_from, learned_key
from dispatch.lifecycle import decide
from dispatch.permissions import Actor, Refusal
from dispatch.policy import Policy
from hub.data import DEMO_POLICY_FILE
from hub.identity.access import redact_case
from tests.unit.test_dispatch_matrix import MATRIX, QINGXIU

NOW = datetime(2026, 10, 9, 9, 0, tzinfo=UTC)
KNOWN = known_keys(MATRIX)
SUGGESTIONS = [{"code": "010102", "confidence": 0.41, "evidence": ["灯"], "rule": "keyword"},
               {"code": "010101", "confidence": 0.38, "evidence": ["灯"], "rule": "keyword"}]


def test_the_key_ignores_width_spacing_and_case() -> None:
    assert learned_key(" ＺＸ－０９３１ ") == learned_key("zx-0931") == "zx-0931"
    assert learned_key("路灯　不亮") == learned_key("路灯 不亮") == "路灯不亮"


def test_generic_words_and_what_the_tree_knows_are_never_learned() -> None:
    assert learned_key("其 他") in GENERIC_WORDS
    for wording in ("其他", "综合", "010101", "streetlight", "路灯", "Streetlight", "照明设施", "", "x" * 65, None, 7):
        assert learnable(wording, KNOWN) is None, wording
    assert learnable("城建-夜景照明", KNOWN) == "城建-夜景照明"


def test_only_a_category_a_person_chose_teaches() -> None:
    chosen = {"category": {"code": "010101", "path": ["x"]}, "chosen_by": {"name": "d", "role": "county_dispatcher"}}
    report = {"category": "ZX-0931"}
    learned = learned_from(report, chosen, KNOWN)
    assert learned is not None and (learned.key, learned.original, learned.code) == ("zx-0931", "ZX-0931", "010101")
    assert learned_from(report, {k: v for k, v in chosen.items() if k != "chosen_by"}, KNOWN) is None
    assert learned_from({"category": "其他"}, chosen, KNOWN) is None


def _triage_case(suggestions: list[dict[str, object]]) -> dict[str, object]:
    events = receive(Intake("hotline", {"category": "ZX-0931", "content": "灯"}, None),
                     Routing(inside=True, areas=QINGXIU), MATRIX)
    rows = [(e.type, e.data | ({"suggestions": suggestions} if e.type == "case.triaged" else {}), i + 1, NOW)
            for i, e in enumerate(events)]
    case = fold("k", rows)
    assert case is not None and case["state"] == "triage" and case["suggestions"] == suggestions
    return dict(case)


def test_a_dispatch_with_a_chosen_category_lets_the_matrix_name_the_units_and_records_the_choice() -> None:
    case = _triage_case(SUGGESTIONS)
    actor = Actor("王五", "county_dispatcher", "450103")
    decision = decide(case, c.Dispatch(category="010101"), actor, NOW, Policy(matrix=MATRIX))  # type: ignore[arg-type]
    assert not isinstance(decision, Refusal)
    [event] = decision
    assert event.data["category"]["code"] == "010101" and event.data["areas"] == QINGXIU
    assert event.data["lead"]["name"] == "青秀区城市管理局" and event.data["rule"] == "R-lighting"
    assert event.data["chosen_by"] == {"name": "王五", "role": "county_dispatcher"}
    assert event.data["from_suggestion"] is True
    picked = decide(_triage_case([]), c.Dispatch(category="010101"), actor, NOW, Policy(matrix=MATRIX))  # type: ignore[arg-type]
    assert not isinstance(picked, Refusal) and picked[0].data["from_suggestion"] is False


def test_a_chosen_category_must_be_a_leaf_of_the_tree_and_a_dispatch_names_a_unit_or_a_category() -> None:
    case = _triage_case([])
    actor, policy = Actor("王五", "county_dispatcher", "450103"), Policy(matrix=MATRIX)
    for command, reason in ((c.Dispatch(category="ufo"), "category: 'ufo' is not a category of the tree"),
                            (c.Dispatch(category="0101"), "category: 照明设施 has sub-categories; choose one of them"),
                            (c.Dispatch(), "unit: name a unit, or a category for the matrix to choose the units"),
                            (c.Dispatch(unit="450103-cgj"), "area: name the area of the unit")):
        refused = decide(case, command, actor, NOW, policy)  # type: ignore[arg-type]
        assert isinstance(refused, Refusal) and refused.reason == reason


def test_the_evidence_words_of_a_confidential_case_are_hidden_where_its_content_is() -> None:
    case = _triage_case(SUGGESTIONS)
    case["report"] = {**case["report"], "confidential": True}  # type: ignore[dict-item]
    masked = redact_case(case, "masked")  # type: ignore[arg-type]
    assert [s["evidence"] for s in masked["suggestions"]] == [[], []]
    assert [s["code"] for s in masked["suggestions"]] == ["010102", "010101"]
    assert redact_case(case, "content")["suggestions"] == SUGGESTIONS  # type: ignore[arg-type]


def test_the_policys_generic_wordings_are_never_learned_either() -> None:
    """Intake reads the content for 城市管理 or 综合类 before it would consult a learned entry, so learning them
    would store what is never used."""
    generic = Policy.model_validate_json(DEMO_POLICY_FILE.read_text()).intake.generic_categories
    assert "城市管理" in generic and learnable("城市管理", KNOWN) == learned_key("城市管理")
    assert learnable("城市管理", known_keys(MATRIX, generic)) is None
    assert learnable("市政设施/路灯", known_keys(MATRIX, generic)) == learned_key("市政设施/路灯")
