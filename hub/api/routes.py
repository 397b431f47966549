"""The one route table: every module of the HTTP edge (and the console websocket) declares its `ROUTES` —
method, path, handler and OpenAPI operation side by side — and this module registers them all, in order,
and derives /openapi.json's paths from the same list, so a route cannot exist without its description."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aiohttp import web

from hub.api import (
    actions,
    alerts,
    analysis,
    audit,
    cases,
    console,
    directives,
    duty,
    geo,
    grid,
    health,
    hotline,
    hotspots,
    identity,
    incidents,
    iot,
    kpis,
    learned,
    open311,
)
from hub.api.errors import json_response
from hub.api.openapi import build_spec
from hub.api.schema import Route
from hub.live import console_ws

FRONTEND_DIR = Path(__file__).resolve().parents[2] / "frontend"


def _page(folder: str) -> Any:
    async def handler(_request: web.Request) -> web.FileResponse:
        return web.FileResponse(FRONTEND_DIR / folder / "index.html")
    return handler


async def _to_console(_request: web.Request) -> web.Response:
    raise web.HTTPFound("/console/")


async def _openapi(_request: web.Request) -> web.Response:
    return json_response(build_spec(openapi_paths()))


# The consoles' pages, the websocket and the description itself: routes that are not REST operations.
_SITE = [
    Route("GET", "/openapi.json", _openapi),
    Route("GET", "/ws/console", console_ws.console_socket),
    Route("GET", "/console/", _page("console")),
    Route("GET", "/m/", _page("m")),
    Route("GET", "/", _to_console),
]

ROUTES: list[Route] = [
    *health.ROUTES, *identity.ROUTES, *hotline.ROUTES, *cases.ROUTES, *actions.ROUTES, *kpis.ROUTES, *analysis.ROUTES,
    *geo.ROUTES, *iot.ROUTES, *grid.ROUTES, *audit.ROUTES, *console.ROUTES, *hotspots.ROUTES,
    *learned.ROUTES, *alerts.ROUTES, *directives.ROUTES, *duty.ROUTES, *incidents.ROUTES,
    *open311.ROUTES,  # ends with its catch-all under /open311/v2/
    *_SITE,
]


def add_routes(app: web.Application) -> None:
    openapi_paths()  # a hub whose description is ambiguous does not start
    for route in ROUTES:
        app.router.add_route(route.method, route.path, route.handler)


def openapi_paths(routes: Sequence[Route] = ROUTES) -> dict[str, dict[str, Any]]:
    """The paths of /openapi.json; two operations with one operationId (or one method and path) are refused,
    naming both."""
    paths: dict[str, dict[str, Any]] = {}
    owners: dict[str, str] = {}
    for route in routes:
        if route.operation is None:
            continue
        where = f"{route.method} {route.path}"
        operation_id = route.operation["operationId"]
        if operation_id in owners:
            raise ValueError(f"operationId {operation_id!r} of {where} is already that of {owners[operation_id]}")
        owners[operation_id] = where
        item = paths.setdefault(route.path, {})
        if route.method.lower() in item:
            raise ValueError(f"{where} is described twice")
        item[route.method.lower()] = route.operation
    return paths
