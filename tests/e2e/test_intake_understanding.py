"""Issue 16: a hotline ticket worded as a 12345 platform words it is dispatched under our category with its
evidence; an unsure one reaches triage with suggestions; danger words in the content raise the urgency."""

from __future__ import annotations

from typing import Any

from tests.conftest import Hub
from tests.e2e.test_hotline_to_console import QINGXIU_SEAT, push, ticket


async def read_case(hub: Hub, case_id: str) -> dict[str, Any]:
    operator = await hub.login("city_operator", None)
    async with hub.http.get(f"{hub.base}/api/v1/cases/{case_id}",
                            headers={"Authorization": f"Bearer {operator}"}) as resp:
        assert resp.status == 200
        case: dict[str, Any] = await resp.json()
        return case


async def test_a_ticket_named_in_the_hotlines_words_is_dispatched_under_our_leaf_with_its_evidence(hub: Hub) -> None:
    key = await hub.hotline_key()
    status, body = await push(hub, key, ticket(QINGXIU_SEAT, category="路灯", content="路灯不亮"))
    assert status == 202
    case = await read_case(hub, body["case_id"])
    assert case["state"] == "dispatched" and case["category"]["code"] == "010101"
    assert case["understanding"]["rule"] == "name" and case["understanding"]["code"] == "010101"
    assert "路灯" in case["understanding"]["evidence"]
    assert case["units"]["lead"]["name"] == "青秀区城市管理局"
    dispatched = next(t for t in case["timeline"] if t["type"] == "case.dispatched")
    assert dispatched["data"]["understanding"] == case["understanding"]

    _, generic = await push(hub, key, ticket(QINGXIU_SEAT, category="其他", content="一排路灯晚上全部不亮"))
    case = await read_case(hub, generic["case_id"])
    assert case["state"] == "dispatched" and case["category"]["code"] == "010101"
    assert case["understanding"]["rule"] in ("keywords", "model") and "路灯" in case["understanding"]["evidence"]

    _, path = await push(hub, key, ticket(QINGXIU_SEAT, category="城乡建设>市政设施>路灯照明", content="坏了"))
    assert (await read_case(hub, path["case_id"]))["category"]["code"] == "010101"


async def test_an_unsure_ticket_reaches_triage_with_three_suggestions_and_danger_raises_the_urgency(
        hub: Hub) -> None:
    key = await hub.hotline_key()
    _, unsure = await push(hub, key, ticket(QINGXIU_SEAT, category="其他",
                                            content="这里有垃圾，那里有车乱停"))
    case = await read_case(hub, unsure["case_id"])
    assert case["state"] == "triage" and case["triage_reason"] == "unknown_category"
    assert len(case["suggestions"]) == 3
    assert {s["code"] for s in case["suggestions"]} >= {"030101", "040101"}
    assert all(s["evidence"] for s in case["suggestions"][:2])

    _, unclear = await push(hub, key, ticket(QINGXIU_SEAT, category="其他", content="？？？"))
    assert (await read_case(hub, unclear["case_id"]))["triage_reason"] == "category_unclear"

    _, danger = await push(hub, key, ticket(QINGXIU_SEAT, category="路灯", content="路灯杆倒了，有人受伤",
                                            urgency="normal"))
    case = await read_case(hub, danger["case_id"])
    assert case["state"] == "dispatched" and "danger_from_text" in case["flags"]
    assert case["sla"]["class"] == "critical" and case["understanding"]["danger"] == ["有人受伤"]
    assert case["report"]["urgency"] == "normal", "what the hotline sent is kept as sent"
