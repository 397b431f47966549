"""The compose stack's broker configuration (deploy/mosquitto/mosquitto.conf), run by a real Mosquitto with a
password file written the way docker-compose.yml writes it: anonymous clients and a wrong password are
refused, and the hub's subscriber logs in with the account in MQTT_URL (`mqtt://user:password@host:port`)."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import uuid
from collections.abc import Iterator

import pytest

from hub.infra.embedded import mqtt_target
from hub.services.iot.broker import broker_files, write_broker_files
from hub.services.iot.mqtt import MqttSubscriber
from tests.brokers import auth_folder, committed_mosquitto

HUB_USER, HUB_PASSWORD = "cityloop-hub", "s3cret-with:colon@and/slash"


@pytest.fixture
def broker() -> Iterator[int]:
    """The committed configuration, with the password file written the way docker-compose.yml writes it before
    any device is registered (the hub's account alone), and the ACL the registry gives the hub."""
    passwd = shutil.which("mosquitto_passwd") or "/usr/bin/mosquitto_passwd"
    auth = auth_folder()
    subprocess.run([passwd, "-b", "-c", str(auth / "passwd"), HUB_USER, HUB_PASSWORD], check=True,
                   capture_output=True, timeout=30)
    write_broker_files(auth, (auth / "passwd").read_text(encoding="utf-8"), broker_files((HUB_USER, None), [])[1])
    try:
        with committed_mosquitto(auth) as (port, _proc):
            yield port
    finally:
        shutil.rmtree(auth, ignore_errors=True)


def connects(port: int, *login: str) -> bool:
    """Whether Mosquitto's own client (mosquitto-clients) is let in with this login (-u USER -P PASSWORD)."""
    pub = shutil.which("mosquitto_pub") or "/usr/bin/mosquitto_pub"
    done = subprocess.run([pub, "-h", "127.0.0.1", "-p", str(port), *login, "-t", "cityloop/iot/fake/alarm",
                           "-m", "{}", "-q", "1"], capture_output=True, text=True, timeout=30)
    assert done.returncode == 0 or "not authori" in done.stderr.lower(), done.stderr  # refused, not broken
    return done.returncode == 0


def test_the_broker_refuses_anonymous_clients_and_wrong_passwords(broker: int) -> None:
    assert not connects(broker)
    assert not connects(broker, "-u", HUB_USER, "-P", "wrong")
    assert connects(broker, "-u", HUB_USER, "-P", HUB_PASSWORD)


async def test_the_hubs_subscriber_logs_in_with_the_account_in_mqtt_url(broker: int) -> None:
    async def ignore(_topic: str, _payload: bytes) -> None:
        return None

    # Percent-encoded in the URL, as the operator must write a password with ':', '@' or '/'.
    url = f"mqtt://{HUB_USER}:s3cret-with%3Acolon%40and%2Fslash@127.0.0.1:{broker}"
    assert mqtt_target(url).password == HUB_PASSWORD
    subscriber = MqttSubscriber(url, f"cityloop-test-{uuid.uuid4().hex[:8]}", "cityloop/iot/+/alarm", ignore, 0)
    task = asyncio.create_task(subscriber.run())
    try:
        async with asyncio.timeout(10):
            await subscriber.connected.wait()
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


def test_mqtt_url_forms() -> None:
    assert mqtt_target("mqtts://hub:pw@broker.example") == mqtt_target("mqtts://hub:pw@broker.example:8883")
    assert mqtt_target("mqtts://hub:pw@broker.example").tls
    plain = mqtt_target("mqtt://mosquitto")
    assert (plain.port, plain.username, plain.tls) == (1883, None, False)
    with pytest.raises(ValueError, match="MQTT_URL") as refused:
        mqtt_target("http://hub:hunter2@mosquitto:1883")
    assert "hunter2" not in str(refused.value), "the message must not repeat the password"
