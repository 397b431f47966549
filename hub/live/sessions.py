"""Ending sessions everywhere: a sign-out, a disabled account or an expiry closes the session's console
websockets (code 4001) in every hub process.

REST needs nothing from here: every request looks its session up in PostgreSQL (hub.identity.auth), so the next
request after an end is refused in any process. An open websocket was authorised once, when it connected,
so each process keeps a map of its sockets' sessions and closes them when
- a revocation arrives on Redis (published by the process that signed the session out: milliseconds), or
- its check against PostgreSQL, once a second, finds the session gone, expired or its user disabled. That
  covers expiry, `cityloop users disable` (the CLI has no Redis of the hub's), and revocations published
  while Redis was away.
"""

from __future__ import annotations

import asyncio
import logging

import asyncpg
import redis.asyncio as aioredis
from aiohttp import web

from hub.infra.loops import every
from hub.live.bus import listen

log = logging.getLogger(__name__)

SESSION_ENDED = 4001  # private-use close code: "your sign-in ended; sign in again"

_ALIVE_SQL = """
SELECT s.token_hash FROM sessions s JOIN users u USING (username)
WHERE s.token_hash = ANY($1::bytea[]) AND s.expires_at > now() AND u.disabled_at IS NULL
"""


class SessionWatch:
    def __init__(self, pool: asyncpg.Pool, redis: aioredis.Redis, channel: str, check_s: float) -> None:
        self._pool = pool
        self._redis = redis
        self._channel = channel
        self._check_s = check_s
        self._sockets: dict[web.WebSocketResponse, bytes] = {}  # socket → its session's token digest
        self._closing: set[asyncio.Task[bool]] = set()

    def track(self, ws: web.WebSocketResponse, digest: bytes) -> None:
        self._sockets[ws] = digest

    def untrack(self, ws: web.WebSocketResponse) -> None:
        self._sockets.pop(ws, None)

    async def revoke(self, digest: bytes) -> None:
        """A session was ended here: close its sockets in this process at once, and tell the others."""
        self._end({digest})
        try:
            await self._redis.publish(self._channel, digest.hex())
        except (OSError, aioredis.RedisError) as exc:
            log.warning("revocation not published; other hubs close the session's consoles at their next check",
                        extra={"error": repr(exc)})

    async def run_listener(self) -> None:
        await listen(self._redis, self._channel, self._on_message)

    def _on_message(self, data: bytes) -> None:
        try:
            digest = bytes.fromhex(data.decode())
        except (UnicodeDecodeError, ValueError):
            log.warning("ignoring a malformed revocation message")
            return
        self._end({digest})

    async def run_check(self) -> None:
        # With the database away sessions cannot be checked (nor the feed read): the round is tried again.
        await every(self._check_s, self.check, failure="session check failed; retrying")

    async def check(self) -> None:
        """Close the consoles whose session has ended (expired, signed out, user disabled)."""
        if not self._sockets:
            return
        digests = set(self._sockets.values())
        rows = await self._pool.fetch(_ALIVE_SQL, list(digests))
        self._end(digests - {r["token_hash"] for r in rows})

    def _end(self, digests: set[bytes]) -> None:
        if not digests:
            return
        for ws, digest in list(self._sockets.items()):
            if digest in digests:
                self.untrack(ws)
                # One task per socket: a console that does not answer the close must not delay the others.
                task = asyncio.create_task(ws.close(code=SESSION_ENDED, message=b"session ended: sign in again"))
                self._closing.add(task)
                task.add_done_callback(self._closing.discard)
