"""REDIS_URL with Sentinel (hub.infra.redis_url): what a `redis+sentinel://` URL names, and what it refuses."""

from __future__ import annotations

import pytest
from pydantic import ValidationError
from redis.asyncio.sentinel import SentinelConnectionPool

from hub.infra.redis_url import SentinelTarget, open_redis, parse_sentinel_url
from hub.infra.settings import Settings


def test_the_sentinels_the_service_the_database_and_the_passwords() -> None:
    url = "redis+sentinel://:p%40ss@10.0.0.1:26380,sentinel-b,[fd00::3]:26381/cityloop/2?sentinel_password=s3"
    assert parse_sentinel_url(url) == SentinelTarget(
        (("10.0.0.1", 26380), ("sentinel-b", 26379), ("fd00::3", 26381)), "cityloop", 2, "p@ss", "s3")
    assert parse_sentinel_url("redis+sentinel://s1/cityloop") == SentinelTarget((("s1", 26379),), "cityloop")


def test_plain_urls_are_not_sentinel_urls() -> None:
    assert parse_sentinel_url("redis://:pw@redis:6379/0") is None
    assert parse_sentinel_url("unix:///run/redis.sock") is None


@pytest.mark.parametrize(("url", "says"), [
    ("redis+sentinel://s1:26379", "service name"),
    ("redis+sentinel://s1:26379/a/b/c", "service name"),
    ("redis+sentinel://s1:x/cityloop", "not a number"),
    ("redis+sentinel://s1,,s2/cityloop", "without a host"),
    ("redis+sentinel://s1/cityloop/zero", "not a number"),
])
def test_a_malformed_sentinel_url_stops_the_settings(url: str, says: str) -> None:
    with pytest.raises(ValidationError, match=says):
        Settings(redis_url=url)


async def test_the_client_asks_the_sentinels_for_the_master() -> None:
    client = open_redis("redis+sentinel://:pw@s1:26379,s2:26379/cityloop/1", socket_timeout=5)
    try:
        pool = client.connection_pool
        assert isinstance(pool, SentinelConnectionPool)
        assert pool.service_name == "cityloop"
        assert [c.connection_pool.connection_kwargs["port"] for c in pool.sentinel_manager.sentinels] == [26379] * 2
        assert pool.connection_kwargs["db"] == 1 and pool.connection_kwargs["password"] == "pw"
    finally:
        await client.aclose()
