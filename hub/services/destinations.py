"""The outbox's side of the callback SSRF guard: which origins a callback may go to right now, an HTTP
client that never connects to a forbidden address through a host name, and failure reasons that say what
kind of failure it was without repeating what the other side answered.

The rules are connectors.callback_origins'. Here: the origins of the key whose ticket is answered are read
from the database each time (an origin removed stops its callbacks at once); the resolver resolves each
host once, refuses the whole answer when any address is forbidden, and hands aiohttp the checked
addresses, which aiohttp then connects to — the name is not resolved a second time, so a DNS answer that
changes between the check and the connection (rebinding) cannot slip through. IP literal hosts are never
resolved (aiohttp connects to them directly); they are allowed only when an origin names them, which the
origin check has already established.
"""

from __future__ import annotations

import socket
import ssl
from collections.abc import Iterable

import aiohttp
import asyncpg
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import DefaultResolver

from connectors.callback_origins import allowed, forbidden_address
from hub.infra.db import Connection

# The fixed words a failed delivery is recorded with (outbox.last_error, the quarantine's reason).
REFUSED = "refused: destination not allowed"
TIMEOUT = "timeout"
CONNECTION_REFUSED = "connection refused"
CONNECTION_FAILED = "connection failed"
NAME_NOT_RESOLVED = "name not resolved"
TLS_FAILED = "TLS handshake or certificate failed"
CLOSED = "connection closed without an answer"
BAD_ANSWER = "invalid HTTP answer"
FAILED = "request failed"


class DestinationRefused(OSError):
    """A host name resolved to an address callbacks may not reach (loopback, link-local, metadata ...)."""


def redirect_reason(status: int) -> str:
    return f"HTTP {status} (redirect not followed)"


class GuardedResolver(AbstractResolver):
    """aiohttp's default resolver, refusing names that resolve to a forbidden address."""

    def __init__(self) -> None:
        self._inner = DefaultResolver()

    async def resolve(self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
                      ) -> list[ResolveResult]:
        answers = await self._inner.resolve(host, port, family)
        # Any forbidden answer refuses the name: connecting to "the other" address would let a DNS owner
        # choose, per connection, whether we call them or ourselves.
        if any(forbidden_address(answer["host"]) for answer in answers):
            raise DestinationRefused(f"{host} resolves to an address callbacks may not reach")
        return answers

    async def close(self) -> None:
        await self._inner.close()


def callback_session(timeout_s: float) -> aiohttp.ClientSession:
    """The deliverer's HTTP client: guarded resolution, no proxy from the environment, no cookies kept."""
    connector = aiohttp.TCPConnector(resolver=GuardedResolver())
    return aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=timeout_s),
                                 cookie_jar=aiohttp.DummyCookieJar(), trust_env=False)


def failure_category(exc: BaseException) -> str:
    """What kind of failure an exception was. Never its text: that carries the internal host, port and
    whatever bytes the other side sent (a Redis or SSH banner), which would turn the quarantine into a
    scanner's report."""
    if isinstance(exc, aiohttp.ClientSSLError | ssl.SSLError):  # before os_error: certificate errors have none
        return TLS_FAILED
    cause = exc.os_error if isinstance(exc, aiohttp.ClientConnectorError) else exc
    if isinstance(cause, DestinationRefused):
        return REFUSED
    if isinstance(exc, TimeoutError):
        return TIMEOUT
    if isinstance(exc, aiohttp.ClientConnectorDNSError | socket.gaierror):
        return NAME_NOT_RESOLVED
    if isinstance(cause, ConnectionRefusedError):
        return CONNECTION_REFUSED
    if isinstance(exc, aiohttp.ClientConnectorError):
        return CONNECTION_FAILED
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientPayloadError | ConnectionResetError):
        return CLOSED
    if isinstance(exc, aiohttp.ClientResponseError):  # the answer could not be parsed as HTTP
        return BAD_ANSWER
    if isinstance(exc, aiohttp.InvalidURL):
        return REFUSED
    return FAILED


async def key_origins(db: Connection | asyncpg.Pool, names: Iterable[str | None]) -> dict[str, list[str]]:
    """The callback origins of these hotline keys, as stored now (a revoked key has none)."""
    wanted = sorted({name for name in names if name})
    if not wanted:
        return {}
    rows = await db.fetch("SELECT name, callback_origins FROM api_keys WHERE name = ANY($1::text[]) "
                          "AND role = 'hotline' AND revoked_at IS NULL", wanted)
    return {r["name"]: r["callback_origins"] for r in rows}


def destination_allowed(url: str, key_name: str | None, origins_by_key: dict[str, list[str]],
                        settings_origins: Iterable[str]) -> bool:
    """Whether a callback to `url` for a ticket of `key_name` may be sent: its origin is the key's or the
    settings'."""
    return allowed(url, [*origins_by_key.get(key_name or "", ()), *settings_origins])
