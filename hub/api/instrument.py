"""Request latency by route and status (cityloop_http_request_duration_seconds).

The route label is the operation's operationId, or the route's path template for routes outside the REST
description (console pages, static files, the Open311 catch-all): never the raw path, whose ids would make
a series per case. The label of a route is found once and kept; the histogram child of (route, status) too.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Sequence

from aiohttp import web
from aiohttp.typedefs import Middleware
from aiohttp.web_urldispatcher import AbstractRoute

from hub.api.schema import Handler, Route
from hub.infra.metrics import UNMATCHED
from hub.keys import METRICS


def request_metrics(routes: Sequence[Route]) -> Middleware:
    """The outermost middleware: it sees the status the client gets, error responses included."""
    operation_ids = {(route.method, route.path): route.operation["operationId"]
                     for route in routes if route.operation is not None}
    labels: dict[AbstractRoute, str] = {}

    def label_of(route: AbstractRoute) -> str:
        label = labels.get(route)
        if label is None:
            resource = route.resource
            template = resource.canonical if resource is not None else UNMATCHED
            label = labels[route] = operation_ids.get((route.method, template), template)
        return label

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        start = time.perf_counter()
        status: int | None = 500
        try:
            response = await handler(request)
            # A console's websocket lasts its whole connection, not a request: the console metrics cover it.
            status = None if isinstance(response, web.WebSocketResponse) else response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        except asyncio.CancelledError:
            status = 499  # the client went away before the answer (nginx's convention)
            raise
        finally:
            if status is not None:
                request.app[METRICS].request(label_of(request.match_info.route), status).observe(
                    time.perf_counter() - start)

    return middleware
