"""The directive projection (`directives` + `directive_recipients`, written in the append transaction like
`alerts`) and its reads.

A directive is a stream of `directive.*` events (dispatch.directives); each append carries the folded document
as a `DirectiveRow` in `AppendRequest.projection`, which the case projectors ignore (dispatch.events.is_case_event).

Who sees a directive (one rule for the API, the lists and the console feed):
- the staff of a unit (a township handler: `list_view` names their unit) see the directives addressed to it;
- everyone else sees those that concern their jurisdiction: issued there, or addressed to a unit there (the
  city sees every one; a county its own and the city's to its units; a grid worker none, as no unit is a grid).
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import asyncpg

from dispatch.directives import (
    DIRECTIVE_EVENT_PREFIX,
    DirectivePolicy,
    apply_directive,
    new_directive,
    next_due_at,
    recipient_units,
    scope_of,
)
from dispatch.events import JsonDict
from geo.areas import code_prefix, code_within
from hub.identity.access import UNIT_VIEW_PREFIX, Principal, list_view
from hub.infra.db import Connection
from hub.store.events import Accepted

NextDue = Callable[[JsonDict], datetime | None]


@dataclass(frozen=True, slots=True)
class DirectiveRow:
    """The directive as folded after an append: what the projection writes."""

    doc: JsonDict


_UPSERT = """
INSERT INTO directives (directive_id, version, state, issuer_area, incident_id, issued_at, due, next_due_at,
                        last_position, doc)
SELECT * FROM unnest($1::uuid[], $2::int[], $3::text[], $4::text[], $5::text[], $6::timestamptz[],
                     $7::timestamptz[], $8::timestamptz[], $9::bigint[], $10::jsonb[])
ON CONFLICT (directive_id) DO UPDATE SET
    version = excluded.version, state = excluded.state, next_due_at = excluded.next_due_at,
    last_position = excluded.last_position, doc = excluded.doc
"""
_RECIPIENTS = """
INSERT INTO directive_recipients (directive_id, unit_code, area_code, state)
SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[])
ON CONFLICT (directive_id, unit_code) DO UPDATE SET state = excluded.state
"""


class DirectiveProjection:
    """The projector's part for directives: the latest document of each directive in the batch."""

    def __init__(self, policy: DirectivePolicy) -> None:
        self._policy = policy

    def next_due(self, doc: JsonDict) -> datetime | None:
        return next_due_at(doc, self._policy)

    async def __call__(self, conn: Connection, accepted: Accepted) -> None:
        latest: dict[str, tuple[JsonDict, int]] = {}
        for req, res in accepted:
            if isinstance(req.projection, DirectiveRow):
                latest[req.projection.doc["directive_id"]] = (req.projection.doc, res.last_position)
        await write_directives(conn, list(latest.values()), self.next_due)

    async def rebuild(self, pool: asyncpg.Pool) -> int:
        return await rebuild_directives(pool, self.next_due)


async def write_directives(conn: Connection, rows: list[tuple[JsonDict, int]], next_due: NextDue) -> None:
    """Upsert (directive document, last position) rows into `directives` and their recipients."""
    if not rows:
        return
    cols: list[list[Any]] = [[] for _ in range(10)]
    recipients: list[list[Any]] = [[] for _ in range(4)]
    for doc, position in rows:
        values = (doc["directive_id"], doc["version"], doc["state"], doc["issuer_area"], doc.get("incident_id"),
                  datetime.fromisoformat(doc["issued_at"]), datetime.fromisoformat(doc["due"]), next_due(doc),
                  position, doc)
        for col, value in zip(cols, values, strict=True):
            col.append(value)
        for r in doc["recipients"]:
            for col, value in zip(recipients, (doc["directive_id"], r["unit"]["code"], r["area"], r["state"]),
                                  strict=True):
                col.append(value)
    await conn.execute(_UPSERT, *cols)
    await conn.execute(_RECIPIENTS, *recipients)


def directive_visible(doc: JsonDict, view: str, scopes: frozenset[str]) -> bool:
    """The rule of the module docstring for a subscription or caller: `view` (hub.identity.access.list_view) and
    the areas it watches."""
    if view.startswith(UNIT_VIEW_PREFIX):
        return view[len(UNIT_VIEW_PREFIX):] in recipient_units(doc)
    return any(code_within(code, scope) for code in scope_of(doc) for scope in scopes)


def visible_to(principal: Principal, doc: JsonDict) -> bool:
    if not principal.area:
        return False
    return directive_visible(doc, list_view(principal), frozenset({principal.area}))


_LIST = """
SELECT d.doc FROM directives d
WHERE ($1::text IS NULL OR EXISTS (SELECT 1 FROM directive_recipients r
                                   WHERE r.directive_id = d.directive_id AND r.unit_code = $1))
  AND ($2::text[] IS NULL OR d.issuer_area LIKE ANY($2::text[])
       OR EXISTS (SELECT 1 FROM directive_recipients r WHERE r.directive_id = d.directive_id
                  AND r.area_code LIKE ANY($2::text[])))
  AND ($3::text[] IS NULL OR d.state = ANY($3::text[]))
  AND ($4::text IS NULL OR d.incident_id = $4)
  AND ($5::boolean IS NULL OR d.state <> 'completed' OR d.due > now())
ORDER BY d.issued_at DESC, d.directive_id LIMIT $6
"""


class DirectiveReads:
    def __init__(self, pool: asyncpg.Pool) -> None:
        self._pool = pool

    async def page(self, view: str, scopes: frozenset[str], *, states: list[str] | None = None,
                   incident: str | None = None, limit: int = 100, current: bool = False,
                   conn: Connection | None = None) -> list[JsonDict]:
        """The directives a caller (or subscription) sees, newest first; `current`: those not completed, or
        completed but still within their time limit (a console snapshot's)."""
        unit = view[len(UNIT_VIEW_PREFIX):] if view.startswith(UNIT_VIEW_PREFIX) else None
        prefixes = None if unit else [code_prefix(s) + "%" for s in scopes]
        rows = await (conn or self._pool).fetch(_LIST, unit, prefixes, states, incident, True if current else None,
                                                limit)
        return [r["doc"] for r in rows if directive_visible(r["doc"], view, scopes)]

    async def get(self, directive_id: uuid.UUID | str) -> JsonDict | None:
        doc: JsonDict | None = await self._pool.fetchval(
            "SELECT doc FROM directives WHERE directive_id = $1", directive_id)
        return doc

    async def due(self, now: datetime, limit: int) -> list[JsonDict]:
        """Directives whose next reminder or deadline has come (the timer's sweep)."""
        return [r["doc"] for r in await self._pool.fetch(
            "SELECT doc FROM directives WHERE next_due_at <= $1 ORDER BY next_due_at LIMIT $2", now, limit)]


_DIRECTIVE_EVENTS = f"""
SELECT position, stream_id, version, type, data FROM events WHERE type LIKE '{DIRECTIVE_EVENT_PREFIX}%'
ORDER BY stream_id, version
"""


async def rebuild_directives(pool: asyncpg.Pool, next_due: NextDue) -> int:
    """Fold every directive stream into `directives` again, under the events lock; return the events read."""
    async with pool.acquire() as conn, conn.transaction():
        await conn.execute("LOCK TABLE events IN EXCLUSIVE MODE")
        rows = await conn.fetch(_DIRECTIVE_EVENTS)
        docs: dict[uuid.UUID, tuple[JsonDict, int]] = {}
        for ev in rows:
            doc = docs[ev["stream_id"]][0] if ev["stream_id"] in docs else new_directive(str(ev["stream_id"]))
            docs[ev["stream_id"]] = (apply_directive(doc, ev["type"], ev["data"], ev["version"]), ev["position"])
        await conn.execute("DELETE FROM directives")
        await write_directives(conn, list(docs.values()), next_due)
    return len(rows)
