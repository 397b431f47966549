"""The rules /openapi.json is built by: every described route names its operation (operationId, snake_case,
unique), and a model's nested `$defs` end up in components.schemas wherever its schema is embedded."""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web
from pydantic import BaseModel

from hub.api.openapi import build_spec, hoist_defs
from hub.api.routes import ROUTES, openapi_paths
from hub.api.schema import Route
from tests.e2e.test_openapi_document import operations, unresolved


async def _handler(_request: web.Request) -> web.Response:
    return web.Response()


def test_a_described_route_without_an_operation_id_is_refused_naming_it() -> None:
    with pytest.raises(ValueError, match="GET /api/v1/things: .*operationId"):
        Route("GET", "/api/v1/things", _handler, {"summary": "things", "responses": {}})
    with pytest.raises(ValueError, match="operationId"):
        Route("GET", "/api/v1/things", _handler, {"operationId": "List Things", "responses": {}})
    Route("GET", "/api/v1/things", _handler, {"operationId": "list_things", "responses": {}})
    Route("GET", "/ws/things", _handler)  # not described: no operation, no name


def test_two_operations_with_one_id_are_refused_naming_both() -> None:
    routes = [Route("GET", "/api/v1/a", _handler, {"operationId": "get_thing", "responses": {}}),
              Route("GET", "/api/v1/b", _handler, {"operationId": "get_thing", "responses": {}})]
    with pytest.raises(ValueError, match="'get_thing' of GET /api/v1/b is already that of GET /api/v1/a"):
        openapi_paths(routes)


def test_the_hub_s_own_routes_are_all_named_once() -> None:
    described = operations({"paths": openapi_paths(ROUTES)})
    assert len({op["operationId"] for _, op in described}) == len(described) == sum(
        1 for route in ROUTES if route.operation is not None)


class Corner(BaseModel):
    lng: float
    lat: float


class Box(BaseModel):
    south_west: Corner
    north_east: Corner


def test_nested_defs_of_an_embedded_model_are_hoisted_into_components() -> None:
    embedded = Box.model_json_schema()
    assert "$defs" in embedded and embedded["properties"]["south_west"]["$ref"] == "#/$defs/Corner"
    paths: dict[str, dict[str, Any]] = {"/api/v1/box": {"post": {
        "operationId": "post_box", "requestBody": {"content": {"application/json": {"schema": embedded}}},
        "responses": {"200": {"description": "ok"}}}}}
    document = build_spec(paths)
    assert not unresolved(document)
    assert document["components"]["schemas"]["Corner"]["required"] == ["lng", "lat"]
    schema = document["paths"]["/api/v1/box"]["post"]["requestBody"]["content"]["application/json"]["schema"]
    assert "$defs" not in schema and schema["properties"]["north_east"] == {"$ref": "#/components/schemas/Corner"}
    assert "$defs" in embedded, "the route's own operation is left as it was"


def test_two_different_schemas_under_one_name_are_refused() -> None:
    schemas: dict[str, Any] = {"Corner": {"type": "string"}}
    with pytest.raises(ValueError, match="'Corner'"):
        hoist_defs(Box.model_json_schema(), schemas)
