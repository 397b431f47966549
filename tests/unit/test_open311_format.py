"""The pure Open311 connector: status mapping, services and attributes, POST validation, public records, XML."""

from __future__ import annotations

import xml.etree.ElementTree as ET
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from connectors import open311 as o
from dispatch.fold import STATES
from geo.crs import Crs
from tools.demo_matrix import demo_matrix

MATRIX = demo_matrix()
JURISDICTION = "nanning.gov.cn"
NOW = datetime(2026, 11, 22, 2, 0, tzinfo=UTC)
# mySociety's extended statuses (open311-adapter, Open311::Endpoint::Role::mySociety, status_extended_upper).
MYSOCIETY_STATUSES = {"OPEN", "CLOSED", "FIXED", "IN_PROGRESS", "ACTION_SCHEDULED", "INVESTIGATING", "DUPLICATE",
                      "NOT_COUNCILS_RESPONSIBILITY", "NO_FURTHER_ACTION", "INTERNAL_REFERRAL", "REOPEN", "FOR_TRIAGE"}
# GeoReport v2 "GET Service Requests" response fields, plus mySociety's extended_attributes.
REQUEST_FIELDS = ["service_request_id", "status", "status_notes", "service_name", "service_code", "description",
                  "agency_responsible", "service_notice", "requested_datetime", "updated_datetime",
                  "expected_datetime", "address", "address_id", "zipcode", "lat", "long", "media_url",
                  "extended_attributes"]


def form(**fields: str) -> list[tuple[str, str]]:
    base = {"service_code": "010101", "lat": "22.82", "long": "108.37", "attribute[urgency]": "normal"}
    return list({**base, **fields}.items())


def errors_of(exc: pytest.ExceptionInfo[o.Open311Error]) -> str:
    return " | ".join(exc.value.descriptions)


# ---- status mapping -----------------------------------------------------------------------------------

def test_every_state_has_an_open311_status_and_a_mysociety_extended_status() -> None:
    assert set(o.STATUSES) == set(STATES)
    for state in STATES:
        status = o.status_of(state)
        assert status.status in ("open", "closed"), state
        assert status.extended in MYSOCIETY_STATUSES, state
        assert status.label, state


@pytest.mark.parametrize(("state", "status", "extended"), [
    ("received", "open", "OPEN"), ("dispatched", "open", "OPEN"), ("triage", "open", "INVESTIGATING"),
    ("return_requested", "open", "INTERNAL_REFERRAL"), ("accepted", "open", "IN_PROGRESS"),
    ("resolved", "open", "FIXED"), ("closed", "closed", "FIXED"), ("merged", "closed", "DUPLICATE"),
    ("parked", "closed", "NO_FURTHER_ACTION"), ("rejected", "closed", "NOT_COUNCILS_RESPONSIBILITY"),
])
def test_state_mapping(state: str, status: str, extended: str) -> None:
    assert (o.status_of(state).status, o.status_of(state).extended) == (status, extended)


def test_the_status_filter_selects_our_states_by_open_or_closed() -> None:
    assert set(o.states_with(["closed"])) == {"closed", "merged", "parked", "rejected"}
    assert set(o.states_with(["open", "closed"])) == set(STATES)


# ---- services and definitions -------------------------------------------------------------------------

def test_services_are_the_leaf_categories_with_group_and_aliases_as_keywords() -> None:
    listed = {s.code: s for s in o.services(MATRIX)}
    assert "0101" not in listed and "01" not in listed, "only leaves are services"
    light = listed["010101"].as_json()
    assert light == {"service_code": "010101", "service_name": "路灯", "description": "公用设施 / 照明设施 / 路灯",
                     "metadata": True, "type": "realtime", "keywords": "streetlight", "group": "公用设施"}
    assert listed["010102"].as_json()["keywords"] == ""
    assert o.services(None) == [], "no matrix, no services"


def test_a_case_gets_the_channel_name_of_its_service_so_sla_and_merging_match_other_channels() -> None:
    assert o.find_service(MATRIX, "060301").category == "gas_leak"
    assert o.find_service(MATRIX, "010102").category == "010102", "no channel name: the code"
    assert MATRIX.knows(o.find_service(MATRIX, "060301").category)


def test_an_unknown_or_non_leaf_service_code_is_not_found() -> None:
    for code in ("999999", "0101", "streetlight"):
        with pytest.raises(o.Open311Error) as info:
            o.find_service(MATRIX, code)
        assert info.value.status == 404 and code in errors_of(info)


def test_definitions_have_the_common_attributes_and_the_category_extras() -> None:
    light = o.service_definition(o.find_service(MATRIX, "010101"))
    assert [a["code"] for a in light["attributes"]] == ["urgency", "pole_number", "detail"]
    urgency = light["attributes"][0]
    assert urgency == {"variable": True, "code": "urgency", "datatype": "singlevaluelist", "required": True,
                       "datatype_description": None, "order": 1, "description": "紧急程度",
                       "values": [{"key": "normal", "name": "一般"},
                                  {"key": "urgent", "name": "紧急（危及安全或出行）"}]}
    manhole = [a.code for a in o.attributes_for(o.find_service(MATRIX, "010201")) if a.required]
    assert manhole == ["urgency", "cover_state"]


# ---- attribute validation -----------------------------------------------------------------------------

LIGHT_ATTRIBUTES = o.attributes_for(o.find_service(MATRIX, "010101"))


def test_valid_attributes_are_kept_with_their_values() -> None:
    values = o.validate_attributes(LIGHT_ATTRIBUTES, {"urgency": ["urgent"], "pole_number": [" QX-0012 "]})
    assert values == {"urgency": "urgent", "pole_number": "QX-0012"}


def test_a_missing_required_attribute_is_named() -> None:
    with pytest.raises(o.Open311Error) as info:
        o.validate_attributes(LIGHT_ATTRIBUTES, {"detail": ["灯一直闪"]})
    assert info.value.status == 400 and "attribute[urgency]: required" in errors_of(info)


def test_a_value_outside_the_list_and_an_unknown_attribute_are_reported_together() -> None:
    with pytest.raises(o.Open311Error) as info:
        o.validate_attributes(LIGHT_ATTRIBUTES, {"urgency": ["very"], "colour": ["red"]})
    assert len(info.value.descriptions) == 2
    assert "attribute[urgency]: 'very' is not one of normal, urgent" in errors_of(info)
    assert "attribute[colour]: not an attribute" in errors_of(info)


def test_text_attributes_are_limited_in_length_and_lists_take_one_value() -> None:
    with pytest.raises(o.Open311Error) as info:
        o.validate_attributes(LIGHT_ATTRIBUTES, {"urgency": ["normal", "urgent"], "detail": ["长" * 2001]})
    assert "attribute[urgency]: give one value" in errors_of(info)
    assert "attribute[detail]: longer than 2000" in errors_of(info)


def test_number_multivaluelist_and_datetime_attributes_are_checked() -> None:
    definition = (
        o.Attribute(code="n", datatype="number", required=False, order=1, description="n"),
        o.Attribute(code="m", datatype="multivaluelist", required=False, order=2, description="m",
                    values=(("a", "A"), ("b", "B"))),
        o.Attribute(code="d", datatype="datetime", required=False, order=3, description="d"),
    )
    assert o.validate_attributes(definition, {"n": ["2.5"], "m": ["a", "b", "a"], "d": ["2026-11-01T08:00:00"]}) == {
        "n": 2.5, "m": ["a", "b"], "d": "2026-11-01T08:00:00+08:00"}
    with pytest.raises(o.Open311Error) as info:
        o.validate_attributes(definition, {"n": ["nan"], "m": ["c"], "d": ["soon"]})
    assert len(info.value.descriptions) == 3


# ---- POST requests ------------------------------------------------------------------------------------

def test_a_valid_form_becomes_a_report_with_the_reporter_apart_from_the_open311_details() -> None:
    new = o.parse_new_request(form(description="路灯不亮", first_name="三", last_name="张", phone="13812341234",
                                   email="zs@example.com", device_id="dev-1", account_id="acc-9", title="ignored",
                                   media_url="https://img.example.com/1.jpg", **{"attribute[pole_number]": "QX-1"}),
                              MATRIX, JURISDICTION)
    assert new.point == (108.37, 22.82, Crs.WGS84)
    report = new.report("tok", NOW)
    assert report["category"] == "streetlight" and report["content"] == "路灯不亮"
    assert report["type"] == "report" and report["channel"] == "open311"
    assert report["reported_at"] == NOW.isoformat()
    assert report["reporter"] == {"name": "张三", "phone": "13812341234", "email": "zs@example.com"}
    assert report["open311"] == {"service_code": "010101", "token": "tok",
                                 "attributes": {"urgency": "normal", "pole_number": "QX-1"}, "device_id": "dev-1",
                                 "account_id": "acc-9", "media_url": "https://img.example.com/1.jpg"}
    assert "address" not in report


def test_without_a_description_the_content_is_the_service_name_and_empty_fields_are_absent() -> None:
    new = o.parse_new_request(form(description="", phone="", lat="", long="", address_string="青秀区中山街道"),
                              MATRIX, JURISDICTION)
    report = new.report("tok", NOW)
    assert report["content"] == "路灯" and report["address"] == "青秀区中山街道"
    assert new.point is None and "reporter" not in report


@pytest.mark.parametrize(("fields", "status", "named"), [
    ({"lat": "abc"}, 400, "lat:"),
    ({"lat": "95"}, 400, "lat:"),
    ({"long": ""}, 400, "long: lat and long go together"),
    ({"lat": "", "long": ""}, 400, "lat/long or address_string"),
    ({"service_code": ""}, 400, "service_code: required"),
    ({"service_code": "999999"}, 404, "service_code '999999' not found"),
    ({"jurisdiction_id": "beijing.gov.cn"}, 404, "jurisdiction_id 'beijing.gov.cn' not found"),
    ({"email": "not-an-address"}, 400, "email:"),
    ({"media_url": "ftp://x"}, 400, "media_url:"),
    ({"attribute[urgency]": "whenever"}, 400, "attribute[urgency]"),
])
def test_bad_forms_are_refused_naming_the_field(fields: dict[str, str], status: int, named: str) -> None:
    with pytest.raises(o.Open311Error) as info:
        o.parse_new_request(form(**fields), MATRIX, JURISDICTION)
    assert info.value.status == status
    assert named in errors_of(info)


def test_the_right_jurisdiction_id_is_accepted() -> None:
    assert o.parse_new_request(form(jurisdiction_id=JURISDICTION), MATRIX, JURISDICTION).service.code == "010101"


def test_multivalue_attribute_fields_are_collected() -> None:
    fields = [*form(), ("attribute[detail][]", "一"), ("attribute[detail][]", "二")]
    with pytest.raises(o.Open311Error) as info:
        o.parse_new_request(fields, MATRIX, JURISDICTION)
    assert "attribute[detail]: give one value" in errors_of(info)


def test_tokens_are_stable_per_client_and_key_and_hide_both() -> None:
    token = o.request_token("app-a", "retry-1")
    assert token == o.request_token("app-a", "retry-1")
    assert token != o.request_token("app-b", "retry-1") and token != o.request_token("app-a", "retry-2")
    assert "app-a" not in token and "retry" not in token
    assert o.idempotency_key(token) == f"open311:{token}"


def test_names_follow_their_script() -> None:
    assert o.full_name("三", "张") == "张三"
    assert o.full_name("Ada", "Lovelace") == "Ada Lovelace"
    assert o.full_name(None, None) is None


# ---- GET requests -------------------------------------------------------------------------------------

def test_the_default_window_is_the_last_days_and_service_codes_match_their_channel_names() -> None:
    query = o.parse_request_query({"service_code": "010101,060301", "status": "open"}, MATRIX, JURISDICTION, NOW,
                                  90, 1000)
    assert query.start == datetime(2026, 8, 24, 2, 0, tzinfo=UTC) and query.end is None
    assert query.categories == ["010101", "streetlight", "060301", "gas_leak"]
    assert query.states is not None and "closed" not in query.states and "accepted" in query.states


def test_request_ids_override_every_other_filter() -> None:
    ids = "3f1c1f9e-2a45-4b8e-9d8e-0b9f3c1f2a11, 7a0e8b1c-1111-4c2d-8e9f-aaaaaaaaaaaa"
    query = o.parse_request_query({"service_request_id": ids, "status": "nonsense"}, MATRIX, JURISDICTION, NOW,
                                  90, 1000)
    assert [str(i) for i in query.ids or []] == [i.strip() for i in ids.split(",")]
    assert query.start is None and query.states is None


@pytest.mark.parametrize(("params", "status", "named"), [
    ({"status": "pending"}, 400, "status:"),
    ({"start_date": "yesterday"}, 400, "start_date:"),
    ({"start_date": "2026-11-02T00:00:00Z", "end_date": "2026-11-01T00:00:00Z"}, 400, "start_date: after end_date"),
    ({"service_request_id": "42"}, 400, "service_request_id:"),
    ({"service_code": "999999"}, 404, "service_code"),
    ({"jurisdiction_id": "x"}, 404, "jurisdiction_id"),
])
def test_bad_queries_are_refused_naming_the_parameter(params: dict[str, str], status: int, named: str) -> None:
    with pytest.raises(o.Open311Error) as info:
        o.parse_request_query(params, MATRIX, JURISDICTION, NOW, 90, 1000)
    assert info.value.status == status and named in errors_of(info)


def case_doc(**extra: Any) -> dict[str, Any]:
    report = {"category": "streetlight", "content": "路灯不亮，我家门口", "address": "民族大道100号",
              "reporter": {"name": "张三", "phone": "13812341234", "email": "zs@example.com"},
              "open311": {"service_code": "010101", "token": "t", "media_url": "https://img.example.com/1.jpg",
                          "address_id": "A-1", "device_id": "dev-1"}}
    return {"case_id": "3f1c1f9e-2a45-4b8e-9d8e-0b9f3c1f2a11", "state": "accepted", "report": report,
            "location": {"lng": 108.37, "lat": 22.82},
            "units": {"lead": {"code": "450103-cgj", "name": "青秀区城市管理局"}},
            "deadlines": {"resolve_by": "2026-11-28T09:00:00+00:00"},
            "created_at": "2026-11-22T01:02:03.456789+00:00", "updated_at": "2026-11-22T02:00:00+00:00", **extra}


def test_a_public_record_has_the_spec_fields_and_no_reporter_details() -> None:
    record = o.request_record(case_doc(), MATRIX)
    assert list(record) == REQUEST_FIELDS
    assert record["service_code"] == "010101" and record["service_name"] == "路灯"
    assert record["status"] == "open" and record["extended_attributes"] == {"status": "IN_PROGRESS"}
    assert record["agency_responsible"] == "青秀区城市管理局"
    assert record["requested_datetime"] == "2026-11-22T09:02:03+08:00"
    assert record["expected_datetime"] == "2026-11-28T17:00:00+08:00"
    assert (record["lat"], record["long"], record["address"]) == (22.82, 108.37, "民族大道100号")
    assert record["media_url"] == "https://img.example.com/1.jpg" and record["address_id"] == "A-1"
    text = orjson.dumps(record).decode()
    for secret in ("张三", "13812341234", "zs@example.com", "dev-1"):
        assert secret not in text


def test_a_confidential_case_shows_neither_its_content_nor_where_it_is() -> None:
    doc = case_doc()
    doc["report"]["confidential"] = True
    record = o.request_record(doc, MATRIX)
    assert record["description"] is None and record["address"] is None and record["media_url"] is None
    assert record["lat"] is None and record["long"] is None
    assert "我家门口" not in orjson.dumps(record).decode()


def test_a_record_without_an_address_names_the_areas_and_a_merged_one_its_parent() -> None:
    doc = case_doc(state="merged", parent_id="p-1",
                   areas={"city": {"code": "450100", "name": "南宁市"}, "county": {"code": "450103", "name": "青秀区"}})
    del doc["report"]["address"]
    record = o.request_record(doc, MATRIX)
    assert record["address"] == "南宁市青秀区"
    assert record["status"] == "closed" and "p-1" in record["status_notes"]


def test_staff_notes_are_not_published() -> None:
    record = o.request_record(case_doc(state="rejected", rejected_reason="来电人张三无理诉求"), MATRIX)
    assert record["status_notes"] == "不予受理" and record["extended_attributes"]["status"] == \
        "NOT_COUNCILS_RESPONSIBILITY"


def test_the_answer_to_a_post_says_who_will_act() -> None:
    answer = o.created("id-1", "tok", case_doc(state="dispatched"), "acc-9")
    assert answer == [{"service_request_id": "id-1", "token": "tok",
                       "service_notice": "由青秀区城市管理局办理，预计 2026-11-28T17:00:00+08:00 前办结",
                       "account_id": "acc-9"}]
    assert o.created("id-1", "tok", case_doc(state="triage"), None)[0]["service_notice"] == "已受理，待人工研判后派单"


# ---- rendering ----------------------------------------------------------------------------------------

def test_xml_has_the_declaration_and_the_spec_element_names() -> None:
    body = o.render(o.Format.XML, "services", [o.find_service(MATRIX, "010101").as_json()])
    assert body.startswith(b'<?xml version="1.0" encoding="utf-8"?>\n<services><service>')
    service = ET.fromstring(body).find("service")
    assert service is not None
    assert [child.tag for child in service] == ["service_code", "service_name", "description", "metadata", "type",
                                                "keywords", "group"]
    assert service.findtext("metadata") == "true" and service.findtext("service_name") == "路灯"


def test_a_service_definition_in_xml_has_attributes_with_values() -> None:
    root = ET.fromstring(o.render(o.Format.XML, "service_definition",
                                  o.service_definition(o.find_service(MATRIX, "010201"))))
    assert root.tag == "service_definition" and root.findtext("service_code") == "010201"
    cover = [a for a in root.iterfind("attributes/attribute") if a.findtext("code") == "cover_state"][0]
    assert cover.findtext("required") == "true" and cover.findtext("datatype") == "singlevaluelist"
    assert [(v.findtext("key"), v.findtext("name")) for v in cover.iterfind("values/value")][0] == ("missing", "缺失")


def test_requests_and_errors_in_xml() -> None:
    root = ET.fromstring(o.render(o.Format.XML, "service_requests", [o.request_record(case_doc(), MATRIX)]))
    request = root.find("request")
    assert root.tag == "service_requests" and request is not None
    assert [child.tag for child in request] == REQUEST_FIELDS
    assert request.findtext("extended_attributes/status") == "IN_PROGRESS"
    assert request.findtext("zipcode") == "" and request.findtext("lat") == "22.82"
    errors = ET.fromstring(o.render(o.Format.XML, "errors", o.Open311Error(400, "lat: bad", "long: bad").items()))
    assert [(e.findtext("code"), e.findtext("description")) for e in errors.iterfind("error")] == [
        ("400", "lat: bad"), ("400", "long: bad")]


def test_xml_drops_characters_xml_cannot_carry_and_json_is_plain() -> None:
    body = o.render(o.Format.XML, "errors", [{"code": 400, "description": "bad\x00\x1bvalue <&>"}])
    assert ET.fromstring(body).findtext("error/description") == "badvalue <&>"
    assert orjson.loads(o.render(o.Format.JSON, "errors", [{"code": 400, "description": "x"}])) == [
        {"code": 400, "description": "x"}]


def test_discovery_lists_this_endpoint_in_both_formats() -> None:
    root = ET.fromstring(o.render(o.Format.XML, "discovery", o.discovery("http://h/open311/v2", "12345")))
    assert root.findtext("endpoints/endpoint/url") == "http://h/open311/v2"
    assert root.findtext("endpoints/endpoint/specification") == o.SPECIFICATION
    assert [f.text for f in root.iterfind("endpoints/endpoint/formats/format")] == ["text/xml", "application/json"]


def test_an_unknown_format_is_not_found() -> None:
    assert o.parse_format("xml") is o.Format.XML
    with pytest.raises(o.Open311Error) as info:
        o.parse_format("yaml")
    assert info.value.status == 404
