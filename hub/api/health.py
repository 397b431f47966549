"""Liveness, readiness and metrics."""

from __future__ import annotations

import asyncio
import gc
import ipaddress
import os

from aiohttp import web

from hub.api.errors import error_response, json_response
from hub.api.schema import Route
from hub.keys import GATEWAY, LEADERSHIP, METRICS, OUTBOX, POOL, REDIS


async def healthz(request: web.Request) -> web.Response:
    # Which process answered, and whether it leads the once-per-deployment loops (timers, outbox, MQTT):
    # with `serve --workers N` or several hubs on one database, exactly one says `leader: true`.
    return json_response({"status": "up", "pid": os.getpid(), "leader": request.app[LEADERSHIP].is_leader})


async def readyz(request: web.Request) -> web.Response:
    checks: dict[str, str] = {}
    try:
        async with asyncio.timeout(2):
            await request.app[POOL].fetchval("SELECT 1")
        checks["postgres"] = "ok"
    except Exception as exc:  # noqa: BLE001 — any failure means "not ready", reported by name
        checks["postgres"] = f"down: {type(exc).__name__}"
    try:
        async with asyncio.timeout(2):
            await request.app[REDIS].ping()
        checks["redis"] = "ok"
    except Exception as exc:  # noqa: BLE001
        checks["redis"] = f"down: {type(exc).__name__}"
    ready = all(v == "ok" for v in checks.values())
    return json_response({"ready": ready, "checks": checks}, status=200 if ready else 503)


async def metrics(request: web.Request) -> web.Response:
    remote = request.remote or ""
    try:
        loopback = ipaddress.ip_address(remote).is_loopback
    except ValueError:
        loopback = remote == "" or remote.startswith("/")  # unix socket
    if not loopback:
        return error_response(403, "forbidden", "metrics are served on loopback only")
    gateway = request.app[GATEWAY]
    callbacks = await request.app[OUTBOX].counts()
    text = request.app[METRICS].render({
        "console_clients": gateway.client_count, "console_position": gateway.position,
        # Callbacks waiting and given up on: a rising dead count means a receiver keeps refusing.
        "callbacks_pending": callbacks.get("pending", 0), "callbacks_dead": callbacks.get("dead", 0),
        "leader": int(request.app[LEADERSHIP].is_leader),
        # Objects frozen after start-up (gc.freeze, hub.infra.heap): never scanned by a collection again;
        # and the collections run per generation since start (a fast-growing gen2 count costs CPU).
        "gc_frozen_objects": gc.get_freeze_count(),
        **{f"gc_collections_gen{gen}": stats["collections"] for gen, stats in enumerate(gc.get_stats())},
    })
    return web.Response(text=text, content_type="text/plain", charset="utf-8")


ROUTES = [
    Route("GET", "/healthz", healthz, {"operationId": "check_liveness", "summary": "process is up",
                                       "responses": {"200": {"description": "up"}}}),
    Route("GET", "/readyz", readyz, {
        "operationId": "check_readiness",
        "summary": "PostgreSQL and Redis answer",
        "responses": {"200": {"description": "ready"}, "503": {"description": "not ready"}}}),
    Route("GET", "/metrics", metrics, {"operationId": "get_metrics",
                                       "summary": "Prometheus text format (loopback only)",
                                       "responses": {"200": {"description": "metrics"},
                                                     "403": {"description": "not from loopback"}}}),
]
