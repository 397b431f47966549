"""Status callbacks go only where an operator allowed (issue 12, item 2: SSRF through `callback_url`).

Real hub, PostgreSQL and receivers on real sockets: intake refuses URLs outside the key's registered origins
and the settings' (single and batch); a name that resolves to loopback is refused at send time although its
origin is registered; redirects are not followed; an origin removed stops callbacks at write and at send;
and a failed delivery is recorded as a fixed category, never with what the other side answered.
"""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from hub.identity.auth import add_api_key, set_callback_origins
from hub.infra.db import create_pool
from hub.infra.settings import Settings
from hub.keys import POOL
from hub.services.destinations import REFUSED
from hub.services.outbox import Outbox
from hub.services.quarantine import Quarantine
from hub.store.reads import CaseReads
from tests.conftest import Hub, running_hub
from tests.e2e.test_case_lifecycle import Console
from tests.e2e.test_hotline_batch import post_batch
from tests.e2e.test_hotline_to_console import QINGXIU_SEAT, push, ticket
from tests.integration.test_callbacks import callback_settings, eventually

SECRET_TEXT = "s3cret-internal-answer-7f3a"


@dataclass
class Endpoint:
    """An HTTP server on 127.0.0.1 that records every request (any method, any path) and answers `reply`."""

    reply: Callable[[web.Request], web.Response] = lambda _r: web.Response(status=204)
    requests: list[tuple[str, str]] = field(default_factory=list)
    server: TestServer | None = None

    async def handle(self, request: web.Request) -> web.Response:
        await request.read()
        self.requests.append((request.method, request.path))
        return self.reply(request)

    @property
    def port(self) -> int:
        assert self.server is not None and self.server.port is not None
        return self.server.port

    def url(self, path: str = "/12345/callback", host: str = "127.0.0.1") -> str:
        return f"http://{host}:{self.port}{path}"


@pytest.fixture
async def endpoints() -> AsyncIterator[Callable[..., Awaitable[Endpoint]]]:
    started: list[TestServer] = []

    async def start(reply: Callable[[web.Request], web.Response] | None = None) -> Endpoint:
        endpoint = Endpoint(reply) if reply else Endpoint()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", endpoint.handle)
        endpoint.server = TestServer(app, host="127.0.0.1", port=0)
        await endpoint.server.start_server()
        started.append(endpoint.server)
        return endpoint

    yield start
    for server in started:
        await server.close()


async def named_key(hub: Hub, *origins: str) -> tuple[str, str]:
    name = f"hotline-{uuid.uuid4().hex[:8]}"
    return name, await add_api_key(hub.app[POOL], name, "hotline", origins)


def callback_field_refused(answer: dict[str, Any]) -> bool:
    return [f["field"] for f in answer["error"]["fields"]] == ["callback_url"]


async def quarantined(hub: Hub, operator: dict[str, str]) -> list[dict[str, Any]]:
    async with hub.http.get(f"{hub.base}/api/v1/quarantine?channel=callback", headers=operator) as resp:
        assert resp.status == 200
        return list((await resp.json())["items"])


async def outbox_rows(pool: asyncpg.Pool, case_id: str) -> list[asyncpg.Record]:
    return await pool.fetch("SELECT event, state, attempts, last_status, last_error FROM outbox WHERE case_id = $1 "
                            "ORDER BY id", uuid.UUID(case_id))


async def test_intake_refuses_callback_urls_outside_the_registered_origins_single_and_batch(
        settings: Settings, endpoints: Callable[..., Awaitable[Endpoint]]) -> None:
    receiver = await endpoints()
    async with running_hub(callback_settings(settings)) as hub:
        _, key = await named_key(hub, receiver.url("/"))
        port = receiver.port
        refused = [
            "http://127.0.0.1:6379/",                       # another port of the registered host
            f"https://127.0.0.1:{port}/12345/callback",     # another scheme
            f"http://localhost:{port}/12345/callback",      # the same socket by another name
            "http://169.254.169.254/latest/meta-data/iam/",  # cloud metadata
            "http://[::1]:6379/",                           # Redis on IPv6 loopback
            "http://100.100.100.200/latest/meta-data/",     # Alibaba Cloud metadata
            "https://unregistered.example.gov.cn/cb",       # a public origin nobody registered
        ]
        for url in refused:
            status, answer = await push(hub, key, ticket(QINGXIU_SEAT, callback_url=url))
            assert status == 422 and callback_field_refused(answer), (url, status, answer)

        good = ticket(QINGXIU_SEAT, callback_url=receiver.url("/any/path/of/it?x=1"))
        status, body = await post_batch(hub, key, {"tickets": [good, *(ticket(QINGXIU_SEAT, callback_url=u)
                                                                        for u in refused)]})
        assert status == 200
        assert [r["status"] for r in body["results"]] == [202] + [422] * len(refused)
        assert all(callback_field_refused(r) for r in body["results"][1:])
        assert (body["accepted"], body["rejected"]) == (1, len(refused))
        await eventually(lambda: len(receiver.requests) == 1)  # the registered origin is called back
        assert receiver.requests == [("POST", "/any/path/of/it")]
        assert await hub.app[POOL].fetchval("SELECT count(*) FROM cases") == 1, "refused tickets record nothing"


async def test_origins_allowed_by_the_settings_serve_every_key_and_nothing_else(
        settings: Settings, endpoints: Callable[..., Awaitable[Endpoint]]) -> None:
    allowed, other = await endpoints(), await endpoints()
    config = Settings(**{**callback_settings(settings).model_dump(),
                         "callback_allowed_origins": f"HTTP://127.0.0.1:{allowed.port}",
                         "hotline_callback_url": None})
    async with running_hub(config) as hub:
        key = await hub.hotline_key()  # no origins of its own
        status, _ = await push(hub, key, ticket(QINGXIU_SEAT, callback_url=allowed.url()))
        assert status == 202
        status, answer = await push(hub, key, ticket(QINGXIU_SEAT, callback_url=other.url()))
        assert status == 422 and callback_field_refused(answer)
        await eventually(lambda: len(allowed.requests) == 1)
        assert other.requests == []


def test_the_default_callback_url_must_be_under_an_allowed_origin() -> None:
    with pytest.raises(ValueError, match="CITYLOOP_HOTLINE_CALLBACK_URL"):
        Settings(hotline_callback_url="http://169.254.169.254/latest/meta-data/")
    with pytest.raises(ValueError, match="CITYLOOP_HOTLINE_CALLBACK_URL"):
        Settings(hotline_callback_url="https://12345.example.gov.cn/cb",
                 callback_allowed_origins="https://12345.example.gov.cn:8443")  # type: ignore[arg-type]  # as env gives it
    ok = Settings(hotline_callback_url="https://12345.Example.gov.cn/cb",
                  callback_allowed_origins="https://12345.example.gov.cn:443, http://10.8.1.20:8080")  # type: ignore[arg-type]
    assert ok.callback_allowed_origins == ("https://12345.example.gov.cn", "http://10.8.1.20:8080")


async def test_a_registered_name_that_resolves_to_loopback_is_refused_at_send_time(
        settings: Settings, endpoints: Callable[..., Awaitable[Endpoint]]) -> None:
    """`localhost` stands for any name whose DNS answer is (or is rebound to) a forbidden address: the
    origin names the host, not the address, so only the address literally registered may be loopback."""
    answers = {info[4][0] for info in socket.getaddrinfo("localhost", 80, type=socket.SOCK_STREAM)}
    assert answers and answers <= {"127.0.0.1", "::1"}, f"this test needs localhost on loopback: {answers}"
    receiver = await endpoints()
    async with running_hub(callback_settings(settings)) as hub:
        _, key = await named_key(hub, receiver.url("/", host="localhost"))
        status, accepted = await push(hub, key, ticket(QINGXIU_SEAT, callback_url=receiver.url(host="localhost")))
        assert status == 202, "the origin is registered by name: intake cannot know where it resolves at send time"
        operator = {"Authorization": f"Bearer {await hub.login('city_operator', '450100')}"}

        async def held() -> bool:
            return bool(await quarantined(hub, operator))

        await eventually(held)
        [item] = await quarantined(hub, operator)
        assert item["reason"] == f"callback to {receiver.url(host='localhost')} {REFUSED}"
        [row] = await outbox_rows(hub.app[POOL], accepted["case_id"])
        assert (row["state"], row["attempts"], row["last_error"]) == ("dead", 0, REFUSED), "refused without retries"
    assert receiver.requests == [], "nothing reached the loopback receiver"


async def test_redirects_are_not_followed(settings: Settings, endpoints: Callable[..., Awaitable[Endpoint]]) -> None:
    target = await endpoints()
    redirecting = await endpoints(lambda _r: web.Response(status=302, headers={"Location": target.url("/stolen")}))
    async with running_hub(callback_settings(settings, callback_max_attempts=2)) as hub:
        # Even a target whose origin is registered too is not reached by a redirect.
        _, key = await named_key(hub, redirecting.url("/"), target.url("/"))
        status, accepted = await push(hub, key, ticket(QINGXIU_SEAT, callback_url=redirecting.url()))
        assert status == 202
        operator = {"Authorization": f"Bearer {await hub.login('city_operator', '450100')}"}

        async def held() -> bool:
            return bool(await quarantined(hub, operator))

        await eventually(held)
        [item] = await quarantined(hub, operator)
        assert item["reason"].endswith("refused 2 times; last: HTTP 302 (redirect not followed)")
        [row] = await outbox_rows(hub.app[POOL], accepted["case_id"])
        assert (row["state"], row["last_status"]) == ("dead", 302)
    assert redirecting.requests == [("POST", "/12345/callback")] * 2
    assert target.requests == [], "the redirect's target received nothing"


@pytest.fixture
async def banner_port() -> AsyncIterator[int]:
    """A TCP service that is not HTTP (an SSH or Redis port): it answers any request with its banner."""
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.read(1024)
        writer.write(f"SSH-2.0-OpenSSH_9.6 {SECRET_TEXT}\r\n".encode())
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def test_failure_reasons_are_fixed_words_without_the_remote_answer(
        settings: Settings, endpoints: Callable[..., Awaitable[Endpoint]], banner_port: int) -> None:
    failing = await endpoints(lambda _r: web.Response(status=500, text=f"Traceback ... password={SECRET_TEXT}"))
    refusing = closed_port()
    urls = {failing.url(): "HTTP 500", f"http://127.0.0.1:{banner_port}/cb": "invalid HTTP answer",
            f"http://127.0.0.1:{refusing}/cb": "connection refused"}
    async with running_hub(callback_settings(settings, callback_max_attempts=1)) as hub:
        _, key = await named_key(hub, failing.url("/"), f"http://127.0.0.1:{banner_port}",
                                 f"http://127.0.0.1:{refusing}")
        cases = {}
        for url in urls:
            status, accepted = await push(hub, key, ticket(QINGXIU_SEAT, callback_url=url))
            assert status == 202
            cases[url] = accepted["case_id"]
        operator = {"Authorization": f"Bearer {await hub.login('city_operator', '450100')}"}

        async def all_held() -> bool:
            return len(await quarantined(hub, operator)) == len(urls)

        await eventually(all_held)
        reasons = {item["meta"]["url"]: item["reason"] for item in await quarantined(hub, operator)}
        pool = hub.app[POOL]
        for url, category in urls.items():
            assert reasons[url] == f"callback to {url} refused 1 times; last: {category}"
            [row] = await outbox_rows(pool, cases[url])
            assert (row["state"], row["last_error"] or f"HTTP {row['last_status']}") == ("dead", category)
        stored = await pool.fetchval(
            "SELECT string_agg(reason || meta::text || encode(payload, 'escape'), ' ') FROM quarantine")
        stored += await pool.fetchval("SELECT string_agg(coalesce(last_error, ''), ' ') FROM outbox")
        assert SECRET_TEXT not in stored and "OpenSSH" not in stored and "Connect call failed" not in stored
    assert len(failing.requests) == 1


async def test_an_origin_removed_stops_callbacks_at_write_and_replay_waits_for_it(
        settings: Settings, endpoints: Callable[..., Awaitable[Endpoint]]) -> None:
    receiver = await endpoints()
    origin = receiver.url("/")
    async with running_hub(callback_settings(settings)) as hub:
        name, key = await named_key(hub, origin)
        status, accepted = await push(hub, key, ticket(QINGXIU_SEAT, callback_url=receiver.url()))
        assert status == 202
        case_id = accepted["case_id"]
        await eventually(lambda: len(receiver.requests) == 1)  # "dispatched"

        pool = hub.app[POOL]
        assert await set_callback_origins(pool, name, remove=[origin]) == []
        dispatcher = Console(hub, await hub.login("county_dispatcher", "450103"))
        await dispatcher.ok(case_id, "accept", (await dispatcher.case(case_id))["version"])
        operator = {"Authorization": f"Bearer {await hub.login('city_operator', '450100')}"}

        async def held() -> bool:
            return bool(await quarantined(hub, operator))

        await eventually(held)
        [item] = await quarantined(hub, operator)
        assert item["reason"] == f"callback to {receiver.url()} {REFUSED}"
        assert [(r["event"], r["state"], r["attempts"], r["last_error"]) for r in await outbox_rows(pool, case_id)] \
            == [("dispatched", "delivered", 1, None), ("signed", "dead", 0, REFUSED)]

        replay = f"{hub.base}/api/v1/quarantine/{item['id']}/replay"
        async with hub.http.post(replay, headers=operator) as resp:
            assert resp.status == 422 and REFUSED in (await resp.json())["error"]["message"]
        await set_callback_origins(pool, name, add=[origin])
        async with hub.http.post(replay, headers=operator) as resp:
            assert resp.status == 200, await resp.text()
        await eventually(lambda: len(receiver.requests) == 2)
    assert receiver.requests == [("POST", "/12345/callback")] * 2


async def test_the_writer_records_a_callback_to_a_removed_origin_dead_and_never_pending(
        settings: Settings, endpoints: Callable[..., Awaitable[Endpoint]]) -> None:
    """The writer alone (no deliverer running): the outbox never holds a sendable row for a destination that
    is not allowed."""
    receiver = await endpoints()
    origin = receiver.url("/")
    config = callback_settings(settings)
    async with running_hub(config) as hub:
        name, key = await named_key(hub, origin)
        status, accepted = await push(hub, key, ticket(QINGXIU_SEAT, callback_url=receiver.url()))
        assert status == 202
        await eventually(lambda: len(receiver.requests) == 1)
    assert settings.database_url is not None
    pool = await create_pool(settings.database_url, min_size=1, max_size=2)
    try:
        await set_callback_origins(pool, name, remove=[origin])
        # The same events written again from the start, by a writer of its own.
        await pool.execute("DELETE FROM outbox; UPDATE checkpoints SET position = 0 WHERE name = 'outbox'")
        outbox = Outbox(pool, CaseReads(pool), config, Quarantine(pool))
        while await outbox.write_pending():
            pass
        rows = await outbox_rows(pool, accepted["case_id"])
        assert [(r["event"], r["state"], r["attempts"], r["last_error"]) for r in rows] \
            == [("dispatched", "dead", 0, REFUSED)]
        reasons = await pool.fetch("SELECT reason FROM quarantine WHERE channel = 'callback' AND state = 'held'")
        assert [r["reason"] for r in reasons] == [f"callback to {receiver.url()} {REFUSED}"]
    finally:
        await pool.close()


async def test_an_origin_removed_while_a_callback_is_retried_stops_the_retries(
        settings: Settings, endpoints: Callable[..., Awaitable[Endpoint]]) -> None:
    receiver = await endpoints(lambda _r: web.Response(status=503))
    origin = receiver.url("/")
    async with running_hub(callback_settings(settings, callback_max_attempts=10_000)) as hub:
        name, key = await named_key(hub, origin)
        status, accepted = await push(hub, key, ticket(QINGXIU_SEAT, callback_url=receiver.url()))
        assert status == 202
        await eventually(lambda: len(receiver.requests) >= 2)  # pending, being retried
        pool = hub.app[POOL]
        await set_callback_origins(pool, name, remove=[origin])

        async def dead() -> bool:
            state: str = (await outbox_rows(pool, accepted["case_id"]))[0]["state"]
            return state == "dead"

        await eventually(dead)  # a dead row is never claimed again: the retries are over
        [row] = await outbox_rows(pool, accepted["case_id"])
        assert row["last_error"] == REFUSED and row["attempts"] < 10_000


def _keys_cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url, "CITYLOOP_LOG_LEVEL": "WARNING"}
    return subprocess.run([sys.executable, "-m", "hub.cli", "keys", *args], env=env, capture_output=True, text=True,
                          timeout=120)


async def test_operators_register_and_remove_origins_with_the_cli(database_url: str) -> None:
    added = await asyncio.to_thread(_keys_cli, database_url, "add", "hotline-gx", "--role", "hotline",
                                    "--callback-origin", "HTTPS://12345.Example.gov.cn:443",
                                    "--callback-origin", "http://10.8.1.20:8080")
    assert added.returncode == 0, added.stderr
    assert added.stdout.startswith("clk_")
    removed = await asyncio.to_thread(_keys_cli, database_url, "origins", "hotline-gx",
                                      "--remove", "https://12345.example.gov.cn", "--add", "http://127.0.0.1:9000")
    assert removed.returncode == 0, removed.stderr
    assert "http://10.8.1.20:8080" in removed.stdout and "12345.example" not in removed.stdout
    conn = await asyncpg.connect(database_url)
    try:
        stored = await conn.fetchval("SELECT callback_origins FROM api_keys WHERE name = 'hotline-gx'")
    finally:
        await conn.close()
    assert sorted(stored) == ["http://10.8.1.20:8080", "http://127.0.0.1:9000"]

    for refused in (("add", "sensors", "--role", "iot", "--callback-origin", "https://a.gov.cn"),
                    ("add", "hotline-2", "--role", "hotline", "--callback-origin", "https://a.gov.cn/cb")):
        done = await asyncio.to_thread(_keys_cli, database_url, *refused)
        assert done.returncode == 2 and "origin" in done.stderr, done.stderr
