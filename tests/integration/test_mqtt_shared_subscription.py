"""Two hubs sharing one MQTT 5 subscription (`$share/<group>/…`) on a real Mosquitto, which hands each message to
one of them in turn: every reading of several devices is recorded exactly once, none is lost, and each device's
readings are applied in its `seq` order — an alarm, then its clear, then the alarm again — although consecutive
readings of a device land on different hubs."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import asyncpg

from connectors.iot import alarm_payload
from hub.infra.embedded import ServiceUrls
from hub.infra.settings import Settings
from hub.keys import MQTT, POOL
from tests.conftest import running_hub
from tests.integration.test_iot_mqtt import T0, publish, publisher, register, wait_for

DEVICES = [f"SH-{i}" for i in range(4)]
READINGS = 25  # per device
RESENT = {7, 14, 21}  # these are sent twice (a device resending): still recorded once


def state_of(seq: int) -> str:
    """Every fifth reading is a recovery: applied out of order, a clear before its alarm would be ignored and an
    alarm after its clear would leave the sensor in alarm."""
    return "clear" if seq % 5 == 0 else "alarm"


async def recorded(db: asyncpg.Pool, device: str) -> list[int]:
    """The seq of every reading of the device recorded in the event store, in the order they were recorded."""
    rows = await db.fetch(
        "SELECT metadata->>'idempotency_key' AS k FROM events WHERE metadata->>'idempotency_key' LIKE $1 "
        "AND type IN ('case.received', 'case.alarm_repeated', 'case.sensor_recovered') ORDER BY position",
        f"iot:{device}:%")
    return [int(r["k"].rsplit(":", 1)[1]) for r in rows]


async def test_two_hubs_share_the_alarms_once_each_and_in_each_devices_order(
        mqtt_settings: Settings, service_urls: ServiceUrls) -> None:
    assert service_urls.mqtt_url is not None
    shared = mqtt_settings.model_copy(update={"mqtt_shared_group": f"hubs-{uuid.uuid4().hex[:8]}",
                                              "mqtt_reorder_window_s": 0.5})
    other = shared.model_copy(update={"mqtt_client_id": f"{shared.mqtt_client_id}-b"})
    async with running_hub(shared) as first, running_hub(other) as second:
        async with asyncio.timeout(10):
            await first.app[MQTT].subscribed.wait()
            await second.app[MQTT].subscribed.wait()
        token = await first.login("city_operator", "450100")
        for i, device in enumerate(DEVICES):
            await register(first.base, first.http, token, device, 108.33 + i * 0.01, 22.81)
        pool = first.app[POOL]
        async with publisher(service_urls.mqtt_url) as sender:
            for seq in range(1, READINGS + 1):
                for device in DEVICES:
                    publish(sender, device, seq, state=state_of(seq))
                    if seq in RESENT:
                        publish(sender, device, seq, state=state_of(seq))
                await asyncio.sleep(0.01)  # the publisher's acknowledgements come in (its in-flight window is 20)

            async def all_recorded() -> bool:
                counts = [len(await recorded(pool, d)) for d in DEVICES]
                return all(n >= READINGS for n in counts)

            await wait_for(all_recorded, timeout=15)
            await asyncio.sleep(0.3)  # a reading recorded twice would land now
        # Both hubs took part: Mosquitto spread the messages over the group.
        assert first.app[MQTT].received > 0 and second.app[MQTT].received > 0
        for device in DEVICES:
            assert await recorded(pool, device) == list(range(1, READINGS + 1)), device
            [case] = await pool.fetch("SELECT doc FROM cases WHERE device_id = $1", device)
            sensor = case["doc"]["sensor"]
            assert sensor["last_seq"] == READINGS, sensor
            assert sensor["state"] == ("recovered" if state_of(READINGS) == "clear" else "alarm"), sensor
        assert await pool.fetchval("SELECT count(*) FROM iot_inbox") == 0

        # The race the broker leaves open, made certain: reading 2 reaches the second hub while reading 1 is still
        # on its way to the first (a slow hub, a retransmission). The second hub waits for it: 1 is applied first.
        await register(first.base, first.http, token, "SH-LATE", 108.40, 22.80)
        topic = "cityloop/iot/SH-LATE/alarm"

        async def late_first() -> None:
            await asyncio.sleep(0.2)
            await first.app[MQTT].process(topic, alarm_payload("SH-LATE", 1, "water_level", "alarm", 0.4, 0.2, T0))

        clear = alarm_payload("SH-LATE", 2, "water_level", "clear", 0.1, 0.2, T0 + timedelta(seconds=1))
        await asyncio.gather(second.app[MQTT].process(topic, clear), late_first())
        assert await recorded(pool, "SH-LATE") == [1, 2], "the clear must follow its alarm"

        # A hub that recorded reading 3 and died before applying it (its message waits in the broker for that
        # hub's session): the leader applies it from the inbox.
        await pool.execute("INSERT INTO iot_inbox (device_id, seq, at, topic, payload) VALUES ($1, 3, $2, $3, $4)",
                           "SH-LATE", T0 + timedelta(seconds=2), topic,
                           alarm_payload("SH-LATE", 3, "water_level", "alarm", 0.5, 0.2, T0 + timedelta(seconds=2)))

        async def swept() -> bool:
            return await recorded(pool, "SH-LATE") == [1, 2, 3]

        await wait_for(swept, timeout=10)
