"""保密 tickets over HTTP and the console websocket (issue 15, item 1): the handling units' staff read what they
must solve, never the caller; other units, the grid, the auditor and the public read neither; every unmasked
single read is in the access audit; lists and the live feed never carry a caller, and carry a confidential
ticket's content only to its handling units' staff (their queue)."""

from __future__ import annotations

import io
import uuid
from typing import Any

from PIL import Image

from hub.identity.auth import add_user
from hub.keys import POOL
from tests.conftest import Hub
from tests.e2e.test_grid_reports import fetch_photo, upload
from tests.e2e.test_hotline_to_console import QINGXIU_SEAT, console, events_until, has_case, push, ticket

PASSWORD = "correct horse battery"
CONTENT = "楼下商铺占道堆放垃圾，举报人要求保密"
CALLER_PHONE = "13812341234"


async def sign_in(hub: Hub, role: str, area: str | None, unit: str | None = None) -> str:
    username = f"{role}-{uuid.uuid4().hex[:6]}"
    await add_user(hub.app[POOL], username, PASSWORD, role, area, unit=unit)
    async with hub.http.post(f"{hub.base}/api/v1/auth/login",
                             json={"username": username, "password": PASSWORD}) as resp:
        assert resp.status == 200, await resp.text()
        return str((await resp.json())["token"])


async def call(hub: Hub, token: str, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
    async with hub.http.request(method, f"{hub.base}{path}", headers={"Authorization": f"Bearer {token}"},
                                **kwargs) as resp:
        return resp.status, await resp.json()


async def test_who_reads_a_confidential_ticket_over_http_and_the_websocket(hub: Hub) -> None:
    key = await hub.hotline_key()
    # 暴露垃圾 is township-led with the county's urban management bureau assisting (R-sanitation-township).
    status, placed = await push(hub, key, ticket(QINGXIU_SEAT, category="exposed_rubbish", content=CONTENT,
                                                 confidential=True))
    assert status == 202, placed
    case_id = placed["case_id"]
    operator = await sign_in(hub, "city_operator", None)
    _, full = await call(hub, operator, "GET", f"/api/v1/cases/{case_id}")
    areas, units = full["areas"], full["units"]
    township, county = areas["township"]["code"], areas["county"]["code"]
    assert units["lead"]["code"] == f"{township}-gov" and units["assist"][0]["code"] == f"{county}-cgj"
    other_township = next(c for c in (f"{county}{n:03d}" for n in range(1, 20)) if c != township)
    grid = (areas.get("grid") or areas.get("community") or areas["township"])["code"]

    # role → (token, HTTP status of the case read, sees the content, sees the caller)
    people: dict[str, tuple[str, int, bool, bool]] = {
        "admin": (await sign_in(hub, "admin", None), 200, True, True),
        "city_operator": (operator, 200, True, True),
        "county_dispatcher": (await sign_in(hub, "county_dispatcher", county), 200, True, False),
        "lead township's handler": (await sign_in(hub, "township_handler", township), 200, True, False),
        "assisting bureau's staff": (await sign_in(hub, "township_handler", county, f"{county}-cgj"), 200, True, False),
        "another bureau's staff": (await sign_in(hub, "township_handler", county, f"{county}-zjj"), 200, False, False),
        "another township's handler": (await sign_in(hub, "township_handler", other_township), 404, False, False),
        "grid_worker": (await sign_in(hub, "grid_worker", grid), 200, False, False),
        "auditor": (await sign_in(hub, "auditor", None), 200, False, False),
    }
    auditor = people["auditor"][0]
    _, before = await call(hub, auditor, "GET", "/api/v1/audit", params={"kind": "personal_data_read"})

    for who, (token, expected_status, content, caller) in people.items():
        status, case = await call(hub, token, "GET", f"/api/v1/cases/{case_id}")
        assert status == expected_status, (who, case)
        if status != 200:
            assert CONTENT not in str(case)
            continue
        assert (case["report"]["content"] == CONTENT) is content, who
        assert (CONTENT in str(case)) is content, f"{who}: the timeline's case.received follows the same rule"
        assert bool(case["report"].get("content_hidden")) is not content, who
        assert (CALLER_PHONE in str(case)) is caller, who
        assert (case["location"] is not None) is content, who

    # The public: machines get no case reads, and Open311 never lists a hotline ticket.
    open311 = await hub.api_key("open311")
    async with hub.http.get(f"{hub.base}/api/v1/cases/{case_id}", headers={"Authorization": f"Bearer {open311}"}) as r:
        assert r.status in (401, 403) and CONTENT not in await r.text()
    async with hub.http.get(f"{hub.base}/open311/v2/requests.json", params={"api_key": open311}) as r:
        assert CONTENT not in await r.text()

    # Every unmasked read is recorded, with what it revealed; masked reads are not.
    _, after = await call(hub, auditor, "GET", "/api/v1/audit", params={"kind": "personal_data_read"})
    new = after["entries"][: len(after["entries"]) - len(before["entries"])]
    recorded = sorted((e["role"], tuple(e["detail"]["data"])) for e in new)
    assert recorded == sorted([
        ("admin", ("reporter", "confidential_content")), ("city_operator", ("reporter", "confidential_content")),
        ("county_dispatcher", ("confidential_content",)), ("township_handler", ("confidential_content",)),
        ("township_handler", ("confidential_content",))])

    # The lead unit's handler acts on it and reads the answer's case like the case read.
    handler = people["lead township's handler"][0]
    status, acted = await call(hub, handler, "POST", f"/api/v1/cases/{case_id}/actions",
                               json={"action": "accept", "expected_version": full["version"]})
    assert status == 200, acted
    assert acted["case"]["report"]["content"] == CONTENT and CALLER_PHONE not in str(acted)

    # Lists, queues and the console feed (snapshot and frames) never carry the caller, and carry the content only
    # to the staff of the handling units: it is their queue. Everyone else opens the case (an audited read).
    in_lists = {"lead township's handler", "assisting bureau's staff"}
    feeds = ("city_operator", "county_dispatcher", "lead township's handler", "assisting bureau's staff",
             "another bureau's staff", "grid_worker")
    sockets = {}
    for who in feeds:
        token = people[who][0]
        shows = who in in_lists
        _, listed = await call(hub, token, "GET", "/api/v1/cases")
        _, queued = await call(hub, token, "GET", "/api/v1/queues/overdue")
        assert case_id in {c["case_id"] for c in listed["cases"]}, who
        assert (CONTENT in str(listed)) is shows and CALLER_PHONE not in str(listed), who
        assert CALLER_PHONE not in str(queued), who
        ws, _ = await console(hub, token, [])
        snapshot = await ws.receive_json(timeout=5)
        assert snapshot["type"] == "snapshot"
        [held] = [c for c in snapshot["cases"] if c["case_id"] == case_id]
        assert bool(held["report"].get("content_hidden")) is not shows and (CONTENT in str(snapshot)) is shows, who
        assert CALLER_PHONE not in str(snapshot)
        sockets[who] = ws
    # A new confidential ticket while they watch: each feed shows it as that person's lists do.
    fresh = CONTENT + "（再次来电）"
    _, second = await push(hub, key, ticket(QINGXIU_SEAT, category="exposed_rubbish", content=fresh,
                                            confidential=True))
    for who, ws in sockets.items():
        got = await events_until(ws, has_case(second["case_id"], "case.dispatched"))
        seen = [e for e in got if e["case_id"] == second["case_id"]]
        assert (fresh in str(seen)) is (who in in_lists), who
        assert CALLER_PHONE not in str(got) and "张三" not in str(got), who
        await ws.close()
    _, after_feeds = await call(hub, auditor, "GET", "/api/v1/audit", params={"kind": "personal_data_read"})
    assert len(after_feeds["entries"]) == len(after["entries"]) + 1, "lists and feeds are not recorded; the " \
        "action's answer to the handler is"
    assert after_feeds["entries"][0]["path"] == f"POST /api/v1/cases/{case_id}/actions"

    image = io.BytesIO()
    Image.new("RGB", (64, 48), (90, 120, 60)).save(image, "JPEG")
    status, stored = await upload(hub, handler, "site.jpg", image.getvalue())
    assert status == 201, stored
    _, now = await call(hub, handler, "GET", f"/api/v1/cases/{case_id}")  # the second ticket may link to it
    status, _ = await call(hub, handler, "POST", f"/api/v1/cases/{case_id}/actions",
                           json={"action": "progress", "expected_version": now["version"],
                                 "note": "已到现场", "photos": [stored["photo_id"]]})
    assert status == 200

    # A photo of a confidential case shows the problem too: served by the same rule, 404 alike otherwise.
    for who, (token, _read, content, _caller) in people.items():
        status, _body, _headers = await fetch_photo(hub, token, case_id, stored["photo_id"])
        assert status == (200 if content else 404), who
