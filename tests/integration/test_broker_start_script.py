"""docker-compose.yml's broker start (deploy/mosquitto/start.sh), run here with a real Mosquitto and the
committed configuration: before any device is registered the broker knows the hub's account alone (from the
environment, as .env gives it); once `cityloop devices` writes the registry's files into the shared folder the
script installs them and reloads the broker, and the hub's account survives the switch."""

from __future__ import annotations

import shutil
import time

from connectors.iot import alarm_topic
from hub.services.iot.broker import broker_files, mosquitto_hash, write_broker_files
from tests.brokers import auth_folder, committed_mosquitto, publish

HUB = {"MQTT_HUB_USERNAME": "cityloop-hub", "MQTT_HUB_PASSWORD": "hub-password-from-env"}


def test_the_start_script_installs_the_registrys_accounts_and_reloads_the_broker() -> None:
    registry, auth = auth_folder(), auth_folder()
    hub_login = ("-u", HUB["MQTT_HUB_USERNAME"], "-P", HUB["MQTT_HUB_PASSWORD"])
    device, password = "GAS-0001", "device-password-0001"
    try:
        with committed_mosquitto(auth, {**HUB, "MQTT_ACCOUNTS_DIR": str(registry), "MQTT_RELOAD_CHECK_S": "0.1"}
                                 ) as (port, _broker):
            # The hub connects (its publish is refused by the ACL: it may only read); no device is known yet.
            assert "publish 1 failed: not authorized" in publish(port, alarm_topic(device), *hub_login).lower()
            login = ("-u", device, "-P", password)
            assert "connection error: not authori" in publish(port, alarm_topic(device), *login).lower()
            # What `cityloop devices add` writes (the hub's line is the script's to add, from .env).
            write_broker_files(registry, *broker_files((HUB["MQTT_HUB_USERNAME"], None),
                                                       [(device, mosquitto_hash(password))]))
            deadline = time.monotonic() + 10
            while publish(port, alarm_topic(device), *login):
                assert time.monotonic() < deadline, "the registry's accounts were never installed"
                time.sleep(0.1)
            assert "publish 1 failed: not authorized" in publish(port, alarm_topic(device), *hub_login).lower()
    finally:
        shutil.rmtree(registry, ignore_errors=True)
        shutil.rmtree(auth, ignore_errors=True)
