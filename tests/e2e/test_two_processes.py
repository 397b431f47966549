"""Two `cityloop serve` processes on one database and Redis: a ticket posted to one reaches a console
connected to the other, and exactly one of them leads the once-per-deployment loops."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
from collections.abc import AsyncIterator

import aiohttp
import pytest

from hub.infra.embedded import ServiceUrls
from tests.e2e.test_hotline_to_console import QINGXIU_SEAT, ticket
from tests.processes import dispatcher_token, free_port, hotline_key_and_dispatcher, wait_ready


@pytest.fixture
async def two_hubs(database_url: str, service_urls: ServiceUrls) -> AsyncIterator[list[str]]:
    procs: list[subprocess.Popen[bytes]] = []
    bases = []
    for _ in range(2):
        port = free_port()
        env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": service_urls.redis_url,
               "CITYLOOP_PORT": str(port),
               # Polling is slowed to a minute, so only the Redis wake-up can deliver within the test.
               "CITYLOOP_STORE_POLL_S": "60", "CITYLOOP_CONSOLE_COALESCE_MS": "5"}
        procs.append(subprocess.Popen([sys.executable, "-m", "hub.cli", "serve"], env=env))
        bases.append(f"http://127.0.0.1:{port}")
    try:
        for base, proc in zip(bases, procs, strict=True):
            await wait_ready(base, proc)
        yield bases
    finally:
        for proc in procs:
            proc.send_signal(signal.SIGTERM)
        for proc in procs:
            assert proc.wait(timeout=20) == 0, "the hub must shut down cleanly on SIGTERM"


async def test_exactly_one_of_two_independent_processes_leads(two_hubs: list[str]) -> None:
    async with aiohttp.ClientSession() as http, asyncio.timeout(20):
        while True:
            leading = []
            for base in two_hubs:
                async with http.get(f"{base}/healthz") as resp:
                    leading.append((await resp.json())["leader"])
            if leading.count(True) == 1:
                break
            assert leading.count(True) < 2, "two processes lead at once"
            await asyncio.sleep(0.2)


async def test_ticket_posted_to_one_process_reaches_a_console_on_the_other(
        two_hubs: list[str], database_url: str) -> None:
    first, second = two_hubs
    key = await hotline_key_and_dispatcher(database_url, "hotline-two-procs")
    async with aiohttp.ClientSession() as http:
        token = await dispatcher_token(http, second)
        ws = await http.ws_connect(f"{second.replace('http', 'ws')}/ws/console?token={token}")
        await ws.send_json({"type": "subscribe", "areas": ["450103"], "since": None})
        assert (await ws.receive_json(timeout=5))["type"] == "subscribed"
        assert (await ws.receive_json(timeout=5))["type"] == "snapshot"
        async with http.post(f"{first}/api/v1/hotline/tickets", json=ticket(QINGXIU_SEAT),
                             headers={"X-API-Key": key}) as resp:
            assert resp.status == 202
            case_id = (await resp.json())["case_id"]
        types = []
        async with asyncio.timeout(10):
            while "case.dispatched" not in types:
                msg = await ws.receive_json()
                if msg["type"] == "batch":
                    types += [e["event"]["type"] for e in msg["events"] if e["case_id"] == case_id]
        assert types == ["case.received", "case.dispatched"]
        # The console stays open: shutting down must close it rather than wait for it (fixture asserts).
