"""/openapi.json, generated from the pydantic models the handlers validate with."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from connectors.hotline import HotlineTicket
from dispatch.commands import PUBLIC_COMMANDS
from dispatch.inputs import MAX_BIGINT
from hub.api import audit as audit_api
from hub.api import grid, open311
from hub.api import iot as iot_api
from hub.api.actions import QUEUES, QueueQuery
from hub.api.cases import CaseQuery
from hub.api.geo import AREA_CODE, AreaShapesQuery, AreasQuery, RouteQuery, RouteRequest
from hub.api.hotline import TicketAccepted, TicketBatch
from hub.api.hotspots import HotspotQuery
from hub.api.identity import LoginRequest, LoginResponse
from hub.api.kpis import KpiQuery
from hub.api.schema import Error, inline_defs
from hub.api.schema import errors as _errors
from hub.api.schema import json_body as _json
from hub.api.schema import query as _query

_MODELS: list[type[BaseModel]] = [HotlineTicket, TicketAccepted, LoginRequest, LoginResponse, Error, RouteRequest,
                                  TicketBatch, *iot_api.OPENAPI_MODELS, *grid.OPENAPI_MODELS]


def action_request_schema() -> dict[str, Any]:
    """An action on a case: `action` names it (INTERFACES.md), `expected_version` is the version last seen,
    and the command's own fields sit beside them — one variant per public command, from its model."""
    variants = []
    for name, model in PUBLIC_COMMANDS.items():
        schema = inline_defs(model.model_json_schema())
        schema["title"] = f"{model.__name__}Action"
        schema["properties"] = {"action": {"const": name},
                                "expected_version": {"type": "integer", "minimum": 0, "maximum": MAX_BIGINT},
                                **schema.get("properties", {})}
        schema["required"] = ["action", "expected_version", *schema.get("required", [])]
        variants.append(schema)
    return {"title": "ActionRequest", "oneOf": variants}


_ACTION_REQUEST = {"$ref": "#/components/schemas/ActionRequest"}


def build_spec() -> dict[str, Any]:
    _, schemas = models_json_schema([(m, "validation") for m in _MODELS],
                                    ref_template="#/components/schemas/{model}")
    bearer: list[dict[str, list[str]]] = [{"bearer": []}]
    paths: dict[str, Any] = {
        "/healthz": {"get": {"summary": "process is up", "responses": {"200": {"description": "up"}}}},
        "/readyz": {"get": {"summary": "PostgreSQL and Redis answer",
                            "responses": {"200": {"description": "ready"}, "503": {"description": "not ready"}}}},
        "/api/v1/auth/login": {"post": {
            "summary": "sign in; after too many failures per account or per address in the window, 429 with "
                       "Retry-After (seconds) — also for a correct password — until the window lets it in",
            "requestBody": _json(LoginRequest),
            "responses": {"200": {"description": "token", **_json(LoginResponse)},
                          "429": {"description": "locked out: retry after `Retry-After` seconds",
                                  "headers": {"Retry-After": {"schema": {"type": "integer"}}}, **_json(Error)},
                          **_errors(401, 403, 422)}}},
        "/api/v1/auth/logout": {"post": {
            "summary": "sign out: the caller's session ends at once on REST in every hub, and its console "
                       "websockets are closed with 4001 (403 for an API key: keys are not sessions)",
            "security": bearer,
            "responses": {"204": {"description": "signed out"}, **_errors(401, 403)}}},
        "/api/v1/hotline/tickets": {"post": {
            "summary": "push one 12345 ticket (idempotent by ticket_no)", "security": [{"apiKey": []}],
            "requestBody": _json(HotlineTicket),
            "responses": {"202": {"description": "new case", **_json(TicketAccepted)},
                          "200": {"description": "ticket seen before: the same answer", **_json(TicketAccepted)},
                          **_errors(401, 403, 422, 503)}}},
        "/api/v1/hotline/tickets:batch": {"post": {
            "summary": "push up to 1,000 tickets; a result per ticket with its own status (202, 200, 422, 503)",
            "security": [{"apiKey": []}], "requestBody": _json(TicketBatch),
            "responses": {"200": {"description": "results[] in order, and counts"}, **_errors(401, 403, 413, 422)}}},
        "/api/v1/cases": {"get": {
            "summary": "cases the caller may see", "security": bearer, "parameters": _query(CaseQuery),
            "responses": {"200": {"description": "a page of cases and next_cursor"}, **_errors(401, 403, 422)}}},
        "/api/v1/cases/{case_id}": {"get": {
            "summary": "one case with its timeline", "security": bearer,
            "parameters": [{"name": "case_id", "in": "path", "required": True,
                            "schema": {"type": "string", "format": "uuid"}}],
            "responses": {"200": {"description": "the case"}, **_errors(401, 403, 404)}}},
        "/api/v1/cases/{case_id}/actions": {"post": {
            "summary": "act on a case: dispatch, accept, return, review_return, request_extension, "
                       "review_extension, progress, push_down, resolve, callback, supervise, escalate, merge, "
                       "split, park, reopen, reject, comment",
            "security": bearer, "requestBody": {"content": {"application/json": {"schema": _ACTION_REQUEST}}},
            "parameters": [{"name": "case_id", "in": "path", "required": True,
                            "schema": {"type": "string", "format": "uuid"}}],
            "responses": {"200": {"description": "the case after the action"},
                          **_errors(401, 403, 404, 409, 422, 503)}}},
        "/api/v1/queues/{name}": {"get": {
            "summary": "operators' queues", "security": bearer,
            "parameters": [{"name": "name", "in": "path", "required": True,
                            "schema": {"type": "string", "enum": sorted(QUEUES)}}, *_query(QueueQuery)],
            "responses": {"200": {"description": "cases in the queue"}, **_errors(401, 404, 422)}}},
        "/api/v1/route": {
            "get": {"summary": "where a point routes", "security": bearer, "parameters": _query(RouteQuery),
                    "responses": {"200": {"description": "areas, flags, neighbours"}, **_errors(401, 422)}},
            "post": {"summary": "where an address or a location routes", "security": bearer,
                     "requestBody": _json(RouteRequest),
                     "responses": {"200": {"description": "areas and confidence"}, **_errors(401, 422)}}},
        "/api/v1/areas": {"get": {"summary": "the area tree", "security": bearer, "parameters": _query(AreasQuery),
                                  "responses": {"200": {"description": "areas"}, **_errors(401, 422)}}},
        "/api/v1/console/config": {"get": {
            "summary": ("what a console needs to start: the user, the map set-up, the categories, the queues"
                        " and the case states"),
            "security": bearer, "responses": {"200": {"description": "configuration"}, **_errors(401, 403)}}},
        "/api/v1/hotspots": {"get": {
            "summary": "case counts by area and category over recent days (高频事项), clipped to the caller",
            "security": bearer, "parameters": _query(HotspotQuery),
            "responses": {"200": {"description": "rows of {code, name, category, category_name, cases}"},
                          **_errors(401, 403, 422)}}},
        "/api/v1/areas.geojson": {"get": {
            "summary": "the children of `parent` (default: the counties) as a simplified GeoJSON FeatureCollection",
            "security": bearer, "parameters": _query(AreaShapesQuery),
            "responses": {"200": {"description": "FeatureCollection"}, **_errors(401, 422)}}},
        "/api/v1/areas/{code}": {"get": {
            "summary": "one area as a GeoJSON Feature", "security": bearer,
            "parameters": [{"name": "code", "in": "path", "required": True, "schema": AREA_CODE.json_schema()}],
            "responses": {"200": {"description": "GeoJSON Feature"}, **_errors(401, 404, 422)}}},
        "/api/v1/kpis": {"get": {"summary": "KPIs per unit, township, county, city and period", "security": bearer,
                                 "parameters": _query(KpiQuery),
                                 "responses": {"200": {"description": "rows"}, **_errors(401, 422)}}},
        "/api/v1/kpis.csv": {"get": {"summary": "the same as CSV", "security": bearer,
                                     "parameters": _query(KpiQuery),
                                     "responses": {"200": {"description": "text/csv"}, **_errors(401, 422)}}},
    }
    paths.update(iot_api.OPENAPI_PATHS)
    paths.update(open311.OPENAPI_PATHS)
    paths.update(grid.OPENAPI_PATHS)
    paths.update(audit_api.OPENAPI_PATHS)
    return {
        "openapi": "3.1.0",
        "info": {"title": "CityLoop hub", "version": "0.1.0",
                 "description": "City operations hub. Websocket protocol: see README (GET /ws/console)."},
        "paths": paths,
        "components": {
            "schemas": {**schemas.get("$defs", {}), "ActionRequest": action_request_schema()},
            "securitySchemes": {
                "bearer": {"type": "http", "scheme": "bearer"},
                "apiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"},
            },
        },
    }
