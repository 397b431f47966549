"""Early-warning alerts: GET /api/v1/alerts[/{alert_id}], POST …/{alert_id}/acknowledge and …/close.

Clipped to the caller's jurisdiction like cases (an alert outside it is answered 404, as if it did not exist).
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import ConfigDict, Field

from dispatch.inputs import AreaCode, InputModel
from dispatch.warning import ALERT_STATES
from hub.api.errors import ApiError, json_response, path_uuid, read_json
from hub.api.identity import principal_of
from hub.api.schema import Route, errors, json_body, query
from hub.identity.access import USER_ROLES, clip_scopes
from hub.keys import ALERTS, CLOCK, LOCATOR, POLICY
from hub.services.actors import recorded_actor
from hub.services.alerts import AlertError
from hub.store.alerts import alert_visible, shown_alert

MAX_NOTE = 1000


class AlertQuery(InputModel):
    model_config = ConfigDict(extra="forbid")
    state: str = Field(default="open", pattern="^(open|acknowledged|closed|all)$")
    area: AreaCode | None = None
    limit: int = Field(default=100, ge=1, le=500)


class AlertNote(InputModel):
    model_config = ConfigDict(extra="forbid")
    note: str | None = Field(default=None, max_length=MAX_NOTE)


async def list_alerts(request: web.Request) -> web.Response:
    principal = await principal_of(request, *USER_ROLES)
    q = AlertQuery.model_validate(dict(request.query))
    scopes = clip_scopes(principal, [q.area] if q.area else [])
    if not scopes:
        return json_response({"alerts": []})
    states = list(ALERT_STATES) if q.state == "all" else [q.state]
    docs = await request.app[ALERTS].reads.page(scopes, states, q.limit)
    return json_response({"alerts": [shown_alert(d) for d in docs]})


async def get_alert(request: web.Request) -> web.Response:
    principal = await principal_of(request, *USER_ROLES)
    doc = await request.app[ALERTS].reads.get(path_uuid(request, "alert_id", "alert"))
    if doc is None or not principal.area or not alert_visible(doc, frozenset({principal.area})):
        raise ApiError(404, "not_found", "no such alert")
    return json_response(shown_alert(doc))


def _action(name: str) -> Any:
    async def handler(request: web.Request) -> web.Response:
        principal = await principal_of(request, *USER_ROLES)
        alert_id = path_uuid(request, "alert_id", "alert")
        raw = await read_json(request) if request.can_read_body else {}
        if not isinstance(raw, dict):
            raise ApiError(422, "validation_failed", "the body must be a JSON object")
        body = AlertNote.model_validate(raw)
        extra = recorded_actor(principal, request.app[POLICY].matrix, request.app[LOCATOR].area_chain)
        try:
            doc = await request.app[ALERTS].act(principal, alert_id, name, body.note, extra, request.app[CLOCK].now())
        except AlertError as exc:
            raise ApiError(exc.status, exc.code, exc.message) from None
        return json_response(shown_alert(doc))
    return handler


ALERT_ID: dict[str, Any] = {"name": "alert_id", "in": "path", "required": True,
                            "schema": {"type": "string", "format": "uuid"}}
_PLACE = {"type": "object", "properties": {"level": {"type": "string", "enum": ["county", "township"]},
                                           "code": {"type": "string"}, "name": {"type": "string"}}}
_WHO = {"type": ["object", "null"], "properties": {"username": {"type": "string"}, "role": {"type": "string"},
                                                   "name": {"type": "string"}}}
ALERT_SCHEMA: dict[str, Any] = {"type": "object", "properties": {
    "alert_id": {"type": "string", "format": "uuid"}, "kind": {"type": "string", "enum": ["surge", "iot_cluster"]},
    "category": {"type": "object", "properties": {"code": {"type": ["string", "null"]},
                                                  "path": {"type": "array", "items": {"type": "string"}}}},
    "area": _PLACE, "county_code": {"type": ["string", "null"]}, "observed": {"type": "integer"},
    "expected": {"type": "number"},
    "statistic": {"type": "object", "description": "method (poisson_upper_tail | distinct_devices), p_value and "
                                                   "threshold, or devices and threshold"},
    "window": {"type": "object", "properties": {"hours": {"type": "number"}, "start": {"type": "string"},
                                                "end": {"type": "string"}, "first_report_at": {"type": "string"}}},
    "raised_at": {"type": "string", "format": "date-time"}, "updated_at": {"type": "string", "format": "date-time"},
    "state": {"type": "string", "enum": list(ALERT_STATES)},
    "case_ids": {"type": "array", "items": {"type": "string", "format": "uuid"}},
    "devices": {"type": "array", "items": {"type": "string"}}, "sensor_kind": {"type": "string"},
    "acknowledged_by": _WHO, "acknowledged_at": {"type": ["string", "null"]}, "closed_by": _WHO,
    "closed_at": {"type": ["string", "null"]}, "note": {"type": ["string", "null"]}, "version": {"type": "integer"}},
    "required": ["alert_id", "kind", "category", "area", "observed", "expected", "window", "raised_at", "state",
                 "case_ids"]}
_ONE = {"200": {"description": "the alert", "content": {"application/json": {"schema": ALERT_SCHEMA}}}}
OPENAPI_MODELS = [AlertNote]

ROUTES = [
    Route("GET", "/api/v1/alerts", list_alerts, {
        "operationId": "list_alerts",
        "summary": "early-warning alerts (surges, IoT area alarms) in the caller's jurisdiction, newest first",
        "security": [{"bearer": []}], "parameters": query(AlertQuery),
        "responses": {"200": {"description": "the alerts", "content": {"application/json": {"schema": {
            "type": "object", "properties": {"alerts": {"type": "array", "items": ALERT_SCHEMA}}}}}},
            **errors(401, 403, 422)}}),
    Route("GET", "/api/v1/alerts/{alert_id}", get_alert, {
        "operationId": "get_alert",
        "summary": "one alert; 404 also outside the caller's jurisdiction", "security": [{"bearer": []}],
        "parameters": [ALERT_ID], "responses": {**_ONE, **errors(401, 403, 404)}}),
    Route("POST", "/api/v1/alerts/{alert_id}/acknowledge", _action("acknowledge"), {
        "operationId": "acknowledge_alert",
        "summary": "acknowledge an open alert with a note (who and when are recorded): admin, city operator, county "
                   "dispatcher, township handler", "security": [{"bearer": []}], "parameters": [ALERT_ID],
        "requestBody": json_body(AlertNote), "responses": {**_ONE, **errors(400, 401, 403, 404, 409, 422, 503)}}),
    Route("POST", "/api/v1/alerts/{alert_id}/close", _action("close"), {
        "operationId": "close_alert",
        "summary": "close an alert with a note (who and when are recorded): admin, city operator, county dispatcher",
        "security": [{"bearer": []}], "parameters": [ALERT_ID],
        "requestBody": json_body(AlertNote), "responses": {**_ONE, **errors(400, 401, 403, 404, 409, 422, 503)}}),
]
