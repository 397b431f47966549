"""Emergency incidents (平急转换): POST/GET /api/v1/incidents, GET /api/v1/incidents/{incident_id} (+ /cases),
POST …/link, …/level, …/close, and GET …/review.xlsx (the review report kept with a closed incident).

The city's operators declare incidents anywhere in the city, a county's dispatchers inside their county. Reads are
clipped to jurisdiction like cases: an incident none of whose areas overlap the caller's is answered 404.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any

from aiohttp import web
from pydantic import ConfigDict, Field, model_validator

from dispatch.case import area_codes
from dispatch.incidents import INCIDENT_STATES, KINDS, LEVELS, EmergencyLevel, IncidentKind
from dispatch.inputs import AreaCode, InputModel
from geo.areas import code_within
from hub.api.errors import ApiError, json_response, path_uuid, read_json
from hub.api.identity import principal_of
from hub.api.schema import Route, errors, json_body, query
from hub.identity.access import (
    CITY_CODE,
    USER_ROLES,
    Principal,
    case_in_scopes,
    clip_scopes,
    list_view,
    listed_view,
    redact_case,
)
from hub.keys import INCIDENTS, LOCATOR, POLICY
from hub.services.actors import recorded_actor
from hub.services.incidents import REVIEW_XLSX, XLSX_TYPE, IncidentError
from hub.store.incidents import incident_visible

DECLARE_ROLES = ("admin", "city_operator", "county_dispatcher")
MAX_TITLE = 200
MAX_TEXT = 4000
MAX_AREAS = 50
MAX_LINK = 500
CategoryCode = Annotated[str, Field(pattern=r"^\d{2}(\d{2}){0,2}$", max_length=6)]


class IncidentDeclaration(InputModel):
    model_config = ConfigDict(extra="forbid")
    kind: IncidentKind
    level: EmergencyLevel
    title: str = Field(min_length=1, max_length=MAX_TITLE)
    areas: list[AreaCode] = Field(min_length=1, max_length=MAX_AREAS,
                                  description="division codes: the city, counties or townships it covers")
    categories: list[CategoryCode] = Field(default_factory=list, max_length=MAX_AREAS,
                                  description="category codes at any level of the tree (01, 0103, 010301); "
                                              "none: every category")
    note: str | None = Field(default=None, max_length=MAX_TEXT)


class IncidentLevelChange(InputModel):
    model_config = ConfigDict(extra="forbid")
    level: EmergencyLevel
    note: str | None = Field(default=None, max_length=MAX_TEXT)


class IncidentClosing(InputModel):
    model_config = ConfigDict(extra="forbid")
    summary: str = Field(min_length=1, max_length=MAX_TEXT)


class IncidentLinking(InputModel):
    model_config = ConfigDict(extra="forbid")
    case_ids: list[uuid.UUID] | None = Field(default=None, min_length=1, max_length=MAX_LINK)
    open: bool | None = Field(default=None, description="true: every open case in its areas and categories")

    @model_validator(mode="after")
    def _one(self) -> IncidentLinking:
        if (self.case_ids is None) == (self.open is not True):
            raise ValueError("give either case_ids or open: true")
        return self


class IncidentQuery(InputModel):
    model_config = ConfigDict(extra="forbid")
    state: str = Field(default="active", pattern="^(active|closed|all)$")
    limit: int = Field(default=100, ge=1, le=500)


def _body(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ApiError(422, "validation_failed", "the body must be a JSON object")
    return raw


def _governs(principal: Principal, codes: list[str]) -> bool:
    home = principal.area
    return home is not None and all(code_within(code, home) for code in codes)


async def declare(request: web.Request) -> web.Response:
    principal = await principal_of(request, *DECLARE_ROLES)
    body = IncidentDeclaration.model_validate(_body(await read_json(request)))
    locator, matrix = request.app[LOCATOR], request.app[POLICY].matrix
    problems, areas, categories = [], [], []
    for i, code in enumerate(dict.fromkeys(body.areas)):
        chain = locator.area_chain(code)
        place = next((a | {"level": lv} for lv, a in chain.items() if a["code"] == code), None)
        if code == CITY_CODE:
            place = {"code": CITY_CODE, "name": chain.get("city", {}).get("name", "南宁市"), "level": "city"}
        if place is None:
            problems.append({"field": f"areas[{i}]", "message": f"unknown area {code}"})
        elif principal.area is None or not code_within(code, principal.area):
            problems.append({"field": f"areas[{i}]", "message": f"area {code} is outside your jurisdiction"})
        else:
            areas.append(place)
    for i, code in enumerate(dict.fromkeys(body.categories)):
        if matrix is None or not matrix.knows(code) or matrix.path(code)[-1].code != code:
            problems.append({"field": f"categories[{i}]", "message": f"unknown category {code}"})
        else:
            path = matrix.path(code)
            categories.append({"code": code, "name": path[-1].name, "path": [n.name for n in path],
                               **({"name_en": path[-1].name_en} if path[-1].name_en else {})})
    if problems:
        raise ApiError(422, "validation_failed", "the incident names unknown or foreign areas or categories",
                       problems)
    fields = {"kind": body.kind, "level": body.level, "title": body.title, "areas": areas,
              "categories": categories, "note": body.note}
    extra = recorded_actor(principal, matrix, locator.area_chain)
    doc = await request.app[INCIDENTS].declare(principal, fields, extra)
    return json_response({"incident_id": doc["incident_id"], "incident": doc}, status=201)


async def list_incidents(request: web.Request) -> web.Response:
    principal = await principal_of(request, *USER_ROLES)
    q = IncidentQuery.model_validate(dict(request.query))
    scopes = clip_scopes(principal, [])
    states = list(INCIDENT_STATES) if q.state == "all" else [q.state]
    docs = await request.app[INCIDENTS].reads.page(scopes, states, q.limit) if scopes else []
    return json_response({"incidents": docs})


async def _visible(request: web.Request, principal: Principal) -> dict[str, Any]:
    doc = await request.app[INCIDENTS].reads.get(path_uuid(request, "incident_id", "incident"))
    if doc is None or not principal.area or not incident_visible(doc, frozenset({principal.area})):
        raise ApiError(404, "not_found", "no such incident")
    return doc


async def _governed(request: web.Request) -> tuple[Principal, dict[str, Any]]:
    """An incident the caller may change: visible, and every area of it inside their jurisdiction."""
    principal = await principal_of(request, *DECLARE_ROLES)
    doc = await _visible(request, principal)
    if not _governs(principal, [a["code"] for a in doc["areas"]]):
        raise ApiError(403, "forbidden", "the incident reaches beyond your jurisdiction: the level above runs it")
    return principal, doc


async def get_incident(request: web.Request) -> web.Response:
    principal = await principal_of(request, *USER_ROLES)
    return json_response(await _visible(request, principal))


async def incident_cases(request: web.Request) -> web.Response:
    """The linked cases the caller may see (the board's map and list), masked as lists are."""
    principal = await principal_of(request, *USER_ROLES)
    doc = await _visible(request, principal)
    scopes = clip_scopes(principal, [])
    view = list_view(principal)
    out = []
    for row in await request.app[INCIDENTS].reads.cases(doc["incident_id"]):
        case = row["doc"]
        if case_in_scopes(area_codes(case), scopes):
            out.append({**redact_case(case, listed_view(view, case)), "link": {
                "how": row["how"], "at": row["linked_at"].isoformat()}})
    return json_response({"incident_id": doc["incident_id"], "cases": out})


def _extra(request: web.Request, principal: Principal) -> dict[str, Any]:
    return recorded_actor(principal, request.app[POLICY].matrix, request.app[LOCATOR].area_chain)


async def _run(coro: Any) -> Any:
    try:
        return await coro
    except IncidentError as exc:
        raise ApiError(exc.status, exc.code, exc.message, exc.fields) from None


async def link(request: web.Request) -> web.Response:
    principal, doc = await _governed(request)
    body = IncidentLinking.model_validate(_body(await read_json(request)))
    ids = [str(c) for c in body.case_ids] if body.case_ids is not None else None
    done = await _run(request.app[INCIDENTS].link(principal, doc, ids, _extra(request, principal)))
    return json_response({"incident_id": doc["incident_id"], "linked": done})


async def change_level(request: web.Request) -> web.Response:
    principal, doc = await _governed(request)
    body = IncidentLevelChange.model_validate(_body(await read_json(request)))
    new = await _run(request.app[INCIDENTS].set_level(principal, doc, body.level, body.note,
                                                      _extra(request, principal)))
    return json_response(new)


async def close(request: web.Request) -> web.Response:
    principal, doc = await _governed(request)
    body = IncidentClosing.model_validate(_body(await read_json(request)))
    new = await _run(request.app[INCIDENTS].close(principal, doc, body.summary, _extra(request, principal)))
    return json_response(new)


async def review_xlsx(request: web.Request) -> web.Response:
    principal = await principal_of(request, *USER_ROLES)
    doc = await _visible(request, principal)
    incidents = request.app[INCIDENTS]
    if doc["state"] != "closed":
        raise ApiError(404, "not_found", "the review is produced when the incident is closed")
    found = await incidents.reads.document(doc["incident_id"], REVIEW_XLSX)
    content = found[1] if found is not None else await incidents.produce_review(doc)  # lost: made again
    return web.Response(body=content, content_type=XLSX_TYPE, headers={
        "Content-Disposition": f'attachment; filename="incident-{doc["incident_id"]}-review.xlsx"'})


INCIDENT_ID: dict[str, Any] = {"name": "incident_id", "in": "path", "required": True,
                               "schema": {"type": "string", "format": "uuid"}}
_PLACE = {"type": "object", "properties": {"code": {"type": "string"}, "name": {"type": "string"},
                                           "level": {"type": "string"}}}
_WHO = {"type": ["object", "null"], "properties": {"username": {"type": "string"}, "role": {"type": "string"},
                                                   "name": {"type": "string"}}}
INCIDENT_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "incident_id": {"type": "string", "format": "uuid"}, "kind": {"type": "string", "enum": list(KINDS)},
    "level": {"type": "string", "enum": list(LEVELS)}, "title": {"type": "string"},
    "areas": {"type": "array", "items": _PLACE},
    "categories": {"type": "array", "items": {"type": "object", "properties": {
        "code": {"type": "string"}, "name": {"type": "string"},
        "path": {"type": "array", "items": {"type": "string"}}}}},
    "state": {"type": "string", "enum": list(INCIDENT_STATES)}, "declared_by": _WHO,
    "declared_at": {"type": "string", "format": "date-time"}, "updated_at": {"type": "string"},
    "levels": {"type": "array", "items": {"type": "object"}}, "closed_by": _WHO,
    "closed_at": {"type": ["string", "null"]}, "summary": {"type": ["string", "null"]},
    "linked": {"type": "integer", "description": "cases linked so far"}, "version": {"type": "integer"}},
    "required": ["incident_id", "kind", "level", "title", "areas", "categories", "state"]}
_ONE = {"200": {"description": "the incident", "content": {"application/json": {"schema": INCIDENT_SCHEMA}}}}
_CHANGE = errors(400, 401, 403, 404, 409, 422, 503)
OPENAPI_MODELS: list[type[InputModel]] = [IncidentDeclaration, IncidentLevelChange, IncidentClosing, IncidentLinking]
_BEARER: list[dict[str, list[str]]] = [{"bearer": []}]

ROUTES = [
    Route("POST", "/api/v1/incidents", declare, {
        "operationId": "declare_incident",
        "summary": "declare an emergency incident (平急转换): new cases in its areas and categories link to it and "
                   "run on its level's emergency limits; city operators anywhere, county dispatchers in their county",
        "security": _BEARER, "requestBody": json_body(IncidentDeclaration),
        "responses": {"201": {"description": "declared", "content": {"application/json": {"schema": {
            "type": "object", "properties": {"incident_id": {"type": "string", "format": "uuid"},
                                             "incident": INCIDENT_SCHEMA}}}}}, **_CHANGE}}),
    Route("GET", "/api/v1/incidents", list_incidents, {
        "operationId": "list_incidents",
        "summary": "incidents over the caller's jurisdiction, newest first", "security": _BEARER,
        "parameters": query(IncidentQuery),
        "responses": {"200": {"description": "the incidents", "content": {"application/json": {"schema": {
            "type": "object", "properties": {"incidents": {"type": "array", "items": INCIDENT_SCHEMA}}}}}},
            **errors(401, 403, 422)}}),
    Route("GET", "/api/v1/incidents/{incident_id}", get_incident, {
        "operationId": "get_incident",
        "summary": "one incident; 404 also outside the caller's jurisdiction", "security": _BEARER,
        "parameters": [INCIDENT_ID], "responses": {**_ONE, **errors(401, 403, 404)}}),
    Route("GET", "/api/v1/incidents/{incident_id}/cases", incident_cases, {
        "operationId": "list_incident_cases",
        "summary": "the incident's linked cases the caller may see (list view), with how and when each was linked",
        "security": _BEARER, "parameters": [INCIDENT_ID],
        "responses": {"200": {"description": "the cases", "content": {"application/json": {"schema": {
            "type": "object", "properties": {"cases": {"type": "array", "items": {"type": "object"}}}}}}},
            **errors(401, 403, 404)}}),
    Route("POST", "/api/v1/incidents/{incident_id}/link", link, {
        "operationId": "link_incident_cases",
        "summary": "link open cases by hand: the ones named, or (open: true) every open case in its areas and "
                   "categories; their limits stay as they were", "security": _BEARER, "parameters": [INCIDENT_ID],
        "requestBody": json_body(IncidentLinking),
        "responses": {"200": {"description": "the cases linked now", "content": {"application/json": {"schema": {
            "type": "object", "properties": {"linked": {"type": "array", "items": {"type": "string"}}}}}}},
            **_CHANGE}}),
    Route("POST", "/api/v1/incidents/{incident_id}/level", change_level, {
        "operationId": "change_incident_level",
        "summary": "change the level (new cases take the new level's limits)", "security": _BEARER,
        "parameters": [INCIDENT_ID], "requestBody": json_body(IncidentLevelChange),
        "responses": {**_ONE, **_CHANGE}}),
    Route("POST", "/api/v1/incidents/{incident_id}/close", close, {
        "operationId": "close_incident",
        "summary": "close the incident with a summary: new cases run on ordinary footing again, and the review "
                   "report (复盘) is produced and kept with it", "security": _BEARER, "parameters": [INCIDENT_ID],
        "requestBody": json_body(IncidentClosing), "responses": {**_ONE, **_CHANGE}}),
    Route("GET", "/api/v1/incidents/{incident_id}/review.xlsx", review_xlsx, {
        "operationId": "get_incident_review_xlsx",
        "summary": "the review report (复盘) of a closed incident as an XLSX workbook: timeline, volumes, response "
                   "and resolution times per unit", "security": _BEARER, "parameters": [INCIDENT_ID],
        "responses": {"200": {"description": "the workbook", "content": {XLSX_TYPE: {"schema": {
            "type": "string", "format": "binary"}}}}, **errors(401, 403, 404)}}),
]
