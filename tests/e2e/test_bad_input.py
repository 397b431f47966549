"""Input that passes a loose check but cannot be stored is refused as bad input, naming the field — never a
500: control characters in any string (bodies, forms, query strings, path ids), dates and ids beyond what
the database holds, area codes of the wrong length, malformed multipart bodies. And a batch with one such
ticket still answers for every ticket."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import orjson
import pytest
from yarl import URL

from hub.infra.embedded import ServiceUrls
from hub.keys import POOL
from tests.conftest import Hub, fresh_database, hub_settings, running_hub
from tests.e2e.test_hotline_to_console import QINGXIU_SEAT, ticket

NUL = "\x00"
BIG = str(10**20)  # more than a bigint holds (2**63 - 1 ≈ 9.2e18)
Answer = tuple[int, list[str]]  # the status, and the fields the error names
Probe = Callable[[Hub], Awaitable[Answer]]


def url(hub: Hub, path: str) -> URL:
    """`path` exactly as written: %00 must reach the hub, not be quoted again."""
    return URL(f"{hub.base}{path}", encoded=True)


async def hub_answer(resp: Any) -> Answer:
    body = await resp.json()
    error = body.get("error") if isinstance(body, dict) else None
    return resp.status, [f["field"] for f in error["fields"]] if error else []


def open311_answer(status: int, body: bytes) -> Answer:
    """Open311 errors are [{code, description}], each description led by the field's name."""
    return status, [e["description"].split(":", 1)[0] for e in orjson.loads(body)]


async def bearer(hub: Hub, role: str = "city_operator", area: str = "450100") -> dict[str, str]:
    return {"Authorization": f"Bearer {await hub.login(role, area)}"}


async def get(hub: Hub, path: str) -> Answer:
    async with hub.http.get(url(hub, path), headers=await bearer(hub)) as resp:
        return await hub_answer(resp)


async def post_ticket(hub: Hub, body: dict[str, Any]) -> Answer:
    async with hub.http.post(f"{hub.base}/api/v1/hotline/tickets", json=body,
                             headers={"X-API-Key": await hub.hotline_key()}) as resp:
        return await hub_answer(resp)


async def open311_post(hub: Hub, **fields: str) -> Answer:
    form = {"api_key": await hub.api_key("open311"), "service_code": "010101", "attribute[urgency]": "normal",
            "long": "108.37", "lat": "22.82", **fields}
    async with hub.http.post(f"{hub.base}/open311/v2/requests.json", data=form) as resp:
        return open311_answer(resp.status, await resp.read())


async def open311_get(hub: Hub, path: str) -> Answer:
    async with hub.http.get(url(hub, f"/open311/v2/{path}")) as resp:
        return open311_answer(resp.status, await resp.read())


async def action_note(hub: Hub) -> Answer:
    body = ticket(QINGXIU_SEAT)
    status, _ = await post_ticket(hub, body)
    assert status == 202
    case = await find_case(hub, body["ticket_no"])
    body = {"action": "comment", "expected_version": case["version"], "note": f"已联系{NUL}市民"}
    async with hub.http.post(f"{hub.base}/api/v1/cases/{case['case_id']}/actions", json=body,
                             headers=await bearer(hub)) as resp:
        return await hub_answer(resp)


async def find_case(hub: Hub, ticket_no: str) -> dict[str, Any]:
    async with hub.http.get(f"{hub.base}/api/v1/cases", params={"ticket_no": ticket_no},
                            headers=await bearer(hub)) as resp:
        [case] = (await resp.json())["cases"]
        return dict(case)


async def login(hub: Hub) -> Answer:
    async with hub.http.post(f"{hub.base}/api/v1/auth/login",
                             json={"username": f"admin{NUL}", "password": "whatever it is"}) as resp:
        return await hub_answer(resp)


async def post_json(hub: Hub, path: str, body: Any) -> Answer:
    async with hub.http.post(f"{hub.base}{path}", json=body, headers=await bearer(hub)) as resp:
        return await hub_answer(resp)


async def grid_report(hub: Hub, **fields: str) -> Answer:
    form = aiohttp.FormData(default_to_multipart=True)
    for name, value in {"category": "exposed_rubbish", "content": "路边垃圾堆积", **fields}.items():
        form.add_field(name, value)
    async with hub.http.post(f"{hub.base}/api/v1/grid/reports", data=form, headers=await bearer(hub)) as resp:
        return await hub_answer(resp)


async def post_path(hub: Hub, path: str) -> Answer:
    async with hub.http.post(url(hub, path), headers=await bearer(hub)) as resp:
        return await hub_answer(resp)


def multipart(path: str, content_type: str, body: bytes) -> Probe:
    async def probe(hub: Hub) -> Answer:
        async with hub.http.post(f"{hub.base}{path}", data=body,
                                 headers={**await bearer(hub), "Content-Type": content_type}) as resp:
            return await hub_answer(resp)
    return probe


# Part headers that are not HTTP headers; a body that never reaches its boundary; a boundary that is not ASCII.
BROKEN_PART = b'--XyZ\r\nContent-Disposition: form-data; name="\x11\x1c"\r\n\r\nvalue\r\n--XyZ--\r\n'
NO_BOUNDARY = b"just some bytes, no parts at all"
MALFORMED = [
    ("multipart/form-data; boundary=XyZ", BROKEN_PART),
    ("multipart/form-data; boundary=XyZ", NO_BOUNDARY),
    ("multipart/form-data", BROKEN_PART),
]

CASES: dict[str, tuple[Probe, int, str]] = {
    # A NUL (or another control character) in any string: bodies, forms, queries, paths.
    "ticket content": (lambda hub: post_ticket(hub, ticket(QINGXIU_SEAT, content=f"路灯{NUL}不亮")), 422, "content"),
    "ticket reporter name": (lambda hub: post_ticket(hub, ticket(QINGXIU_SEAT, reporter={"name": "张\x1b三"})),
                             422, "reporter.name"),
    "open311 description": (lambda hub: open311_post(hub, description=f"路灯{NUL}不亮"), 400, "description"),
    "open311 attribute": (lambda hub: open311_post(hub, **{"attribute[detail]": f"灯杆{NUL}"}), 400,
                          "attribute[detail]"),
    "action note": (action_note, 422, "note"),
    "login username": (login, 422, "username"),
    "cases ?ticket_no=%00": (lambda hub: get(hub, "/api/v1/cases?ticket_no=%00"), 422, "ticket_no"),
    "hotspots ?category=%00": (lambda hub: get(hub, "/api/v1/hotspots?category=x%00"), 422, "category"),
    "devices ?kind=%00": (lambda hub: get(hub, "/api/v1/devices?kind=%00"), 422, "kind"),
    "device path id": (lambda hub: get(hub, "/api/v1/devices/MC%007"), 422, "device_id"),
    "open311 token path": (lambda hub: open311_get(hub, "tokens/ab%00cd.json"), 400, "token"),
    # Dates beyond what the hub's date arithmetic and the database hold.
    "kpis to=0001-01-01": (lambda hub: get(hub, "/api/v1/kpis?to=0001-01-01"), 422, "to"),
    "kpis.csv from=0001-01-01": (lambda hub: get(hub, "/api/v1/kpis.csv?from=0001-01-01"), 422, "from"),
    "open311 end_date year 1": (lambda hub: open311_get(hub, "requests.json?end_date=0001-01-01T00:00:00%2B08:00"),
                                400, "end_date"),
    # Ids beyond bigint.
    "quarantine replay big id": (lambda hub: post_path(hub, f"/api/v1/quarantine/{BIG}/replay"), 422, "item_id"),
    "quarantine discard big id": (lambda hub: post_path(hub, f"/api/v1/quarantine/{BIG}/discard"), 422, "item_id"),
    "quarantine ?after=big": (lambda hub: get(hub, f"/api/v1/quarantine?after={BIG}"), 422, "after"),
    "device path big id": (lambda hub: get(hub, f"/api/v1/devices/{'9' * 100}"), 422, "device_id"),
    # Area codes are 6, 9, 12 or 15 digits.
    "cases area=0398166": (lambda hub: get(hub, "/api/v1/cases?area=0398166"), 422, "area"),
    "queues/triage area=0398166": (lambda hub: get(hub, "/api/v1/queues/triage?area=0398166"), 422, "area"),
    "hotspots area=0398166": (lambda hub: get(hub, "/api/v1/hotspots?area=0398166"), 422, "area"),
    "areas full-width digits": (lambda hub: get(hub, "/api/v1/areas?parent=%EF%BC%94%EF%BC%95%EF%BC%90%EF%BC%91"
                                                     "%EF%BC%90%EF%BC%90"), 422, "parent"),
    # A point in range that is nowhere once converted: Baidu's offset moves a BD-09 pole off the globe.
    "route bd09 pole": (lambda hub: get(hub, "/api/v1/route?lng=-180&lat=-90&crs=bd09"), 422, "crs"),
    "device bd09 pole": (lambda hub: post_json(hub, "/api/v1/devices", {
        "device_id": "WL-POLE", "kind": "water_level", "location": {"lng": -180, "lat": -90, "crs": "bd09"}}),
        422, "location.crs"),
    "grid report bd09 pole": (lambda hub: grid_report(hub, lng="-180", lat="-90", crs="bd09"), 422, "crs"),
    # Malformed multipart bodies.
    **{f"grid report multipart {i}": (multipart("/api/v1/grid/reports", ct, body), 400, "body")
       for i, (ct, body) in enumerate(MALFORMED)},
    **{f"photo multipart {i}": (multipart("/api/v1/photos", ct, body), 400, "body")
       for i, (ct, body) in enumerate(MALFORMED)},
}


@pytest.fixture(scope="module")
async def shared_hub(service_urls: ServiceUrls, template_database: str, work_dir: Path) -> AsyncIterator[Hub]:
    """One hub for the probes below: they write only what they create for themselves (a user, a key, a case)."""
    async with fresh_database(service_urls, template_database) as database_url, \
            running_hub(hub_settings(database_url, service_urls, work_dir)) as running:
        yield running


@pytest.mark.parametrize("name", list(CASES))
async def test_bad_input_is_refused_naming_the_field(shared_hub: Hub, name: str) -> None:
    probe, expected_status, field = CASES[name]
    status, fields = await probe(shared_hub)
    assert (status, field in fields) == (expected_status, True), (status, fields)


async def test_open311_form_with_a_broken_multipart_body_is_an_open311_error(shared_hub: Hub) -> None:
    hub = shared_hub
    async with hub.http.post(f"{hub.base}/open311/v2/requests.json", data=BROKEN_PART,
                             headers={"Content-Type": "multipart/form-data"}) as resp:
        status, body = resp.status, orjson.loads(await resp.read())
    assert status == 400 and "form body" in body[0]["description"]


async def post_batch(hub: Hub, tickets: list[dict[str, Any]]) -> tuple[int, dict[str, Any]]:
    async with hub.http.post(f"{hub.base}/api/v1/hotline/tickets:batch", json={"tickets": tickets},
                             headers={"X-API-Key": await hub.hotline_key()}) as resp:
        return resp.status, dict(await resp.json())


async def stored_ticket_nos(hub: Hub) -> set[str]:
    rows = await hub.app[POOL].fetch("SELECT ticket_no FROM cases WHERE ticket_no IS NOT NULL")
    return {r["ticket_no"] for r in rows}


def spread(n: int) -> list[dict[str, Any]]:
    """`n` tickets far enough apart (about 1 km) that none merges into another."""
    return [ticket((QINGXIU_SEAT[0] + 0.01 * i, QINGXIU_SEAT[1]), category="road_damage") for i in range(n)]


async def test_a_batch_with_a_nul_ticket_answers_every_ticket(hub: Hub) -> None:
    tickets = spread(10)
    tickets[4]["content"] = f"坑洼{NUL}"
    tickets[5]["content"] = "第一行\n第二行\t（附注）\r\n"  # what text may hold: accepted
    status, body = await post_batch(hub, tickets)
    assert status == 200, body
    statuses = [r["status"] for r in body["results"]]
    assert statuses == [202] * 4 + [422] + [202] * 5
    assert [f["field"] for f in body["results"][4]["error"]["fields"]] == ["content"]
    assert (body["accepted"], body["rejected"]) == (9, 1)
    assert await stored_ticket_nos(hub) == {t["ticket_no"] for i, t in enumerate(tickets) if i != 4}


async def refuse_in_the_database(hub: Hub, ticket_no: str) -> None:
    """PostgreSQL refuses to store the case of `ticket_no` with the data exception a NUL would raise: a value
    valid to every model that the database still refuses (the class of error the last handler is for)."""
    pool: asyncpg.Pool = hub.app[POOL]
    await pool.execute(f"""
        CREATE FUNCTION refuse_one_ticket() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF NEW.ticket_no = '{ticket_no}' THEN
                RAISE EXCEPTION 'refused for the test' USING ERRCODE = 'character_not_in_repertoire';
            END IF;
            RETURN NEW;
        END $$;
        CREATE TRIGGER refuse_one_ticket BEFORE INSERT ON cases FOR EACH ROW EXECUTE FUNCTION refuse_one_ticket();
    """)


async def test_a_value_the_database_refuses_is_a_422_and_logged(hub: Hub, caplog: pytest.LogCaptureFixture) -> None:
    body = ticket(QINGXIU_SEAT, ticket_no=f"T-REFUSED-{uuid.uuid4().hex[:6]}")
    await refuse_in_the_database(hub, body["ticket_no"])
    async with hub.http.post(f"{hub.base}/api/v1/hotline/tickets", json=body,
                             headers={"X-API-Key": await hub.hotline_key()}) as resp:
        status, answer = resp.status, await resp.json()
    assert (status, answer["error"]["code"]) == (422, "invalid_value")
    [warning] = [r for r in caplog.records if r.getMessage() == "the database refused a value of the request"]
    assert warning.levelname == "WARNING" and warning.__dict__["error"] == "CharacterNotInRepertoireError"
    assert warning.__dict__["path"] == "/api/v1/hotline/tickets"


async def test_a_ticket_the_database_refuses_fails_alone_in_its_batch(hub: Hub) -> None:
    """That ticket is a 422, and the nine committed with it are stored and answered 202."""
    tickets = spread(10)
    tickets[6]["ticket_no"] = f"T-REFUSED-{uuid.uuid4().hex[:6]}"
    await refuse_in_the_database(hub, tickets[6]["ticket_no"])
    status, body = await post_batch(hub, tickets)
    assert status == 200, body
    assert [r["status"] for r in body["results"]] == [202] * 6 + [422] + [202] * 3
    assert body["results"][6]["error"]["code"] == "invalid_value"
    assert await stored_ticket_nos(hub) == {t["ticket_no"] for i, t in enumerate(tickets) if i != 6}
    # The retry of the whole batch: the nine are duplicates, the refused one is refused again.
    status, again = await post_batch(hub, tickets)
    assert [r["status"] for r in again["results"]] == [200] * 6 + [422] + [200] * 3
