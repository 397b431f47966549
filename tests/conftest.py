"""Test set-up: real PostgreSQL and Redis — the configured ones when they answer, else embedded ones.

Each test gets its own database cloned from a migrated template (fast, and tests cannot see each
other's events).
"""

from __future__ import annotations

import asyncio
import os
import tempfile
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import pytest
from aiohttp import ClientSession, web_app
from aiohttp.test_utils import TestServer

from dispatch.policy import Policy
from hub.app import init_app
from hub.identity.auth import add_api_key, add_user
from hub.infra.clock import Clock
from hub.infra.db import create_pool
from hub.infra.embedded import ServiceUrls, mqtt_answers, postgres_answers, provide, redis_answers
from hub.infra.migrate import apply_migrations
from hub.infra.settings import Settings
from hub.keys import POOL
from tools.demo import seed_demo_boundaries

# `cityloop serve` refuses the public demo callback secret; the hubs the tests start as processes inherit this
# one (tests/e2e/test_start_up.py checks the refusal with it removed).
os.environ.setdefault("CITYLOOP_CALLBACK_SECRET", f"test-callback-secret-{uuid.uuid4().hex}")


def database_url_for(url: str, name: str) -> str:
    parts = urlsplit(url)
    return parts._replace(path=f"/{name}").geturl()


@pytest.fixture(scope="session")
def work_dir() -> Path:
    # Outside /root: PostgreSQL runs as its own user when we are root.
    return Path(tempfile.mkdtemp(prefix="cityloop-test-", dir="/var/tmp" if os.path.isdir("/var/tmp") else None))


@pytest.fixture(scope="session")
def service_urls(work_dir: Path) -> Iterator[ServiceUrls]:
    db = os.environ.get("DATABASE_URL")
    rd = os.environ.get("REDIS_URL")
    if db and not asyncio.run(postgres_answers(db)):
        db = None
    if rd and not asyncio.run(redis_answers(rd)):
        rd = None
    mq = os.environ.get("MQTT_URL")
    if mq and not mqtt_answers(mq):
        mq = None
    with provide(db, rd, work_dir, mq, start_mqtt=True) as urls:
        assert urls.mqtt_url is not None, "the tests need Mosquitto: `make install` installs it"
        if db is None:  # the server started here for this session, never a configured one
            asyncio.run(_without_durability(urls.database_url))
        yield urls


async def _without_durability(url: str) -> None:
    """No flush to disk at each commit, nor at each database the tests create: a server that lives for one test
    session and is thrown away loses nothing by it (durability is PostgreSQL's, not a behaviour under test), and
    every test commits and copies databases many times."""
    conn = await asyncpg.connect(url)
    try:
        for setting in ("fsync", "synchronous_commit", "full_page_writes"):
            await conn.execute(f"ALTER SYSTEM SET {setting} = off")
        await conn.execute("SELECT pg_reload_conf()")
    finally:
        await conn.close()


async def _admin(url: str, sql: str) -> None:
    conn = await asyncpg.connect(url)
    try:
        await conn.execute(sql)
    finally:
        await conn.close()


async def _seed_boundaries(url: str, cache_dir: Path) -> None:
    pool = await create_pool(url, min_size=1, max_size=2)
    try:
        await seed_demo_boundaries(pool, cache_dir)
    finally:
        await pool.close()


@pytest.fixture(scope="session")
def template_database(service_urls: ServiceUrls, work_dir: Path) -> Iterator[str]:
    """Migrated and loaded with the demo boundaries (real counties, synthetic layers below) once; every test
    database is a copy."""
    name = f"cityloop_tpl_{uuid.uuid4().hex[:10]}"
    asyncio.run(_admin(service_urls.database_url, f'CREATE DATABASE "{name}"'))
    url = database_url_for(service_urls.database_url, name)
    apply_migrations(url)
    asyncio.run(_seed_boundaries(url, work_dir / "geo-cache"))
    yield name
    asyncio.run(_admin(service_urls.database_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


@pytest.fixture
async def empty_database(service_urls: ServiceUrls) -> AsyncIterator[str]:
    """A database with nothing in it, not even the migrations (a hub or the demo applies them)."""
    name = f"cityloop_empty_{uuid.uuid4().hex[:10]}"
    await _admin(service_urls.database_url, f'CREATE DATABASE "{name}"')
    yield database_url_for(service_urls.database_url, name)
    await _admin(service_urls.database_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@asynccontextmanager
async def fresh_database(service_urls: ServiceUrls, template_database: str) -> AsyncIterator[str]:
    """A database of its own, copied from the migrated template, dropped afterwards."""
    name = f"cityloop_t_{uuid.uuid4().hex[:12]}"
    await _admin(service_urls.database_url, f'CREATE DATABASE "{name}" TEMPLATE "{template_database}"')
    try:
        yield database_url_for(service_urls.database_url, name)
    finally:
        await _admin(service_urls.database_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


# The hub's answer deadlines are seconds (a stalled database answers 503 fast); on a shared 2-core machine, with a
# load generator in the hub's own event loop, a healthy request can take that long. Tests that are not about those
# deadlines get patient ones, so that they never see a 503 the machine caused; tests/e2e/test_overload_and_stalls.py
# sets the shipped values (PRODUCTION_DEADLINES) where it proves them. Admission's wait budget is one of them: a
# slow box measures a slow pace, and a test's burst must not be refused for it (nor before a pace is measured).
PATIENT_DEADLINES: dict[str, Any] = {"intake_timeout_s": 30.0, "append_timeout_s": 30.0, "db_acquire_timeout_s": 30.0,
                                     "intake_wait_budget_s": 30.0, "intake_min_in_flight": 1_000}
PRODUCTION_DEADLINES = {name: Settings.model_fields[name].default for name in PATIENT_DEADLINES}


def hub_settings(database_url: str, service_urls: ServiceUrls, work_dir: Path) -> Settings:
    return Settings(database_url=database_url, redis_url=service_urls.redis_url, console_coalesce_ms=5,
                    store_poll_s=0.2, console_heartbeat_s=0.5, log_json=False, data_dir=work_dir
                    ).model_copy(update=PATIENT_DEADLINES)


@pytest.fixture
async def database_url(service_urls: ServiceUrls, template_database: str) -> AsyncIterator[str]:
    async with fresh_database(service_urls, template_database) as url:
        yield url


@pytest.fixture
def settings(database_url: str, service_urls: ServiceUrls, work_dir: Path) -> Settings:
    return hub_settings(database_url, service_urls, work_dir)


@pytest.fixture
def mqtt_settings(settings: Settings, service_urls: ServiceUrls) -> Settings:
    """Settings with the MQTT connector on: a client id (hence a broker session) of this test's own, and
    a short session expiry so that a shared broker does not keep it for days."""
    return settings.model_copy(update={"mqtt_url": service_urls.mqtt_url,
                                       "mqtt_client_id": f"cityloop-test-{uuid.uuid4().hex[:10]}",
                                       "mqtt_session_expiry_s": 120})


class Hub:
    """A running hub on a real socket, and helpers to act as its users."""

    def __init__(self, server: TestServer) -> None:
        self.server = server
        self.app = server.app
        self.base = str(server.make_url("")).rstrip("/")
        self.http = ClientSession()

    @property
    def ws_base(self) -> str:
        return self.base.replace("http://", "ws://")

    async def hotline_key(self, *callback_origins: str) -> str:
        return await self.api_key("hotline", callback_origins)

    async def api_key(self, role: str, callback_origins: tuple[str, ...] = ()) -> str:
        """A new API key for a machine client (`hotline`, `iot`, `open311`); a hotline key's callback origins."""
        return await add_api_key(self.app[POOL], f"{role}-{uuid.uuid4().hex[:8]}", role, callback_origins)

    async def login(self, role: str, area: str | None) -> str:
        username = f"{role}-{uuid.uuid4().hex[:6]}"
        await add_user(self.app[POOL], username, "correct horse battery", role, area)
        async with self.http.post(f"{self.base}/api/v1/auth/login",
                                  json={"username": username, "password": "correct horse battery"}) as resp:
            assert resp.status == 200, await resp.text()
            return str((await resp.json())["token"])


@asynccontextmanager
async def commits_held(database_url: str) -> AsyncIterator[Callable[[], Awaitable[None]]]:
    """Every commit to the store waits while the block runs (another session holds the events table's lock,
    as the committer takes it); yields a function that returns once a commit is waiting for it."""
    blocker = await asyncpg.connect(database_url)
    try:
        async with blocker.transaction():
            await blocker.execute("LOCK TABLE events IN EXCLUSIVE MODE")

            async def a_commit_waits() -> None:
                async with asyncio.timeout(30):
                    while not await blocker.fetchval(  # noqa: ASYNC110 — polling the database's lock table
                            "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = 'events'::regclass"):
                        await asyncio.sleep(0.01)

            yield a_commit_waits
    finally:
        await blocker.close()


@asynccontextmanager
async def running_hub(settings: Settings, clock: Clock | None = None,
                      policy: Policy | None = None) -> AsyncIterator[Hub]:
    """A hub on a real socket for as long as the block runs (several may share one database)."""
    server = TestServer(init_app(settings, clock=clock, policy=policy), host="127.0.0.1", port=0)
    await server.start_server()
    running = Hub(server)
    try:
        yield running
    finally:
        await running.http.close()
        await server.close()
        # aiohttp memoises each handler's middleware chain per (handler, apps) in an lru_cache of 1,024 entries
        # (aiohttp.web_app._cached_build_middleware): a process that builds hundreds of hubs keeps hundreds of
        # closed ones alive through it, ~90 MB each with their boundaries and gazetteer (the suite reached 14 GB).
        # A deployment runs one app, whose entries are the ones it needs.
        web_app._cached_build_middleware.cache_clear()


@pytest.fixture
async def hub(settings: Settings) -> AsyncIterator[Hub]:
    async with running_hub(settings) as running:
        yield running


@pytest.fixture(scope="session", autouse=True)
def dump_tasks_on_sigusr1() -> Iterator[None]:
    """`kill -USR1 <pytest pid>` writes every asyncio task's stack to $TMPDIR/cityloop-tasks.txt (pytest
    captures stderr): the way to see where a hang is."""
    import signal

    def dump(_signum: int, _frame: object) -> None:
        with open(Path(tempfile.gettempdir()) / "cityloop-tasks.txt", "w", encoding="utf-8") as out:
            for task in asyncio.all_tasks(asyncio.get_running_loop()):
                task.print_stack(file=out)

    previous = signal.signal(signal.SIGUSR1, dump)
    yield
    signal.signal(signal.SIGUSR1, previous)
