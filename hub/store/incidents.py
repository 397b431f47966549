"""The incident projections (`incidents`, `incident_cases`, written in the append transaction like `cases`),
their reads, and the documents kept with an incident (its review report).

An incident is a stream of `incident.*` events (dispatch.incidents). A declaration, a level change or a close
carries the folded document as an `IncidentRow`; a link (`incident.case_linked`, appended at the stream's end
by intake or on request) carries an `IncidentLink`, whose rows go to `incident_cases` and whose version moves
the incident's. The case projectors ignore both (dispatch.events.is_case_event).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from dispatch.events import JsonDict
from dispatch.incidents import INCIDENT_EVENT_PREFIX, apply_incident, new_incident
from geo.areas import code_within
from hub.infra.db import Connection
from hub.store.events import Accepted


@dataclass(frozen=True, slots=True)
class IncidentRow:
    """The incident as folded after an append: what the projection writes."""

    doc: JsonDict


@dataclass(frozen=True, slots=True)
class IncidentLink:
    """Cases linked to an incident by one append (its version is known only once it is written)."""

    incident_id: str
    case_ids: tuple[str, ...]
    how: str
    at: datetime


# area_codes is a text[] per row, and unnest cannot take an array of arrays of different lengths: each row's
# codes travel '|'-joined and are split here.
_UPSERT = """
INSERT INTO incidents (incident_id, version, state, kind, level, area_codes, declared_at, updated_at, last_position,
                       doc)
SELECT i, v, s, k, l, string_to_array(a, '|'), d, up, p, doc
FROM unnest($1::uuid[], $2::int[], $3::text[], $4::text[], $5::text[], $6::text[], $7::timestamptz[],
            $8::timestamptz[], $9::bigint[], $10::jsonb[]) AS u(i, v, s, k, l, a, d, up, p, doc)
ON CONFLICT (incident_id) DO UPDATE SET
    version = excluded.version, state = excluded.state, level = excluded.level, area_codes = excluded.area_codes,
    updated_at = excluded.updated_at, last_position = excluded.last_position, doc = excluded.doc
"""
_LINK_ROWS = """
INSERT INTO incident_cases (incident_id, case_id, how, linked_at, position)
SELECT * FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::timestamptz[], $5::bigint[])
ON CONFLICT DO NOTHING
"""
_LINK_VERSION = """
UPDATE incidents SET version = u.v, last_position = u.p, doc = doc || jsonb_build_object('version', u.v)
FROM unnest($1::uuid[], $2::int[], $3::bigint[]) AS u(i, v, p)
WHERE incidents.incident_id = u.i AND incidents.version < u.v
"""


async def project_incidents(conn: Connection, accepted: Accepted) -> None:
    """The projector's part for incidents, in the batch's order (a declaration before its first links)."""
    rows: dict[str, tuple[JsonDict, int]] = {}
    links: list[tuple[IncidentLink, int, int]] = []
    for req, res in accepted:
        if isinstance(req.projection, IncidentRow):
            rows[req.projection.doc["incident_id"]] = (req.projection.doc, res.last_position)
        elif isinstance(req.projection, IncidentLink):
            links.append((req.projection, res.version, res.last_position))
    await write_incidents(conn, list(rows.values()))
    await write_links(conn, links)


async def write_incidents(conn: Connection, rows: list[tuple[JsonDict, int]]) -> None:
    if not rows:
        return
    cols: list[list[Any]] = [[] for _ in range(10)]
    for doc, position in rows:
        values = (doc["incident_id"], doc["version"], doc["state"], doc["kind"], doc["level"],
                  "|".join(a["code"] for a in doc["areas"]), datetime.fromisoformat(doc["declared_at"]),
                  datetime.fromisoformat(doc["updated_at"]), position, doc)
        for col, value in zip(cols, values, strict=True):
            col.append(value)
    await conn.execute(_UPSERT, *cols)


async def write_links(conn: Connection, links: list[tuple[IncidentLink, int, int]]) -> None:
    if not links:
        return
    rows: list[list[Any]] = [[], [], [], [], []]
    for link, _version, position in links:
        for case_id in link.case_ids:
            for col, value in zip(rows, (link.incident_id, case_id, link.how, link.at, position), strict=True):
                col.append(value)
    await conn.execute(_LINK_ROWS, *rows)
    latest: dict[str, tuple[int, int]] = {}
    for link, version, position in links:
        if version >= latest.get(link.incident_id, (0, 0))[0]:
            latest[link.incident_id] = (version, position)
    await conn.execute(_LINK_VERSION, list(latest), [v for v, _ in latest.values()], [p for _, p in latest.values()])


def incident_visible(doc: JsonDict, scopes: frozenset[str]) -> bool:
    """An incident is seen by whoever's jurisdiction overlaps one of its areas: the city sees all, a county the
    incidents in it or over it (a city-wide flood covers every county), a township those covering it."""
    return any(code_within(area["code"], scope) or code_within(scope, area["code"])
               for area in doc.get("areas") or () for scope in scopes)


# The document as shown: its version from the column (links move it), and how many cases it holds.
_SHOWN = ("doc || jsonb_build_object('version', i.version, 'linked', "
          "(SELECT count(*) FROM incident_cases c WHERE c.incident_id = i.incident_id)) AS doc")


class IncidentReads:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def active(self) -> list[JsonDict]:
        """Every active incident (few): what intake links new cases to."""
        return [r["doc"] for r in await self._pool.fetch(
            "SELECT doc FROM incidents WHERE state = 'active' ORDER BY declared_at")]

    async def page(self, scopes: frozenset[str], states: Sequence[str], limit: int) -> list[JsonDict]:
        rows = await self._pool.fetch(
            f"SELECT {_SHOWN} FROM incidents i WHERE state = ANY($1::text[]) ORDER BY declared_at DESC LIMIT $2",
            list(states), limit)
        return [r["doc"] for r in rows if incident_visible(r["doc"], scopes)]

    async def active_in_scopes(self, conn: Connection, scopes: frozenset[str], limit: int) -> list[JsonDict]:
        """A console snapshot's incidents, read on the snapshot's `conn`."""
        rows = await conn.fetch(
            f"SELECT {_SHOWN} FROM incidents i WHERE state = 'active' ORDER BY declared_at DESC LIMIT $1", limit)
        return [r["doc"] for r in rows if incident_visible(r["doc"], scopes)]

    async def get(self, incident_id: uuid.UUID | str) -> JsonDict | None:
        doc: JsonDict | None = await self._pool.fetchval(
            f"SELECT {_SHOWN} FROM incidents i WHERE incident_id = $1", incident_id)
        return doc

    async def cases(self, incident_id: uuid.UUID | str) -> list[asyncpg.Record]:
        """The linked cases with how and when they were linked, oldest first."""
        return list(await self._pool.fetch(
            "SELECT l.case_id, l.how, l.linked_at, c.doc FROM incident_cases l JOIN cases c USING (case_id) "
            "WHERE l.incident_id = $1 ORDER BY c.created_at, l.case_id", incident_id))

    async def linked_ids(self, incident_id: uuid.UUID | str) -> set[str]:
        return {str(r["case_id"]) for r in await self._pool.fetch(
            "SELECT case_id FROM incident_cases WHERE incident_id = $1", incident_id)}

    async def events(self, incident_id: uuid.UUID | str) -> list[asyncpg.Record]:
        """The incident's own stream, in order (the timeline)."""
        return list(await self._pool.fetch(
            "SELECT position, version, type, data, metadata, recorded_at FROM events WHERE stream_id = $1 "
            "ORDER BY version", incident_id))

    # --- documents kept with the incident ---------------------------------------------------------------

    async def store_document(self, incident_id: uuid.UUID | str, name: str, media_type: str, content: bytes,
                             at: datetime) -> None:
        await self._pool.execute(
            "INSERT INTO incident_documents (incident_id, name, media_type, content, created_at) "
            "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (incident_id, name) DO UPDATE SET "
            "media_type = excluded.media_type, content = excluded.content, created_at = excluded.created_at",
            incident_id, name, media_type, content, at)

    async def document(self, incident_id: uuid.UUID | str, name: str) -> tuple[str, bytes] | None:
        row = await self._pool.fetchrow(
            "SELECT media_type, content FROM incident_documents WHERE incident_id = $1 AND name = $2",
            incident_id, name)
        return (row["media_type"], bytes(row["content"])) if row is not None else None


_INCIDENT_EVENTS = f"""
SELECT position, stream_id, version, type, data, occurred_at FROM events WHERE type LIKE '{INCIDENT_EVENT_PREFIX}%'
ORDER BY stream_id, version
"""


async def rebuild_incidents(pool: asyncpg.Pool) -> int:
    """Fold every incident stream into `incidents` and `incident_cases` again, under the events lock
    (incidents are few: one statement reads them all); return the events read."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("LOCK TABLE events IN EXCLUSIVE MODE")
        rows = await conn.fetch(_INCIDENT_EVENTS)
        docs: dict[uuid.UUID, tuple[JsonDict, int]] = {}
        links: list[tuple[IncidentLink, int, int]] = []
        for ev in rows:
            doc = docs[ev["stream_id"]][0] if ev["stream_id"] in docs else new_incident(str(ev["stream_id"]))
            docs[ev["stream_id"]] = (apply_incident(doc, ev["type"], ev["data"], ev["version"]), ev["position"])
            if ev["type"] == "incident.case_linked":
                links.append((IncidentLink(str(ev["stream_id"]), tuple(ev["data"]["case_ids"]), ev["data"]["how"],
                                           ev["occurred_at"]), ev["version"], ev["position"]))
        await conn.execute("DELETE FROM incident_cases")
        await conn.execute("DELETE FROM incidents")
        await write_incidents(conn, list(docs.values()))
        await write_links(conn, links)
    return len(rows)
