"""asyncpg pool set-up shared by every database user of the hub."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import orjson
from asyncpg.pool import PoolAcquireContext, PoolConnectionProxy

# A connection a function runs its statements on: one of its own, or one borrowed from the pool
# (`pool.acquire()` hands out a proxy, which asyncpg's types do not count as a Connection).
Connection = asyncpg.Connection | PoolConnectionProxy


def _encode_jsonb(value: Any) -> bytes:
    # jsonb's binary wire format is a version byte (1) followed by the JSON text.
    return b"\x01" + orjson.dumps(value)


def _decode_jsonb(data: bytes) -> Any:
    return orjson.loads(data[1:])


async def _init_connection(conn: asyncpg.Connection) -> None:
    await conn.set_type_codec(
        "jsonb", encoder=_encode_jsonb, decoder=_decode_jsonb, schema="pg_catalog", format="binary"
    )


async def _keep_session(_conn: asyncpg.Connection) -> None:
    """The pool's reset on release: nothing to send. asyncpg's default runs `SELECT pg_advisory_unlock_all();
    CLOSE ALL; UNLISTEN *; RESET ALL;` on every release — a round trip per borrowed connection (per ticket in
    the profile). The hub leaves none of that behind on a pooled connection: it LISTENs nowhere (wake-ups go
    through Redis), SETs no session variable, declares no cursor outside a transaction, and takes session
    advisory locks on dedicated connections (leadership, hub.infra.leader) or, in
    hub.services.boundaries.exclusive, releases them before the connection goes back — and closes the
    connection when it cannot. asyncpg still rolls back a transaction left open before it calls this (its
    `Connection._reset`). Temporary tables (the projection rebuild's) were never dropped by the default reset
    either. Keep it so: session state on a pooled connection would leak to the next borrower."""


class Pool(asyncpg.Pool):
    """asyncpg's pool with a default acquire timeout. asyncpg waits for a free connection forever unless each
    caller passes a timeout, so one stalled PostgreSQL (every connection stuck in a statement) would hold every
    caller of the hub hostage; here a wait longer than `acquire_timeout_s` raises TimeoutError (a 503)."""

    def __init__(self, *args: Any, acquire_timeout_s: float | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.acquire_timeout_s = acquire_timeout_s

    def acquire(self, *, timeout: float | None = None) -> PoolAcquireContext:
        # Pool.fetch, execute... call acquire() without a timeout: this is where they all get one.
        return super().acquire(timeout=self.acquire_timeout_s if timeout is None else timeout)


async def create_pool(database_url: str, *, min_size: int = 2, max_size: int = 8, command_timeout: float = 30,
                      acquire_timeout: float | None = None, connect_timeout: float = 60) -> asyncpg.Pool:
    """The pool every database user of a process shares. The hub passes short timeouts (settings: a stalled
    database answers 503 within seconds); the command-line tools keep long ones (a bulk load may take a while)."""
    return await Pool(
        database_url,
        min_size=min_size,
        max_size=max_size,
        max_queries=50_000,
        max_inactive_connection_lifetime=60,  # idle connections recycled: a restarted PostgreSQL is picked up
        init=_init_connection,
        reset=_keep_session,
        loop=None,
        connection_class=asyncpg.Connection,
        record_class=asyncpg.Record,
        command_timeout=command_timeout,
        timeout=connect_timeout,
        acquire_timeout_s=acquire_timeout,
    )


# SQLSTATE classes that mean "the database cannot serve us now", not "this statement is wrong":
# 08 connection exception, 53 insufficient resources, 57 operator intervention (shutdown, restart).
_UNAVAILABLE_CLASSES = ("08", "53", "57")
# 55000 with this text is how PostgreSQL refuses connections to a database closed for connections.
_NOT_ACCEPTING = "not currently accepting connections"


def is_unavailable(exc: BaseException) -> bool:
    """True when `exc` says PostgreSQL is unreachable or refusing service (answer 503, retry later)."""
    if isinstance(exc, (OSError, asyncpg.InterfaceError, TimeoutError)):
        return True
    if isinstance(exc, asyncpg.PostgresError):
        state = getattr(exc, "sqlstate", "") or ""
        return state[:2] in _UNAVAILABLE_CLASSES or _NOT_ACCEPTING in str(exc) or isinstance(
            exc, asyncpg.InvalidCatalogNameError)
    return False


def describe(exc: BaseException) -> str:
    """An error as one line for the log: its class and message. asyncpg's timeouts are bare TimeoutErrors,
    which would say nothing: those say what timed out."""
    text = str(exc).strip()
    if not text and isinstance(exc, TimeoutError):
        text = "PostgreSQL did not answer in time (a statement, a connect or a wait for a pooled connection)"
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def database_name(database_url: str) -> str:
    """The database a URL names: hubs sharing it are one deployment, and share their Redis keys too."""
    return urlsplit(database_url).path.lstrip("/") or "default"


@contextlib.asynccontextmanager
async def session_lock(conn: Connection, key: int) -> AsyncIterator[None]:
    """Hold PostgreSQL's session-level advisory lock `key` on `conn` for the block. The pool does not reset a
    connection it gets back (`_keep_session`): one that might still hold the lock (cancelled while taking or
    releasing it) is closed rather than handed to the next borrower."""
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", key)
    except BaseException:
        conn.terminate()
        raise
    try:
        yield
    finally:
        try:
            await conn.execute("SELECT pg_advisory_unlock($1)", key)
        except BaseException:
            conn.terminate()
            raise
