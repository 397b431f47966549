"""The quarantine keeps the first 64 KB of a payload, with the size and sha256 of the whole (issue 12, item 8):
a 3 MB garbage MQTT message through the real broker and hub. Such an item cannot be replayed; an item that
was kept whole still can."""

from __future__ import annotations

import hashlib
import os

from hub.infra.embedded import ServiceUrls
from hub.infra.settings import Settings
from hub.keys import POOL
from tests.conftest import running_hub
from tests.integration.test_iot_mqtt import device_cases, publisher, register, wait_for


async def test_a_3_mb_message_is_kept_as_its_first_64_kb_with_size_and_sha256(
        mqtt_settings: Settings, service_urls: ServiceUrls) -> None:
    assert service_urls.mqtt_url is not None
    garbage = os.urandom(3 * 1024 * 1024)
    async with running_hub(mqtt_settings) as hub:
        pool = hub.app[POOL]
        token = await hub.login("city_operator", "450100")
        auth = {"Authorization": f"Bearer {token}"}
        async with publisher(service_urls.mqtt_url) as device:
            device.publish("cityloop/iot/GARBAGE-1/alarm", garbage, qos=1)
            device.publish("cityloop/iot/SMALL-1/alarm",
                           b'{"device_id": "SMALL-1", "seq": 1, "kind": "gas", "state": "alarm", "value": 30, '
                           b'"threshold": 20, "at": "2026-11-22T09:00:00+00:00"}', qos=1)

            async def both_held() -> bool:
                held: int = await pool.fetchval("SELECT count(*) FROM quarantine WHERE channel = 'mqtt'")
                return held == 2

            await wait_for(both_held)

        row = await pool.fetchrow("SELECT octet_length(payload) AS kept, payload, payload_size, payload_sha256 "
                                  "FROM quarantine WHERE meta->>'topic' = 'cityloop/iot/GARBAGE-1/alarm'")
        assert row is not None
        assert row["kept"] == 65_536 and row["payload"] == garbage[:65_536]
        assert row["payload_size"] == len(garbage) == 3_145_728
        assert row["payload_sha256"] == hashlib.sha256(garbage).hexdigest()

        async with hub.http.get(f"{hub.base}/api/v1/quarantine?channel=mqtt", headers=auth) as resp:
            items = {item["meta"]["topic"].split("/")[2]: item for item in (await resp.json())["items"]}
        big, small = items["GARBAGE-1"], items["SMALL-1"]
        assert (big["payload_size"], big["payload_sha256"], big["payload_truncated"]) == \
            (len(garbage), hashlib.sha256(garbage).hexdigest(), True)
        assert (small["payload_size"], small["payload_truncated"]) == (len(small["payload"]), False)

        reason = big["reason"]
        async with hub.http.post(f"{hub.base}/api/v1/quarantine/{big['id']}/replay", headers=auth) as resp:
            assert resp.status == 422
            assert "cannot be replayed faithfully" in (await resp.json())["error"]["message"]
        assert await pool.fetchval("SELECT reason FROM quarantine WHERE id = $1", big["id"]) == reason, \
            "the reason it was held for is kept"

        await register(hub.base, hub.http, token, "SMALL-1", 108.33, 22.81, kind="gas")
        async with hub.http.post(f"{hub.base}/api/v1/quarantine/{small['id']}/replay", headers=auth) as resp:
            assert resp.status == 200, await resp.text()
        assert len(await device_cases(pool, "SMALL-1")) == 1
