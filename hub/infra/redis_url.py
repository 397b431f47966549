"""REDIS_URL: a plain Redis (`redis://…`, `rediss://…`, `unix://…`), or Redis behind Sentinel:

    redis+sentinel://[:PASSWORD@]HOST[:PORT][,HOST[:PORT]…]/SERVICE[/DB][?sentinel_password=…]

The hub asks the sentinels (port 26379 unless given) which server is the master of SERVICE, and asks again after
a failover: redis-py's Sentinel client does this on every new connection, so what the hub keeps in Redis
(wake-ups, sign-in throttling, session revocations — never the only copy of anything) follows the master.
PASSWORD is the Redis servers' (`requirepass`/`masterauth`); `sentinel_password` the sentinels' own, if they
have one. Percent-encode `:@/,?` in passwords.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, unquote, urlsplit

import redis.asyncio as aioredis
from redis.asyncio.sentinel import Sentinel

SENTINEL_SCHEME = "redis+sentinel"
SENTINEL_PORT = 26379


@dataclass(frozen=True, slots=True)
class SentinelTarget:
    sentinels: tuple[tuple[str, int], ...]
    service: str
    db: int = 0
    password: str | None = None
    sentinel_password: str | None = None


def parse_sentinel_url(url: str) -> SentinelTarget | None:
    """The sentinels a `redis+sentinel://` URL names; None for any other URL; ValueError says what is wrong."""
    parts = urlsplit(url)
    if parts.scheme != SENTINEL_SCHEME:
        return None
    credentials, _, hosts = parts.netloc.rpartition("@")
    password = (unquote(credentials.partition(":")[2]) or None) if credentials else None
    sentinels = []
    for item in (i.strip() for i in hosts.split(",")):
        if item.startswith("["):  # an IPv6 address: [::1]:26379
            host, _, rest = item[1:].partition("]")
            port = rest.removeprefix(":")
        else:
            host, _, port = item.partition(":")
        if not host:
            raise ValueError(f"REDIS_URL: a sentinel without a host in {hosts!r}")
        if port and not port.isdigit():
            raise ValueError(f"REDIS_URL: sentinel port {port!r} is not a number")
        sentinels.append((host, int(port) if port else SENTINEL_PORT))
    path = [p for p in parts.path.split("/") if p]
    if not path or len(path) > 2:
        raise ValueError("REDIS_URL: give the master's service name as the path: redis+sentinel://HOSTS/SERVICE[/DB]")
    if len(path) == 2 and not path[1].isdigit():
        raise ValueError(f"REDIS_URL: the database {path[1]!r} is not a number")
    query = parse_qs(parts.query)
    sentinel_password = query.get("sentinel_password", [None])[0]
    return SentinelTarget(tuple(sentinels), unquote(path[0]), int(path[1]) if len(path) == 2 else 0, password,
                          sentinel_password)


def open_redis(url: str, **options: Any) -> aioredis.Redis:
    """A client for REDIS_URL with these connection options (timeouts, health checks)."""
    target = parse_sentinel_url(url)
    if target is None:
        return aioredis.from_url(url, **options)
    sentinel_options = {k: v for k, v in options.items() if k.startswith("socket_")}
    if target.sentinel_password:
        sentinel_options["password"] = target.sentinel_password
    # redis-py leaves Sentinel.__init__ unannotated.
    sentinel = Sentinel(list(target.sentinels), sentinel_kwargs=sentinel_options,  # type: ignore[no-untyped-call]
                        **options)
    client: aioredis.Redis = sentinel.master_for(target.service, db=target.db, password=target.password)
    return client
