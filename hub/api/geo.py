"""Routing and the area tree: GET/POST /api/v1/route, GET /api/v1/areas, GET /api/v1/areas/{code}."""

from __future__ import annotations

from typing import Any

import orjson
from aiohttp import web
from pydantic import ConfigDict, Field, TypeAdapter

from connectors.hotline import Location, Place
from dispatch.inputs import AreaCode, InputModel
from geo.areas import LEVELS
from hub.api.errors import ApiError, json_response, path_param, read_json
from hub.api.identity import principal_of
from hub.api.schema import Route, errors, json_body, query
from hub.identity.access import USER_ROLES
from hub.keys import LOCATOR
from hub.services.locator import Placed

# The query of GET /route is a location exactly as a ticket carries it.
RouteQuery = Location
# The {code} of GET /areas/{code}.
AREA_CODE = TypeAdapter(AreaCode)


class RouteRequest(Place):
    """Where an address, a point, or both route (POST /api/v1/route)."""

    model_config = ConfigDict(extra="forbid")


class AreasQuery(InputModel):
    model_config = ConfigDict(extra="forbid")
    level: str | None = Field(default=None, pattern="^(" + "|".join(LEVELS) + ")$")
    parent: AreaCode | None = None


class AreaShapesQuery(AreasQuery):
    # Metres of simplification for drawing (the consoles' map); 0 = exact boundaries.
    simplify_m: float = Field(default=30.0, ge=0, le=2_000, allow_inf_nan=False)


def placed_json(placed: Placed) -> dict[str, Any]:
    return {
        "inside": placed.inside,
        "near_boundary": placed.near_boundary,
        "areas": placed.areas,
        "neighbours": placed.neighbours,
        "distance_m": round(placed.distance_m, 1),
        "confidence": placed.confidence,
        "method": placed.method,
        "ambiguous": placed.ambiguous,
        "boundary_versions": placed.boundary_versions,
        **({"wgs84": placed.wgs84} if placed.wgs84 else {}),
    }


async def route_point(request: web.Request) -> web.Response:
    await principal_of(request, *USER_ROLES)
    query = RouteQuery.model_validate(dict(request.query))
    placed = request.app[LOCATOR].locate_point(query.lng, query.lat, query.crs)
    return json_response(placed_json(placed))


async def route_body(request: web.Request) -> web.Response:
    await principal_of(request, *USER_ROLES)
    body = RouteRequest.model_validate(await read_json(request))
    locator = request.app[LOCATOR]
    point = (body.location.lng, body.location.lat, body.location.crs) if body.location else None
    return json_response(placed_json(locator.place(point, body.address)))


async def list_areas(request: web.Request) -> web.Response:
    await principal_of(request, *USER_ROLES)
    query = AreasQuery.model_validate(dict(request.query))
    areas = request.app[LOCATOR].children(query.parent, query.level)
    return json_response({"areas": areas})


async def area_shapes(request: web.Request) -> web.Response:
    """The children of `parent` (or the counties) as one GeoJSON FeatureCollection, for the map."""
    await principal_of(request, *USER_ROLES)
    query = AreaShapesQuery.model_validate(dict(request.query))
    collection = request.app[LOCATOR].features(query.parent, query.level, query.simplify_m / 111_000)
    return web.Response(body=orjson.dumps(collection), content_type="application/geo+json",
                        headers={"Cache-Control": "private, max-age=300"})


async def get_area(request: web.Request) -> web.Response:
    await principal_of(request, *USER_ROLES)
    feature = request.app[LOCATOR].feature(path_param(request, "code", AREA_CODE))
    if feature is None:
        raise ApiError(404, "not_found", "no such area in the active boundaries")
    return web.json_response(feature, content_type="application/geo+json")


_BEARER: list[dict[str, list[str]]] = [{"bearer": []}]
ROUTES = [
    Route("GET", "/api/v1/route", route_point, {
        "operationId": "route_point",
        "summary": "where a point routes", "security": _BEARER, "parameters": query(RouteQuery),
        "responses": {"200": {"description": "areas, flags, neighbours"}, **errors(401, 422)}}),
    Route("POST", "/api/v1/route", route_body, {
        "operationId": "route_address",
        "summary": "where an address or a location routes", "security": _BEARER, "requestBody": json_body(RouteRequest),
        "responses": {"200": {"description": "areas and confidence"}, **errors(401, 422)}}),
    Route("GET", "/api/v1/areas", list_areas, {
        "operationId": "list_areas",
        "summary": "the area tree", "security": _BEARER, "parameters": query(AreasQuery),
        "responses": {"200": {"description": "areas"}, **errors(401, 422)}}),
    Route("GET", "/api/v1/areas.geojson", area_shapes, {
        "operationId": "get_area_shapes",
        "summary": "the children of `parent` (default: the counties) as a simplified GeoJSON FeatureCollection",
        "security": _BEARER, "parameters": query(AreaShapesQuery),
        "responses": {"200": {"description": "FeatureCollection"}, **errors(401, 422)}}),
    Route("GET", "/api/v1/areas/{code}", get_area, {
        "operationId": "get_area",
        "summary": "one area as a GeoJSON Feature", "security": _BEARER,
        "parameters": [{"name": "code", "in": "path", "required": True, "schema": AREA_CODE.json_schema()}],
        "responses": {"200": {"description": "GeoJSON Feature"}, **errors(401, 404, 422)}}),
]
