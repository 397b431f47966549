"""POST /api/v1/cases/{case_id}/actions and the operators' queues."""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import ConfigDict, Field

from dispatch.case import Case, area_codes
from dispatch.inputs import AreaCode, InputModel
from hub.api.audit import record_case_read
from hub.api.cases import case_id_of
from hub.api.errors import ApiError, json_response, read_json
from hub.api.identity import principal_of
from hub.api.schema import CASE_ID, Route, errors, query
from hub.identity.access import (
    USER_ROLES,
    case_in_scopes,
    clip_scopes,
    list_view,
    listed_view,
    redact_case,
    view_of,
)
from hub.keys import ACTIONS, CLOCK, PHOTO_STORE, READS
from hub.services.case_actions import ActionError
from hub.store.reads import QUEUES


class QueueQuery(InputModel):
    model_config = ConfigDict(extra="forbid")
    area: AreaCode | None = None
    limit: int = Field(default=100, ge=1, le=1000)


async def _check_photos(request: web.Request, photos: Any) -> None:
    """Photos named by an action must have been uploaded (POST /api/v1/photos) first."""
    if not isinstance(photos, list):
        return  # absent, or malformed: the command's own validation names it
    store = request.app[PHOTO_STORE]
    missing = [{"field": f"photos.{i}", "message": "no such photo: upload it with POST /api/v1/photos first"}
               for i, photo in enumerate(photos) if isinstance(photo, str) and not await store.exists(photo)]
    if missing:
        raise ApiError(422, "validation_failed", "the action names photos that were not uploaded", missing)


async def act(request: web.Request) -> web.Response:
    principal = await principal_of(request, *USER_ROLES)
    case_id = case_id_of(request)
    body = await read_json(request)
    if not isinstance(body, dict):
        raise ApiError(422, "validation_failed", "the body must be a JSON object")
    await _check_photos(request, body.get("photos"))
    try:
        outcome = await request.app[ACTIONS].execute(principal, case_id, body)
    except ActionError as exc:
        raise ApiError(exc.status, exc.code, exc.message, exc.fields) from None
    await record_case_read(request, principal, outcome.case)
    shown = redact_case(outcome.case, view_of(principal, outcome.case))
    return json_response({"case": shown, "position": outcome.position})


async def queue(request: web.Request) -> web.Response:
    principal = await principal_of(request, *USER_ROLES)
    name = request.match_info["name"]
    if name not in QUEUES:
        raise ApiError(404, "not_found", f"no queue {name!r}; one of {', '.join(QUEUES)}")
    query = QueueQuery.model_validate(dict(request.query))
    scopes = clip_scopes(principal, [query.area] if query.area else [])
    if not scopes:
        return json_response({"queue": name, "cases": []})
    docs = await request.app[READS].queue(name, scopes, request.app[CLOCK].now(), query.limit)
    view = list_view(principal)
    cases: list[Case] = [redact_case(doc, listed_view(view, doc)) for doc in docs
                         if case_in_scopes(area_codes(doc), scopes)]
    return json_response({"queue": name, "cases": cases})


ROUTES = [
    Route("POST", "/api/v1/cases/{case_id}/actions", act, {
        "operationId": "act_on_case",
        "summary": "act on a case: dispatch, accept, return, review_return, request_extension, "
                   "review_extension, progress, push_down, resolve, callback, supervise, escalate, merge, "
                   "split, park, reopen, reject, comment; 404 for a case outside the caller's jurisdiction",
        "security": [{"bearer": []}],
        "requestBody": {"content": {"application/json": {"schema": {"$ref": "#/components/schemas/ActionRequest"}}}},
        "parameters": [CASE_ID],
        "responses": {"200": {"description": "the case after the action"}, **errors(401, 403, 404, 409, 422, 503)}}),
    Route("GET", "/api/v1/queues/{name}", queue, {
        "operationId": "get_queue",
        "summary": "operators' queues", "security": [{"bearer": []}],
        "parameters": [{"name": "name", "in": "path", "required": True,
                        "schema": {"type": "string", "enum": sorted(QUEUES)}}, *query(QueueQuery)],
        "responses": {"200": {"description": "cases in the queue"}, **errors(401, 404, 422)}}),
]
