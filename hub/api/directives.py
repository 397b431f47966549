"""Directives (政令一键智达): POST/GET /api/v1/directives, GET …/{directive_id}, POST …/ack, …/reply, …/remind,
and a directive's photos (attachments and replies' photos).

Who: the city (admin, city operator) issues to any unit of the city, a county dispatcher to units in its county;
the staff of a recipient unit (Principal.unit) answer, once per unit; a directive the caller may not see — or, for
an answer, one not addressed to the caller's unit — is answered 404, as a case one may not see.
"""

from __future__ import annotations

import uuid
from typing import Annotated, Any, Literal, Self

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, model_validator

from dispatch import directives as rules
from dispatch.inputs import AreaCode, InputModel, Moment
from hub.api.errors import ApiError, json_response, path_uuid, read_json
from hub.api.grid import PHOTO_HEADERS
from hub.api.identity import principal_of
from hub.api.schema import Route, errors, json_body, query
from hub.identity.access import USER_ROLES, Principal, clip_scopes, list_view
from hub.keys import CLOCK, DIRECTIVES, INCIDENTS, LOCATOR, PHOTO_STORE, POLICY
from hub.services.actors import recorded_actor
from hub.services.directives import DirectiveError, person
from hub.services.photos import is_photo_id
from hub.store.incidents import incident_visible

MAX_TITLE = 120
MAX_CONTENT = 4000
MAX_REPLY = 2000
MAX_PHOTOS = 9
MAX_UNITS = 500
# Photo ids are checked against the store (a 422 names the one missing); unit codes against the matrix and the
# areas (a 422 names the unit nobody knows): here only their length is bounded.
PhotoRef = Annotated[str, Field(min_length=1, max_length=64)]
UnitCode = Annotated[str, Field(min_length=1, max_length=64)]


class Recipients(InputModel):
    """Either every unit of a level under an area (`level`, `parent`, optional `kind` — the county bureau, `gov`
    by default) or a list of `units`."""

    model_config = ConfigDict(extra="forbid")
    level: Literal["county", "township"] | None = None
    parent: AreaCode | None = None
    kind: str | None = Field(default=None, pattern=r"^[a-z0-9_]{1,32}$")
    units: list[UnitCode] | None = Field(default=None, min_length=1, max_length=MAX_UNITS)

    @model_validator(mode="after")
    def _one_form(self) -> Self:
        if self.units is not None:
            if self.level is not None or self.parent is not None or self.kind is not None:
                raise ValueError("give either units, or level and parent")
        elif self.level is None or self.parent is None:
            raise ValueError("give either units, or level and parent")
        return self


class DirectiveBody(InputModel):
    model_config = ConfigDict(extra="forbid")
    title: str = Field(min_length=1, max_length=MAX_TITLE)
    content: str = Field(min_length=1, max_length=MAX_CONTENT)
    attachments: list[PhotoRef] = Field(default_factory=list, max_length=MAX_PHOTOS,
                                   description="photo ids from POST /api/v1/photos")
    recipients: Recipients
    due: Moment = Field(description="the deadline, ISO 8601 with its zone, in the future")
    reply: Literal["ack", "report"] = Field(default="ack", description="ack: 签收 only; report: a reply with text "
                                                                        "and photos")
    incident_id: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.:-]{1,64}$")


class ReplyBody(InputModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=MAX_REPLY)
    photos: list[PhotoRef] = Field(default_factory=list, max_length=MAX_PHOTOS)


class RemindBody(InputModel):
    model_config = ConfigDict(extra="forbid")
    units: list[UnitCode] | None = Field(default=None, min_length=1, max_length=MAX_UNITS,
                                    description="default: every unit still to answer")


class DirectiveQuery(InputModel):
    model_config = ConfigDict(extra="forbid")
    state: str = Field(default="all", pattern="^(open|overdue|completed|all)$")
    incident: str | None = Field(default=None, pattern=r"^[A-Za-z0-9_.:-]{1,64}$")
    limit: int = Field(default=100, ge=1, le=500)


class DirectiveCreated(InputModel):
    directive_id: str
    recipients: int


def _body(raw: Any) -> dict[str, Any]:
    if not isinstance(raw, dict):
        raise ApiError(422, "validation_failed", "the body must be a JSON object")
    return raw


async def _check_photos(request: web.Request, photos: list[str], name: str) -> None:
    store = request.app[PHOTO_STORE]
    missing = [{"field": f"{name}[{i}]", "message": "no such photo: upload it with POST /api/v1/photos"}
               for i, p in enumerate(photos) if not is_photo_id(p) or not await store.exists(p)]
    if missing:
        raise ApiError(422, "validation_failed", "unknown photo ids", missing)


def _raise(exc: DirectiveError) -> ApiError:
    return ApiError(exc.refusal.status, exc.refusal.code, exc.refusal.reason, exc.fields)


async def create_directive(request: web.Request) -> web.Response:
    principal = await principal_of(request, *rules.ISSUER_ROLES)
    body = DirectiveBody.model_validate(_body(await read_json(request)))
    now = request.app[CLOCK].now()
    if body.due <= now:
        raise ApiError(422, "validation_failed", "due must be in the future",
                       [{"field": "due", "message": f"must be after {now.isoformat()}"}])
    service = request.app[DIRECTIVES]
    try:
        units = service.resolve(principal, body.recipients.model_dump(exclude_none=True))
    except DirectiveError as exc:
        raise _raise(exc) from None
    if len(units) > request.app[POLICY].directives.max_recipients:
        raise ApiError(422, "validation_failed", "too many recipients", [{"field": "recipients", "message": (
            f"names {len(units)} units; at most {request.app[POLICY].directives.max_recipients}")}])
    await _check_photos(request, body.attachments, "attachments")
    if body.incident_id is not None:
        await _check_incident(request, principal, body.incident_id)
    extra = recorded_actor(principal, request.app[POLICY].matrix, request.app[LOCATOR].area_chain)
    event = rules.issued(
        title=body.title, content=body.content, attachments=body.attachments, recipients=units,
        recipients_spec=body.recipients.model_dump(exclude_none=True), due=body.due, reply=body.reply,
        issued_by=person(principal, extra.get("actor_unit")), issuer_area=principal.area or "",
        incident_id=body.incident_id, now=now)
    doc = await service.issue(principal, event, extra)
    return json_response({"directive_id": doc["directive_id"], "recipients": doc["total"]}, status=201)


async def _check_incident(request: web.Request, principal: Principal, incident_id: str) -> None:
    """A directive sent under an incident names one the issuer can see and that is still active (its board lists
    it); anything else is a 422 naming `incident_id`, never a hint about incidents out of sight."""
    try:
        key = uuid.UUID(incident_id)
    except ValueError:
        key = None
    doc = await request.app[INCIDENTS].reads.get(key) if key is not None else None
    if doc is None or not principal.area or not incident_visible(doc, frozenset({principal.area})):
        raise ApiError(422, "validation_failed", "no such incident",
                       [{"field": "incident_id", "message": "names no incident you can see"}])
    if doc["state"] != "active":
        raise ApiError(422, "validation_failed", "the incident is closed",
                       [{"field": "incident_id", "message": "the incident is closed"}])


async def list_directives(request: web.Request) -> web.Response:
    principal = await principal_of(request, *USER_ROLES)
    q = DirectiveQuery.model_validate(dict(request.query))
    scopes = clip_scopes(principal, [])
    if not scopes:
        return json_response({"directives": []})
    docs = await request.app[DIRECTIVES].reads.page(
        list_view(principal), scopes, states=None if q.state == "all" else [q.state], incident=q.incident,
        limit=q.limit)
    return json_response({"directives": docs})


async def get_directive(request: web.Request) -> web.Response:
    principal = await principal_of(request, *USER_ROLES)
    try:
        doc = await request.app[DIRECTIVES].visible(principal, path_uuid(request, "directive_id", "directive"))
    except DirectiveError as exc:
        raise _raise(exc) from None
    return json_response(doc)


async def _answer(request: web.Request, principal: Principal, decide: Any) -> web.Response:
    directive_id = path_uuid(request, "directive_id", "directive")
    extra = recorded_actor(principal, request.app[POLICY].matrix, request.app[LOCATOR].area_chain)
    try:
        doc = await request.app[DIRECTIVES].answer(principal, directive_id, decide, extra)
    except DirectiveError as exc:
        raise _raise(exc) from None
    return json_response(doc)


async def acknowledge(request: web.Request) -> web.Response:
    principal = await principal_of(request, *USER_ROLES)
    if request.can_read_body:
        raw = await read_json(request)
        if raw not in ({}, None):
            raise ApiError(422, "validation_failed", "签收 takes no fields", [{"field": "body", "message": "empty"}])
    now = request.app[CLOCK].now()
    return await _answer(request, principal, lambda doc, by: rules.acknowledge(doc, principal.unit or "", by, now))


async def reply(request: web.Request) -> web.Response:
    principal = await principal_of(request, *USER_ROLES)
    body = ReplyBody.model_validate(_body(await read_json(request)))
    await _check_photos(request, body.photos, "photos")
    now = request.app[CLOCK].now()
    return await _answer(request, principal, lambda doc, by: rules.reply(doc, principal.unit or "", by, now, body.text,
                                                               body.photos))


async def remind(request: web.Request) -> web.Response:
    principal = await principal_of(request, *USER_ROLES)
    directive_id = path_uuid(request, "directive_id", "directive")
    raw = await read_json(request) if request.can_read_body else {}
    body = RemindBody.model_validate(_body(raw if raw is not None else {}))
    extra = recorded_actor(principal, request.app[POLICY].matrix, request.app[LOCATOR].area_chain)
    try:
        doc = await request.app[DIRECTIVES].remind(principal, directive_id, body.units, extra)
    except DirectiveError as exc:
        raise _raise(exc) from None
    return json_response(doc)


async def get_photo(request: web.Request) -> web.Response:
    """A photo the directive names (an attachment or a reply's), to whoever may see the directive; 404 alike for
    a directive one may not see and a photo it does not name."""
    principal = await principal_of(request, *USER_ROLES)
    photo_id = request.match_info["photo_id"]
    try:
        doc = await request.app[DIRECTIVES].visible(principal, path_uuid(request, "directive_id", "directive"))
    except DirectiveError:
        doc = None
    named = [*(doc or {}).get("attachments", []),
             *(p for r in (doc or {}).get("recipients", []) for p in ((r.get("reply") or {}).get("photos") or []))]
    if doc is None or not is_photo_id(photo_id) or photo_id not in named:
        raise ApiError(404, "not_found", "no such photo on a directive you may see")
    stored = await request.app[PHOTO_STORE].get(photo_id)
    if stored is None:
        raise ApiError(404, "not_found", "the photo is missing from the store")
    data, content_type = stored
    return web.Response(body=data, content_type=content_type, headers={**PHOTO_HEADERS, "ETag": f'"{photo_id}"'})


DIRECTIVE_ID: dict[str, Any] = {"name": "directive_id", "in": "path", "required": True,
                                "schema": {"type": "string", "format": "uuid"}}
_UNIT = {"type": "object", "properties": {"code": {"type": "string"}, "name": {"type": "string"}}}
_WHO = {"type": ["object", "null"], "properties": {"username": {"type": "string"}, "role": {"type": "string"},
                                                   "name": {"type": "string"}, "unit": _UNIT}}
_RECIPIENT = {"type": "object", "properties": {
    "unit": _UNIT, "area": {"type": "string"}, "state": {"type": "string", "enum": list(rules.RECIPIENT_STATES)},
    "at": {"type": ["string", "null"], "format": "date-time"}, "by": _WHO,
    "acknowledged_at": {"type": ["string", "null"]}, "acknowledged_by": _WHO,
    "reply": {"type": ["object", "null"], "properties": {"text": {"type": "string"}, "photos": {
        "type": "array", "items": {"type": "string"}}, "at": {"type": "string"}, "by": _WHO}},
    "late": {"type": "boolean"}, "escalated_to": {"anyOf": [_UNIT, {"type": "null"}]},
    "reminded": {"type": "integer"}}, "required": ["unit", "state", "at", "by"]}
DIRECTIVE_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "directive_id": {"type": "string", "format": "uuid"}, "version": {"type": "integer"},
    "title": {"type": "string"}, "content": {"type": "string"},
    "attachments": {"type": "array", "items": {"type": "string"}},
    "reply": {"type": "string", "enum": list(rules.REPLY_MODES)}, "due": {"type": "string", "format": "date-time"},
    "issued_at": {"type": "string", "format": "date-time"}, "issued_by": _WHO, "issuer_area": {"type": "string"},
    "incident_id": {"type": ["string", "null"]}, "recipients_spec": {"type": "object"},
    "recipients": {"type": "array", "items": _RECIPIENT},
    "reminders": {"type": "array", "items": {"type": "object"}}, "overdue_at": {"type": ["string", "null"]},
    "state": {"type": "string", "enum": list(rules.DIRECTIVE_STATES)},
    "total": {"type": "integer"}, "acknowledged": {"type": "integer", "description": "units that signed (签收), "
                                                                                       "those that replied too"},
    "replied": {"type": "integer"}, "overdue": {"type": "integer"},
    "pending": {"type": "integer", "description": "units whose required answer is still missing"}},
    "required": ["directive_id", "state", "total", "acknowledged", "replied", "overdue", "recipients"]}
_ONE = {"200": {"description": "the directive", "content": {"application/json": {"schema": DIRECTIVE_SCHEMA}}}}
_BEARER: list[dict[str, list[str]]] = [{"bearer": []}]
OPENAPI_MODELS: list[type[BaseModel]] = [DirectiveBody, ReplyBody, RemindBody, DirectiveCreated]

ROUTES = [
    Route("POST", "/api/v1/directives", create_directive, {
        "operationId": "issue_directive",
        "summary": "issue a directive (政令) to many units: the city to any unit, a county dispatcher within its "
                   "county; a unit that does not exist is named in a 422, one outside the jurisdiction in a 403",
        "security": _BEARER, "requestBody": json_body(DirectiveBody),
        "responses": {"201": {"description": "issued", **json_body(DirectiveCreated)},
                      **errors(400, 401, 403, 422, 503)}}),
    Route("GET", "/api/v1/directives", list_directives, {
        "operationId": "list_directives",
        "summary": "directives the caller sees, newest first: a unit's staff those addressed to it, others those "
                   "issued in or addressed into their jurisdiction", "security": _BEARER,
        "parameters": query(DirectiveQuery),
        "responses": {"200": {"description": "the directives", "content": {"application/json": {"schema": {
            "type": "object", "properties": {"directives": {"type": "array", "items": DIRECTIVE_SCHEMA}}}}}},
            **errors(401, 403, 422)}}),
    Route("GET", "/api/v1/directives/{directive_id}", get_directive, {
        "operationId": "get_directive",
        "summary": "one directive with its progress and each recipient's state; 404 when the caller may not see it",
        "security": _BEARER, "parameters": [DIRECTIVE_ID], "responses": {**_ONE, **errors(401, 403, 404)}}),
    Route("POST", "/api/v1/directives/{directive_id}/ack", acknowledge, {
        "operationId": "acknowledge_directive",
        "summary": "签收 for the caller's unit (a recipient); a second 签收 changes nothing (200); 404 when the "
                   "caller's unit is not addressed", "security": _BEARER, "parameters": [DIRECTIVE_ID],
        "responses": {**_ONE, **errors(400, 401, 403, 404, 409, 422, 503)}}),
    Route("POST", "/api/v1/directives/{directive_id}/reply", reply, {
        "operationId": "reply_to_directive",
        "summary": "the caller's unit's report (text and photos) where the directive asks for one; once per unit "
                   "(409 already_replied)", "security": _BEARER, "parameters": [DIRECTIVE_ID],
        "requestBody": json_body(ReplyBody), "responses": {**_ONE, **errors(400, 401, 403, 404, 409, 422, 503)}}),
    Route("POST", "/api/v1/directives/{directive_id}/remind", remind, {
        "operationId": "remind_directive_recipients",
        "summary": "催办: remind the units still to answer (or the ones named): the issuer or the level above",
        "security": _BEARER, "parameters": [DIRECTIVE_ID], "requestBody": json_body(RemindBody),
        "responses": {**_ONE, **errors(400, 401, 403, 404, 409, 422, 503)}}),
    Route("GET", "/api/v1/directives/{directive_id}/photos/{photo_id}", get_photo, {
        "operationId": "get_directive_photo",
        "summary": "a photo the directive names (attachment or reply); 404 unless the caller may see the directive",
        "security": _BEARER, "parameters": [DIRECTIVE_ID, {
            "name": "photo_id", "in": "path", "required": True, "schema": {"type": "string",
                                                                           "pattern": "^[0-9a-f]{64}$"}}],
        "responses": {"200": {"description": "the photo bytes", "content": {
            t: {"schema": {"type": "string", "format": "binary"}} for t in ("image/jpeg", "image/png", "image/webp")}},
            **errors(401, 404)}}),
]
