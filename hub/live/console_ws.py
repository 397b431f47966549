"""GET /ws/console?token=…: the consoles' live feed (protocol in INTERFACES.md)."""

from __future__ import annotations

import asyncio
import contextlib
import logging

import orjson
from aiohttp import WSMsgType, web
from pydantic import ConfigDict, Field, ValidationError

from dispatch.inputs import AreaCode, BigintId, InputModel
from hub.api.errors import ApiError, validation_fields
from hub.identity.access import USER_ROLES, clip_scopes, list_view
from hub.identity.auth import token_digest
from hub.infra.db import is_unavailable
from hub.keys import AUTH, GATEWAY, SESSIONS, SETTINGS, SOCKETS
from hub.live.gateway import ConsoleClient, encode

log = logging.getLogger(__name__)

SLOW_CONSUMER = 4008  # private-use close code: "you fell behind; reconnect with your last position"
TRY_AGAIN_LATER = 1013  # RFC 6455 registry: the store did not answer in time; the console reconnects (backoff)


class Subscribe(InputModel):
    model_config = ConfigDict(extra="forbid")
    type: str = Field(pattern="^subscribe$")
    areas: list[AreaCode] = Field(default_factory=list, max_length=200)
    since: BigintId | None = None


async def console_socket(request: web.Request) -> web.StreamResponse:
    token = request.query.get("token", "")
    principal = await request.app[AUTH].from_token(token) if token else None
    if principal is None:
        raise ApiError(401, "unauthenticated", "pass ?token=<login token>")
    if principal.role not in USER_ROLES:
        raise ApiError(403, "forbidden", "machine keys have no console")
    # No per-message deflate: a frame is encoded once and shared by every console of a subscription, and
    # compressing it again for each connection would cost CPU per console (browsers ask for it by default).
    ws = web.WebSocketResponse(heartbeat=30.0, max_msg_size=64 * 1024, compress=False)
    await ws.prepare(request)
    request.app[SOCKETS].add(ws)
    sessions = request.app[SESSIONS]
    sessions.track(ws, token_digest(token))  # closed with 4001 when the session ends, in whichever hub
    settings = request.app[SETTINGS]
    gateway = request.app[GATEWAY]
    client: ConsoleClient | None = None
    writer: asyncio.Task[None] | None = None
    try:
        async for msg in ws:
            if msg.type != WSMsgType.TEXT:
                continue
            try:
                sub = Subscribe.model_validate(orjson.loads(msg.data))
            except (orjson.JSONDecodeError, ValidationError) as exc:
                fields = validation_fields(exc) if isinstance(exc, ValidationError) else []
                await ws.send_frame(encode({"type": "error", "error": {
                    "code": "bad_message", "message": "expected {\"type\": \"subscribe\", ...}", "fields": fields}}),
                    WSMsgType.TEXT)
                continue
            if client is not None:  # a new subscription replaces the old one
                gateway.detach(client)
                if writer is not None:
                    writer.cancel()
                    with contextlib.suppress(asyncio.CancelledError):
                        await writer
            # The feed is masked (LIST_VIEW) but for a unit's own confidential cases (list_view); the caller's
            # name and number come only with an audited case read.
            client = ConsoleClient(clip_scopes(principal, sub.areas), list_view(principal),
                                   settings.console_queue_frames, settings.console_queue_bytes)
            writer = asyncio.create_task(_write(ws, client))
            await ws.send_frame(encode({"type": "subscribed", "areas": sorted(client.scopes)}), WSMsgType.TEXT)
            try:
                await gateway.attach(client, sub.since)
            except Exception as exc:
                if not is_unavailable(exc):
                    raise
                # E.g. a burst of consoles at a shift change: the snapshot waited longer than db_acquire_timeout_s
                # for a connection, and every console sharing that build got the TimeoutError. Raised out of the
                # handler, aiohttp would write an HTTP 500 onto the upgraded socket (the client sees a protocol
                # error, 1002); a close that says "try again" lets the console reconnect with its backoff.
                log.warning("console snapshot or catch-up failed: the store is busy or away; closing with 1013",
                            extra={"error": repr(exc)})
                gateway.detach(client)
                await ws.close(code=TRY_AGAIN_LATER, message=b"the hub is busy: reconnect")
                break
    finally:
        sessions.untrack(ws)
        if client is not None:
            gateway.detach(client)
        if writer is not None:
            writer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await writer
    return ws


async def _write(ws: web.WebSocketResponse, client: ConsoleClient) -> None:
    while True:
        frame = await client.next_frame()
        if frame is None:
            await ws.close(code=SLOW_CONSUMER, message=b"slow consumer: reconnect with your last position")
            return
        try:
            # The frame is shared by every client of the subscription, already UTF-8: sent as it is.
            await ws.send_frame(frame, WSMsgType.TEXT)
        except ConnectionError:
            return
