"""Quarantine: input nobody could be answered about (a malformed MQTT payload, an unknown device, a
callback receiver that keeps refusing), kept with the reason, listed for operators, replayable after a fix.

Every channel keeps going past a bad message: the message is parked here (committed before the channel
acknowledges it) and the next one is processed. Only the first 64 KB of a payload are kept, with the size
and the sha256 of the whole: a flood of huge garbage must not fill the database, and 64 KB is plenty to see
what went wrong. A truncated item cannot be replayed (its channel would see a different message).
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg

from hub.infra.db import Connection

log = logging.getLogger(__name__)

# A channel's replayer runs a held item again: it returns what happened (kept as the resolution) or raises
# ReplayFailed with the new reason, and the item stays held.
Replayer = Callable[[asyncpg.Record], Awaitable[dict[str, Any]]]


class ReplayFailed(Exception):
    pass


class QuarantineItemNotFound(Exception):
    pass


_COLUMNS = ("id, channel, reason, payload, payload_size, payload_sha256, meta, state, attempts, received_at, "
            "resolved_at, resolution")
PAYLOAD_KEPT_BYTES = 64 * 1024


def truncated(row: asyncpg.Record) -> bool:
    return bool(row["payload_size"] > len(row["payload"]))


def item_json(row: asyncpg.Record) -> dict[str, Any]:
    payload: bytes = row["payload"]
    try:
        text, encoding = payload.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        text, encoding = payload.hex(), "hex"
    return {"id": row["id"], "channel": row["channel"], "reason": row["reason"], "payload": text,
            "payload_encoding": encoding, "payload_size": row["payload_size"],
            "payload_sha256": row["payload_sha256"], "payload_truncated": truncated(row),
            "meta": row["meta"], "state": row["state"], "attempts": row["attempts"],
            "received_at": row["received_at"].isoformat(),
            "resolved_at": row["resolved_at"].isoformat() if row["resolved_at"] else None,
            "resolution": row["resolution"]}


class Quarantine:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool
        self._replayers: dict[str, Replayer] = {}

    def register(self, channel: str, replayer: Replayer) -> None:
        self._replayers[channel] = replayer

    async def hold(self, channel: str, reason: str, payload: bytes, meta: dict[str, Any] | None = None,
                   conn: Connection | None = None) -> int:
        """Park an item; `conn` to do it inside the caller's transaction."""
        item_id: int = await (conn or self._pool).fetchval(
            "INSERT INTO quarantine (channel, reason, payload, payload_size, payload_sha256, meta) "
            "VALUES ($1, $2, $3, $4, $5, $6) RETURNING id",
            channel, reason[:2000], payload[:PAYLOAD_KEPT_BYTES], len(payload), hashlib.sha256(payload).hexdigest(),
            meta or {})
        log.warning("quarantined", extra={"channel": channel, "reason": reason, "quarantine_id": item_id,
                                          "payload_size": len(payload)})
        return item_id

    async def list(self, channel: str | None, state: str | None, after_id: int, limit: int) -> list[dict[str, Any]]:
        rows = await self._pool.fetch(
            f"SELECT {_COLUMNS} FROM quarantine WHERE ($1::text IS NULL OR channel = $1) "
            "AND ($2::text IS NULL OR state = $2) AND id > $3 ORDER BY id LIMIT $4",
            channel, state, after_id, limit)
        return [item_json(r) for r in rows]

    async def get(self, item_id: int) -> asyncpg.Record | None:
        row: asyncpg.Record | None = await self._pool.fetchrow(
            f"SELECT {_COLUMNS} FROM quarantine WHERE id = $1", item_id)
        return row

    async def replay(self, item_id: int) -> dict[str, Any]:
        """Run a held item through its channel again. Raises ReplayFailed (item stays held, reason updated)."""
        row = await self.get(item_id)
        if row is None:
            raise QuarantineItemNotFound(item_id)
        if row["state"] != "held":
            raise ReplayFailed(f"item {item_id} is {row['state']}, not held")
        if truncated(row):  # refused before the replayer runs: the reason it was held stays as it was
            raise ReplayFailed(f"item {item_id} kept only the first {len(row['payload']):,} of its "
                               f"{row['payload_size']:,} bytes, so it cannot be replayed faithfully; discard it and "
                               "have the sender send it again")
        replayer = self._replayers.get(row["channel"])
        if replayer is None:
            raise ReplayFailed(f"no replayer for channel {row['channel']!r} in this hub")
        try:
            resolution = await replayer(row)
        except ReplayFailed as exc:
            await self._pool.execute("UPDATE quarantine SET attempts = attempts + 1, reason = $2 WHERE id = $1",
                                     item_id, str(exc)[:2000])
            raise
        await self.settle(item_id, "replayed", resolution)
        return resolution

    async def settle(self, item_id: int, state: str, resolution: dict[str, Any]) -> None:
        await self._pool.execute(
            "UPDATE quarantine SET state = $2, attempts = attempts + 1, resolved_at = now(), resolution = $3 "
            "WHERE id = $1 AND state = 'held'", item_id, state, resolution)
