"""Reading cases: GET /api/v1/cases (filtered, cursor-paged) and GET /api/v1/cases/{case_id}."""

from __future__ import annotations

import base64
import uuid
from datetime import datetime

import orjson
from aiohttp import web
from pydantic import ConfigDict, Field

from dispatch.case import STATES, area_codes
from dispatch.inputs import AreaCode, InputModel, check_moment
from dispatch.permissions import available_actions
from hub.api.audit import record_case_read
from hub.api.duty import case_duty_officer
from hub.api.errors import ApiError, json_response, path_uuid
from hub.api.identity import principal_of
from hub.api.schema import CASE_ID, Route, errors, query
from hub.identity.access import (
    USER_ROLES,
    case_in_scopes,
    clip_scopes,
    list_view,
    listed_view,
    may_see,
    redact_case,
    redact_event_data,
    view_of,
)
from hub.keys import LOCATOR, POLICY, POOL, READS
from hub.services.actors import describe_actors
from hub.store.events import read_stream


class CaseQuery(InputModel):
    model_config = ConfigDict(extra="forbid")
    state: str | None = Field(default=None, pattern="^(" + "|".join(STATES) + ")$")
    area: AreaCode | None = None
    category: str | None = Field(default=None, max_length=64)
    ticket_no: str | None = Field(default=None, max_length=64)
    cursor: str | None = Field(default=None, max_length=200)
    limit: int = Field(default=50, ge=1, le=500)


def _encode_cursor(created_at: datetime, case_id: uuid.UUID) -> str:
    return base64.urlsafe_b64encode(orjson.dumps([created_at.isoformat(), str(case_id)])).decode()


def _decode_cursor(cursor: str) -> tuple[datetime, uuid.UUID]:
    try:
        created, case_id = orjson.loads(base64.urlsafe_b64decode(cursor.encode()))
        moment = check_moment(datetime.fromisoformat(created))  # within range: it is compared in SQL
        if moment.tzinfo is None or not isinstance(case_id, str):
            raise ValueError("not a cursor")
        return moment, uuid.UUID(case_id)
    except (ValueError, TypeError, orjson.JSONDecodeError):
        raise ApiError(422, "validation_failed", "bad cursor",
                       [{"field": "cursor", "message": "not a cursor this API returned"}]) from None


async def list_cases(request: web.Request) -> web.Response:
    principal = await principal_of(request, *USER_ROLES)
    query = CaseQuery.model_validate(dict(request.query))
    scopes = clip_scopes(principal, [query.area] if query.area else [])
    if not scopes:
        return json_response({"cases": [], "next_cursor": None})
    rows = await request.app[READS].page(
        scopes, state=query.state, category=query.category, ticket_no=query.ticket_no,
        before=_decode_cursor(query.cursor) if query.cursor else None, limit=query.limit + 1)
    page = rows[: query.limit]
    view = list_view(principal)
    cases = [redact_case(r["doc"], listed_view(view, r["doc"])) for r in page
             if case_in_scopes(area_codes(r["doc"]), scopes)]
    next_cursor = _encode_cursor(page[-1]["created_at"], page[-1]["case_id"]) if len(rows) > query.limit else None
    return json_response({"cases": cases, "next_cursor": next_cursor})


def case_id_of(request: web.Request) -> uuid.UUID:
    """The {case_id} of the path; anything that is not a UUID names no case."""
    return path_uuid(request, "case_id", "case")


async def get_case(request: web.Request) -> web.Response:
    principal = await principal_of(request, *USER_ROLES)
    case_id = case_id_of(request)
    doc = await request.app[READS].get(case_id)
    if doc is None or not may_see(principal, doc):  # alike, so that case ids cannot be probed
        raise ApiError(404, "not_found", "no such case")
    events = await read_stream(request.app[POOL], case_id)
    view = view_of(principal, doc)
    case = dict(redact_case(doc, view))
    # What this caller may do now, so a console offers exactly those actions (the server still decides).
    case["allowed_actions"] = available_actions(doc, principal.role, request.app[POLICY].max_returns)
    # `actor` as recorded ("role:username"); `by` as people read it: the name and unit (hub.services.actors).
    by = await describe_actors(request.app[POOL], request.app[POLICY].matrix, request.app[LOCATOR].area_chain,
                               [e.metadata for e in events])
    confidential = bool((doc.get("report") or {}).get("confidential"))
    case["timeline"] = [
        {"position": e.position, "version": e.version, "type": e.type,
         "data": redact_event_data(e.type, e.data, view, confidential=confidential),
         "actor": e.metadata.get("actor"), "by": who,
         "occurred_at": e.occurred_at.isoformat(), "recorded_at": e.recorded_at.isoformat()}
        for e, who in zip(events, by, strict=True)
    ]
    # 值班: whom to phone in the lead unit now (the command centre shows it on urgent cases' panels).
    case["duty_officer"] = await case_duty_officer(request, principal, doc)
    await record_case_read(request, principal, doc)
    return json_response(case)


ROUTES = [
    Route("GET", "/api/v1/cases", list_cases, {
        "operationId": "list_cases",
        "summary": "cases the caller may see", "security": [{"bearer": []}], "parameters": query(CaseQuery),
        "responses": {"200": {"description": "a page of cases and next_cursor"}, **errors(401, 403, 422)}}),
    Route("GET", "/api/v1/cases/{case_id}", get_case, {
        "operationId": "get_case",
        "summary": "one case with its timeline; 404 also for a case outside the caller's jurisdiction",
        "security": [{"bearer": []}], "parameters": [CASE_ID],
        "responses": {"200": {"description": "the case"}, **errors(401, 403, 404)}}),
]
