"""The access audit (issue 12, item 7): every read of unmasked personal data is recorded — who, when, which case,
through which path —; lists, queues and the live feed carry only the masked view; GET /api/v1/audit lists the
entries for admins and auditors, with validated filters and cursor paging."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from tests.conftest import Hub
from tests.e2e.test_hotline_to_console import QINGXIU_SEAT, console, push, ticket


async def call(hub: Hub, token: str, method: str, path: str, **kwargs: Any) -> tuple[int, Any]:
    async with hub.http.request(method, f"{hub.base}{path}", headers={"Authorization": f"Bearer {token}"},
                                **kwargs) as resp:
        return resp.status, await resp.json()


async def reads(hub: Hub, auditor: str, **params: str) -> list[dict[str, Any]]:
    status, body = await call(hub, auditor, "GET", "/api/v1/audit", params={"kind": "personal_data_read", **params})
    assert status == 200, body
    return list(body["entries"])


async def test_an_operator_reading_a_caller_is_recorded_once_a_masked_reader_never(hub: Hub) -> None:
    key = await hub.hotline_key()
    _, placed = await push(hub, key, ticket(QINGXIU_SEAT))
    case_id = placed["case_id"]
    operator, auditor = await hub.login("city_operator", None), await hub.login("auditor", None)
    status, case = await call(hub, operator, "GET", f"/api/v1/cases/{case_id}")
    assert status == 200 and case["report"]["reporter"]["phone"] == "13812341234"
    [entry] = await reads(hub, auditor)
    assert entry["case_id"] == case_id and entry["role"] == "city_operator"
    assert entry["username"].startswith("city_operator-") and entry["address"] == "127.0.0.1"
    assert entry["path"] == f"GET /api/v1/cases/{case_id}" and entry["detail"] == {"data": ["reporter"]}
    assert datetime.fromisoformat(entry["at"]) > datetime.now(UTC) - timedelta(minutes=1)

    handler = await hub.login("township_handler", case["areas"]["township"]["code"])
    status, masked = await call(hub, handler, "GET", f"/api/v1/cases/{case_id}")
    assert status == 200 and masked["report"]["reporter"]["phone"] == "138****1234"
    assert len(await reads(hub, auditor)) == 1, "a masked read reveals nothing and is not recorded"

    # An action's answer carries the case unmasked to the operator: recorded as well, with its path.
    status, acted = await call(hub, operator, "POST", f"/api/v1/cases/{case_id}/actions",
                               json={"action": "supervise", "expected_version": case["version"], "note": "请加快"})
    assert status == 200 and acted["case"]["report"]["reporter"]["name"] == "张三"
    newest = (await reads(hub, auditor))[0]
    assert newest["path"] == f"POST /api/v1/cases/{case_id}/actions" and newest["case_id"] == case_id


async def test_lists_queues_and_the_live_feed_are_masked_for_every_role(hub: Hub) -> None:
    key = await hub.hotline_key()
    operator, auditor = await hub.login("city_operator", None), await hub.login("auditor", None)
    ws, _ = await console(hub, operator, [])
    assert (await ws.receive_json(timeout=5))["type"] == "snapshot"
    _, placed = await push(hub, key, ticket(QINGXIU_SEAT, confidential=True))
    _, unplaced = await push(hub, key, ticket(None, address="某小区门口"))

    _, listed = await call(hub, operator, "GET", "/api/v1/cases")
    _, triage = await call(hub, operator, "GET", "/api/v1/queues/triage")
    feed: list[dict[str, Any]] = []
    while not {placed["case_id"], unplaced["case_id"]} <= {e["case_id"] for e in feed}:
        frame = await ws.receive_json(timeout=5)
        feed += frame.get("events", [])
    whole = [e["case"] for e in feed if not e["case"].get("patch")]  # patches carry no report (tests/unit/...)
    shown = [*listed["cases"], *triage["cases"], *whole]
    assert len(listed["cases"]) == 2 and [c["case_id"] for c in triage["cases"]] == [unplaced["case_id"]]
    assert {c["report"]["reporter"]["phone"] for c in shown} == {"138****1234"}
    assert "路灯不亮" not in str([c for c in shown if c["case_id"] == placed["case_id"]]), "confidential content"
    assert "路灯不亮" not in str([e for e in feed if e["case_id"] == placed["case_id"]]), "patches hide it too"
    assert "13812341234" not in str(feed)
    assert await reads(hub, auditor) == [], "nothing unmasked left the hub, so nothing is recorded"
    await ws.close()

    _, opened = await call(hub, operator, "GET", f"/api/v1/cases/{placed['case_id']}")
    assert opened["report"]["content"] == "路灯不亮"
    [entry] = await reads(hub, auditor)
    assert entry["detail"] == {"data": ["reporter", "confidential_content"]}


async def test_a_case_without_personal_data_is_read_without_an_entry(hub: Hub) -> None:
    body = ticket(QINGXIU_SEAT)
    del body["reporter"]
    _, placed = await push(hub, await hub.hotline_key(), body)
    operator, auditor = await hub.login("city_operator", None), await hub.login("auditor", None)
    assert (await call(hub, operator, "GET", f"/api/v1/cases/{placed['case_id']}"))[0] == 200
    assert await reads(hub, auditor) == []


async def test_the_audit_filters_pages_and_refuses_bad_filters_by_name(hub: Hub) -> None:
    key = await hub.hotline_key()
    cases = [(await push(hub, key, ticket(QINGXIU_SEAT)))[1]["case_id"] for _ in range(3)]
    operator, admin = await hub.login("city_operator", None), await hub.login("admin", None)
    before = datetime.now(UTC)
    for case_id in cases:
        assert (await call(hub, operator, "GET", f"/api/v1/cases/{case_id}"))[0] == 200

    seen: list[str] = []
    cursor: str | None = None
    while True:
        params = {"limit": "2", **({"cursor": cursor} if cursor else {})}
        status, page = await call(hub, admin, "GET", "/api/v1/audit", params=params)
        assert status == 200 and len(page["entries"]) <= 2
        seen += [e["case_id"] for e in page["entries"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == cases[::-1], "newest first, each once across pages"
    assert [e["case_id"] for e in await reads(hub, admin, case_id=cases[1])] == [cases[1]]
    assert len(await reads(hub, admin, **{"from": before.isoformat()})) == 3
    assert await reads(hub, admin, to=before.isoformat()) == []
    assert await reads(hub, admin, username="someone-else") == []

    for params, field in (({"kind": "everything"}, "kind"), ({"case_id": "42"}, "case_id"),
                          ({"from": "2026-01-01T00:00:00"}, "from"), ({"limit": "0"}, "limit"),
                          ({"cursor": "next"}, "cursor"), ({"username": "a\x00b"}, "username"),
                          ({"username": "x" * 65}, "username"), ({"sort": "id"}, "sort"),
                          ({"from": "2026-02-01T00:00:00Z", "to": "2026-01-01T00:00:00Z"}, "to")):
        status, body = await call(hub, admin, "GET", "/api/v1/audit", params=params)
        assert status == 422 and [f["field"] for f in body["error"]["fields"]] == [field], (params, body)
    assert (await call(hub, operator, "GET", "/api/v1/audit"))[0] == 403
