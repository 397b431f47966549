"""Devices' own MQTT accounts (issue 19 item 2), end to end with a real Mosquitto running the committed
configuration: `cityloop devices add|rotate` print a password once and keep only its hash, and the broker's
files written from the registry let each device publish to its own topic alone — the hub's account reads it
through a shared subscription — while unregistered clients are refused at CONNECT and a rotated password stops
working once the broker reloads."""

from __future__ import annotations

import asyncio
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from pathlib import Path

import asyncpg
import pytest

from connectors.iot import DeviceRegistration, alarm_topic
from hub.infra.settings import Settings
from hub.services.iot.broker import verify
from hub.services.iot.devices import issue_credentials, register_device
from hub.services.iot.mqtt import MqttSubscriber
from tests.brokers import auth_folder, committed_mosquitto, publish
from tests.conftest import running_hub

HUB_LOGIN = "cityloop-hub:hub-password-0123456789"
REFUSED_AT_CONNECT = "connection error: not authori"
REFUSED_PUBLISH = "publish 1 failed: not authorized"  # the PUBACK's reason code 0x87 (MQTT 5)


def devices(database_url: str, auth: Path, *args: str) -> str:
    env = {**os.environ, "DATABASE_URL": database_url, "CITYLOOP_MQTT_BROKER_DIR": str(auth),
           # Only the hub's account matters to `devices`: it goes into the broker's files.
           "MQTT_URL": f"mqtt://{HUB_LOGIN}@127.0.0.1:1883"}
    done = subprocess.run([sys.executable, "-m", "hub.cli", "devices", *args], env=env, capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


def password_in(output: str) -> str:
    found = re.findall(r"^MQTT password: (\S+)$", output, flags=re.MULTILINE)
    assert len(found) == 1, output
    return str(found[0])


def login(device: str, password: str) -> tuple[str, ...]:
    return ("-u", device, "-P", password)


async def test_each_device_publishes_only_to_its_own_topic_with_its_own_password(database_url: str) -> None:
    auth = auth_folder()
    a, b = "WL-A", "WL-B"
    try:
        conn = await asyncpg.connect(database_url)
        try:
            # B the way `devices add` registers it (a process start less); A through the command itself, which
            # then writes the broker's files with both.
            await register_device(conn, DeviceRegistration.model_validate({
                "device_id": b, "kind": "water_level", "location": {"lng": 108.31, "lat": 22.8}}))
            other = await issue_credentials(conn, b, only_if_none=True)
            assert other is not None
            # A device registered over the API under the hub's username: it must not take the hub's account.
            await register_device(conn, DeviceRegistration.model_validate({
                "device_id": "cityloop-hub", "kind": "gas", "location": {"lng": 108.3, "lat": 22.8}}))
            assert await issue_credentials(conn, "cityloop-hub") is not None
            at = ("--kind", "water_level", "--lng", "108.32", "--lat", "22.81")
            first = password_in(await asyncio.to_thread(devices, database_url, auth, "add", a, *at))
            moved = await asyncio.to_thread(devices, database_url, auth, "add", a, "--kind", "water_level",
                                            "--lng", "108.33", "--lat", "22.82")
            assert "MQTT password" not in moved and "unchanged" in moved, "shown once: a move keeps the account"
            stored = {r["device_id"]: str(r["mqtt_password_hash"])
                      for r in await conn.fetch("SELECT device_id, mqtt_password_hash FROM devices")}
            everything = str([tuple(r) for r in await conn.fetch("SELECT * FROM devices")])
        finally:
            await conn.close()
        assert stored[a].startswith("$7$") and verify(first, stored[a]) and first not in everything

        received: list[str] = []
        arrived = asyncio.Event()

        async def hub_takes(topic: str, _payload: bytes) -> None:
            received.append(topic)
            arrived.set()

        with committed_mosquitto(auth) as (port, broker):
            subscriber = MqttSubscriber(f"mqtt://{HUB_LOGIN}@127.0.0.1:{port}", f"hub-{uuid.uuid4().hex[:8]}",
                                        "$share/hubs/cityloop/iot/+/alarm", hub_takes, 0)
            task = asyncio.create_task(subscriber.run())
            try:
                async with asyncio.timeout(10):
                    await subscriber.connected.wait()
                await asyncio.sleep(0.2)  # the SUBACK: gmqtt's subscribe() does not wait for it

                def probes() -> list[str]:
                    return [publish(port, alarm_topic(a)),  # anonymous
                            publish(port, alarm_topic(a), *login("WL-UNKNOWN", first)),
                            publish(port, alarm_topic(a), *login(a, other)),
                            publish(port, alarm_topic(b), *login(a, first)),  # another device's topic
                            publish(port, alarm_topic(a), *login(a, first))]

                anonymous, unregistered, wrong, elsewhere, own = await asyncio.to_thread(probes)
                for refused in (anonymous, unregistered, wrong):
                    assert REFUSED_AT_CONNECT in refused.lower()
                assert REFUSED_PUBLISH in elsewhere.lower() and own == ""
                async with asyncio.timeout(10):
                    await arrived.wait()
                # The refused message came first and never reached the hub.
                assert received == [alarm_topic(a)]

                # A device connected with its old password when it is rotated: the reload drops it.
                held = subprocess.Popen([shutil.which("mosquitto_sub") or "/usr/bin/mosquitto_sub", "-p", str(port),
                                         "-V", "mqttv5", *login(a, first), "-t", alarm_topic(a)],
                                        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
                try:
                    fresh = password_in(await asyncio.to_thread(devices, database_url, auth, "rotate", a))
                    assert held.poll() is None, "connected before the reload"
                    broker.send_signal(signal.SIGHUP)  # what README's reload step does
                    deadline = time.monotonic() + 10
                    while await asyncio.to_thread(publish, port, alarm_topic(a), *login(a, fresh)):
                        assert time.monotonic() < deadline, "the rotated password was never accepted"
                        await asyncio.sleep(0.1)
                    old = await asyncio.to_thread(publish, port, alarm_topic(a), *login(a, first))
                    assert REFUSED_AT_CONNECT in old.lower()
                    _, dropped = await asyncio.to_thread(held.communicate, timeout=10)  # it reconnects, refused
                    assert REFUSED_AT_CONNECT in dropped.lower()
                finally:
                    held.kill()
                    held.wait()
                assert await asyncio.to_thread(publish, port, alarm_topic(b), *login(b, other)) == ""
            finally:
                task.cancel()
                with pytest.raises(asyncio.CancelledError):
                    await task
    finally:
        shutil.rmtree(auth, ignore_errors=True)


async def test_a_device_registered_over_the_api_gets_its_account_once_and_an_operator_can_rotate_it(
        settings: Settings) -> None:
    """The integrator's path: `POST /api/v1/devices` answers a new device's MQTT login once (a move does not
    repeat it) and writes the broker's files when the hub keeps them; `POST …/credentials` rotates it. The
    broker started on those files takes the new password and refuses the old one."""
    auth = auth_folder()
    try:
        async with running_hub(settings.model_copy(update={"mqtt_broker_dir": auth})) as hub:
            operator = {"Authorization": f"Bearer {await hub.login('city_operator', None)}"}
            handler = {"Authorization": f"Bearer {await hub.login('township_handler', '450103001')}"}
            device = {"device_id": "WL-API-1", "kind": "water_level", "location": {"lng": 108.32, "lat": 22.81}}
            async with hub.http.post(f"{hub.base}/api/v1/devices", json=device, headers=operator) as resp:
                assert resp.status == 201
                added = await resp.json()
            first = added["mqtt"]["password"]
            assert added["mqtt"]["username"] == "WL-API-1" and added["mqtt"]["topic"] == alarm_topic("WL-API-1")
            assert added["mqtt_account"] is True and "mqtt_password_hash" not in added
            moved = {**device, "location": {"lng": 108.33, "lat": 22.82}}
            async with hub.http.post(f"{hub.base}/api/v1/devices", json=moved, headers=operator) as resp:
                assert resp.status == 201
                assert "mqtt" not in await resp.json(), "shown once: a move keeps the account"
            rotate = f"{hub.base}/api/v1/devices/WL-API-1/credentials"
            async with hub.http.post(rotate, headers=handler) as resp:
                assert resp.status == 403
            async with hub.http.post(f"{hub.base}/api/v1/devices/WL-NONE/credentials", headers=operator) as resp:
                assert resp.status == 404
            async with hub.http.post(rotate, headers=operator) as resp:
                assert resp.status == 201
                fresh = (await resp.json())["mqtt"]["password"]
            async with hub.http.get(f"{hub.base}/api/v1/devices/WL-API-1", headers=operator) as resp:
                listed = await resp.json()
            assert fresh != first and listed["mqtt_account"] is True and fresh not in str(listed)
        with committed_mosquitto(auth) as (port, _broker):
            def probes() -> tuple[str, str]:
                return (publish(port, alarm_topic("WL-API-1"), *login("WL-API-1", first)),
                        publish(port, alarm_topic("WL-API-1"), *login("WL-API-1", fresh)))

            old, new = await asyncio.to_thread(probes)
        assert REFUSED_AT_CONNECT in old.lower() and new == ""
    finally:
        shutil.rmtree(auth, ignore_errors=True)
