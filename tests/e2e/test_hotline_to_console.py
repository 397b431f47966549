"""A 12345 ticket over real HTTP becomes a routed case that reaches the right consoles over websockets."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest

from geo.crs import Crs, from_wgs84
from tests.conftest import Hub

QINGXIU_SEAT = (108.49214, 22.78884)  # GeoNames 12271527, 青秀 (450103)
XINGNING_SEAT = (108.41992, 22.87589)  # GeoNames 12271691, 兴宁 (450102)


def ticket(point: tuple[float, float] | None = None, crs: Crs = Crs.WGS84, **extra: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "ticket_no": f"T{uuid.uuid4().hex[:12]}",
        "type": "complaint",
        "category": "streetlight",
        "content": "路灯不亮",
        "reported_at": datetime.now(UTC).isoformat(),
        "reporter": {"name": "张三", "phone": "13812341234"},
    }
    if point is not None:
        lng, lat = from_wgs84(point[0], point[1], crs)
        body["location"] = {"lng": lng, "lat": lat, "crs": crs.value}
    body.update(extra)
    return body


async def push(hub: Hub, key: str, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
    async with hub.http.post(f"{hub.base}/api/v1/hotline/tickets", json=body, headers={"X-API-Key": key}) as resp:
        return resp.status, await resp.json()


async def console(hub: Hub, token: str, areas: list[str], since: int | None = None
                  ) -> tuple[aiohttp.ClientWebSocketResponse, dict[str, Any]]:
    ws = await hub.http.ws_connect(f"{hub.ws_base}/ws/console?token={token}")
    await ws.send_json({"type": "subscribe", "areas": areas, "since": since})
    subscribed = await ws.receive_json(timeout=5)
    assert subscribed["type"] == "subscribed"
    return ws, subscribed


async def events_until(ws: aiohttp.ClientWebSocketResponse, done: Callable[[list[dict[str, Any]]], bool],
                       timeout: float = 10.0) -> list[dict[str, Any]]:
    """Collect event objects (from `event` and `batch` frames) until `done(events)`."""
    events: list[dict[str, Any]] = []
    async with asyncio.timeout(timeout):
        while not done(events):
            msg = await ws.receive_json()
            if msg["type"] == "event":
                events.append(msg)
            elif msg["type"] == "batch":
                events.extend(msg["events"])
    return events


def has_case(case_id: str, event_type: str) -> Callable[[list[dict[str, Any]]], bool]:
    return lambda evs: any(e["case_id"] == case_id and e["event"]["type"] == event_type for e in evs)


def case_after(events: list[dict[str, Any]], case_id: str, held: dict[str, Any] | None = None) -> dict[str, Any]:
    """The case as a console holds it after these events, as the consoles apply them: a whole case replaces an
    older copy, a patch (`"patch": true`) sets its fields on the copy held, nothing older is applied."""
    for e in events:
        incoming = e["case"]
        if e["case_id"] != case_id or incoming is None:
            continue
        if held is not None and incoming["version"] < held["version"]:
            continue
        if not incoming.get("patch"):
            held = dict(incoming)
        else:
            assert held is not None, f"a patch for a case the console does not hold: {e}"
            held = {**held, **{k: v for k, v in incoming.items() if k != "patch"}}
    assert held is not None
    return held


async def test_ticket_in_qingxiu_reaches_the_qingxiu_console_and_not_xingnings(hub: Hub) -> None:
    key = await hub.hotline_key()
    qingxiu = await hub.login("county_dispatcher", "450103")
    xingning = await hub.login("county_dispatcher", "450102")
    ws_q, sub_q = await console(hub, qingxiu, ["450103"])
    ws_x, sub_x = await console(hub, xingning, ["450103", "450102"])
    assert sub_q["areas"] == ["450103"]
    assert sub_x["areas"] == ["450102"], "a request for a neighbour's area is clipped away"
    for ws in (ws_q, ws_x):
        assert (await ws.receive_json(timeout=5))["type"] == "snapshot"

    status, body = await push(hub, key, ticket(QINGXIU_SEAT, Crs.GCJ02))
    assert status == 202 and body["duplicate"] is False
    got = await events_until(ws_q, has_case(body["case_id"], "case.dispatched"))
    assert not got[0]["case"].get("patch"), "a console first sees a case whole"
    case = case_after(got, body["case_id"])
    areas = case["areas"]
    assert areas["county"] == {"code": "450103", "name": "青秀区"}
    assert areas["township"]["code"].startswith("450103") and "grid" in areas
    # The demo responsibility matrix gives streetlights to the county's urban management bureau.
    assert case["units"]["lead"]["name"] == "青秀区城市管理局"
    assert case["rule"] == "R-lighting"
    assert case["report"]["reporter"]["phone"] == "138****1234", "county roles see masked phones"
    # Why it went there is the case panel's, read by REST (the feed carries what lists and the map show).
    assert "explanation" not in case
    async with hub.http.get(f"{hub.base}/api/v1/cases/{body['case_id']}",
                            headers={"Authorization": f"Bearer {qingxiu}"}) as resp:
        assert resp.status == 200
        assert "新竹" not in (await resp.json())["explanation"]

    # A later Xingning ticket reaches the Xingning console: everything before it was filtered, not late.
    _, other = await push(hub, key, ticket(XINGNING_SEAT))
    seen = await events_until(ws_x, has_case(other["case_id"], "case.dispatched"))
    assert {e["case_id"] for e in seen} == {other["case_id"]}
    await ws_q.close()
    await ws_x.close()


async def test_same_ticket_again_and_forty_times_concurrently_is_one_case(hub: Hub) -> None:
    key = await hub.hotline_key()
    body = ticket(QINGXIU_SEAT)
    first_status, first = await push(hub, key, body)
    again_status, again = await push(hub, key, body)
    assert (first_status, again_status) == (202, 200)
    assert again == {**first, "duplicate": True}

    burst = ticket(XINGNING_SEAT)
    answers = await asyncio.gather(*(push(hub, key, burst) for _ in range(40)))
    assert sorted(status for status, _ in answers) == [200] * 39 + [202]
    assert len({a["case_id"] for _, a in answers}) == 1

    operator = await hub.login("city_operator", None)
    async with hub.http.get(f"{hub.base}/api/v1/cases", params={"ticket_no": burst["ticket_no"]},
                            headers={"Authorization": f"Bearer {operator}"}) as resp:
        listed = (await resp.json())["cases"]
    assert [c["case_id"] for c in listed] == [answers[0][1]["case_id"]]


async def test_reconnecting_console_receives_exactly_what_it_missed(hub: Hub) -> None:
    key = await hub.hotline_key()
    operator = await hub.login("city_operator", None)
    ws, _ = await console(hub, operator, [])
    snapshot = await ws.receive_json(timeout=5)
    assert snapshot["type"] == "snapshot"
    _, first = await push(hub, key, ticket(QINGXIU_SEAT))
    seen = await events_until(ws, has_case(first["case_id"], "case.dispatched"))
    last = seen[-1]["position"]
    await ws.close()

    missed = [await push(hub, key, t) for t in (
        ticket(XINGNING_SEAT), ticket(QINGXIU_SEAT, category="noise"), ticket(None, address="南宁市某路口"))]
    ws, _ = await console(hub, operator, [], since=last)
    replay = await events_until(ws, has_case(missed[-1][1]["case_id"], "case.triaged"))
    positions = [e["position"] for e in replay]
    assert positions == list(range(last + 1, last + 1 + 6)), "two events per ticket, none skipped or repeated"
    assert {e["case_id"] for e in replay} == {b["case_id"] for _, b in missed}

    _, live = await push(hub, key, ticket(XINGNING_SEAT, category="road_damage"))
    after = await events_until(ws, has_case(live["case_id"], "case.dispatched"))
    assert [e["position"] for e in after] == [positions[-1] + 1, positions[-1] + 2]
    await ws.close()


async def test_bad_tickets_name_each_bad_field_and_keys_are_checked(hub: Hub) -> None:
    key = await hub.hotline_key()
    bad = ticket(QINGXIU_SEAT)
    del bad["ticket_no"]
    bad["location"]["lat"] = 123.0
    bad["location"]["crs"] = "mercator"
    bad["type"] = "rant"
    status, body = await push(hub, key, bad)
    assert status == 422
    fields = {f["field"] for f in body["error"]["fields"]}
    assert {"ticket_no", "location.lat", "location.crs", "type"} <= fields

    # No place and no content: nothing to place it by; the 422 names the missing field.
    status, body = await push(hub, key, {k: v for k, v in ticket().items() if k != "content"})
    assert status == 422 and [f["field"] for f in body["error"]["fields"]] == ["content"]

    async with hub.http.post(f"{hub.base}/api/v1/hotline/tickets", data=b"{not json",
                             headers={"X-API-Key": key}) as resp:
        assert resp.status == 400
    assert (await push(hub, "clk_wrong", ticket(QINGXIU_SEAT)))[0] == 401
    operator = await hub.login("city_operator", None)
    async with hub.http.post(f"{hub.base}/api/v1/hotline/tickets", json=ticket(QINGXIU_SEAT),
                             headers={"Authorization": f"Bearer {operator}"}) as resp:
        assert resp.status == 403


async def test_case_reads_are_clipped_to_role_and_area(hub: Hub) -> None:
    key = await hub.hotline_key()
    _, placed = await push(hub, key, ticket(QINGXIU_SEAT, confidential=True))
    _, unplaced = await push(hub, key, ticket(None, address="某小区门口"))
    _, outside = await push(hub, key, ticket((106.0, 25.0)))  # far outside Nanning
    tokens = {
        "qingxiu": await hub.login("county_dispatcher", "450103"),
        "xingning": await hub.login("county_dispatcher", "450102"),
        "operator": await hub.login("city_operator", None),
    }

    async def get(who: str, case_id: str) -> tuple[int, dict[str, Any]]:
        async with hub.http.get(f"{hub.base}/api/v1/cases/{case_id}",
                                headers={"Authorization": f"Bearer {tokens[who]}"}) as resp:
            return resp.status, await resp.json()

    status, case = await get("qingxiu", placed["case_id"])
    assert status == 200 and case["state"] == "dispatched" and case["version"] == 2
    assert [t["type"] for t in case["timeline"]] == ["case.received", "case.dispatched"]
    # 保密 protects the caller: the county's dispatcher reads the problem (to dispatch it), not who called.
    assert case["report"]["content"] == "路灯不亮" and case["report"]["reporter"]["phone"] == "138****1234"
    assert case["timeline"][0]["data"]["report"]["reporter"]["name"] == "张*"
    assert (await get("xingning", placed["case_id"]))[0] == 404, "another county's case: as if it did not exist"
    status, full = await get("operator", placed["case_id"])
    assert full["report"]["content"] == "路灯不亮" and full["report"]["reporter"]["phone"] == "13812341234"

    status, case = await get("operator", unplaced["case_id"])
    assert (case["state"], case["triage_reason"]) == ("triage", "address_unmatched")
    assert (await get("qingxiu", unplaced["case_id"]))[0] == 404, "unplaced cases belong to the city"
    status, case = await get("operator", outside["case_id"])
    assert (case["state"], case["triage_reason"]) == ("triage", "outside_city")

    async with hub.http.get(f"{hub.base}/api/v1/cases",
                            headers={"Authorization": f"Bearer {tokens['xingning']}"}) as resp:
        assert (await resp.json())["cases"] == []
    async with hub.http.get(f"{hub.base}/api/v1/cases", params={"limit": "2"},
                            headers={"Authorization": f"Bearer {tokens['operator']}"}) as resp:
        page = await resp.json()
    async with hub.http.get(f"{hub.base}/api/v1/cases", params={"limit": "2", "cursor": page["next_cursor"]},
                            headers={"Authorization": f"Bearer {tokens['operator']}"}) as resp:
        rest = await resp.json()
    listed = [c["case_id"] for c in page["cases"] + rest["cases"]]
    assert sorted(listed) == sorted([placed["case_id"], unplaced["case_id"], outside["case_id"]])
    assert rest["next_cursor"] is None
    async with hub.http.get(f"{hub.base}/api/v1/cases", params={"state": "bogus"},
                            headers={"Authorization": f"Bearer {tokens['operator']}"}) as resp:
        assert resp.status == 422 and (await resp.json())["error"]["fields"][0]["field"] == "state"


async def test_address_only_tickets_route_by_text_or_go_to_triage(hub: Hub) -> None:
    key = await hub.hotline_key()
    operator = await hub.login("city_operator", None)

    async def case_of(address: str) -> dict[str, Any]:
        status, body = await push(hub, key, ticket(None, address=address))
        assert status == 202
        async with hub.http.get(f"{hub.base}/api/v1/cases/{body['case_id']}",
                                headers={"Authorization": f"Bearer {operator}"}) as resp:
            return dict(await resp.json())

    by_text = await case_of("南宁市兴宁区民生街道兴宁社区门口")
    assert by_text["state"] == "dispatched"
    assert by_text["areas"]["county"]["code"] == "450102"
    assert by_text["areas"]["township"] == {"code": "450102001", "name": "民生街道"}
    assert by_text["areas"]["community"]["name"] == "兴宁社区居委会"
    assert by_text["units"]["lead"]["name"] == "兴宁区城市管理局"
    ambiguous = await case_of("新兴社区门口路灯坏了")  # five communities share the name
    assert (ambiguous["state"], ambiguous["triage_reason"]) == ("triage", "address_ambiguous")
    elsewhere = await case_of("柳州市城中区某路口")
    assert (elsewhere["state"], elsewhere["triage_reason"]) == ("triage", "outside_city")


async def test_a_ticket_placed_only_by_its_content_reaches_that_county(hub: Hub) -> None:
    """Neither `location` nor `address`: the village the caller names in the content places the case."""
    key = await hub.hotline_key()
    status, body = await push(hub, key, ticket(None, category="070101", content="我在双义村这边，道路积水"))
    assert status == 202
    xixiangtang = await hub.login("county_dispatcher", "450107")
    async with hub.http.get(f"{hub.base}/api/v1/cases/{body['case_id']}",
                            headers={"Authorization": f"Bearer {xixiangtang}"}) as resp:
        assert resp.status == 200
        case = await resp.json()
    assert case["state"] == "dispatched"
    assert case["areas"]["township"] == {"code": "450107100", "name": "金陵镇"}
    assert case["areas"]["community"] == {"code": "450107100207", "name": "双义村委会"}
    assert case["routing"]["method"] == "text" and case["routing"]["located_from_text"] is True
    assert case["routing"]["evidence"] == {"community": "双义村"}
    assert case["units"]["lead"]["name"] == "西乡塘区住房和城乡建设局"
    async with hub.http.get(f"{hub.base}/api/v1/cases", headers={"Authorization": f"Bearer {xixiangtang}"}) as resp:
        assert [c["case_id"] for c in (await resp.json())["cases"]] == [body["case_id"]]
    xingning = await hub.login("county_dispatcher", "450102")
    async with hub.http.get(f"{hub.base}/api/v1/cases", headers={"Authorization": f"Bearer {xingning}"}) as resp:
        assert (await resp.json())["cases"] == []


async def test_a_ticket_naming_no_place_anywhere_is_accepted_for_triage(hub: Hub) -> None:
    key = await hub.hotline_key()
    status, body = await push(hub, key, ticket(None, content="我家楼下一排路灯晚上全部不亮，已经三天了"))
    assert status == 202
    operator = await hub.login("city_operator", None)
    async with hub.http.get(f"{hub.base}/api/v1/queues/triage",
                            headers={"Authorization": f"Bearer {operator}"}) as resp:
        triage = (await resp.json())["cases"]
    assert [(c["case_id"], c["triage_reason"]) for c in triage] == [(body["case_id"], "no_location")]
    assert triage[0]["report"]["content"] == "我家楼下一排路灯晚上全部不亮，已经三天了"
    assert "located_from_text" not in triage[0]["routing"]


async def test_console_needs_a_valid_token(hub: Hub) -> None:
    with pytest.raises(aiohttp.WSServerHandshakeError) as info:
        await hub.http.ws_connect(f"{hub.ws_base}/ws/console?token=nope")
    assert info.value.status == 401


async def test_health_readiness_and_openapi(hub: Hub) -> None:
    async with hub.http.get(f"{hub.base}/healthz") as resp:
        assert resp.status == 200
    async with hub.http.get(f"{hub.base}/readyz") as resp:
        assert resp.status == 200 and (await resp.json())["checks"] == {"postgres": "ok", "redis": "ok"}
    async with hub.http.get(f"{hub.base}/openapi.json") as resp:
        spec = await resp.json()
    assert spec["openapi"].startswith("3.1")
    assert "/api/v1/hotline/tickets" in spec["paths"]
    assert "ticket_no" in spec["components"]["schemas"]["HotlineTicket"]["properties"]
    served = {r.canonical for r in hub.app.router.resources() if r.canonical.startswith("/api/")}
    assert served <= set(spec["paths"]), f"undocumented: {served - set(spec['paths'])}"
