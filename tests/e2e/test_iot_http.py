"""IoT over HTTP (the MQTT topic's twin), the device registry from the CLI and the API, and the
closed loop of a machine-detected case: alarm → dispatched → recovery → handler confirms → closed."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson

from connectors.iot import alarm_payload
from tests.conftest import Hub
from tests.e2e.test_case_lifecycle import Console

T0 = datetime(2026, 11, 22, 8, 0, tzinfo=UTC)


def _cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url, "CITYLOOP_LOG_LEVEL": "WARNING"}
    return subprocess.run([sys.executable, "-m", "hub.cli", "devices", *args], env=env, capture_output=True,
                          text=True, timeout=120)


async def send(hub: Hub, key: str, device: str, seq: int, state: str, kind: str = "water_level",
               value: float = 0.4) -> tuple[int, dict[str, Any]]:
    body = alarm_payload(device, seq, kind, state, value, 0.2, T0 + timedelta(minutes=seq))
    async with hub.http.post(f"{hub.base}/api/v1/iot/alarms", data=body,
                             headers={"X-API-Key": key, "Content-Type": "application/json"}) as resp:
        return resp.status, dict(await resp.json())


async def test_devices_registered_by_the_cli_route_their_alarms_and_the_loop_closes_on_recovery(
        hub: Hub, database_url: str) -> None:
    # 民族大道 in 青秀区, given in GCJ-02 as a map app would show it: stored converted to WGS84.
    done = _cli(database_url, "add", "WL-CLI-1", "--kind", "water_level", "--lng", "108.3755", "--lat", "22.8168",
                "--crs", "gcj02", "--name", "民族大道积水监测点")
    assert done.returncode == 0, done.stderr
    listed = _cli(database_url, "list")
    assert "WL-CLI-1" in listed.stdout and "water_level" in listed.stdout
    key = await hub.api_key("iot")

    status, first = await send(hub, key, "WL-CLI-1", 1, "alarm")
    assert (status, first["action"]) == (202, "opened")
    for seq in (2, 3, 3):  # the storm goes on; seq 3 is sent twice
        status, more = await send(hub, key, "WL-CLI-1", seq, "alarm")
        assert more["case_id"] == first["case_id"]
    assert (status, more["duplicate"]) == (200, True)

    dispatcher = Console(hub, await hub.login("county_dispatcher", "450103"))
    case = await dispatcher.case(first["case_id"])
    assert case["state"] == "dispatched" and case["source"] == "iot"
    assert case["areas"]["county"]["code"] == "450103"
    assert case["sensor"]["alarms"] == 3 and case["category"]["path"][-1] == "道路积水"
    # The stored point is WGS84: GCJ-02 lies ~300-600 m off in Nanning, so the two must differ.
    assert abs(case["location"]["lng"] - 108.3755) > 0.002

    status, cleared = await send(hub, key, "WL-CLI-1", 4, "clear", value=0.02)
    assert (status, cleared["action"]) == (202, "recovered")
    case = await dispatcher.case(first["case_id"])
    assert "sensor_recovered" in case["flags"] and case["state"] == "dispatched"

    case = await dispatcher.ok(first["case_id"], "accept", case["version"])
    case = await dispatcher.ok(first["case_id"], "resolve", case["version"], note="已排水，传感器读数恢复")
    assert case["state"] == "closed" and case["outcome"] == "sensor_recovered"

    status, again = await send(hub, key, "WL-CLI-1", 5, "alarm")
    assert again["action"] == "opened" and again["case_id"] != first["case_id"], "a closed case takes no alarms"


async def test_http_twin_answers_bad_input_with_the_field(hub: Hub) -> None:
    key = await hub.api_key("iot")
    status, body = await send(hub, key, "NOT-REGISTERED", 1, "alarm")
    assert status == 422 and body["error"]["fields"][0]["field"] == "device_id"
    async with hub.http.post(f"{hub.base}/api/v1/iot/alarms", data=orjson.dumps({"device_id": "X", "seq": 1}),
                             headers={"X-API-Key": key}) as resp:
        assert resp.status == 422
        fields = {f["field"] for f in (await resp.json())["error"]["fields"]}
    assert {"kind", "state", "at"} <= fields
    hotline_key = await hub.hotline_key()
    status, body = await send(hub, hotline_key, "X", 1, "alarm")
    assert status == 403, "only iot keys post readings"


async def test_device_registry_api_checks_role_and_kind(hub: Hub) -> None:
    operator = {"Authorization": f"Bearer {await hub.login('city_operator', '450100')}"}
    handler = {"Authorization": f"Bearer {await hub.login('township_handler', '450103001')}"}
    device = {"device_id": "MC-7", "kind": "manhole_cover", "location": {"lng": 108.32, "lat": 22.83},
              "owner_unit": "450103-zjj"}
    async with hub.http.post(f"{hub.base}/api/v1/devices", json=device, headers=handler) as resp:
        assert resp.status == 403
    async with hub.http.post(f"{hub.base}/api/v1/devices", json={**device, "kind": "toaster"},
                             headers=operator) as resp:
        assert resp.status == 422
        assert (await resp.json())["error"]["fields"][0]["field"] == "kind"
    async with hub.http.post(f"{hub.base}/api/v1/devices", json=device, headers=operator) as resp:
        assert resp.status == 201
    async with hub.http.get(f"{hub.base}/api/v1/devices/MC-7", headers=operator) as resp:
        got = await resp.json()
    assert got["owner_unit"] == "450103-zjj" and got["location"]["crs"] == "wgs84"
    async with hub.http.get(f"{hub.base}/api/v1/devices?kind=manhole_cover", headers=operator) as resp:
        assert [d["device_id"] for d in (await resp.json())["devices"]] == ["MC-7"]
