"""The command line around a running hub with its embedded database: `cityloop keys add` run with another
CITYLOOP_DATA_DIR refuses (it would start a second database and print a key the hub rejects) and names the
hub's data directory; with the hub's own directory it joins the hub's database and the key works. And
`cityloop demo` prints its consoles and logins last, in a frame, after the start-up log."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from pathlib import Path

import aiohttp
import pytest

from hub.infra.embedded import ServiceUrls
from tests.e2e.test_hotline_to_console import QINGXIU_SEAT, ticket
from tests.e2e.test_start_up import Process
from tests.processes import free_port, wait_ready

# What the children must not inherit from the test run: they choose their database by CITYLOOP_DATA_DIR.
UNSET = ("DATABASE_URL", "CITYLOOP_DATABASE_URL", "CITYLOOP_POLICY_FILE", "CITYLOOP_DATA_DIR")



@pytest.fixture
def started(tmp_path: Path) -> Iterator[list[Process]]:
    processes: list[Process] = []
    saved = {name: os.environ.pop(name) for name in UNSET if name in os.environ}
    try:
        yield processes
    finally:
        for process in processes:
            if process.proc.poll() is None:
                process.proc.kill()
                process.proc.wait(timeout=10)
        os.environ.update(saved)


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if k not in UNSET}
    return subprocess.run([sys.executable, "-m", "hub.cli", *args], capture_output=True, text=True, timeout=120,
                          env={**environ, **env, "CITYLOOP_LOG_LEVEL": "WARNING"})


async def test_keys_add_with_another_data_dir_refuses_and_names_the_running_hubs(
        service_urls: ServiceUrls, tmp_path: Path, started: list[Process]) -> None:
    run_dir, hub_dir, other_dir = tmp_path / "run", tmp_path / "hub-data", tmp_path / "other-data"
    hub = Process(["serve"], {"REDIS_URL": service_urls.redis_url, "CITYLOOP_DATA_DIR": str(hub_dir),
                              "CITYLOOP_RUN_DIR": str(run_dir)}, tmp_path)
    started.append(hub)
    await wait_ready(hub.base, hub.proc)

    refused = await asyncio.to_thread(cli, "keys", "add", "elsewhere", "--role", "hotline",
                                      env={"CITYLOOP_DATA_DIR": str(other_dir), "CITYLOOP_RUN_DIR": str(run_dir)})
    assert refused.returncode == 2 and not refused.stdout, refused
    assert str(hub_dir.resolve()) in refused.stderr and f"pid {hub.proc.pid}" in refused.stderr, refused.stderr
    assert not (other_dir / "pg").exists()  # no second database was started

    joined = await asyncio.to_thread(cli, "keys", "add", "same-place", "--role", "hotline",
                                     env={"CITYLOOP_DATA_DIR": str(hub_dir), "CITYLOOP_RUN_DIR": str(run_dir)})
    assert joined.returncode == 0, joined.stderr
    key = joined.stdout.strip().splitlines()[-1]
    async with aiohttp.ClientSession() as http, http.post(
            f"{hub.base}/api/v1/hotline/tickets", json=ticket(QINGXIU_SEAT), headers={"X-API-Key": key}) as resp:
        assert resp.status == 202, await resp.text()  # the hub knows the key: same database

    assert hub.stop() == 0
    assert not list(run_dir.glob("hub-*.json"))  # the record goes with the hub
    # With no hub running, a command may start the embedded database wherever it is told.
    alone = await asyncio.to_thread(cli, "migrate", env={"CITYLOOP_DATA_DIR": str(other_dir),
                                                         "CITYLOOP_RUN_DIR": str(run_dir)})
    assert alone.returncode == 0, alone.stderr


def test_a_record_of_a_hub_that_is_gone_is_ignored(tmp_path: Path) -> None:
    from hub.infra.running import check_same_database, running_hubs

    run_dir = tmp_path / "run"
    run_dir.mkdir()
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    stale = run_dir / f"hub-{gone.pid}.json"
    stale.write_text(f'{{"pid": {gone.pid}, "command": "demo", "data_dir": "/nowhere", "database_url": "x"}}')
    assert running_hubs(run_dir) == [] and not stale.exists()
    check_same_database(run_dir, tmp_path / uuid.uuid4().hex)  # does not raise


async def test_demo_prints_consoles_and_logins_last_in_a_frame_and_stops_its_redis_quietly(
        empty_database: str, service_urls: ServiceUrls, work_dir: Path, tmp_path: Path) -> None:
    data_dir = tmp_path / "demo-data"
    data_dir.mkdir()
    (data_dir / "geo-cache").symlink_to(work_dir / "geo-cache")  # the synthetic layers, built once per session
    port = free_port()
    output = tmp_path / "demo.log"  # stdout and stderr together, as a terminal shows them
    environ = {k: v for k, v in os.environ.items() if k not in (*UNSET, "REDIS_URL", "CITYLOOP_REDIS_URL")}
    with output.open("wb") as out:
        demo = subprocess.Popen(
            [sys.executable, "-m", "hub.cli", "demo"], stdout=out, stderr=subprocess.STDOUT,
            env={**environ, "DATABASE_URL": empty_database, "MQTT_URL": service_urls.mqtt_url or "",
                 "CITYLOOP_MQTT_CLIENT_ID": f"cityloop-test-{uuid.uuid4().hex[:10]}",
                 "CITYLOOP_MQTT_SESSION_EXPIRY_S": "0", "CITYLOOP_DATA_DIR": str(data_dir),
                 "CITYLOOP_RUN_DIR": str(tmp_path / "run"), "CITYLOOP_PORT": str(port), "CITYLOOP_LOG_JSON": "false",
                 "PYTHONUNBUFFERED": "1"})
    try:
        await wait_ready(f"http://127.0.0.1:{port}", demo)
        async with asyncio.timeout(60):
            while "| Demo logins" not in output.read_text(encoding="utf-8"):
                assert demo.poll() is None, output.read_text(encoding="utf-8")
                await asyncio.sleep(0.2)
        await asyncio.sleep(1.0)  # the frame's last line, and anything the start-up still had to say
        demo.send_signal(signal.SIGTERM)
        assert await asyncio.to_thread(demo.wait, 60) == 0
    finally:
        if demo.poll() is None:
            demo.kill()
            demo.wait(10)
    text = output.read_text(encoding="utf-8")
    lines = text.splitlines()
    top = next(i for i, line in enumerate(lines) if line.startswith("+-"))
    bottom = next(i for i in range(top + 1, len(lines)) if lines[i].startswith("+-"))
    frame = lines[top:bottom + 1]
    assert len({len(line) for line in frame}) == 1 and all(line.startswith("| ") for line in frame[1:-1])
    framed_text = "\n".join(frame)
    base = f"http://127.0.0.1:{port}"
    for expected in (f"{base}/console/", f"{base}/m/", f"{base}/openapi.json", "cityloop-demo", "auditor",
                     "sim-township-450103001", "60x faster"):
        assert expected in framed_text, expected
    before = "\n".join(lines[:top])
    for start_up in ("Applying 0001", "hub ready", "CityLoop hub listening", "simulator: hotline"):
        assert start_up in before, start_up  # the start-up log is out before the frame, not after it
    assert "shutdown failed" not in text and "sending sigterm" not in text  # the embedded Redis stopped cleanly
