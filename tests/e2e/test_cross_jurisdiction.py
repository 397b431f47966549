"""Every case a request names is checked with the same access rule as the case acted on, and a case the
caller may not see answers exactly like one that does not exist (issue 12, item 1)."""

from __future__ import annotations

import uuid
from typing import Any

from tests.conftest import Hub
from tests.e2e.test_case_lifecycle import Console
from tests.e2e.test_hotline_to_console import QINGXIU_SEAT, XINGNING_SEAT, push, ticket


async def _case_in(hub: Hub, key: str, point: tuple[float, float], category: str) -> str:
    status, answer = await push(hub, key, ticket(point, category=category))
    assert status == 202, answer
    return str(answer["case_id"])


def _without_id(body: dict[str, Any], *ids: str) -> dict[str, Any]:
    """The answer with the named ids blanked, so two answers can be compared whole."""
    text = str(body)
    for case_id in ids:
        text = text.replace(case_id, "<id>")
    return {"text": text}


async def test_merge_into_another_countys_case_is_refused_like_a_missing_case(hub: Hub) -> None:
    key = await hub.hotline_key()
    own = await _case_in(hub, key, XINGNING_SEAT, "streetlight")
    foreign = await _case_in(hub, key, QINGXIU_SEAT, "exposed_rubbish")
    xingning = Console(hub, await hub.login("county_dispatcher", "450102"))
    operator = Console(hub, await hub.login("city_operator", None))
    own_case = await xingning.case(own)
    foreign_before = await operator.case(foreign)

    status, refused = await xingning.act(own, "merge", own_case["version"], into=foreign)
    missing = str(uuid.uuid4())
    status_missing, refused_missing = await xingning.act(own, "merge", own_case["version"], into=missing)
    assert status == status_missing == 422
    assert _without_id(refused, foreign) == _without_id(refused_missing, missing), \
        "a case outside the caller's jurisdiction answers exactly like one that does not exist"

    foreign_after = await operator.case(foreign)
    assert foreign_after["version"] == foreign_before["version"], "nothing was written on the foreign case"
    assert "case.child_attached" not in [t["type"] for t in foreign_after["timeline"]]
    own_after = await xingning.case(own)
    assert own_after["state"] == own_case["state"] and own_after.get("parent_state") is None

    # The city sees both, so it may merge them.
    merged = await operator.ok(own, "merge", own_case["version"], into=foreign)
    assert merged["state"] == "merged" and merged["parent_id"] == foreign


async def test_a_case_outside_the_jurisdiction_is_not_found_on_read_and_on_every_action(hub: Hub) -> None:
    key = await hub.hotline_key()
    foreign = await _case_in(hub, key, QINGXIU_SEAT, "streetlight")
    xingning = Console(hub, await hub.login("county_dispatcher", "450102"))
    missing = str(uuid.uuid4())
    for case_id in (foreign, missing):
        async with hub.http.get(f"{hub.base}/api/v1/cases/{case_id}", headers=xingning.headers) as resp:
            assert resp.status == 404
            assert (await resp.json())["error"] == {"code": "not_found", "message": "no such case", "fields": []}
        for action, fields in (("comment", {"note": "看看"}), ("accept", {}), ("supervise", {"note": "督办"})):
            status, body = await xingning.act(case_id, action, 2, **fields)
            assert (status, body["error"]["code"], body["error"]["message"]) == (404, "not_found", "no such case")


async def test_split_needs_the_parent_to_be_visible_too(hub: Hub) -> None:
    key = await hub.hotline_key()
    child = await _case_in(hub, key, XINGNING_SEAT, "streetlight")
    parent = await _case_in(hub, key, QINGXIU_SEAT, "exposed_rubbish")
    operator = Console(hub, await hub.login("city_operator", None))
    merged = await operator.ok(child, "merge", (await operator.case(child))["version"], into=parent)

    xingning = Console(hub, await hub.login("county_dispatcher", "450102"))
    status, body = await xingning.act(child, "split", merged["version"])
    assert status == 422 and body["error"]["code"] == "illegal_transition"
    assert f"parent: case {parent} was not found" in body["error"]["message"]
    assert (await operator.case(parent))["children"] == [child], "the foreign parent was not touched"

    split = await operator.ok(child, "split", merged["version"])
    assert split["state"] != "merged" and (await operator.case(parent))["children"] == []


async def test_dispatch_and_push_down_only_to_areas_inside_the_jurisdiction(hub: Hub) -> None:
    key = await hub.hotline_key()
    _, answer = await push(hub, key, ticket(None, address="某个找不到的地方", category="streetlight"))
    case_id = answer["case_id"]
    operator = Console(hub, await hub.login("city_operator", None))
    case = await operator.case(case_id)
    assert case["state"] == "triage"
    # A triage case without a place belongs to the city: only city-wide roles see it.
    xingning = Console(hub, await hub.login("county_dispatcher", "450102"))
    assert (await xingning.act(case_id, "dispatch", case["version"], area="450102001", unit="450102001-gov"))[0] \
        == 404
    case = await operator.ok(case_id, "dispatch", case["version"], area="450102001", unit="450102001-gov")
    # Now it is Xingning's: its dispatcher may re-dispatch within the county, never into Qingxiu.
    status, body = await xingning.act(case_id, "dispatch", case["version"], area="450103001", unit="450103001-gov")
    assert status == 422 and body["error"]["fields"] == [{"field": "area", "message": "an area inside 450102"}]
    assert (await operator.case(case_id))["version"] == case["version"]
    case = await xingning.ok(case_id, "dispatch", case["version"], area="450102002", unit="450102002-gov")
    assert case["areas"]["township"]["code"] == "450102002"
