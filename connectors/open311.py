"""Open311 GeoReport v2 (wiki.open311.org/GeoReport_v2) with mySociety's extended statuses.

Pure: it parses and validates what Open311 clients send (form fields, query strings) into an intake
report, turns our case documents into GeoReport request records, and renders them as JSON or XML. The
hub's handlers (hub.api.open311) do the I/O; routing and state decisions stay in `dispatch`.

Field names are the spec's, exactly: clients such as FixMyStreet read them by name.
"""

from __future__ import annotations

import hashlib
import math
import re
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from enum import StrEnum
from typing import Annotated, Any, Final, Literal

import orjson
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from connectors.submission import Submission
from dispatch.fold import STATES
from dispatch.inputs import RANGE_TEXT, InputModel, check_moment, text_problem, visible
from dispatch.matrix import Matrix
from geo.crs import Crs

SPECIFICATION: Final = "http://wiki.open311.org/GeoReport_v2"
# When the service list or a service definition last changed: clients refresh their caches when it moves.
# Bump it with ATTRIBUTES below (a deployment's own matrix changes are announced by its operators).
CHANGESET: Final = "2026-11-22T00:00:00+08:00"
# Answers carry the city's local time (Asia/Shanghai: UTC+8, no daylight saving since 1991).
CITY_TZ: Final = timezone(timedelta(hours=8))


class Open311Error(Exception):
    """An answer in Open311's error shape: an HTTP status and one {code, description} per problem."""

    def __init__(self, status: int, *descriptions: str) -> None:
        super().__init__("; ".join(descriptions))
        self.status = status
        self.descriptions = descriptions

    def items(self) -> list[dict[str, Any]]:
        return [{"code": self.status, "description": text} for text in self.descriptions]


class Format(StrEnum):
    JSON = "json"
    XML = "xml"


CONTENT_TYPES: Final = {Format.JSON: "application/json", Format.XML: "text/xml"}


def parse_format(suffix: str) -> Format:
    try:
        return Format(suffix)
    except ValueError:
        raise Open311Error(404, f"format {suffix!r} is not served: use .json or .xml") from None


def check_jurisdiction(given: str | None, served: str) -> None:
    """One jurisdiction per endpoint: the id is optional, but a wrong one is an error, not ignored."""
    if given and given.strip() != served:
        raise Open311Error(404, f"jurisdiction_id {given!r} not found: this endpoint serves {served!r}")


# ---- Status: our states in GeoReport's open/closed and mySociety's extended statuses ----------------

@dataclass(frozen=True, slots=True)
class Status:
    status: Literal["open", "closed"]
    extended: str  # mySociety's upper-case extended status (open311-adapter's status_extended_upper)
    label: str  # what the citizen reads in status_notes


# Total over dispatch.fold.STATES (a unit test holds it to that). Extended statuses are the ones
# mySociety's clients know: OPEN, INVESTIGATING, IN_PROGRESS, ACTION_SCHEDULED, FIXED, CLOSED,
# DUPLICATE, NOT_COUNCILS_RESPONSIBILITY, NO_FURTHER_ACTION, INTERNAL_REFERRAL. There is no UNABLE_TO_FIX
# on the wire: FixMyStreet shows NO_FURTHER_ACTION as "unable to fix".
STATUSES: Final[dict[str, Status]] = {
    # Routed automatically at intake: nobody has looked at it yet, so not "investigating".
    "received": Status("open", "OPEN", "已受理"),
    "dispatched": Status("open", "OPEN", "已派单，待承办单位签收"),
    # An operator examines it to decide where it belongs.
    "triage": Status("open", "INVESTIGATING", "待人工研判"),
    # The unit sent it back (退回); the level above re-assigns it within the government.
    "return_requested": Status("open", "INTERNAL_REFERRAL", "退单审核中，将改派"),
    "accepted": Status("open", "IN_PROGRESS", "办理中"),
    # Work done, waiting for the citizen's callback (回访): may still come back as a redo, so still open.
    "resolved": Status("open", "FIXED", "已办结，待回访"),
    # Closed only after a resolution and a satisfied (or unanswered) callback: the problem was fixed.
    "closed": Status("closed", "FIXED", "已结案"),
    "merged": Status("closed", "DUPLICATE", "重复问题，已合并办理"),
    # 挂账: cannot be solved within the limit; reviewed periodically, but no action is scheduled.
    "parked": Status("closed", "NO_FURTHER_ACTION", "暂无法解决，已挂账"),
    # 不予受理: invalid, out of the city's remit, or an emergency handed to 110/119/120.
    "rejected": Status("closed", "NOT_COUNCILS_RESPONSIBILITY", "不予受理"),
}


def status_of(state: str) -> Status:
    return STATUSES[state]


def states_with(statuses: Iterable[str]) -> list[str]:
    """Our states whose GeoReport status is one of `statuses` (open/closed)."""
    wanted = set(statuses)
    return [s for s in STATES if STATUSES[s].status in wanted]


# ---- Services: the leaf categories of the responsibility matrix ------------------------------------

@dataclass(frozen=True, slots=True)
class Service:
    code: str
    name: str
    group: str  # the top-level class, e.g. 公用设施
    path: tuple[str, ...]  # names root to leaf
    keywords: tuple[str, ...]  # the channel names (aliases) of the category
    category: str  # what a case gets (CategoryNode.channel_category): a gas leak here merges with one by phone

    def as_json(self) -> dict[str, Any]:
        return {"service_code": self.code, "service_name": self.name, "description": " / ".join(self.path),
                "metadata": True, "type": "realtime", "keywords": ",".join(self.keywords), "group": self.group}


def services(matrix: Matrix | None) -> list[Service]:
    if matrix is None:
        return []
    return [Service(path[-1].code, path[-1].name, path[0].name, tuple(n.name for n in path), path[-1].aliases,
                    path[-1].channel_category) for path in matrix.leaves()]


def find_service(matrix: Matrix | None, code: str) -> Service:
    for service in services(matrix):
        if service.code == code:
            return service
    raise Open311Error(404, f"service_code {code!r} not found")


def category_keys(matrix: Matrix | None, codes: Iterable[str]) -> list[str]:
    """Every category value a case of these services may carry: the code and its channel names."""
    keys: list[str] = []
    for code in codes:
        service = find_service(matrix, code)
        keys += [service.code, *service.keywords]
    return keys


# ---- Service definitions: the attributes a client asks the citizen for ------------------------------

Datatype = Literal["string", "number", "datetime", "text", "singlevaluelist", "multivaluelist"]


class Attribute(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")
    code: str
    datatype: Datatype
    required: bool
    order: int
    description: str
    datatype_description: str | None = None
    values: tuple[tuple[str, str], ...] = ()  # (key, name) for the list datatypes
    max_length: int = 500  # ours, for string and text; not part of the rendered definition

    def as_json(self) -> dict[str, Any]:
        return {"variable": True, "code": self.code, "datatype": self.datatype, "required": self.required,
                "datatype_description": self.datatype_description, "order": self.order,
                "description": self.description, "values": [{"key": k, "name": n} for k, n in self.values]}


# Asked for every service. `urgency` is the citizen's own judgement: it is kept on the case for the
# operator but does not set the SLA class (a report's own urgency overrides the category's class, and a
# citizen's "normal" must not slow down a gas leak).
COMMON_ATTRIBUTES: Final = (
    Attribute(code="urgency", datatype="singlevaluelist", required=True, order=1, description="紧急程度",
              values=(("normal", "一般"), ("urgent", "紧急（危及安全或出行）"))),
    Attribute(code="detail", datatype="text", required=False, order=9, max_length=2000,
              description="补充说明（具体位置、持续时间等）", datatype_description="不超过 2000 字"),
)
# Asked only for the services under a category code (GB/T 30428.2 classes of the demo matrix).
EXTRA_ATTRIBUTES: Final[dict[str, tuple[Attribute, ...]]] = {
    "0101": (Attribute(code="pole_number", datatype="string", required=False, order=2, max_length=64,
                       description="灯杆编号（灯杆上的喷码）"),),
    "0102": (Attribute(code="cover_state", datatype="singlevaluelist", required=True, order=2,
                       description="井盖情况",
                       values=(("missing", "缺失"), ("broken", "破损"), ("loose", "松动或异响"))),),
}


def attributes_for(service: Service) -> tuple[Attribute, ...]:
    extra = [a for prefix, attrs in EXTRA_ATTRIBUTES.items() if service.code.startswith(prefix) for a in attrs]
    return tuple(sorted((*COMMON_ATTRIBUTES, *extra), key=lambda a: a.order))


def service_definition(service: Service) -> dict[str, Any]:
    return {"service_code": service.code, "attributes": [a.as_json() for a in attributes_for(service)]}


_ATTRIBUTE_FIELD = re.compile(r"^attribute\[([^\[\]]+)\](\[\])?$")


def validate_attributes(definition: Sequence[Attribute], given: Mapping[str, list[str]]) -> dict[str, Any]:
    """`attribute[code]=value` fields against the definition: known codes, required ones present,
    list values among the keys. Every problem is reported at once."""
    known = {a.code: a for a in definition}
    errors = [f"attribute[{code}]: not an attribute of this service (see its service definition)"
              for code in given if code not in known]
    values: dict[str, Any] = {}
    for attribute in definition:
        raw = [v.strip() for v in given.get(attribute.code, []) if v.strip()]
        if not raw:
            if attribute.required:
                errors.append(f"attribute[{attribute.code}]: required ({attribute.description})")
            continue
        try:
            values[attribute.code] = _attribute_value(attribute, raw)
        except ValueError as exc:
            errors.append(f"attribute[{attribute.code}]: {exc}")
    if errors:
        raise Open311Error(400, *errors)
    return values


def _attribute_value(attribute: Attribute, raw: list[str]) -> Any:
    keys = [k for k, _ in attribute.values]
    if attribute.datatype == "multivaluelist":
        unknown = [v for v in raw if v not in keys]
        if unknown:
            raise ValueError(f"{', '.join(unknown)} not among {', '.join(keys)}")
        return list(dict.fromkeys(raw))
    if len(raw) > 1:
        raise ValueError("give one value")
    value = raw[0]
    if attribute.datatype == "singlevaluelist":
        if value not in keys:
            raise ValueError(f"{value!r} is not one of {', '.join(keys)}")
        return value
    if attribute.datatype == "number":
        number = float(value)  # ValueError names the text
        if not math.isfinite(number):
            raise ValueError("not a finite number")
        return number
    if attribute.datatype == "datetime":
        return parse_datetime(value).isoformat()
    if len(value) > attribute.max_length:
        raise ValueError(f"longer than {attribute.max_length} characters")
    return value


# ---- POST requests: one new service request ---------------------------------------------------------

Short = Annotated[str, Field(max_length=200)]
Name = Annotated[str, Field(max_length=64)]


class RequestForm(InputModel):
    """The standard fields of POST requests (attributes and api_key are read apart). Unknown fields are
    ignored: clients add their own, and the spec does not forbid it."""

    model_config = ConfigDict(extra="ignore", str_strip_whitespace=True, frozen=True)

    service_code: Annotated[str, Field(min_length=1, max_length=64)]
    lat: Annotated[float, Field(ge=-90, le=90, allow_inf_nan=False)] | None = None
    long: Annotated[float, Field(ge=-180, le=180, allow_inf_nan=False)] | None = None
    address_string: Annotated[str, Field(max_length=500)] | None = None
    address_id: Short | None = None
    email: Annotated[str, Field(max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")] | None = None
    device_id: Short | None = None
    account_id: Short | None = None
    first_name: Name | None = None
    last_name: Name | None = None
    phone: Annotated[str, Field(max_length=32, pattern=r"^\+?[0-9][0-9 \-]{4,30}$")] | None = None
    description: Annotated[str, Field(max_length=10_000)] | None = None
    media_url: Annotated[str, Field(max_length=2_000, pattern=r"^https?://\S+$")] | None = None


@dataclass(frozen=True, slots=True)
class NewRequest:
    form: RequestForm
    service: Service
    attributes: dict[str, Any] = field(default_factory=dict)

    @property
    def point(self) -> tuple[float, float, Crs] | None:
        """GeoReport coordinates are WGS84 by definition."""
        if self.form.lat is None or self.form.long is None:
            return None
        return (self.form.long, self.form.lat, Crs.WGS84)

    def submission(self, token: str, now: datetime) -> Submission:
        return Submission("open311", self.report(token, now), idempotency_key(token), self.point,
                          self.form.address_string)

    def report(self, token: str, now: datetime) -> dict[str, Any]:
        """The fields kept on the case. The e-mail sits with the reporter's name and phone so that every
        view which masks the reporter drops it too."""
        form = self.form
        report: dict[str, Any] = {
            "category": self.service.category, "content": form.description or self.service.name,
            "type": "report", "channel": "open311", "reported_at": now.isoformat(),
            "open311": {"service_code": self.service.code, "token": token, "attributes": self.attributes,
                        **_present(device_id=form.device_id, account_id=form.account_id,
                                   media_url=form.media_url, address_id=form.address_id)},
        }
        if form.address_string:
            report["address"] = form.address_string
        reporter = _present(name=full_name(form.first_name, form.last_name), phone=form.phone, email=form.email)
        if reporter:
            report["reporter"] = reporter
        return report


def parse_new_request(fields: Sequence[tuple[str, str]], matrix: Matrix | None, jurisdiction: str) -> NewRequest:
    """Form fields (in order, repeats kept) → a validated request, or Open311Error naming the fields."""
    # Every field, whether the form model knows it or not (attributes, api_key): nothing with a control
    # character goes on, into a message, a lookup or the database.
    refused = [f"{visible(name)}: {problem}" for name, value in fields
               if (problem := text_problem(name) or text_problem(value)) is not None]
    if refused:
        raise Open311Error(400, *refused)
    single: dict[str, str] = {}
    attributes: dict[str, list[str]] = {}
    for name, value in fields:
        match = _ATTRIBUTE_FIELD.match(name)
        if match:
            attributes.setdefault(match.group(1), []).append(value)
        elif value.strip():  # clients send empty fields for what they do not have
            single.setdefault(name, value)
    check_jurisdiction(single.get("jurisdiction_id"), jurisdiction)
    try:
        form = RequestForm.model_validate(single)
    except ValidationError as exc:
        raise Open311Error(400, *field_errors(exc)) from None
    if (form.lat is None) != (form.long is None):
        raise Open311Error(400, f"{'long' if form.long is None else 'lat'}: lat and long go together")
    if form.lat is None and not form.address_string:
        raise Open311Error(400, "lat/long or address_string: a request needs a location")
    service = find_service(matrix, form.service_code)
    return NewRequest(form, service, validate_attributes(attributes_for(service), attributes))


def field_errors(exc: ValidationError) -> list[str]:
    out = []
    for err in exc.errors(include_url=False):
        name = ".".join(str(p) for p in err["loc"]) or "request"
        out.append(f"{name}: {'required' if err['type'] == 'missing' else err['msg']}")
    return out


def request_token(client: str, key: str) -> str:
    """The token of a submission: stable for one client's retries with the same key, and not revealing
    the key or the client. `open311:<token>` is the submission's idempotency key in the event store."""
    return hashlib.sha256(f"{client}\n{key}".encode()).hexdigest()[:32]


def idempotency_key(token: str) -> str:
    return f"open311:{token}"


def full_name(first: str | None, last: str | None) -> str | None:
    """Chinese names put the family name first; Latin ones after the given name."""
    parts = [p for p in (first, last) if p]
    if not parts:
        return None
    if any("\u4e00" <= ch <= "\u9fff" for p in parts for ch in p):
        return "".join(p for p in (last, first) if p)
    return " ".join(parts)


def _present(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


# ---- GET requests: the query and the public record of a case ----------------------------------------

@dataclass(frozen=True, slots=True)
class RequestQuery:
    ids: list[uuid.UUID] | None  # given: every other filter is ignored (as the spec says)
    categories: list[str] | None
    start: datetime | None
    end: datetime | None
    states: list[str] | None
    limit: int


def parse_request_query(params: Mapping[str, str], matrix: Matrix | None, jurisdiction: str, now: datetime,
                        default_days: int, limit: int) -> RequestQuery:
    check_jurisdiction(params.get("jurisdiction_id"), jurisdiction)
    ids_text = params.get("service_request_id", "").strip()
    if ids_text:
        return RequestQuery(_request_ids(ids_text, limit), None, None, None, None, limit)
    codes = _csv(params.get("service_code"))
    statuses = _csv(params.get("status"))
    bad = [s for s in statuses if s not in ("open", "closed")]
    if bad:
        raise Open311Error(400, f"status: {', '.join(bad)} is not open or closed")
    start = _date_param(params, "start_date")
    end = _date_param(params, "end_date")
    if start is None and end is None:
        start = now - timedelta(days=default_days)  # the spec's default window
    elif start is None and end is not None:
        start = end - timedelta(days=default_days)
    if start is not None and end is not None and start > end:
        raise Open311Error(400, "start_date: after end_date")
    return RequestQuery(None, category_keys(matrix, codes) if codes else None, start, end,
                        states_with(statuses) if statuses else None, limit)


def _request_ids(text: str, limit: int) -> list[uuid.UUID]:
    ids = []
    for part in _csv(text)[:limit]:
        try:
            ids.append(uuid.UUID(part))
        except ValueError:
            raise Open311Error(400, f"service_request_id: {part!r} is not a request id") from None
    return ids


def _csv(text: str | None) -> list[str]:
    return [p.strip() for p in (text or "").split(",") if p.strip()]


def _date_param(params: Mapping[str, str], name: str) -> datetime | None:
    text = params.get(name, "").strip()
    if not text:
        return None
    try:
        return parse_datetime(text)
    except ValueError:
        raise Open311Error(400, f"{name}: {text!r} is not a W3C date-time {RANGE_TEXT} such as "
                                "2026-11-01T00:00:00+08:00") from None


def parse_datetime(text: str) -> datetime:
    """ISO 8601 / W3C date-time within the hub's range (ValueError otherwise); without a zone it is the
    city's local time."""
    moment = datetime.fromisoformat(text)
    return check_moment(moment if moment.tzinfo is not None else moment.replace(tzinfo=CITY_TZ))


def w3c(text: str | None) -> str | None:
    if not text:
        return None
    return datetime.fromisoformat(text).astimezone(CITY_TZ).replace(microsecond=0).isoformat()


def request_record(case: Mapping[str, Any], matrix: Matrix | None) -> dict[str, Any]:
    """A case as the public sees it through GET requests: never the reporter's name, phone or e-mail;
    for confidential (保密) cases neither the description nor where it is."""
    report: Mapping[str, Any] = case.get("report") or {}
    ours: Mapping[str, Any] = report.get("open311") or {}
    secret = bool(report.get("confidential"))
    status = status_of(case["state"])
    code, name = _service_of(case, matrix)
    location = None if secret else case.get("location")
    lead = (case.get("units") or {}).get("lead") or {}
    return {
        "service_request_id": str(case["case_id"]),
        "status": status.status,
        "status_notes": _status_notes(case, status),
        "service_name": name,
        "service_code": code,
        "description": None if secret else report.get("content"),
        "agency_responsible": lead.get("name"),
        "service_notice": service_notice(case),
        "requested_datetime": w3c(case.get("created_at")),
        "updated_datetime": w3c(case.get("updated_at")),
        "expected_datetime": w3c((case.get("deadlines") or {}).get("resolve_by")),
        "address": None if secret else _address(case),
        "address_id": ours.get("address_id"),
        "zipcode": None,
        "lat": location["lat"] if location else None,
        "long": location["lng"] if location else None,
        "media_url": None if secret else ours.get("media_url"),
        "extended_attributes": {"status": status.extended},
    }


def _service_of(case: Mapping[str, Any], matrix: Matrix | None) -> tuple[str, str]:
    raw = (case.get("report") or {}).get("category")
    if matrix is not None and isinstance(raw, str) and matrix.knows(raw):
        node = matrix.path(raw)[-1]
        return node.code, node.name
    placed = case.get("category")
    if isinstance(placed, dict) and placed.get("code"):
        return str(placed["code"]), str((placed.get("path") or [placed["code"]])[-1])
    return str(raw or ""), str(raw or "")


def _status_notes(case: Mapping[str, Any], status: Status) -> str:
    """The state in words. Staff notes (resolution, park, reject) are not published: they are written
    for colleagues and may name the caller."""
    if case["state"] == "merged" and case.get("parent_id"):
        return f"{status.label}（并入 {case['parent_id']}）"
    return status.label


def service_notice(case: Mapping[str, Any] | None) -> str | None:
    """What will happen next, from what the hub decided."""
    if case is None:
        return None
    lead = ((case.get("units") or {}).get("lead") or {}).get("name")
    state = case.get("state")
    if state in ("received", "triage"):
        return "已受理，待人工研判后派单"
    if state == "merged":
        return "与已受理的同一问题合并办理"
    if state in ("dispatched", "return_requested", "accepted") and lead:
        due = w3c((case.get("deadlines") or {}).get("resolve_by"))
        return f"由{lead}办理" + (f"，预计 {due} 前办结" if due else "")
    return None


def _address(case: Mapping[str, Any]) -> str | None:
    given = (case.get("report") or {}).get("address")
    if given:
        return str(given)
    areas: Mapping[str, Any] = case.get("areas") or {}
    names = [areas[lv]["name"] for lv in ("city", "county", "township", "community") if lv in areas]
    return "".join(names) or None


def created(case_id: str, token: str, case: Mapping[str, Any] | None, account_id: str | None) -> list[dict[str, Any]]:
    """The answer to POST requests: one record, with the id at once (our commit is synchronous)."""
    return [{"service_request_id": case_id, "token": token, "service_notice": service_notice(case),
             "account_id": account_id}]


def discovery(url: str, contact: str) -> dict[str, Any]:
    return {
        "changeset": CHANGESET, "contact": contact,
        "key_service": "API keys are issued by the city's operators (cityloop keys add NAME --role open311)",
        "endpoints": [{"specification": SPECIFICATION, "url": url, "changeset": CHANGESET, "type": "production",
                       "formats": [CONTENT_TYPES[Format.XML], CONTENT_TYPES[Format.JSON]]}],
    }


# ---- Rendering ----------------------------------------------------------------------------------------

XML_DECLARATION: Final = b'<?xml version="1.0" encoding="utf-8"?>\n'
# The element of each item of a list, by the list's element (the spec's names).
_XML_ITEMS: Final = {"services": "service", "attributes": "attribute", "values": "value", "endpoints": "endpoint",
                     "formats": "format", "service_requests": "request", "errors": "error"}
# Characters XML 1.0 cannot carry at all: dropped rather than producing a document no client can parse.
_XML_ILLEGAL: Final = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def render(fmt: Format, root: str, payload: Any) -> bytes:
    """JSON as is; XML under `root`, lists itemised with the spec's element names."""
    if fmt is Format.JSON:
        return orjson.dumps(payload)
    element = ET.Element(root)
    _fill(element, payload)
    return XML_DECLARATION + ET.tostring(element, encoding="unicode").encode()


def _fill(element: ET.Element, value: Any) -> None:
    if isinstance(value, Mapping):
        for name, item in value.items():
            _fill(ET.SubElement(element, name), item)
    elif isinstance(value, list | tuple):
        for item in value:
            _fill(ET.SubElement(element, _XML_ITEMS[element.tag]), item)
    elif isinstance(value, bool):
        element.text = "true" if value else "false"
    elif value is not None:
        element.text = _XML_ILLEGAL.sub("", str(value))
