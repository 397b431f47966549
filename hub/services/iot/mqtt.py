"""The MQTT connector: subscribe to `cityloop/iot/+/alarm` at QoS 1 and acknowledge a message only after
what it says is committed.

Why gmqtt: with MQTT 5 and `optimistic_acknowledgement=False` it sends the PUBACK when the async message
handler returns, so "acknowledge after commit" is simply "return after commit". aiomqtt acknowledges on
receipt (manual acks are not released yet) and paho's manual acks need a thread bridge.

A persistent session (fixed client id, clean start off, a long session expiry) makes the broker keep and
redeliver every unacknowledged message when the hub comes back, so a hub killed between receiving and
committing loses nothing; duplicates from redelivery are recognised by device id + `seq` downstream.

Without a shared group, only one hub process subscribes at a time — the deployment's leader (hub.infra.leader),
which runs `run` while it leads and cancels it when it stops leading: each device's readings are then handled in
order, by one process, and two subscribers with the same client id never take the session from each other.
With CITYLOOP_MQTT_SHARED_GROUP every hub process subscribes to `$share/<group>/<topic>` with a client id of its
own, and hub.services.iot.order keeps each device's readings in order across them.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import gmqtt
from gmqtt.mqtt.constants import MQTTv50

from hub.infra.embedded import mqtt_target

log = logging.getLogger(__name__)

Process = Callable[[str, bytes], Awaitable[None]]


class MqttSubscriber:
    def __init__(self, url: str, client_id: str, topic: str, process: Process, session_expiry_s: int,
                 shared_group: str | None = None) -> None:
        self._target = mqtt_target(url)
        self._client_id = client_id
        self._topic = topic if shared_group is None else f"$share/{shared_group}/{topic}"
        self.process = process  # what each message goes to (public: tests hand it messages the broker reorders)
        self._session_expiry_s = session_expiry_s
        self._inflight: set[asyncio.Task[Any]] = set()
        self.connected = asyncio.Event()
        self.subscribed = asyncio.Event()  # the broker granted the subscription: from now on nothing is missed
        self.received = 0  # messages taken (redeliveries included)

    async def run(self) -> None:
        """Subscribe until cancelled (when this process stops leading, or stops)."""
        client = gmqtt.Client(self._client_id, clean_session=False, optimistic_acknowledgement=False,
                              session_expiry_interval=self._session_expiry_s)
        client.on_message = self._on_message
        client.on_connect = lambda *_args: self.connected.set()
        client.on_disconnect = lambda *_args: self._disconnected()
        client.on_subscribe = lambda *_args: self.subscribed.set()
        target = self._target
        if target.username is not None:  # the hub's own broker account (the broker refuses anonymous clients)
            client.set_auth_credentials(target.username, target.password)
        try:
            # Inside the try: `connected` is set on the CONNACK, before connect() returns, and a cancellation
            # then (this process stops leading) must still close the connection.
            await client.connect(target.host, target.port, ssl=target.tls, version=MQTTv50, keepalive=30)
            log.info("MQTT subscriber connected", extra={"client_id": self._client_id})
            client.subscribe(self._topic, qos=1)
            await asyncio.Event().wait()  # gmqtt delivers on its own; this only waits to be cancelled
        finally:
            self._disconnected()
            # Stop taking messages first, then abandon the ones in flight: unacknowledged, the broker
            # redelivers them to whichever hub holds the session next.
            for task in list(self._inflight):
                task.cancel()
            if self._inflight:
                await asyncio.wait(list(self._inflight), timeout=2.0)
            try:
                async with asyncio.timeout(2.0):
                    await client.disconnect()
            except (TimeoutError, OSError):
                log.warning("MQTT disconnect did not finish cleanly")

    def _disconnected(self) -> None:
        self.connected.clear()
        self.subscribed.clear()

    async def _on_message(self, _client: gmqtt.Client, topic: str, payload: bytes, _qos: int,
                          _properties: dict[str, Any]) -> int:
        """Returns the PUBACK reason code (0 = success) once the message is committed or quarantined.
        Until then it retries: a store outage delays the acknowledgement, it never drops the message."""
        task = asyncio.current_task()
        assert task is not None
        self.received += 1
        self._inflight.add(task)
        try:
            delay = 0.2
            while True:
                try:
                    await self.process(topic, payload)
                    return 0
                except Exception:
                    log.exception("MQTT message not processed yet; retrying", extra={"topic": topic})
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 5.0)
        finally:
            self._inflight.discard(task)

