"""Liveness, readiness and metrics."""

from __future__ import annotations

import asyncio
import ipaddress
import os

from aiohttp import web

from hub.api.errors import error_response, json_response
from hub.api.schema import Route
from hub.keys import LEADERSHIP, METRICS, OUTBOX, POOL, REDIS


async def healthz(request: web.Request) -> web.Response:
    # Which process answered, and whether it leads the once-per-deployment loops (timers, outbox, MQTT):
    # with `serve --workers N` or several hubs on one database, exactly one says `leader: true`.
    return json_response({"status": "up", "pid": os.getpid(), "leader": request.app[LEADERSHIP].is_leader})


async def readiness(app: web.Application) -> dict[str, str]:
    """Whether PostgreSQL and Redis answer: "ok", or "down: <why>" for each."""
    checks: dict[str, str] = {}
    try:
        async with asyncio.timeout(2):
            await app[POOL].fetchval("SELECT 1")
        checks["postgres"] = "ok"
    except Exception as exc:  # noqa: BLE001 — any failure means "not ready", reported by name
        checks["postgres"] = f"down: {type(exc).__name__}"
    try:
        async with asyncio.timeout(2):
            await app[REDIS].ping()
        checks["redis"] = "ok"
    except Exception as exc:  # noqa: BLE001
        checks["redis"] = f"down: {type(exc).__name__}"
    return checks


async def readyz(request: web.Request) -> web.Response:
    checks = await readiness(request.app)
    ready = all(v == "ok" for v in checks.values())
    return json_response({"ready": ready, "checks": checks}, status=200 if ready else 503)


async def metrics(request: web.Request) -> web.Response:
    remote = request.remote or ""
    try:
        loopback = ipaddress.ip_address(remote).is_loopback
    except ValueError:
        loopback = remote == "" or remote.startswith("/")  # unix socket
    if not loopback:
        return error_response(403, "forbidden", "metrics are served on loopback only (or on "
                              "CITYLOOP_METRICS_PORT, whose address the operator chose)")
    return await exposition(request.app, request.headers.get("Accept", ""))


async def exposition(app: web.Application, accept: str) -> web.Response:
    """The hub's metrics in the format asked for (OpenMetrics or Prometheus text, by Accept)."""
    registry = app[METRICS]
    # Readiness as /readyz sees it, for alerting: a hub that is up but cannot reach its stores.
    checks = await readiness(app)
    for dependency, check in checks.items():
        registry.dependency_up[dependency].set(check == "ok")
    if checks["postgres"] == "ok":
        # Callbacks waiting and given up on are the deployment's (the outbox table), read when scraped: a rising
        # dead count means a receiver keeps refusing. (Without the database the last figures stay.)
        callbacks = await app[OUTBOX].counts()
        registry.callbacks_pending.set(callbacks.get("pending", 0))
        registry.callbacks_dead.set(callbacks.get("dead", 0))
    registry.read_state()
    # Off the event loop: rendering a few hundred series takes milliseconds that requests would wait for.
    body, content_type = await asyncio.to_thread(registry.exposition, accept)
    return web.Response(body=body, headers={"Content-Type": content_type})


def metrics_listener(hub: web.Application) -> web.Application:
    """The app of `CITYLOOP_METRICS_PORT`: /metrics alone, from any address that reaches it (the operator
    chose the address it listens on). With `serve --workers N` each worker has its own port, so that
    Prometheus scrapes every process as its own target."""
    async def handler(request: web.Request) -> web.Response:
        return await exposition(hub, request.headers.get("Accept", ""))

    app = web.Application()
    app.router.add_get("/metrics", handler)
    return app


ROUTES = [
    Route("GET", "/healthz", healthz, {"operationId": "check_liveness", "summary": "process is up",
                                       "responses": {"200": {"description": "up"}}}),
    Route("GET", "/readyz", readyz, {
        "operationId": "check_readiness",
        "summary": "PostgreSQL and Redis answer",
        "responses": {"200": {"description": "ready"}, "503": {"description": "not ready"}}}),
    Route("GET", "/metrics", metrics, {"operationId": "get_metrics",
                                       "summary": "Prometheus text or OpenMetrics, by Accept (loopback only)",
                                       "responses": {"200": {"description": "metrics"},
                                                     "403": {"description": "not from loopback"}}}),
]
