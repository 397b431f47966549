"""Directives (政令一键智达) end to end: issued to every township of a county or to named units, seen and answered
only by the units addressed (someone else's is a 404), once per unit, field errors naming the field (an unknown unit
named in the 422), jurisdiction, live frames and snapshots, reminders and overdue with the test clock across a
restart, and the rebuilt projection equal to the live one."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import aiohttp

from hub.infra.clock import FixedClock
from hub.infra.settings import Settings
from hub.keys import DIRECTIVES, POLICY, POOL
from hub.store.directives import DirectiveProjection
from tests.conftest import Hub, running_hub
from tests.e2e.test_hotline_to_console import console
from tests.unit.test_grid_report import png

QINGXIU = "450103"


async def call(hub: Hub, token: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
    async with hub.http.request(method, f"{hub.base}{path}", json=body,
                                headers={"Authorization": f"Bearer {token}"}) as resp:
        return resp.status, await resp.json()


def body(recipients: dict[str, Any], **extra: Any) -> dict[str, Any]:
    due = (datetime.now(UTC) + timedelta(hours=2)).isoformat()
    return {"title": "台风今夜登陆", "content": "请立即排查辖区排水设施和户外广告牌", "recipients": recipients,
            "due": due, "reply": "ack", **extra}


async def townships(hub: Hub, token: str, county: str) -> list[str]:
    status, found = await call(hub, token, "GET", f"/api/v1/areas?level=township&parent={county}")
    assert status == 200, found
    items = found["areas"] if isinstance(found, dict) else found
    return [a["code"] for a in items]


def fields(answer: Any) -> list[str]:
    return [f["field"] for f in answer["error"]["fields"]]


async def directive_frames_until(ws: aiohttp.ClientWebSocketResponse, done: Any, timeout: float = 15.0) -> list[Any]:
    found: list[Any] = []
    async with asyncio.timeout(timeout):
        while not done(found):
            msg = await ws.receive_json()
            if msg["type"] == "batch":
                found += [e["directive"] for e in msg["events"] if e["type"] == "directive"]
    return found


async def test_a_directive_to_every_township_of_a_county_is_answered_once_per_unit_and_tracked_live(hub: Hub) -> None:
    operator = await hub.login("city_operator", None)
    codes = await townships(hub, operator, QINGXIU)
    assert len(codes) >= 2
    first, second = (await hub.login("township_handler", codes[0]), await hub.login("township_handler", codes[1]))
    stranger = await hub.login("township_handler", "450102001")
    qingxiu, xingning = await hub.login("county_dispatcher", QINGXIU), await hub.login("county_dispatcher", "450102")
    ws_op, _ = await console(hub, operator, [])
    ws_first, _ = await console(hub, first, [])
    ws_stranger, _ = await console(hub, stranger, [])
    for ws in (ws_op, ws_first, ws_stranger):
        assert (await ws.receive_json(timeout=5))["type"] == "snapshot"

    status, created = await call(hub, operator, "POST", "/api/v1/directives",
                                 body({"level": "township", "parent": QINGXIU}))
    assert status == 201, created
    assert created["recipients"] == len(codes)
    path = f"/api/v1/directives/{created['directive_id']}"
    status, doc = await call(hub, operator, "GET", path)
    assert status == 200 and doc["total"] == len(codes) and doc["state"] == "open"
    assert {r["unit"]["code"] for r in doc["recipients"]} == {f"{c}-gov" for c in codes}
    assert all(r["unit"]["name"].endswith("人民政府") and r["state"] == "pending" for r in doc["recipients"])

    # Who sees it: the units addressed and the county concerned; not another county's dispatcher or township.
    for token, seen in ((first, True), (qingxiu, True), (stranger, False), (xingning, False)):
        status, _ = await call(hub, token, "GET", path)
        assert status == (200 if seen else 404)
        status, listed = await call(hub, token, "GET", "/api/v1/directives")
        assert status == 200 and (created["directive_id"] in [d["directive_id"] for d in listed["directives"]]) is seen

    # Answering someone else's directive is a 404, as a case one may not see; the county is no recipient either.
    for token in (stranger, qingxiu):
        status, answer = await call(hub, token, "POST", f"{path}/ack")
        assert status == 404, answer
    status, answer = await call(hub, first, "POST", f"{path}/reply", {"text": "已排查"})
    assert status == 422 and answer["error"]["code"] == "reply_not_required"

    status, doc = await call(hub, first, "POST", f"{path}/ack")
    assert status == 200 and doc["acknowledged"] == 1
    mine = next(r for r in doc["recipients"] if r["unit"]["code"] == f"{codes[0]}-gov")
    assert mine["state"] == "acknowledged" and mine["by"]["role"] == "township_handler" and mine["at"]
    status, again = await call(hub, first, "POST", f"{path}/ack")
    assert status == 200 and again["version"] == doc["version"], "a second 签收 of the same unit changes nothing"

    # Live: the operator sees the progress; the addressed township its directive; the stranger nothing.
    frames = await directive_frames_until(ws_op, lambda found: any(d["acknowledged"] == 1 for d in found))
    assert frames[-1]["directive_id"] == created["directive_id"]
    await directive_frames_until(ws_first, lambda found: any(d["acknowledged"] == 1 for d in found))
    status, doc = await call(hub, second, "POST", f"{path}/ack")
    assert status == 200 and doc["acknowledged"] == 2
    await directive_frames_until(ws_op, lambda found: any(d["acknowledged"] == 2 for d in found))
    try:
        async with asyncio.timeout(1.0):
            while True:
                msg = await ws_stranger.receive_json()
                assert msg["type"] != "batch" or not [e for e in msg["events"] if e["type"] == "directive"]
    except TimeoutError:
        pass
    # A console connecting now gets the directive in its snapshot.
    ws_late, _ = await console(hub, qingxiu, [])
    snapshot = await ws_late.receive_json(timeout=5)
    assert [d["acknowledged"] for d in snapshot["directives"] if d["directive_id"] == created["directive_id"]] == [2]
    for ws in (ws_op, ws_first, ws_stranger, ws_late):
        await ws.close()


async def test_named_units_field_errors_and_jurisdiction(hub: Hub) -> None:
    qingxiu = await hub.login("county_dispatcher", QINGXIU)
    codes = await townships(hub, qingxiu, QINGXIU)
    units = ["450103-cgj", f"{codes[0]}-gov"]
    status, created = await call(hub, qingxiu, "POST", "/api/v1/directives", body({"units": units}))
    assert status == 201 and created["recipients"] == 2
    post = "/api/v1/directives"
    status, answer = await call(hub, qingxiu, "POST", post, body({"units": ["450103-cgj", "450103-nosuch"]}))
    assert status == 422 and fields(answer) == ["recipients.units[1]"] and "450103-nosuch" in answer["error"]["message"]
    status, answer = await call(hub, qingxiu, "POST", post, body({"units": ["450102-gov"]}))
    assert status == 403 and fields(answer) == ["recipients.units[0]"]
    status, answer = await call(hub, qingxiu, "POST", post, body({"level": "township", "parent": "450102"}))
    assert status == 403 and fields(answer) == ["recipients.parent"]
    status, answer = await call(hub, qingxiu, "POST", post, body({"level": "township", "parent": "450103999"}))
    assert status == 422 and fields(answer) == ["recipients.parent"]
    bad: list[tuple[dict[str, Any], str]] = [
        (body({"units": units}, due=(datetime.now(UTC) - timedelta(minutes=1)).isoformat()), "due"),
        (body({"units": units}, due="2026-12-01T10:00:00"), "due"),
        (body({"units": units}, title=""), "title"),
        (body({"units": units}, content="a\x00b"), "content"),
        (body({"units": units}, title="x" * 121), "title"),
        (body({"units": units}, reply="maybe"), "reply"),
        (body({"units": units}, attachments=["0" * 64]), "attachments[0]"),
        (body({"units": units, "level": "township", "parent": QINGXIU}), "recipients"),
        (body({"units": []}), "recipients.units"),
    ]
    for sent, field in bad:
        status, answer = await call(hub, qingxiu, "POST", post, sent)
        assert status == 422, (field, answer)
        assert any(f == field or f.startswith(field) for f in fields(answer)), (field, answer)
    handler = await hub.login("township_handler", codes[0])
    status, _ = await call(hub, handler, "POST", post, body({"units": units}))
    assert status == 403
    status, _ = await call(hub, handler, "POST", f"/api/v1/directives/{created['directive_id']}/remind", {})
    assert status == 403, "only the issuer (or the level above) reminds"


async def test_every_county_government_or_bureau_of_the_city_and_the_incident_filter(hub: Hub) -> None:
    operator = await hub.login("city_operator", None)
    counties = await call(hub, operator, "GET", "/api/v1/areas?level=county")
    codes = [a["code"] for a in counties[1]["areas"]]
    status, declared = await call(hub, operator, "POST", "/api/v1/incidents", {
        "kind": "typhoon", "level": "II", "title": "台风“海燕”", "areas": ["450100"], "categories": ["01"]})
    assert status == 201, declared
    incident = declared["incident_id"]
    for unknown in ("INC-2026-007", str(uuid.uuid4())):  # a directive under an incident names a real one
        status, answer = await call(hub, operator, "POST", "/api/v1/directives",
                                    body({"level": "county", "parent": "450100"}, incident_id=unknown))
        assert status == 422 and fields(answer) == ["incident_id"], answer
    status, created = await call(hub, operator, "POST", "/api/v1/directives",
                                 body({"level": "county", "parent": "450100"}, incident_id=incident))
    assert status == 201 and created["recipients"] == len(codes) >= 12
    status, bureaus = await call(hub, operator, "POST", "/api/v1/directives",
                                 body({"level": "county", "parent": "450100", "kind": "cgj"}))
    assert status == 201 and bureaus["recipients"] == len(codes)
    status, doc = await call(hub, operator, "GET", f"/api/v1/directives/{bureaus['directive_id']}")
    assert {r["unit"]["code"] for r in doc["recipients"]} == {f"{c}-cgj" for c in codes}
    status, answer = await call(hub, operator, "POST", "/api/v1/directives",
                                body({"level": "county", "parent": "450100", "kind": "nosuch"}))
    assert status == 422 and fields(answer) == ["recipients"]
    status, listed = await call(hub, operator, "GET", f"/api/v1/directives?incident={incident}")
    assert [d["directive_id"] for d in listed["directives"]] == [created["directive_id"]]
    # A county's dispatcher sees the city's directive to its government; another county's township does not.
    qingxiu = await hub.login("county_dispatcher", QINGXIU)
    status, listed = await call(hub, qingxiu, "GET", "/api/v1/directives")
    assert created["directive_id"] in [d["directive_id"] for d in listed["directives"]]
    status, _ = await call(hub, qingxiu, "POST", f"/api/v1/directives/{created['directive_id']}/remind", {})
    assert status == 403, "a county does not remind for the city"


async def test_a_report_is_made_once_with_photos_seen_by_the_issuer(hub: Hub) -> None:
    operator = await hub.login("city_operator", None)
    codes = await townships(hub, operator, QINGXIU)
    handler = await hub.login("township_handler", codes[0])
    form = aiohttp.FormData()
    form.add_field("photo", png(7), filename="drain.png", content_type="image/png")
    async with hub.http.post(f"{hub.base}/api/v1/photos", data=form,
                             headers={"Authorization": f"Bearer {handler}"}) as resp:
        assert resp.status == 201, await resp.text()
        photo = (await resp.json())["photo_id"]
    status, created = await call(hub, operator, "POST", "/api/v1/directives",
                                 body({"units": [f"{codes[0]}-gov", f"{codes[1]}-gov"]}, reply="report"))
    assert status == 201
    path = f"/api/v1/directives/{created['directive_id']}"
    status, answer = await call(hub, handler, "POST", f"{path}/reply", {"text": "", "photos": []})
    assert status == 422 and fields(answer) == ["text"]
    status, answer = await call(hub, handler, "POST", f"{path}/reply", {"text": "ok", "photos": ["f" * 64]})
    assert status == 422 and fields(answer) == ["photos[0]"]
    status, doc = await call(hub, handler, "POST", f"{path}/reply", {"text": "已排查 12 处", "photos": [photo]})
    assert status == 200 and doc["replied"] == 1 and doc["acknowledged"] == 1 and doc["state"] == "open"
    status, answer = await call(hub, handler, "POST", f"{path}/reply", {"text": "again"})
    assert status == 409 and answer["error"]["code"] == "already_replied"
    status, doc = await call(hub, operator, "GET", path)
    mine = next(r for r in doc["recipients"] if r["state"] == "replied")
    assert mine["reply"]["text"].startswith("已排查") and mine["reply"]["photos"] == [photo]
    async with hub.http.get(f"{hub.base}{path}/photos/{photo}", headers={"Authorization": f"Bearer {operator}"}) as r:
        assert r.status == 200 and r.content_type == "image/png"
    stranger = await hub.login("township_handler", "450102001")
    async with hub.http.get(f"{hub.base}{path}/photos/{photo}", headers={"Authorization": f"Bearer {stranger}"}) as r:
        assert r.status == 404


async def test_reminders_and_overdue_follow_the_clock_once_across_a_restart(settings: Settings) -> None:
    start = datetime.now(UTC).replace(microsecond=0)
    clock = FixedClock(start)
    slow = settings.model_copy(update={"sla_sweep_s": 3600.0})  # the test decides when timers are looked at
    async with running_hub(slow, clock) as hub:
        operator = await hub.login("city_operator", None)
        codes = await townships(hub, operator, QINGXIU)
        units = [f"{codes[0]}-gov", f"{codes[1]}-gov", "450103-cgj"]
        handler = await hub.login("township_handler", codes[0])
        sent = body({"units": units}, due=(start + timedelta(hours=10)).isoformat())
        status, created = await call(hub, operator, "POST", "/api/v1/directives", sent)
        assert status == 201
        path = f"/api/v1/directives/{created['directive_id']}"
        timers = hub.app[DIRECTIVES]
        clock.advance(timedelta(hours=4))
        assert await timers.sweep() == 0
        status, _ = await call(hub, handler, "POST", f"{path}/ack")
        assert status == 200
        clock.advance(timedelta(hours=1, minutes=1))  # past half the time limit
        assert await timers.sweep() == 1
        assert await timers.sweep() == 0, "a reminder fires once"
        status, doc = await call(hub, operator, "GET", path)
        assert doc["reminders"][-1]["units"] == units[1:] and doc["reminders"][-1]["by"] is None
        # One click of the issuer: remind the ones missing; naming one that answered is a field error.
        status, answer = await call(hub, operator, "POST", f"{path}/remind", {"units": [units[0]]})
        assert status == 422 and fields(answer) == ["units"]
        status, doc = await call(hub, operator, "POST", f"{path}/remind", {})
        assert status == 200 and len(doc["reminders"]) == 2 and doc["reminders"][-1]["by"]["role"] == "city_operator"

    clock.set(start + timedelta(hours=10, minutes=1))  # past the deadline while no hub ran
    async with running_hub(slow, clock) as hub, running_hub(slow, clock) as other:
        fired = await asyncio.gather(hub.app[DIRECTIVES].sweep(), other.app[DIRECTIVES].sweep())
        assert sorted(fired) == [0, 1], "two hubs sweeping at once: the overdue step is appended once"
        status, doc = await call(hub, operator, "GET", path)
        assert doc["state"] == "overdue" and doc["overdue"] == 2 and doc["acknowledged"] == 1
        escalated = {r["unit"]["code"]: (r["escalated_to"] or {}).get("code") for r in doc["recipients"]
                     if r["state"] == "overdue"}
        assert escalated == {units[1]: "450103-gov", units[2]: hub.app[POLICY].directives.city_superior}
        late = await hub.login("township_handler", codes[1])
        status, doc = await call(hub, late, "POST", f"{path}/ack")
        assert status == 200 and doc["overdue"] == 1
        assert next(r for r in doc["recipients"] if r["unit"]["code"] == units[1])["late"] is True
        assert await hub.app[DIRECTIVES].sweep() == 0
        # The projection rebuilt from the events equals the live one.
        pool = hub.app[POOL]
        live = {r["directive_id"]: (r["doc"], r["next_due_at"]) for r in await pool.fetch(
            "SELECT directive_id, doc, next_due_at FROM directives")}
        await DirectiveProjection(hub.app[POLICY].directives).rebuild(pool)
        rebuilt = {r["directive_id"]: (r["doc"], r["next_due_at"]) for r in await pool.fetch(
            "SELECT directive_id, doc, next_due_at FROM directives")}
        assert rebuilt == live
