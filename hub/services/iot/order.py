"""Readings from a shared MQTT subscription (`$share/<group>/…`, CITYLOOP_MQTT_SHARED_GROUP): every hub
subscribes, the broker gives each message to one of them (Mosquitto: round robin), and each device's readings
must still be applied once and in the device's order.

How: a hub records each reading it receives in `iot_inbox` (one row per device + seq), then applies the device's
recorded readings in `seq` order while holding the device's PostgreSQL advisory lock — whichever hub's readings
they are (dispatch.sensors.in_order says which may go now: the next in order, else after the reorder window).
It acknowledges its MQTT message once its row has been applied, by itself or by another hub; a hub that dies
before then leaves its messages unacknowledged, and the broker delivers them again. "Once" is the event store's:
each reading is recorded under its idempotency key (device + seq), so one applied twice records nothing new.
"""

from __future__ import annotations

import asyncio

import asyncpg

from connectors.iot import BadMessage, parse_alarm
from dispatch.sensors import DeviceOrder, in_order
from hub.infra.db import Connection
from hub.services.iot.readings import DeviceLocks, IotService

# The advisory lock space of devices (the two-key form, which never meets the one-key locks of leadership and
# boundaries): ('IOT\0', hashtext(device_id)). Two devices whose names hash alike only wait for each other.
_DEVICE_LOCK_CLASS = 0x494F5400


class SharedReadings:
    def __init__(self, pool: asyncpg.Pool, iot: IotService, *, window_s: float, poll_s: float = 0.05,
                 parallel: int = 4) -> None:
        self._pool = pool
        self._iot = iot
        self._window_s = window_s
        self._poll_s = poll_s
        # A device's turn holds a pooled connection (its lock) while the reading's own reads and commit take
        # others: bound the turns so that they can never hold the whole pool and wait for it.
        self._turns = asyncio.Semaphore(parallel)
        self._lock = DeviceLocks()

    async def take(self, topic: str, payload: bytes) -> None:
        """One MQTT message: returns once it is applied (the caller then acknowledges it); raises when the store
        cannot be reached (the message is then not acknowledged, and the caller retries)."""
        try:
            message = parse_alarm(topic, payload)
        except BadMessage:
            await self._iot.take(topic, payload)  # quarantined there, with its reason: no order to keep
            return
        device, seq = message.device_id, message.seq
        await self._pool.execute(
            "INSERT INTO iot_inbox (device_id, seq, at, topic, payload) VALUES ($1, $2, $3, $4, $5) "
            "ON CONFLICT (device_id, seq) DO NOTHING", device, seq, message.at, topic, payload)
        async with self._lock(device):  # this process's readings of the device take turns; the lock orders them
            while await self._pending(device, seq):
                async with self._turns:
                    await self._apply_ready(device)
                if not await self._pending(device, seq):
                    return
                await asyncio.sleep(self._poll_s)  # an earlier reading is still on its way to another hub

    async def run_sweep(self) -> None:
        """The leader's loop: apply readings left in the inbox by a hub that recorded them and then died. The
        broker keeps such a hub's unacknowledged messages for its session until it comes back (or the session
        expires); the row makes the reading durable meanwhile, and this applies it — as the device's next
        reading at any hub would — so that it does not wait for that hub."""
        every = max(3 * self._window_s, 1.0)  # older than this, its hub is not at it any more
        while True:
            await asyncio.sleep(every)
            devices = await self._pool.fetch(
                "SELECT DISTINCT device_id FROM iot_inbox "
                "WHERE received_at < clock_timestamp() - make_interval(secs => $1) LIMIT 1000", every)
            for row in devices:
                async with self._lock(row["device_id"]), self._turns:
                    await self._apply_ready(row["device_id"])

    async def _pending(self, device: str, seq: int) -> bool:
        return bool(await self._pool.fetchval(
            "SELECT EXISTS (SELECT 1 FROM iot_inbox WHERE device_id = $1 AND seq = $2)", device, seq))

    async def _apply_ready(self, device: str) -> None:
        """Apply the device's recorded readings that may go now, in order, under the device's lock."""
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute("SELECT pg_advisory_xact_lock($1, hashtext($2))", _DEVICE_LOCK_CLASS, device)
            row = await conn.fetchrow("SELECT last_seq, last_at FROM iot_device_order WHERE device_id = $1", device)
            order = DeviceOrder(row["last_seq"], row["last_at"]) if row else None
            start = order
            waiting = await conn.fetch(
                "SELECT seq, at, topic, payload, "
                "received_at <= clock_timestamp() - make_interval(secs => $2) AS waited "
                "FROM iot_inbox WHERE device_id = $1 ORDER BY seq", device, self._window_s)
            for item in waiting:
                after = in_order(order, item["seq"], item["at"], item["waited"])
                if after is None:
                    break  # every later one waits too: they are in seq order
                # Committed by the group committer, outside this transaction: if this one is lost, the row stays
                # and is applied again, which the idempotency key makes a no-op.
                await self._iot.take(item["topic"], bytes(item["payload"]))
                await conn.execute("DELETE FROM iot_inbox WHERE device_id = $1 AND seq = $2", device, item["seq"])
                order = after
            if order is not None and order != start:
                await _save(conn, device, order)


async def _save(conn: Connection, device: str, order: DeviceOrder) -> None:
    await conn.execute(
        "INSERT INTO iot_device_order (device_id, last_seq, last_at) VALUES ($1, $2, $3) ON CONFLICT (device_id) "
        "DO UPDATE SET last_seq = excluded.last_seq, last_at = excluded.last_at", device, order.last_seq,
        order.last_at)
