"""The IoT device registry: each device's kind, location (WGS84) and owning unit."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Any

import asyncpg

from connectors.iot import DeviceRegistration, alarm_topic
from geo.crs import to_wgs84
from hub.infra.db import Connection
from hub.infra.embedded import mqtt_target
from hub.services.iot.broker import (
    broker_files,
    check_username,
    mosquitto_hash,
    new_password,
    write_broker_files,
)

log = logging.getLogger(__name__)

_COLUMNS = ("device_id, kind, name, lng, lat, crs, owner_unit, created_at, updated_at, "
            "mqtt_password_hash IS NOT NULL AS mqtt_account, credentials_issued_at")


def device_json(row: asyncpg.Record) -> dict[str, Any]:
    """A device as the API shows it: whether it has an MQTT account and since when, never the hash."""
    issued = row["credentials_issued_at"]
    return {"device_id": row["device_id"], "kind": row["kind"], "name": row["name"],
            "location": {"lng": row["lng"], "lat": row["lat"], "crs": "wgs84"}, "registered_crs": row["crs"],
            "owner_unit": row["owner_unit"], "created_at": row["created_at"].isoformat(),
            "updated_at": row["updated_at"].isoformat(), "mqtt_account": row["mqtt_account"],
            "credentials_issued_at": issued.isoformat() if issued is not None else None}


def mqtt_credentials(device_id: str, password: str) -> dict[str, str]:
    """What a device's installer needs, shown once: the broker keeps only the password's hash."""
    return {"username": device_id, "password": password, "topic": alarm_topic(device_id)}


async def register_device(conn: asyncpg.Pool | Connection, reg: DeviceRegistration) -> dict[str, Any]:
    """Add a device or update it (re-registration moves it); the location is stored in WGS84."""
    lng, lat = to_wgs84(reg.location.lng, reg.location.lat, reg.location.crs)
    row = await conn.fetchrow(
        f"INSERT INTO devices (device_id, kind, name, lng, lat, crs, owner_unit) VALUES ($1, $2, $3, $4, $5, $6, $7) "
        "ON CONFLICT (device_id) DO UPDATE SET kind = excluded.kind, name = excluded.name, lng = excluded.lng, "
        "lat = excluded.lat, crs = excluded.crs, owner_unit = excluded.owner_unit, updated_at = now() "
        f"RETURNING {_COLUMNS}",
        reg.device_id, reg.kind, reg.name, lng, lat, reg.location.crs.value, reg.owner_unit)
    assert row is not None
    return device_json(row)


class DeviceRegistry:
    """Reads with a short per-process cache: an alarm storm must not become a storm of lookups. A device
    registered in another process is seen at once (misses are not cached); a move within `ttl_s`."""

    def __init__(self, pool: asyncpg.Pool, ttl_s: float = 30.0) -> None:
        self._pool = pool
        self._ttl_s = ttl_s
        self._cache: dict[str, tuple[float, dict[str, Any]]] = {}

    async def get(self, device_id: str) -> dict[str, Any] | None:
        hit = self._cache.get(device_id)
        if hit is not None and time.monotonic() - hit[0] < self._ttl_s:
            return hit[1]
        row = await self._pool.fetchrow(f"SELECT {_COLUMNS} FROM devices WHERE device_id = $1", device_id)
        if row is None:
            return None
        device = device_json(row)
        if len(self._cache) > 100_000:
            self._cache.clear()
        self._cache[device_id] = (time.monotonic(), device)
        return device

    async def add(self, reg: DeviceRegistration) -> dict[str, Any]:
        device = await register_device(self._pool, reg)
        self._cache.pop(reg.device_id, None)
        return device

    async def issue_credentials(self, device_id: str, *, only_if_none: bool = False) -> str | None:
        """issue_credentials() below, forgetting the cached copy (it says whether the device has an account)."""
        password = await issue_credentials(self._pool, device_id, only_if_none=only_if_none)
        self._cache.pop(device_id, None)
        return password

    async def write_broker_config(self, mqtt_url: str | None, folder: Path) -> str:
        return await write_broker_config(self._pool, mqtt_url, folder)

    async def list(self, kind: str | None, after: str, limit: int) -> list[dict[str, Any]]:
        rows = await self._pool.fetch(
            f"SELECT {_COLUMNS} FROM devices WHERE ($1::text IS NULL OR kind = $1) AND device_id > $2 "
            "ORDER BY device_id LIMIT $3", kind, after, limit)
        return [device_json(r) for r in rows]


async def issue_credentials(conn: asyncpg.Pool | Connection, device_id: str, *,
                            only_if_none: bool = False) -> str | None:
    """A new MQTT password for a registered device, returned in plain this once; only its hash is stored
    (hub.services.iot.broker). The old password works until the broker's files are rewritten and reloaded.
    `only_if_none`: None (and nothing changed) when the device already has credentials."""
    check_username(device_id)  # a device id with ':' cannot log in to Mosquitto
    password = new_password()
    issued = await conn.fetchval(
        "UPDATE devices SET mqtt_password_hash = $2, credentials_issued_at = now() "
        "WHERE device_id = $1 AND (NOT $3 OR mqtt_password_hash IS NULL) RETURNING device_id",
        device_id, mosquitto_hash(password), only_if_none)
    if issued is None and not only_if_none:
        raise ValueError(f"no device {device_id!r} in the registry (`cityloop devices add` registers it)")
    return password if issued is not None else None


async def device_accounts(conn: asyncpg.Pool | Connection) -> list[tuple[str, str]]:
    """(device id, password hash) of every device with credentials, for the broker's files."""
    rows = await conn.fetch("SELECT device_id, mqtt_password_hash FROM devices "
                            "WHERE mqtt_password_hash IS NOT NULL ORDER BY device_id")
    return [(r["device_id"], r["mqtt_password_hash"]) for r in rows]


async def write_broker_config(conn: asyncpg.Pool | Connection, mqtt_url: str | None, folder: Path) -> str:
    """Mosquitto's password and ACL files for the registry's devices and the hub's own account (the user of
    MQTT_URL), written into `folder` (hub.services.iot.broker); says what was written. The registry is the
    only copy of who may publish: the broker's files are always derived from it, never edited."""
    hub = None
    if mqtt_url is not None:
        target = mqtt_target(mqtt_url)
        if target.username is not None:
            hub = (target.username, None if target.password is None else mosquitto_hash(target.password))
    if hub is None:
        log.warning("MQTT_URL names no account: the broker's files grant the hub nothing")
    accounts = await device_accounts(conn)
    # A device registered (over the API) under the hub's username gets no account: it would take the hub's.
    clash = [device for device, _ in accounts if hub is not None and device == hub[0]]
    if clash:
        log.error("device %s has the hub's MQTT username: it gets no broker account until renamed", clash[0])
    accounts = [account for account in accounts if account[0] not in clash]
    passwd, acl = broker_files(hub, accounts)
    write_broker_files(folder, passwd, acl)
    return (f"{folder}/passwd and {folder}/acl written: {len(accounts)} device account(s)"
            f"{' and the hub' if hub else ''}; the broker reads them when it reloads (SIGHUP)")
