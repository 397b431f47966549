"""Starting on a new, empty database, as real processes: `cityloop serve` loads no boundaries and says so (points
go to triage until an operator loads layers with `cityloop geo load`), and `cityloop demo`, found through the
`cityloop.commands` entry points, seeds the demo's layers and users and runs with the demo policy, silently."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Iterator
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

import aiohttp
import asyncpg
import pytest

import geo
from hub.cli import PLUGIN_COMMANDS
from hub.identity.auth import add_api_key, add_user
from hub.infra.embedded import ServiceUrls
from hub.infra.settings import DEMO_CALLBACK_SECRET
from tests.e2e.test_hotline_to_console import QINGXIU_SEAT, ticket
from tests.processes import free_port, wait_ready

COUNTIES = Path(geo.__file__).resolve().parent / "data" / "nanning_districts.geojson"
POLICY_WARNING = "CITYLOOP_POLICY_FILE is not set"
NO_BOUNDARIES = "no boundary layers are loaded"



class Process:
    """A `cityloop` child with its output in files (a pipe nobody reads could fill up and stall it)."""

    def __init__(self, args: list[str], env: dict[str, str], logs: Path,
                 unset: tuple[str, ...] = ("CITYLOOP_POLICY_FILE",)) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.out, self.err = logs / f"{args[0]}.out", logs / f"{args[0]}.err"
        environ = {k: v for k, v in os.environ.items() if k not in unset}
        with self.out.open("wb") as out, self.err.open("wb") as err:
            self.proc = subprocess.Popen([sys.executable, "-m", "hub.cli", *args], stdout=out, stderr=err,
                                         env={**environ, **env, "CITYLOOP_PORT": str(self.port),
                                              "CITYLOOP_LOG_JSON": "false"})

    def log(self) -> str:
        return self.err.read_text(encoding="utf-8")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        return self.proc.wait(timeout=30)


@pytest.fixture
def processes(tmp_path: Path) -> Iterator[list[Process]]:
    started: list[Process] = []
    yield started
    for process in started:
        if process.proc.poll() is None:
            process.proc.kill()
            process.proc.wait(timeout=10)


async def staff_and_key(database_url: str) -> str:
    conn = await asyncpg.connect(database_url)
    try:
        await add_user(conn, "ops", "correct horse battery", "city_operator", None)
        return await add_api_key(conn, "hotline-start-up", "hotline")
    finally:
        await conn.close()


async def login(http: aiohttp.ClientSession, base: str, username: str, password: str) -> dict[str, str]:
    async with http.post(f"{base}/api/v1/auth/login", json={"username": username, "password": password}) as resp:
        assert resp.status == 200, await resp.text()
        return {"Authorization": f"Bearer {(await resp.json())['token']}"}


async def get(http: aiohttp.ClientSession, url: str, headers: dict[str, str], **params: str) -> Any:
    async with http.get(url, headers=headers, params=params) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json(content_type=None)


async def test_serve_on_an_empty_database_starts_without_boundaries_and_takes_the_ones_an_operator_loads(
        empty_database: str, service_urls: ServiceUrls, tmp_path: Path, processes: list[Process]) -> None:
    hub = Process(["serve"], {"DATABASE_URL": empty_database, "REDIS_URL": service_urls.redis_url,
                              "CITYLOOP_DATA_DIR": str(tmp_path), "CITYLOOP_BOUNDARY_CHECK_S": "0.2",
                              "MQTT_URL": "mqtt://cityloop-hub:hub-password@127.0.0.1:9",
                              "CITYLOOP_MQTT_BROKER_DIR": str(tmp_path / "mqtt-accounts")}, tmp_path)
    processes.append(hub)
    await wait_ready(hub.base, hub.proc)
    assert NO_BOUNDARIES in hub.log() and POLICY_WARNING in hub.log()
    # A new accounts volume gets the broker's files at the hub's start (the hub's account alone: no devices yet).
    assert (tmp_path / "mqtt-accounts" / "passwd").read_text(encoding="utf-8").startswith("cityloop-hub:$7$")
    assert "user cityloop-hub" in (tmp_path / "mqtt-accounts" / "acl").read_text(encoding="utf-8")
    key = await staff_and_key(empty_database)
    async with aiohttp.ClientSession() as http:
        ops = await login(http, hub.base, "ops", "correct horse battery")
        async with http.post(f"{hub.base}/api/v1/hotline/tickets", json=ticket(QINGXIU_SEAT),
                             headers={"X-API-Key": key}) as resp:
            assert resp.status == 202, await resp.text()
            case_id = (await resp.json())["case_id"]
        case = await get(http, f"{hub.base}/api/v1/cases/{case_id}", ops)
        assert (case["state"], case["triage_reason"]) == ("triage", "no_boundaries")
        assert await get(http, f"{hub.base}/api/v1/areas", ops) == {"areas": []}
        assert (await get(http, f"{hub.base}/api/v1/areas.geojson", ops))["features"] == []
        map_setup = (await get(http, f"{hub.base}/api/v1/console/config", ops))["map"]
        assert map_setup["bounds"] is None and map_setup["centre"], "nothing to fit: the map starts on the centre"
        lng, lat = QINGXIU_SEAT
        routed = await get(http, f"{hub.base}/api/v1/route", ops, lng=str(lng), lat=str(lat))
        assert not routed["inside"]

        # The production path: the operator loads real boundaries, and the running hub picks them up.
        loaded = await asyncio.to_thread(
            subprocess.run, [sys.executable, "-m", "hub.cli", "geo", "load", str(COUNTIES), "--level", "county",
                             "--activate"],
            env={**os.environ, "DATABASE_URL": empty_database, "CITYLOOP_LOG_LEVEL": "WARNING"},
            capture_output=True, text=True, timeout=120)
        assert loaded.returncode == 0, loaded.stderr
        async with asyncio.timeout(20):
            while not routed["inside"]:
                await asyncio.sleep(0.2)
                routed = await get(http, f"{hub.base}/api/v1/route", ops, lng=str(lng), lat=str(lat))
        assert routed["areas"]["county"] == {"code": "450103", "name": "青秀区"}
        (south, west), (north, east) = (await get(http, f"{hub.base}/api/v1/console/config", ops))["map"]["bounds"]
        assert south < lat < north and west < lng < east
        assert len((await get(http, f"{hub.base}/api/v1/areas", ops))["areas"]) == 12
    assert hub.stop() == 0


async def test_demo_is_a_plugin_command_that_seeds_its_layers_and_users_and_uses_the_demo_policy_quietly(
        empty_database: str, service_urls: ServiceUrls, work_dir: Path, tmp_path: Path,
        processes: list[Process]) -> None:
    # The hub's CLI knows these commands only from the installed metadata (`pip install -e .` after a change).
    assert {e.value for e in entry_points(group=PLUGIN_COMMANDS)} == {
        "tools.cli:demo", "tools.cli:simulate", "tools.cli:bench", "tools.cli:eval_intake",
        "tools.cli:generate_history", "tools.cli:eval_warning"}
    demo = Process(["demo", "--no-simulate"], {
        "DATABASE_URL": empty_database, "REDIS_URL": service_urls.redis_url, "MQTT_URL": service_urls.mqtt_url or "",
        "CITYLOOP_MQTT_CLIENT_ID": f"cityloop-test-{uuid.uuid4().hex[:10]}", "CITYLOOP_MQTT_SESSION_EXPIRY_S": "0",
        # The session's data directory: the synthetic layers are already cached there (the template database).
        "CITYLOOP_DATA_DIR": str(work_dir)}, tmp_path,
        # The demo signs callbacks with the public demo secret (the default), which `serve` refuses.
        unset=("CITYLOOP_POLICY_FILE", "CITYLOOP_CALLBACK_SECRET"))
    processes.append(demo)
    await wait_ready(demo.base, demo.proc)
    async with asyncio.timeout(60):  # the demo users exist once the banner is out
        while "Demo logins" not in demo.out.read_text(encoding="utf-8"):
            assert demo.proc.poll() is None, demo.log()
            await asyncio.sleep(0.1)
    assert POLICY_WARNING not in demo.log() and NO_BOUNDARIES not in demo.log()
    key = await staff_and_key(empty_database)
    async with aiohttp.ClientSession() as http:
        admin = await login(http, demo.base, "admin", "cityloop-demo")
        counties = (await get(http, f"{demo.base}/api/v1/areas", admin))["areas"]
        assert len(counties) == 12 and not any(c["synthetic"] for c in counties)
        townships = (await get(http, f"{demo.base}/api/v1/areas", admin, parent="450103"))["areas"]
        assert townships and all(t["synthetic"] for t in townships)
        async with http.post(f"{demo.base}/api/v1/hotline/tickets", json=ticket(QINGXIU_SEAT),
                             headers={"X-API-Key": key}) as resp:
            assert resp.status == 202, await resp.text()
            case_id = (await resp.json())["case_id"]
        case = await get(http, f"{demo.base}/api/v1/cases/{case_id}", admin)
        # A streetlight in 青秀区: the demo matrix's rule R-lighting names the county's 城市管理局.
        assert case["state"] == "dispatched" and case["areas"]["grid"]["code"].startswith("450103")
        assert case["units"]["lead"]["code"] == "450103-cgj"
    assert demo.stop() == 0


@pytest.mark.parametrize(("secret", "why"), [(None, "public demo secret"), (DEMO_CALLBACK_SECRET, "public demo secret"),
                                             ("short", "shorter than 16")])
def test_serve_refuses_to_start_with_the_demo_callback_secret_and_names_the_setting(
        secret: str | None, why: str, tmp_path: Path) -> None:
    # Refused before anything is started or connected to: no database is needed to see it.
    env = {k: v for k, v in os.environ.items() if k != "CITYLOOP_CALLBACK_SECRET"}
    if secret is not None:
        env["CITYLOOP_CALLBACK_SECRET"] = secret
    env |= {"DATABASE_URL": "postgresql://nobody@127.0.0.1:1/none", "REDIS_URL": "redis://127.0.0.1:1/0",
            "CITYLOOP_DATA_DIR": str(tmp_path), "CITYLOOP_PORT": str(free_port())}
    refused = subprocess.run([sys.executable, "-m", "hub.cli", "serve"], env=env, capture_output=True, text=True,
                             timeout=60)
    assert refused.returncode == 2, refused.stderr
    assert "CITYLOOP_CALLBACK_SECRET" in refused.stderr and why in refused.stderr
    assert "listening" not in refused.stdout
