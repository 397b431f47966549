"""The closed loop over real HTTP against the real store: returns, extensions, callbacks, redo, closure."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.conftest import Hub
from tests.e2e.test_hotline_to_console import QINGXIU_SEAT, push, ticket


class Console:
    """One signed-in user acting on cases."""

    def __init__(self, hub: Hub, token: str) -> None:
        self.hub = hub
        self.headers = {"Authorization": f"Bearer {token}"}

    async def case(self, case_id: str) -> dict[str, Any]:
        async with self.hub.http.get(f"{self.hub.base}/api/v1/cases/{case_id}", headers=self.headers) as resp:
            assert resp.status == 200, await resp.text()
            return dict(await resp.json())

    async def act(self, case_id: str, action: str, version: int, **fields: Any) -> tuple[int, dict[str, Any]]:
        body = {"action": action, "expected_version": version, **fields}
        async with self.hub.http.post(f"{self.hub.base}/api/v1/cases/{case_id}/actions", json=body,
                                      headers=self.headers) as resp:
            return resp.status, dict(await resp.json())

    async def ok(self, case_id: str, action: str, version: int, **fields: Any) -> dict[str, Any]:
        status, body = await self.act(case_id, action, version, **fields)
        assert status == 200, (action, body)
        return dict(body["case"])


async def new_rubbish_case(hub: Hub) -> tuple[str, dict[str, Any], Console]:
    """A ticket the demo matrix gives to the township government; returns the case and an operator."""
    key = await hub.hotline_key()
    _, answer = await push(hub, key, ticket(QINGXIU_SEAT, category="exposed_rubbish", content="路边垃圾堆积"))
    operator = Console(hub, await hub.login("city_operator", None))
    case = await operator.case(answer["case_id"])
    assert case["state"] == "dispatched"
    assert case["units"]["lead"]["code"] == case["areas"]["township"]["code"] + "-gov"
    return answer["case_id"], case, operator


async def test_return_rejected_then_extension_redo_and_satisfied_closure(hub: Hub) -> None:
    case_id, case, operator = await new_rubbish_case(hub)
    township = case["areas"]["township"]["code"]
    handler = Console(hub, await hub.login("township_handler", township))
    stranger = Console(hub, await hub.login("township_handler", "450102001"))
    county = Console(hub, await hub.login("county_dispatcher", "450103"))
    neighbour_county = Console(hub, await hub.login("county_dispatcher", "450102"))
    auditor = Console(hub, await hub.login("auditor", None))

    # Each caller is told what it may do now: the township's own staff sign or return; the county may not.
    offered = (await handler.case(case_id))["allowed_actions"]
    assert {"accept", "return", "comment"} <= set(offered) and "review_return" not in offered
    assert "accept" not in (await county.case(case_id))["allowed_actions"]
    assert (await auditor.case(case_id))["allowed_actions"] == []
    assert (await stranger.act(case_id, "accept", 2))[0] == 404, "another township's case: as if it did not exist"
    assert (await auditor.act(case_id, "comment", 2, note="看看"))[0] == 403, "auditors never act"
    case = await handler.ok(case_id, "return", 2, reason="not_our_remit", note="应由城管处理")
    assert case["state"] == "return_requested"
    status, body = await handler.act(case_id, "accept", 2)
    assert status == 409 and body["error"]["code"] == "version_conflict"
    assert (await neighbour_county.act(case_id, "review_return", case["version"], approve=False))[0] == 404
    case = await county.ok(case_id, "review_return", case["version"], approve=False)
    assert case["state"] == "dispatched" and case["units"]["lead"]["code"] == township + "-gov"

    case = await handler.ok(case_id, "accept", case["version"])
    assert case["state"] == "accepted"
    until = (datetime.now(UTC) + timedelta(days=20)).replace(microsecond=0)
    case = await handler.ok(case_id, "request_extension", case["version"], until=until.isoformat(), reason="需协调")
    assert (await handler.act(case_id, "review_extension", case["version"], approve=True))[0] == 403
    case = await county.ok(case_id, "review_extension", case["version"], approve=True)
    assert datetime.fromisoformat(case["deadlines"]["resolve_by"]) == until

    case = await handler.ok(case_id, "resolve", case["version"], note="已清运")
    assert case["state"] == "resolved"
    case = await operator.ok(case_id, "callback", case["version"], contacted=True, solved=False,
                             satisfaction="dissatisfied")
    assert case["state"] == "accepted" and case["redo_count"] == 1 and case["escalation_level"] == 1
    case = await handler.ok(case_id, "resolve", case["version"], note="再次清运并加装垃圾桶")
    case = await operator.ok(case_id, "callback", case["version"], contacted=True, solved=True,
                             satisfaction="satisfied")
    assert case["state"] == "closed"
    status, body = await operator.act(case_id, "comment", case["version"], note="补充")
    assert status == 422 and body["error"]["code"] == "illegal_transition"

    timeline = [t["type"] for t in (await operator.case(case_id))["timeline"]]
    assert timeline == [
        "case.received", "case.dispatched", "case.return_requested", "case.return_reviewed", "case.accepted",
        "case.extension_requested", "case.extension_reviewed", "case.resolved", "case.callback_recorded",
        "case.redone", "case.resolved", "case.callback_recorded", "case.closed",
    ]


async def test_approved_return_goes_to_the_proposed_unit(hub: Hub) -> None:
    case_id, case, operator = await new_rubbish_case(hub)
    township = case["areas"]["township"]["code"]
    handler = Console(hub, await hub.login("township_handler", township))
    county = Console(hub, await hub.login("county_dispatcher", "450103"))
    case = await handler.ok(case_id, "return", 2, reason="not_our_remit", note="属城管职责")
    case = await county.ok(case_id, "review_return", case["version"], approve=True)
    assert case["state"] == "dispatched"
    assert case["units"]["lead"]["code"] != township + "-gov", "never back to the unit that returned it"
    assert township + "-gov" in case["returned_by"]
    timeline = (await operator.case(case_id))["timeline"]
    redispatch = timeline[-1]
    assert redispatch["type"] == "case.dispatched"
    assert redispatch["data"]["lead"] == case["units"]["lead"]
    # The old handler no longer leads it: their actions are refused.
    assert (await handler.act(case_id, "accept", case["version"]))[0] in (403, 422)


async def test_bad_actions_are_named(hub: Hub) -> None:
    case_id, case, operator = await new_rubbish_case(hub)
    status, body = await operator.act(case_id, "teleport", 2)
    assert status == 422 and body["error"]["fields"][0]["field"] == "action"
    status, body = await operator.act(case_id, "callback", 2, satisfaction="meh")
    assert status == 422 and "satisfaction" in {f["field"] for f in body["error"]["fields"]}
    async with operator.hub.http.post(f"{hub.base}/api/v1/cases/{case_id}/actions", json={"action": "comment"},
                                      headers=operator.headers) as resp:
        body = await resp.json()
        assert resp.status == 422 and body["error"]["fields"][0]["field"] == "expected_version"


async def test_duplicates_merge_automatically_split_undoes_and_near_ones_are_suggested(hub: Hub) -> None:
    key = await hub.hotline_key()
    operator = Console(hub, await hub.login("city_operator", None))
    _, first = await push(hub, key, ticket(QINGXIU_SEAT, category="manhole_cover"))
    _, again = await push(hub, key, ticket(QINGXIU_SEAT, category="manhole_cover", content="井盖又被人报了一次"))
    child = await operator.case(again["case_id"])
    parent = await operator.case(first["case_id"])
    assert child["state"] == "merged" and child["parent_id"] == first["case_id"]
    assert parent["children"] == [again["case_id"]] and parent["state"] == "dispatched"

    # The parent's progress reaches its children.
    county = Console(hub, await hub.login("county_dispatcher", "450103"))
    parent = await county.ok(first["case_id"], "accept", parent["version"])
    child = await operator.case(again["case_id"])
    assert child["parent_state"] == "accepted"

    child = await operator.ok(again["case_id"], "split", child["version"])
    assert child["state"] != "merged" and child["parent_id"] is None
    assert (await operator.case(first["case_id"]))["children"] == []

    # About 100 m away: likely the same problem, but not sure enough to merge without a person.
    lng, lat = QINGXIU_SEAT
    _, near = await push(hub, key, ticket((lng + 0.00097, lat), category="manhole_cover"))
    near_case = await operator.case(near["case_id"])
    assert near_case["state"] == "dispatched"
    assert near_case["merge_suggestion"]["into"] in (first["case_id"], again["case_id"])
    async with hub.http.get(f"{hub.base}/api/v1/queues/merge_suggestions", headers=operator.headers) as resp:
        queued = [c["case_id"] for c in (await resp.json())["cases"]]
    assert near["case_id"] in queued


async def test_an_operator_dispatches_a_triage_case_and_the_areas_get_their_real_names(hub: Hub) -> None:
    key = await hub.hotline_key()
    _, answer = await push(hub, key, ticket(None, address="某个找不到的地方", category="exposed_rubbish"))
    operator = Console(hub, await hub.login("city_operator", None))
    case = await operator.case(answer["case_id"])
    assert case["state"] == "triage" and "dispatch" in case["allowed_actions"]
    case = await operator.ok(answer["case_id"], "dispatch", case["version"], area="450103001", unit="450103001-gov")
    assert case["state"] == "dispatched"
    assert case["areas"]["county"] == {"code": "450103", "name": "青秀区"}
    assert case["areas"]["township"]["code"] == "450103001" and not case["areas"]["township"]["name"].isdigit()
    assert case["units"]["lead"]["name"] == case["areas"]["township"]["name"] + "人民政府"


async def test_the_extensions_queue_holds_only_requests_that_can_still_be_reviewed(hub: Hub) -> None:
    """A case merged into another while its extension request waits leaves the queue: it can no longer be
    reviewed (and the queue reads only open cases, through the partial index of migration 0029)."""
    key = await hub.hotline_key()
    case_id, case, operator = await new_rubbish_case(hub)
    _, parent = await push(hub, key, ticket(QINGXIU_SEAT, category="manhole_cover"))
    handler = Console(hub, await hub.login("township_handler", case["areas"]["township"]["code"]))
    county = Console(hub, await hub.login("county_dispatcher", "450103"))

    async def waiting() -> list[str]:
        async with hub.http.get(f"{hub.base}/api/v1/queues/extensions", headers=county.headers) as resp:
            assert resp.status == 200, await resp.text()
            return [c["case_id"] for c in (await resp.json())["cases"]]

    case = await handler.ok(case_id, "accept", case["version"])
    until = (datetime.now(UTC) + timedelta(days=20)).replace(microsecond=0)
    case = await handler.ok(case_id, "request_extension", case["version"], until=until.isoformat(), reason="需协调")
    assert await waiting() == [case_id]

    case = await operator.ok(case_id, "merge", case["version"], into=parent["case_id"])
    assert case["state"] == "merged" and case["extension"] is not None, "the request is still on the case"
    status, body = await county.act(case_id, "review_extension", case["version"], approve=True)
    assert status == 422 and body["error"]["code"] == "illegal_transition"
    assert await waiting() == []
