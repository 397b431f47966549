"""IoT over MQTT against real Mosquitto, PostgreSQL and Redis: acknowledged after commit, redelivered
after a crash, deduplicated by device + seq, a storm debounced into one case, bad messages quarantined."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta

import aiohttp
import asyncpg
import gmqtt
from gmqtt.mqtt.constants import MQTTv50

from connectors.iot import alarm_payload
from hub.identity.auth import add_user
from hub.infra.embedded import ServiceUrls, mqtt_address
from hub.infra.settings import Settings
from hub.keys import METRICS, POOL
from tests.conftest import running_hub
from tests.processes import HubProcess

T0 = datetime(2026, 11, 22, 9, 0, tzinfo=UTC)


@asynccontextmanager
async def publisher(url: str) -> AsyncIterator[gmqtt.Client]:
    client = gmqtt.Client(f"test-device-{uuid.uuid4().hex[:8]}")
    host, port = mqtt_address(url)
    await client.connect(host, port, version=MQTTv50)
    try:
        yield client
    finally:
        await client.disconnect()


def publish(client: gmqtt.Client, device: str, seq: int, state: str = "alarm", kind: str = "water_level",
            value: float = 0.4) -> None:
    client.publish(f"cityloop/iot/{device}/alarm",
                   alarm_payload(device, seq, kind, state, value, 0.2, T0 + timedelta(seconds=seq)), qos=1)


async def register(hub_base: str, http: aiohttp.ClientSession, token: str, device: str, lng: float, lat: float,
                   kind: str = "water_level") -> None:
    async with http.post(f"{hub_base}/api/v1/devices",
                         json={"device_id": device, "kind": kind, "name": f"测试{device}",
                               "location": {"lng": lng, "lat": lat, "crs": "wgs84"}},
                         headers={"Authorization": f"Bearer {token}"}) as resp:
        assert resp.status == 201, await resp.text()


async def wait_for(check: Callable[[], Awaitable[bool]], timeout: float = 20.0) -> None:
    async with asyncio.timeout(timeout):
        while not await check():  # noqa: ASYNC110 - polling the database: nothing to wait on in-process
            await asyncio.sleep(0.1)


async def recorded_seqs(db: asyncpg.Connection | asyncpg.Pool, device: str) -> list[str]:
    """The key (device + seq) of every alarm recorded for this device, once per event that recorded one:
    a reading recorded twice would appear twice."""
    rows = await db.fetch(
        "SELECT metadata->>'idempotency_key' AS k FROM events WHERE metadata->>'idempotency_key' LIKE $1 "
        "AND type IN ('case.received', 'case.alarm_repeated')", f"iot:{device}:%")
    return sorted(r["k"] for r in rows)


async def device_cases(db: asyncpg.Connection | asyncpg.Pool, device: str) -> list[asyncpg.Record]:
    return await db.fetch("SELECT case_id, state, doc FROM cases WHERE device_id = $1", device)


async def test_a_storm_with_resends_becomes_one_case_with_every_reading_once(
        mqtt_settings: Settings, service_urls: ServiceUrls) -> None:
    assert service_urls.mqtt_url is not None
    async with running_hub(mqtt_settings) as hub:
        token = await hub.login("city_operator", "450100")
        await register(hub.base, hub.http, token, "WL-STORM", 108.37, 22.82)
        pool = hub.app[POOL]
        async with publisher(service_urls.mqtt_url) as device:
            for seq in range(1, 41):
                publish(device, "WL-STORM", seq)
                if seq % 5 == 0:
                    publish(device, "WL-STORM", seq)  # a device that resends: the same seq again

            async def all_recorded() -> bool:
                return len(await recorded_seqs(pool, "WL-STORM")) >= 40

            await wait_for(all_recorded)
            await asyncio.sleep(0.5)  # anything extra (a duplicate) would land now
        cases = await device_cases(pool, "WL-STORM")
        assert len(cases) == 1, "a storm from one device is one case"
        assert cases[0]["doc"]["sensor"]["alarms"] == 40
        assert await recorded_seqs(pool, "WL-STORM") == sorted(f"iot:WL-STORM:{s}" for s in range(1, 41))


async def test_malformed_and_unknown_are_quarantined_and_the_next_good_message_is_processed(
        mqtt_settings: Settings, service_urls: ServiceUrls) -> None:
    assert service_urls.mqtt_url is not None
    async with running_hub(mqtt_settings) as hub:
        token = await hub.login("city_operator", "450100")
        auth = {"Authorization": f"Bearer {token}"}
        await register(hub.base, hub.http, token, "GAS-1", 108.33, 22.81, kind="gas")
        pool = hub.app[POOL]
        async with publisher(service_urls.mqtt_url) as device:
            device.publish("cityloop/iot/GAS-1/alarm", b'{"device_id": "GAS-1", "seq": "x"', qos=1)
            publish(device, "NOBODY-9", 1, kind="gas")
            publish(device, "GAS-1", 1, kind="gas", value=30.0)

            async def case_opened() -> bool:
                return len(await device_cases(pool, "GAS-1")) == 1

            await wait_for(case_opened)

        async with hub.http.get(f"{hub.base}/api/v1/quarantine?channel=mqtt", headers=auth) as resp:
            assert resp.status == 200
            items = (await resp.json())["items"]
        reasons = {item["meta"]["topic"]: item["reason"] for item in items}
        assert "not JSON" in reasons["cityloop/iot/GAS-1/alarm"]
        assert "not registered" in reasons["cityloop/iot/NOBODY-9/alarm"]
        registry = hub.app[METRICS].registry  # what /metrics shows: three taken, two of them quarantined
        assert registry.get_sample_value("cityloop_mqtt_messages_received_total") == 3
        assert registry.get_sample_value("cityloop_mqtt_messages_quarantined_total") == 2
        assert registry.get_sample_value("cityloop_ingest_total", {"channel": "iot", "outcome": "accepted"}) == 1
        unknown = next(i for i in items if i["meta"]["topic"] == "cityloop/iot/NOBODY-9/alarm")

        # Replaying before the fix fails and keeps the item; after registering the device it opens the case.
        async with hub.http.post(f"{hub.base}/api/v1/quarantine/{unknown['id']}/replay", headers=auth) as resp:
            assert resp.status == 422
        await register(hub.base, hub.http, token, "NOBODY-9", 108.30, 22.85, kind="gas")
        async with hub.http.post(f"{hub.base}/api/v1/quarantine/{unknown['id']}/replay", headers=auth) as resp:
            assert resp.status == 200, await resp.text()
            assert (await resp.json())["resolution"]["action"] == "opened"
        assert len(await device_cases(pool, "NOBODY-9")) == 1
        async with hub.http.get(f"{hub.base}/api/v1/quarantine?channel=mqtt", headers=auth) as resp:
            held = [i["id"] for i in (await resp.json())["items"]]
        assert unknown["id"] not in held and len(held) == 1


async def test_a_hub_killed_mid_stream_loses_nothing_and_records_nothing_twice(
        database_url: str, service_urls: ServiceUrls) -> None:
    """SIGKILL while messages are arriving: what was received but not committed was not acknowledged,
    so the broker redelivers it to the next hub on the same session; what was committed and redelivered
    anyway is recognised by device + seq."""
    assert service_urls.mqtt_url is not None
    env = {"DATABASE_URL": database_url, "REDIS_URL": service_urls.redis_url, "MQTT_URL": service_urls.mqtt_url,
           "CITYLOOP_MQTT_CLIENT_ID": f"cityloop-kill-{uuid.uuid4().hex[:8]}",
           "CITYLOOP_MQTT_SESSION_EXPIRY_S": "120", "CITYLOOP_LOG_LEVEL": "WARNING"}
    devices = [f"KILL-{i}" for i in range(8)]
    per_device = 120  # the first half takes ~0.6 s to publish: the kill lands well inside it
    db = await asyncpg.connect(database_url)
    first = await HubProcess(env).start()
    try:
        await add_user(db, "op-kill", "correct horse battery", "city_operator", "450100")
        async with aiohttp.ClientSession() as http:
            async with http.post(f"{first.base}/api/v1/auth/login",
                                 json={"username": "op-kill", "password": "correct horse battery"}) as resp:
                token = (await resp.json())["token"]
            for i, name in enumerate(devices):  # ~1 km apart: no merging across devices
                await register(first.base, http, token, name, 108.25 + 0.012 * i, 22.80 + 0.01 * (i % 3))
        await asyncio.sleep(1.0)  # the subscriber has connected and subscribed

        async def committed() -> int:
            return int(await db.fetchval("SELECT count(*) FROM events WHERE metadata->>'source' = 'iot'"))

        async with publisher(service_urls.mqtt_url) as device:
            half = per_device // 2

            async def first_half() -> None:
                for seq in range(1, half + 1):
                    for name in devices:
                        publish(device, name, seq)
                    await asyncio.sleep(0.01)  # the broker acknowledges the device's QoS 1 publishes meanwhile

            async def some_committed() -> bool:
                return await committed() >= 60

            # Killed while the devices are still publishing the first half, as soon as part of it is
            # committed: the rest is received, in flight or still queued at the broker — whatever the
            # machine's speed.
            publishing = asyncio.create_task(first_half())
            await wait_for(some_committed, timeout=30)
            first.kill()
            await publishing
            assert await committed() < len(devices) * (half + 1), "the hub finished before it was killed"
            for seq in range(half + 1, per_device + 1):  # the devices go on while no hub is up
                for name in devices:
                    publish(device, name, seq)
                await asyncio.sleep(0.01)
            second = await HubProcess(env).start()
            try:
                async def everything() -> bool:
                    return await committed() >= len(devices) * (per_device + 1)  # +1: the first one's dispatch

                await wait_for(everything, timeout=60)
                await asyncio.sleep(1.0)
            finally:
                assert second.stop() == 0
        for name in devices:
            cases = await device_cases(db, name)
            assert len(cases) == 1, f"{name}: one case per device"
            assert await recorded_seqs(db, name) == sorted(f"iot:{name}:{s}" for s in range(1, per_device + 1))
            assert json.loads(cases[0]["doc"])["sensor"]["alarms"] == per_device
    finally:
        if first.proc is not None and first.proc.poll() is None:
            first.stop()
        await db.close()
