"""The alert projection (`alerts`, written in the append transaction like `cases`) and its reads.

An alert is a stream of `alert.*` events (dispatch.warning); each append carries the folded document as an
`AlertRow` in `AppendRequest.projection`, which the case projectors ignore (dispatch.events.is_case_event).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from dispatch.events import JsonDict
from dispatch.warning import apply_alert, area_scope, new_alert
from geo.areas import code_prefix, code_within
from hub.infra.db import Connection
from hub.store.events import Accepted

ALERT_EVENT_PREFIX = "alert."


@dataclass(frozen=True, slots=True)
class AlertRow:
    """The alert as folded after an append: what the projection writes."""

    doc: JsonDict


_UPSERT = """
INSERT INTO alerts (alert_id, version, state, kind, level, area_code, county_code, category_code, cell, raised_at,
                    updated_at, last_position, doc)
SELECT * FROM unnest($1::uuid[], $2::int[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[],
                     $9::text[], $10::timestamptz[], $11::timestamptz[], $12::bigint[], $13::jsonb[])
ON CONFLICT (alert_id) DO UPDATE SET
    version = excluded.version, state = excluded.state, category_code = excluded.category_code,
    updated_at = excluded.updated_at, last_position = excluded.last_position, doc = excluded.doc
"""


async def project_alerts(conn: Connection, accepted: Accepted) -> None:
    """The projector's part for alerts: the latest document of each alert in the batch."""
    latest: dict[str, tuple[JsonDict, int]] = {}
    for req, res in accepted:
        if isinstance(req.projection, AlertRow):
            latest[req.projection.doc["alert_id"]] = (req.projection.doc, res.last_position)
    await write_alerts(conn, list(latest.values()))


async def write_alerts(conn: Connection, rows: list[tuple[JsonDict, int]]) -> None:
    """Upsert (alert document, last position) rows into `alerts`."""
    if not rows:
        return
    cols: list[list[Any]] = [[] for _ in range(13)]
    for doc, position in rows:
        values = (doc["alert_id"], doc["version"], doc["state"], doc["kind"], doc["area"]["level"],
                  doc["area"]["code"], doc.get("county_code"), (doc.get("category") or {}).get("code"),
                  doc.get("cell") or "", datetime.fromisoformat(doc["raised_at"]),
                  datetime.fromisoformat(doc["updated_at"]), position, doc)
        for col, value in zip(cols, values, strict=True):
            col.append(value)
    await conn.execute(_UPSERT, *cols)


def shown_alert(doc: JsonDict) -> JsonDict:
    """An alert as the API and the consoles show it (the detector's cell key stays inside)."""
    return {k: v for k, v in doc.items() if k != "cell"}


def alert_visible(doc: JsonDict, scopes: frozenset[str]) -> bool:
    """An alert is seen inside a scope that contains its area (a township's alert by its county too)."""
    return any(code_within(code, scope) for code in area_scope(doc) for scope in scopes)


class AlertReads:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def page(self, scopes: frozenset[str], states: list[str], limit: int) -> list[JsonDict]:
        rows = await self._pool.fetch(
            "SELECT doc FROM alerts WHERE state = ANY($1::text[]) AND (area_code LIKE ANY($2::text[]) "
            "OR county_code LIKE ANY($2::text[])) ORDER BY raised_at DESC LIMIT $3",
            states, [code_prefix(s) + "%" for s in scopes], limit)
        return [r["doc"] for r in rows if alert_visible(r["doc"], scopes)]

    async def open_in_scopes(self, conn: Connection, scopes: frozenset[str], limit: int) -> list[JsonDict]:
        """A console snapshot's alerts: open and acknowledged ones in `scopes`, read on the snapshot's `conn`."""
        rows = await conn.fetch(
            "SELECT doc FROM alerts WHERE state <> 'closed' AND (area_code LIKE ANY($1::text[]) "
            "OR county_code LIKE ANY($1::text[])) ORDER BY raised_at DESC LIMIT $2",
            [code_prefix(s) + "%" for s in scopes], limit)
        return [r["doc"] for r in rows if alert_visible(r["doc"], scopes)]

    async def get(self, alert_id: uuid.UUID | str) -> JsonDict | None:
        doc: JsonDict | None = await self._pool.fetchval("SELECT doc FROM alerts WHERE alert_id = $1", alert_id)
        return doc

    async def recent(self, since: datetime) -> list[JsonDict]:
        """The alerts changed since `since` (whatever their state): the detector's episodes after a restart."""
        return [r["doc"] for r in await self._pool.fetch(
            "SELECT doc FROM alerts WHERE updated_at > $1 ORDER BY updated_at", since)]


_ALERT_EVENTS = f"""
SELECT position, stream_id, version, type, data FROM events WHERE type LIKE '{ALERT_EVENT_PREFIX}%'
ORDER BY stream_id, version
"""


async def rebuild_alerts(pool: asyncpg.Pool) -> int:
    """Fold every alert stream into `alerts` again, under the events lock (alerts are few: one statement reads
    them all); return the events read."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("LOCK TABLE events IN EXCLUSIVE MODE")
        rows = await conn.fetch(_ALERT_EVENTS)
        docs: dict[uuid.UUID, tuple[JsonDict, int]] = {}
        for ev in rows:
            doc = docs[ev["stream_id"]][0] if ev["stream_id"] in docs else new_alert(str(ev["stream_id"]))
            docs[ev["stream_id"]] = (apply_alert(doc, ev["type"], ev["data"], ev["version"]), ev["position"])
        await conn.execute("DELETE FROM alerts")
        await write_alerts(conn, list(docs.values()))
    return len(rows)
