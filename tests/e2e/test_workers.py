"""`cityloop serve --workers 2`: two hub processes on one port under a supervisor. Both serve requests, a
console on the port sees tickets pushed through either process, exactly one process leads the background
loops, and when the leader is killed the other takes over while the supervisor restarts the killed one."""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from hub.infra.embedded import ServiceUrls
from tests.e2e.test_hotline_to_console import QINGXIU_SEAT, ticket
from tests.processes import dispatcher_token, free_port, hotline_key_and_dispatcher, wait_ready


@pytest.fixture
def metrics_port() -> int:
    """The first worker's metrics port (CITYLOOP_METRICS_PORT); the second's is the next one, free too."""
    while True:
        port = free_port()
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port + 1))
            except OSError:
                continue
        return port


@pytest.fixture
async def workers(database_url: str, service_urls: ServiceUrls, metrics_port: int) -> AsyncIterator[str]:
    port = free_port()
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": service_urls.redis_url,
           "CITYLOOP_PORT": str(port), "CITYLOOP_LEADER_CHECK_S": "0.5", "CITYLOOP_METRICS_PORT": str(metrics_port),
           # Polling is slowed to a minute, so only the Redis wake-up can carry a commit to the other process.
           "CITYLOOP_STORE_POLL_S": "60", "CITYLOOP_CONSOLE_COALESCE_MS": "5"}
    proc = subprocess.Popen([sys.executable, "-m", "hub.cli", "serve", "--workers", "2"], env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        await wait_ready(base, proc)
        yield base
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=40) == 0, "the supervisor and its workers must stop cleanly on SIGTERM"


async def health_by_pid(base: str, tries: int = 400) -> dict[int, dict[str, Any]]:
    """/healthz of each process (all two of them, unless `tries` connections found fewer), over fresh
    connections: the kernel spreads connections over the processes listening on the port."""
    seen: dict[int, dict[str, Any]] = {}
    connector = aiohttp.TCPConnector(force_close=True)
    async with aiohttp.ClientSession(connector=connector, timeout=aiohttp.ClientTimeout(total=0.5)) as http:
        for _ in range(tries):
            try:
                async with http.get(f"{base}/healthz") as resp:
                    body = await resp.json()
            except (aiohttp.ClientError, TimeoutError):  # queued on a process just killed, or stopped
                continue
            seen[body["pid"]] = body
            if len(seen) == 2:
                break
    return seen


async def one_leader(base: str, timeout: float = 20.0) -> tuple[int, int]:
    """(leader pid, follower pid) once exactly one of the two processes says it leads."""
    async with asyncio.timeout(timeout):
        while True:
            health = await health_by_pid(base)
            leading = [pid for pid, body in health.items() if body["leader"]]
            if len(health) == 2 and len(leading) == 1:
                return leading[0], next(pid for pid in health if pid != leading[0])
            await asyncio.sleep(0.2)


async def test_both_processes_serve_and_exactly_one_leads(workers: str, metrics_port: int) -> None:
    leader, follower = await one_leader(workers)
    assert leader != follower
    assert len(await health_by_pid(workers)) == 2  # both answer requests
    # Each worker is its own scrape target, on CITYLOOP_METRICS_PORT + its index: one says it leads.
    scraped = [await gauges(f"http://127.0.0.1:{port}/metrics") for port in (metrics_port, metrics_port + 1)]
    assert sorted(g["cityloop_leader"] for g in scraped) == [0, 1]
    assert all(g["cityloop_gc_frozen_objects"] > 0 for g in scraped)  # the start-up heap was frozen (hub.infra.heap)


async def gauges(url: str) -> dict[str, float]:
    """The unlabelled samples of a /metrics page."""
    async with aiohttp.ClientSession() as http, http.get(url) as resp:
        assert resp.status == 200
        text = await resp.text()
    return {s.name: s.value for family in text_string_to_metric_families(text) for s in family.samples
            if not s.labels}


async def post_through(base: str, key: str, body: dict[str, Any]) -> tuple[int, str]:
    """Post a ticket on one kept-alive connection whose process is known: (pid, case_id)."""
    connector = aiohttp.TCPConnector(limit=1)
    async with aiohttp.ClientSession(connector=connector) as http:
        while True:
            async with http.get(f"{base}/healthz") as resp:
                before = (await resp.json())["pid"]
            async with http.post(f"{base}/api/v1/hotline/tickets", json=body, headers={"X-API-Key": key}) as resp:
                assert resp.status == 202, await resp.text()
                case_id = str((await resp.json())["case_id"])
            async with http.get(f"{base}/healthz") as resp:
                after = (await resp.json())["pid"]
            if before == after:  # the same connection throughout, so the same process took the ticket
                return before, case_id
            body = {**body, "ticket_no": body["ticket_no"] + "-again"}


async def test_a_console_sees_tickets_pushed_through_either_process(workers: str, database_url: str) -> None:
    key = await hotline_key_and_dispatcher(database_url, "hotline-workers")
    async with aiohttp.ClientSession() as http:
        token = await dispatcher_token(http, workers)
        # Several consoles, each on its own connection: whichever process each landed on, the tickets below
        # come through both processes, so every console sees at least one pushed through the other process.
        consoles = [await http.ws_connect(f"{workers.replace('http', 'ws')}/ws/console?token={token}")
                    for _ in range(4)]
        for ws in consoles:
            await ws.send_json({"type": "subscribe", "areas": ["450103"], "since": None})
            assert (await ws.receive_json(timeout=5))["type"] == "subscribed"
            assert (await ws.receive_json(timeout=5))["type"] == "snapshot"
        through: dict[int, str] = {}  # process → a case pushed through it
        for _ in range(200):
            pid, case_id = await post_through(workers, key, ticket(QINGXIU_SEAT))
            through.setdefault(pid, case_id)
            if len(through) == 2:
                break
        assert len(through) == 2, f"every ticket went through {sorted(through)}"
        for ws in consoles:
            seen: set[str] = set()
            async with asyncio.timeout(10):
                while not set(through.values()) <= seen:
                    msg = await ws.receive_json()
                    if msg["type"] == "batch":
                        # (alerts and other non-case items travel in the same batches: 200 tickets at one
                        # spot are a surge)
                        seen |= {e["case_id"] for e in msg["events"] if e["type"] == "event"}
            await ws.close()


async def test_killing_the_leader_hands_leadership_over_and_the_supervisor_restarts_it(workers: str) -> None:
    leader, follower = await one_leader(workers)
    os.kill(leader, signal.SIGKILL)
    async with asyncio.timeout(60):
        while True:
            health = await health_by_pid(workers, tries=50)
            restarted = [pid for pid in health if pid not in (leader, follower)]
            if health.get(follower, {}).get("leader") and restarted:
                break
            await asyncio.sleep(0.2)
    assert leader not in health
    assert not health[restarted[0]]["leader"]  # the restarted process follows
    assert set(await one_leader(workers)) == {follower, restarted[0]}


async def test_a_frozen_leader_loses_leadership_and_follows_when_it_thaws(workers: str) -> None:
    """SIGSTOP: the process is alive and its connection open, but it no longer answers. PostgreSQL ends its
    idle session (idle_session_timeout), the lock goes with it, and the other process leads; once thawed, the
    old leader finds its connection gone, stops its loops and follows."""
    leader, follower = await one_leader(workers)
    os.kill(leader, signal.SIGSTOP)
    try:
        async with asyncio.timeout(60):
            while not (await health_by_pid(workers, tries=20)).get(follower, {}).get("leader"):  # noqa: ASYNC110
                await asyncio.sleep(0.2)
    finally:
        os.kill(leader, signal.SIGCONT)
    assert await one_leader(workers) == (follower, leader)


def test_a_port_already_in_use_is_refused_before_any_worker_starts(database_url: str,
                                                                   service_urls: ServiceUrls) -> None:
    """Without this check the workers (SO_REUSEPORT) could join the listening group of another hub of the same
    user on that port and quietly share its traffic."""
    with socket.socket() as taken:
        taken.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)  # as a running `serve --workers` hub's are
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": service_urls.redis_url,
               "CITYLOOP_PORT": str(port)}
        done = subprocess.run([sys.executable, "-m", "hub.cli", "serve", "--workers", "2"], env=env,
                              capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "worker started" not in done.stderr
