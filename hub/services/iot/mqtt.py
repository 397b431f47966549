"""The MQTT connector: subscribe to `cityloop/iot/+/alarm` at QoS 1 and acknowledge a message only after
what it says is committed.

Why gmqtt: with MQTT 5 and `optimistic_acknowledgement=False` it sends the PUBACK when the async message
handler returns, so "acknowledge after commit" is simply "return after commit". aiomqtt acknowledges on
receipt (manual acks are not released yet) and paho's manual acks need a thread bridge.

A persistent session (fixed client id, clean start off, a long session expiry) makes the broker keep and
redeliver every unacknowledged message when the hub comes back, so a hub killed between receiving and
committing loses nothing; duplicates from redelivery are recognised by device id + `seq` downstream.

Only one hub process subscribes at a time (a PostgreSQL advisory lock held on a dedicated connection):
each device's readings are then handled in order, by one process, and the session is not split.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import gmqtt
from gmqtt.mqtt.constants import MQTTv50

from hub.infra.embedded import mqtt_address

log = logging.getLogger(__name__)

# pg_advisory_lock key of the MQTT subscriber's leadership ("CLMQ").
LEADER_LOCK = 0x434C4D51
Process = Callable[[str, bytes], Awaitable[None]]


class MqttSubscriber:
    def __init__(self, url: str, client_id: str, topic: str, database_url: str, process: Process,
                 session_expiry_s: int, leader_check_s: float = 2.0) -> None:
        self._host, self._port = mqtt_address(url)
        self._client_id = client_id
        self._topic = topic
        self._database_url = database_url
        self._process = process
        self._leader_check_s = leader_check_s
        self._session_expiry_s = session_expiry_s
        self._inflight: set[asyncio.Task[Any]] = set()
        self.connected = asyncio.Event()

    async def run(self) -> None:
        leader = await self._become_leader()
        try:
            await self._subscribe_while_leader(leader)
        finally:
            self.connected.clear()
            await _close_quietly(leader)

    async def _become_leader(self) -> asyncpg.Connection:
        conn = await asyncpg.connect(self._database_url)
        try:
            while True:  # another hub leads: poll, so that this one takes over within seconds if it dies
                if await conn.fetchval("SELECT pg_try_advisory_lock($1)", LEADER_LOCK):
                    break
                await asyncio.sleep(self._leader_check_s)
        except BaseException:
            await _close_quietly(conn)
            raise
        log.info("MQTT subscriber: this hub is the leader", extra={"client_id": self._client_id})
        return conn

    async def _subscribe_while_leader(self, leader: asyncpg.Connection) -> None:
        client = gmqtt.Client(self._client_id, clean_session=False, optimistic_acknowledgement=False,
                              session_expiry_interval=self._session_expiry_s)
        client.on_message = self._on_message
        client.on_connect = lambda *_args: self.connected.set()
        client.on_disconnect = lambda *_args: self.connected.clear()
        await client.connect(self._host, self._port, version=MQTTv50, keepalive=30)
        try:
            client.subscribe(self._topic, qos=1)
            while True:  # leadership lives as long as the lock's connection: check it, else stop
                await asyncio.sleep(self._leader_check_s)
                async with asyncio.timeout(self._leader_check_s * 2):
                    await leader.fetchval("SELECT 1")
        finally:
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

    async def _on_message(self, _client: gmqtt.Client, topic: str, payload: bytes, _qos: int,
                          _properties: dict[str, Any]) -> int:
        """Returns the PUBACK reason code (0 = success) once the message is committed or quarantined.
        Until then it retries: a store outage delays the acknowledgement, it never drops the message."""
        task = asyncio.current_task()
        assert task is not None
        self._inflight.add(task)
        try:
            delay = 0.2
            while True:
                try:
                    await self._process(topic, payload)
                    return 0
                except Exception:
                    log.exception("MQTT message not processed yet; retrying", extra={"topic": topic})
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, 5.0)
        finally:
            self._inflight.discard(task)


async def _close_quietly(conn: asyncpg.Connection) -> None:
    try:
        async with asyncio.timeout(2.0):
            await conn.close()
    except (TimeoutError, OSError, asyncpg.PostgresError):
        conn.terminate()
