"""POST /api/v1/hotline/tickets:batch: a result per ticket; one bad ticket does not fail the others."""

from __future__ import annotations

from typing import Any

from tests.conftest import Hub
from tests.e2e.test_hotline_to_console import QINGXIU_SEAT, XINGNING_SEAT, ticket


async def post_batch(hub: Hub, key: str, body: Any) -> tuple[int, dict[str, Any]]:
    async with hub.http.post(f"{hub.base}/api/v1/hotline/tickets:batch", json=body,
                             headers={"X-API-Key": key}) as resp:
        return resp.status, dict(await resp.json())


async def test_each_ticket_gets_its_own_answer_and_retries_are_recognised(hub: Hub) -> None:
    key = await hub.hotline_key()
    good = [ticket(QINGXIU_SEAT), ticket(XINGNING_SEAT, category="road_damage"),
            ticket(None, address="南宁市青秀区新竹路", category="noise")]
    broken = {**ticket(QINGXIU_SEAT), "type": "shout"}
    status, body = await post_batch(hub, key, {"tickets": [good[0], broken, good[1], {"nope": 1}, good[2]]})
    assert status == 200
    results = body["results"]
    assert [r["index"] for r in results] == [0, 1, 2, 3, 4]
    assert [r["status"] for r in results] == [202, 422, 202, 422, 202]
    assert (body["accepted"], body["duplicates"], body["rejected"]) == (3, 0, 2)
    assert results[1]["ticket_no"] == broken["ticket_no"]
    assert [f["field"] for f in results[1]["error"]["fields"]] == ["type"]
    assert "ticket_no" in {f["field"] for f in results[3]["error"]["fields"]}
    assert len({r["case_id"] for r in results if r["status"] == 202}) == 3

    # The hotline system retries the whole batch: same cases, marked duplicate, nothing new written.
    status, again = await post_batch(hub, key, {"tickets": [good[0], good[1], good[2], good[0]]})
    assert [r["status"] for r in again["results"]] == [200, 200, 200, 200]
    assert [r["case_id"] for r in again["results"][:3]] == [results[i]["case_id"] for i in (0, 2, 4)]
    officer = await hub.login("city_operator", "450100")
    async with hub.http.get(f"{hub.base}/api/v1/cases?limit=100",
                            headers={"Authorization": f"Bearer {officer}"}) as resp:
        assert len((await resp.json())["cases"]) == 3


async def test_the_batch_itself_is_checked(hub: Hub) -> None:
    key = await hub.hotline_key()
    status, body = await post_batch(hub, key, {"tickets": []})
    assert status == 422 and body["error"]["fields"][0]["field"] == "tickets"
    status, body = await post_batch(hub, key, {"tickets": [ticket(QINGXIU_SEAT)] * 1001})
    assert status == 413
    status, body = await post_batch(hub, key, [ticket(QINGXIU_SEAT)])
    assert status == 422
    status, _ = await post_batch(hub, await hub.api_key("iot"), {"tickets": [ticket(QINGXIU_SEAT)]})
    assert status == 403


async def test_tickets_placed_by_their_content_in_a_batch(hub: Hub) -> None:
    """In a batch too a ticket with neither `location` nor `address` is placed from its content; one that
    has no content either is refused alone, naming the field."""
    key = await hub.hotline_key()
    by_text = ticket(None, category="070101", content="我在双义村这边，道路积水")
    nowhere = ticket(None, content="路灯不亮")
    empty = {k: v for k, v in ticket(None).items() if k != "content"}
    status, body = await post_batch(hub, key, {"tickets": [ticket(QINGXIU_SEAT), by_text, empty, nowhere]})
    assert status == 200
    results = body["results"]
    assert [r["status"] for r in results] == [202, 202, 422, 202]
    assert [f["field"] for f in results[2]["error"]["fields"]] == ["content"]
    operator = await hub.login("city_operator", None)
    cases = []
    for r in (results[1], results[3]):
        async with hub.http.get(f"{hub.base}/api/v1/cases/{r['case_id']}",
                                headers={"Authorization": f"Bearer {operator}"}) as resp:
            cases.append(await resp.json())
    assert (cases[0]["state"], cases[0]["areas"]["community"]["code"]) == ("dispatched", "450107100207")
    assert cases[0]["routing"]["located_from_text"] is True
    assert (cases[1]["state"], cases[1]["triage_reason"]) == ("triage", "no_location")
