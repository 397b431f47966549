"""Open311 GeoReport v2 over real HTTP against the real store, in JSON and in XML."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from typing import Any

import orjson
import pytest

from tests.conftest import Hub
from tests.e2e.test_case_lifecycle import Console
from tests.e2e.test_hotline_to_console import push, ticket

V2 = "/open311/v2"
# Field names of the GeoReport v2 spec (wiki.open311.org/GeoReport_v2) and mySociety's extension.
SERVICE_FIELDS = ["service_code", "service_name", "description", "metadata", "type", "keywords", "group"]
ATTRIBUTE_FIELDS = ["variable", "code", "datatype", "required", "datatype_description", "order", "description",
                    "values"]
REQUEST_FIELDS = ["service_request_id", "status", "status_notes", "service_name", "service_code", "description",
                  "agency_responsible", "service_notice", "requested_datetime", "updated_datetime",
                  "expected_datetime", "address", "address_id", "zipcode", "lat", "long", "media_url",
                  "extended_attributes"]
CREATED_FIELDS = ["service_request_id", "token", "service_notice", "account_id"]
# Points in 青秀区, far enough apart (≥ 500 m) that no two requests of one test are duplicates.
P1, P2, P3, P4 = (108.37, 22.82), (108.38, 22.82), (108.37, 22.83), (108.38, 22.83)


class Client:
    """An Open311 client of one format."""

    def __init__(self, hub: Hub, fmt: str) -> None:
        self.hub = hub
        self.fmt = fmt

    def url(self, path: str) -> str:
        return f"{self.hub.base}{V2}/{path}.{self.fmt}"

    async def get(self, path: str, **params: str) -> tuple[int, Any]:
        async with self.hub.http.get(self.url(path), params=params) as resp:
            return resp.status, self.parse(resp.headers["Content-Type"], await resp.read())

    async def post(self, fields: dict[str, str], headers: dict[str, str] | None = None,
                   params: dict[str, str] | None = None) -> tuple[int, Any]:
        async with self.hub.http.post(self.url("requests"), data=fields, headers=headers or {},
                                      params=params or {}) as resp:
            return resp.status, self.parse(resp.headers["Content-Type"], await resp.read())

    def parse(self, content_type: str, body: bytes) -> Any:
        if self.fmt == "xml":
            assert content_type == "text/xml; charset=utf-8"
            assert body.startswith(b'<?xml version="1.0" encoding="utf-8"?>')
            return ET.fromstring(body)
        assert content_type == "application/json; charset=utf-8"
        return orjson.loads(body)

    def errors(self, body: Any) -> list[tuple[int, str]]:
        """[(code, description)] of an Open311 error answer."""
        if self.fmt == "xml":
            assert body.tag == "errors"
            return [(int(e.findtext("code") or 0), e.findtext("description") or "") for e in body.iterfind("error")]
        return [(e["code"], e["description"]) for e in body]

    def records(self, body: Any) -> list[dict[str, Any]]:
        """Request records as dicts of text (XML) or values (JSON), in document order."""
        if self.fmt == "json":
            return list(body)
        assert body.tag == "service_requests"
        out = []
        for request in body.iterfind("request"):
            record: dict[str, Any] = {child.tag: child.text for child in request}
            extended = request.find("extended_attributes")
            record["extended_attributes"] = {c.tag: c.text for c in extended} if extended is not None else None
            record["_tags"] = [child.tag for child in request]
            out.append(record)
        return out


def form(key: str, point: tuple[float, float] | None, service_code: str = "010101", **extra: str) -> dict[str, str]:
    fields = {"api_key": key, "service_code": service_code, "attribute[urgency]": "normal"}
    if point is not None:
        fields |= {"long": str(point[0]), "lat": str(point[1])}
    return fields | extra


async def create(client: Client, fields: dict[str, str]) -> dict[str, Any]:
    status, body = await client.post(fields)
    assert status == 201, body
    return client.records(body)[0]


def tags(record: dict[str, Any]) -> list[str]:
    return record.get("_tags") or list(record)


@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_full_round_trip(hub: Hub, fmt: str) -> None:
    client = Client(hub, fmt)
    key = await hub.api_key("open311")

    status, body = await client.get("discovery")
    assert status == 200
    if fmt == "json":
        endpoint = body["endpoints"][0]
        assert endpoint["url"].endswith(V2) and set(endpoint["formats"]) == {"text/xml", "application/json"}
    else:
        assert body.tag == "discovery" and body.findtext("endpoints/endpoint/url", "").endswith(V2)
        assert {f.text for f in body.iterfind("endpoints/endpoint/formats/format")} == {"text/xml",
                                                                                        "application/json"}

    status, body = await client.get("services")
    assert status == 200
    if fmt == "json":
        services = {s["service_code"]: s for s in body}
        assert list(services["010101"]) == SERVICE_FIELDS
        assert services["010101"]["metadata"] is True
    else:
        assert body.tag == "services"
        services = {s.findtext("service_code"): {c.tag: c.text for c in s} for s in body.iterfind("service")}
        assert list(services["010101"]) == SERVICE_FIELDS
        assert services["010101"]["metadata"] == "true"
    light = services["010101"]
    assert (light["service_name"], light["group"], light["keywords"], light["type"]) == (
        "路灯", "公用设施", "streetlight", "realtime")
    assert "0101" not in services, "only leaf categories are services"

    status, body = await client.get("services/010101")
    assert status == 200
    if fmt == "json":
        assert body["service_code"] == "010101"
        attributes = body["attributes"]
        assert all(list(a) == ATTRIBUTE_FIELDS for a in attributes)
        urgency = next(a for a in attributes if a["code"] == "urgency")
        assert urgency["required"] is True and [v["key"] for v in urgency["values"]] == ["normal", "urgent"]
    else:
        assert body.tag == "service_definition" and body.findtext("service_code") == "010101"
        attributes = list(body.iterfind("attributes/attribute"))
        assert all([c.tag for c in a] == ATTRIBUTE_FIELDS for a in attributes)
        urgency = next(a for a in attributes if a.findtext("code") == "urgency")
        assert urgency.findtext("required") == "true"
        assert [v.findtext("key") for v in urgency.iterfind("values/value")] == ["normal", "urgent"]

    retry = {"Idempotency-Key": f"retry-{uuid.uuid4()}"}
    fields = form(key, P1, description="民族大道路灯整排不亮", account_id="acc-7",
                  **{"attribute[urgency]": "urgent", "attribute[pole_number]": "QX-0012"})
    status, body = await client.post(fields, retry)
    assert status == 201, body
    created = client.records(body)[0]
    assert tags(created) == CREATED_FIELDS
    request_id, token = created["service_request_id"], created["token"]
    assert uuid.UUID(request_id) and token
    assert created["account_id"] == "acc-7"
    assert "城市管理局办理" in created["service_notice"], "the lead unit the matrix chose"

    status, body = await client.post(fields, retry)
    assert status == 200, "a retry with the same Idempotency-Key answers as the first time"
    again = client.records(body)[0]
    assert (again["service_request_id"], again["token"]) == (request_id, token)

    status, body = await client.get(f"tokens/{token}")
    assert status == 200
    assert [{k: r[k] for k in ("service_request_id", "token")} for r in client.records(body)] == [
        {"service_request_id": request_id, "token": token}]

    status, body = await client.get(f"requests/{request_id}")
    assert status == 200
    [record] = client.records(body)
    assert tags(record) == REQUEST_FIELDS
    assert record["service_request_id"] == request_id and record["service_code"] == "010101"
    assert record["service_name"] == "路灯" and record["description"] == "民族大道路灯整排不亮"
    assert record["status"] == "open" and record["extended_attributes"] == {"status": "OPEN"}
    assert record["agency_responsible"].endswith("城市管理局")
    assert record["expected_datetime"] and record["requested_datetime"].endswith("+08:00")
    assert float(record["lat"]) == pytest.approx(P1[1]) and float(record["long"]) == pytest.approx(P1[0])

    other = await create(client, form(key, P2, "020101", description="路面坑洼"))
    assert other["service_request_id"] != request_id

    async def listed(**params: str) -> list[str]:
        status, body = await client.get("requests", **params)
        assert status == 200, body
        return [r["service_request_id"] for r in client.records(body)]

    assert await listed() == [other["service_request_id"], request_id], "newest first"
    assert await listed(service_code="010101") == [request_id]
    assert await listed(service_code="010101,020101", status="open") == [other["service_request_id"], request_id]
    assert await listed(status="closed") == []
    assert await listed(service_request_id=request_id) == [request_id]
    assert await listed(start_date="2099-01-01T00:00:00+08:00") == []
    assert await listed(end_date="2000-01-01T00:00:00Z") == []

    # The case came in through the intake service like a hotline ticket, with the Open311 details kept.
    operator = Console(hub, await hub.login("city_operator", None))
    case = await operator.case(request_id)
    assert case["source"] == "open311" and case["state"] == "dispatched"
    assert case["report"]["category"] == "streetlight" and case["report"]["channel"] == "open311"
    assert case["report"]["open311"]["attributes"] == {"urgency": "urgent", "pole_number": "QX-0012"}
    assert case["report"]["open311"]["token"] == token


@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_malformed_requests_get_open311_errors(hub: Hub, fmt: str) -> None:
    client = Client(hub, fmt)
    key = await hub.api_key("open311")
    hotline_key = await hub.api_key("hotline")
    bad: list[tuple[dict[str, str], int, str]] = [
        ({k: v for k, v in form(key, P1).items() if k != "api_key"}, 403, "api_key"),
        (form(hotline_key, P1), 403, "api_key"),
        (form("clk_not-a-key", P1), 403, "api_key"),
        (form(key, P1, "999999"), 404, "service_code"),
        (form(key, None), 400, "address_string"),
        (form(key, P1, lat="north"), 400, "lat"),
        (form(key, P1, lat="91"), 400, "lat"),
        (form(key, P1, **{"attribute[urgency]": "tomorrow"}), 400, "attribute[urgency]"),
        ({k: v for k, v in form(key, P1).items() if k != "attribute[urgency]"}, 400, "attribute[urgency]"),
        (form(key, P1, "010201"), 400, "attribute[cover_state]"),
        (form(key, P1, jurisdiction_id="beijing.gov.cn"), 404, "jurisdiction_id"),
    ]
    for fields, status, named in bad:
        got, body = await client.post(fields)
        errors = client.errors(body)
        assert got == status, (fields, errors)
        assert errors and all(code == status for code, _ in errors)
        assert any(named in description for _, description in errors), (named, errors)

    for path, params, status in [("services/999999", {}, 404), (f"requests/{uuid.uuid4()}", {}, 404),
                                 ("requests/not-an-id", {}, 404), ("tokens/nope", {}, 404),
                                 ("requests", {"status": "pending"}, 400),
                                 ("services", {"jurisdiction_id": "x"}, 404)]:
        got, body = await client.get(path, **params)
        assert got == status and client.errors(body)[0][0] == status, (path, body)

    status, body = await client.get("requests", start_date="yesterday")
    assert status == 400 and "start_date" in client.errors(body)[0][1]

    # Nothing was created by any of the refused POSTs.
    _, body = await client.get("requests")
    assert client.records(body) == []


@pytest.mark.parametrize("fmt", ["json", "xml"])
async def test_the_api_key_may_come_in_the_query_string(hub: Hub, fmt: str) -> None:
    """As many GeoReport v2 servers do (and clients that send it only there expect): a key in the query string
    creates a request like one in the form body, a bad one there is refused exactly alike, and two different
    keys are a 400 naming api_key, whichever of them is valid."""
    client = Client(hub, fmt)
    key = await hub.api_key("open311")

    def keyless(point: tuple[float, float]) -> dict[str, str]:
        return {k: v for k, v in form(key, point).items() if k != "api_key"}

    status, body = await client.post(keyless(P1), params={"api_key": key})
    assert status == 201, body
    in_query = client.records(body)[0]["service_request_id"]
    status, body = await client.post(form(key, P2), params={"api_key": f" {key} "})
    assert status == 201, body

    for bad in ("clk_not-a-key", await hub.api_key("hotline"), ""):
        refused_in_form = await client.post(form(bad, P3))
        refused_in_query = await client.post(keyless(P3), params={"api_key": bad})
        assert refused_in_form[0] == refused_in_query[0] == 403
        errors = client.errors(refused_in_query[1])
        assert errors == client.errors(refused_in_form[1]) and "api_key" in errors[0][1], errors

    for in_the_query, in_the_form in ((key, "clk_not-a-key"), ("clk_not-a-key", key)):
        status, body = await client.post(form(in_the_form, P4), params={"api_key": in_the_query})
        assert status == 400 and [code for code, _ in client.errors(body)] == [400]
        assert client.errors(body)[0][1].startswith("api_key: "), client.errors(body)

    _, body = await client.get("requests")
    records = client.records(body)
    assert len(records) == 2 and in_query in {r["service_request_id"] for r in records}


async def test_unknown_formats_and_paths_answer_open311_not_found(hub: Hub) -> None:
    for method, path in [("GET", "services.yaml"), ("POST", "requests.csv"), ("GET", "requests/x.html")]:
        async with hub.http.request(method, f"{hub.base}{V2}/{path}") as resp:
            assert resp.status == 404
            assert resp.headers["Content-Type"] == "text/xml; charset=utf-8", "XML: the spec's mandatory format"
            root = ET.fromstring(await resp.read())
            assert root.tag == "errors" and root.findtext("error/code") == "404"
    async with hub.http.get(f"{hub.base}{V2}/nothing.json") as resp:
        assert resp.status == 404 and (await resp.json())[0]["code"] == 404


async def test_reporter_and_confidential_content_never_leak(hub: Hub) -> None:
    key = await hub.api_key("open311")
    secrets = ["李四", "13912345678", "lisi@example.com"]
    json_client, xml_client = Client(hub, "json"), Client(hub, "xml")
    mine = await create(json_client, form(key, P1, description="井边路灯不亮", first_name="四", last_name="李",
                                          phone=secrets[1], email=secrets[2]))
    status, answer = await push(hub, await hub.hotline_key(), ticket(
        P2, category="road_damage", content="我家楼下路面塌了一块", confidential=True,
        reporter={"name": "王五", "phone": "13700001111"}))
    assert status == 202
    secrets += ["王五", "13700001111", "我家楼下路面塌了一块"]

    params: dict[str, str]
    for client in (json_client, xml_client):
        for path, params in [("requests", {}), (f"requests/{mine['service_request_id']}", {}),
                             (f"requests/{answer['case_id']}", {})]:
            async with hub.http.get(client.url(path), params=params) as resp:
                text = (await resp.read()).decode()
            assert resp.status == (404 if answer["case_id"] in path else 200)
            for secret in secrets:
                assert secret not in text, (client.fmt, path, secret)

    # Inside the hub, roles that see masked reporters do not see the Open311 e-mail either.
    county = Console(hub, await hub.login("county_dispatcher", "450103"))
    case = await county.case(mine["service_request_id"])
    assert secrets[2] not in str(case) and secrets[1] not in str(case)
    operator = Console(hub, await hub.login("city_operator", None))
    assert (await operator.case(mine["service_request_id"]))["report"]["reporter"] == {
        "name": "李四", "phone": secrets[1], "email": secrets[2]}


async def test_status_follows_the_case_through_its_lifecycle(hub: Hub) -> None:
    key = await hub.api_key("open311")
    client = Client(hub, "json")
    operator = Console(hub, await hub.login("city_operator", None))

    async def status_of(request_id: str) -> tuple[str, str]:
        _, body = await client.get(f"requests/{request_id}")
        record = client.records(body)[0]
        return record["status"], record["extended_attributes"]["status"]

    light = (await create(client, form(key, P1, "010101")))["service_request_id"]
    road = (await create(client, form(key, P2, "020101")))["service_request_id"]
    dirty = (await create(client, form(key, P3, "030201")))["service_request_id"]
    parking = (await create(client, form(key, P4, "040101")))["service_request_id"]
    nowhere = (await create(client, form(key, None, "050101", address_string="火星基地七号舱")))["service_request_id"]
    assert await status_of(light) == ("open", "OPEN")
    assert await status_of(nowhere) == ("open", "INVESTIGATING"), "an address nobody can place goes to triage"

    case = await operator.case(light)
    county = Console(hub, await hub.login("county_dispatcher", case["areas"]["county"]["code"]))
    case = await county.ok(light, "accept", case["version"])
    assert await status_of(light) == ("open", "IN_PROGRESS")
    case = await county.ok(light, "resolve", case["version"], note="已更换灯泡")
    assert await status_of(light) == ("open", "FIXED")
    await operator.ok(light, "callback", case["version"], contacted=True, solved=True, satisfaction="satisfied")
    assert await status_of(light) == ("closed", "FIXED")

    case = await operator.case(road)
    await county.ok(road, "return", case["version"], reason="not_our_remit", note="应由交通部门处理")
    assert await status_of(road) == ("open", "INTERNAL_REFERRAL")

    await operator.ok(dirty, "park", (await operator.case(dirty))["version"], note="需纳入年度改造计划")
    assert await status_of(dirty) == ("closed", "NO_FURTHER_ACTION")

    await operator.ok(nowhere, "reject", (await operator.case(nowhere))["version"], reason="不属本市管辖")
    assert await status_of(nowhere) == ("closed", "NOT_COUNCILS_RESPONSIBILITY")

    await operator.ok(parking, "merge", (await operator.case(parking))["version"], into=road)
    assert await status_of(parking) == ("closed", "DUPLICATE")

    _, body = await client.get("requests", status="closed")
    assert {r["service_request_id"] for r in client.records(body)} == {light, dirty, nowhere, parking}
    _, body = await client.get("requests", status="open")
    assert [r["service_request_id"] for r in client.records(body)] == [road]


async def test_a_gas_leak_reported_over_open311_gets_the_gas_leak_time_limits(hub: Hub) -> None:
    """Its category is the channel name the hotline and IoT use, so the per-category SLA class applies."""
    key = await hub.api_key("open311")
    created = await create(Client(hub, "json"), form(key, P1, "060301", description="小区门口有燃气味"))
    operator = Console(hub, await hub.login("city_operator", None))
    case = await operator.case(created["service_request_id"])
    assert case["report"]["category"] == "gas_leak"
    assert case["sla"]["class"] == "critical"


async def test_only_requests_submitted_through_open311_are_public(hub: Hub) -> None:
    """A 12345 complaint is the government's record: the public API answers for it exactly as for an id
    that does not exist, and never lists it (issue 12, item 6)."""
    key = await hub.api_key("open311")
    client = Client(hub, "json")
    public = (await create(client, form(key, P1, "010101", description="路灯不亮")))["service_request_id"]
    status, answer = await push(hub, await hub.hotline_key(), ticket(P2, category="road_damage",
                                                                      content="小区门口路面有坑，住户张三反映"))
    assert status == 202
    hotline = answer["case_id"]
    missing = str(uuid.uuid4())

    status, body = await client.get(f"requests/{hotline}")
    status_missing, body_missing = await client.get(f"requests/{missing}")
    assert status == status_missing == 404
    assert str(body).replace(hotline, "<id>") == str(body_missing).replace(missing, "<id>")

    for params in ({}, {"service_request_id": f"{hotline},{public}"}, {"service_code": "020101"}):
        _, body = await client.get("requests", **params)
        listed = [r["service_request_id"] for r in client.records(body)]
        assert hotline not in listed, params
    _, body = await client.get("requests")
    assert [r["service_request_id"] for r in client.records(body)] == [public]
