"""The event store: append with expected version, idempotency keys, gap-free reading in commit order.

Why appends take a table lock: positions come from an identity column, and concurrent transactions
could commit out of position order — a reader that has seen position 6 would then never see 5.
`LOCK TABLE events IN EXCLUSIVE MODE` serialises writers (readers are not blocked), so positions are
handed out in commit order and "everything after my last position" never skips an event. Group commit
(see `committer.py`) makes the lock cheap: one transaction carries hundreds of appends.

Because every writer holds the lock, version and idempotency checks are plain reads inside the
transaction: one item's conflict or duplicate is answered on its own and never aborts its batch.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from uuid import UUID

import asyncpg

from dispatch.events import DomainEvent, JsonDict
from hub.infra.db import Connection


class StoreError(Exception):
    """Base of the errors the store reports per append."""


class VersionConflict(StoreError):
    def __init__(self, stream_id: UUID, expected: int, actual: int) -> None:
        super().__init__(f"stream {stream_id}: expected version {expected}, found {actual}")
        self.stream_id = stream_id
        self.expected = expected
        self.actual = actual


class StoreOverloaded(StoreError):
    """More work than the hub takes (the append queue or the intake admission is full, or it is behind): the
    caller answers 503 `overloaded` and the client retries."""


class StoreUnavailable(StoreError):
    """PostgreSQL could not be reached or did not answer in time: the caller answers 503 `store_unavailable`.
    Nothing was written, or (a commit that did not answer) the outcome is unknown: a retry with the same
    idempotency key is safe either way."""


@dataclass(frozen=True, slots=True)
class AppendRequest:
    stream_id: UUID
    # The stream's version the decision was based on: 0 for a new stream; None appends at the end.
    expected_version: int | None
    events: Sequence[DomainEvent]
    occurred_at: datetime
    metadata: JsonDict = field(default_factory=dict)
    idempotency_key: str | None = None
    # Opaque to the store: handed to the projector together with the result, in the same transaction.
    projection: Any = None

    def __post_init__(self) -> None:
        if not self.events:
            raise ValueError("an append needs at least one event")


@dataclass(frozen=True, slots=True)
class AppendResult:
    stream_id: UUID
    first_position: int
    last_position: int
    version: int
    duplicate: bool = False


@dataclass(frozen=True, slots=True)
class RecordedEvent:
    position: int
    stream_id: UUID
    version: int
    type: str
    data: JsonDict
    metadata: JsonDict
    occurred_at: datetime
    recorded_at: datetime


Accepted = list[tuple[AppendRequest, AppendResult]]
# Runs inside the append transaction with the items that were written (not duplicates or conflicts).
Projector = Callable[[Connection, Accepted], Awaitable[None]]

# The events and their requests' idempotency keys in one statement (one round trip of the commit fewer): the keys
# take their first and last positions from the rows the insert returns.
_INSERT_EVENTS = """
WITH written AS (
    INSERT INTO events (stream_id, version, type, data, metadata, occurred_at)
    SELECT s, v, t, d, m, o
    FROM unnest($1::uuid[], $2::int[], $3::text[], $4::jsonb[], $5::jsonb[], $6::timestamptz[])
         WITH ORDINALITY AS u(s, v, t, d, m, o, n)
    ORDER BY n
    RETURNING position, stream_id, version
), keyed AS (
    INSERT INTO idempotency_keys (key, stream_id, first_position, last_position)
    SELECT k.key, k.stream_id, first.position, last.position
    FROM unnest($7::text[], $8::uuid[], $9::int[], $10::int[]) AS k(key, stream_id, first_version, last_version)
    JOIN written first ON first.stream_id = k.stream_id AND first.version = k.first_version
    JOIN written last ON last.stream_id = k.stream_id AND last.version = k.last_version
)
SELECT position, stream_id, version FROM written
"""


_LOOKUP = """
SELECT stream_id, max(version) AS version, NULL::text AS key, NULL::bigint AS first_position,
       NULL::bigint AS last_position
FROM events WHERE stream_id = ANY($1::uuid[]) GROUP BY stream_id
UNION ALL
SELECT stream_id, NULL, key, first_position, last_position FROM idempotency_keys WHERE key = ANY($2::text[])
"""


async def append_batch(
    conn: Connection,
    requests: Sequence[AppendRequest],
    projector: Projector | None = None,
) -> list[AppendResult | StoreError]:
    """Append many requests in the caller's transaction; one answer per request, in order."""
    await conn.execute("LOCK TABLE events IN EXCLUSIVE MODE")
    stream_ids = list({r.stream_id for r in requests})
    keys = [r.idempotency_key for r in requests if r.idempotency_key]
    versions: dict[UUID, int] = {}
    seen: dict[str, AppendResult] = {}
    for row in await conn.fetch(_LOOKUP, stream_ids, keys):  # streams' versions and keys seen, in one trip
        if row["key"] is None:
            versions[row["stream_id"]] = row["version"]
        else:
            seen[row["key"]] = AppendResult(
                row["stream_id"], row["first_position"], row["last_position"], 0, duplicate=True
            )

    answers: list[AppendResult | StoreError | None] = [None] * len(requests)
    to_write: list[int] = []
    first_version: dict[int, int] = {}
    pending_keys: dict[str, int] = {}  # a key repeated inside this batch: later ones copy the first
    for i, req in enumerate(requests):
        key = req.idempotency_key
        if key is not None and key in seen:
            answers[i] = seen[key]
            continue
        if key is not None and key in pending_keys:
            continue  # answered after the insert
        current = versions.get(req.stream_id, 0)
        if req.expected_version is not None and req.expected_version != current:
            answers[i] = VersionConflict(req.stream_id, req.expected_version, current)
            continue
        first_version[i] = current + 1
        versions[req.stream_id] = current + len(req.events)
        to_write.append(i)
        if key is not None:
            pending_keys[key] = i

    cols: tuple[list[UUID], list[int], list[str], list[JsonDict], list[JsonDict], list[datetime]] = (
        [], [], [], [], [], []
    )
    key_cols: tuple[list[str], list[UUID], list[int], list[int]] = ([], [], [], [])
    for i in to_write:
        req = requests[i]
        for k, ev in enumerate(req.events):
            cols[0].append(req.stream_id)
            cols[1].append(first_version[i] + k)
            cols[2].append(ev.type)
            cols[3].append(ev.data)
            cols[4].append(req.metadata)
            cols[5].append(req.occurred_at)
        if req.idempotency_key is not None:
            key_cols[0].append(req.idempotency_key)
            key_cols[1].append(req.stream_id)
            key_cols[2].append(first_version[i])
            key_cols[3].append(first_version[i] + len(req.events) - 1)
    positions: dict[tuple[UUID, int], int] = {}
    if cols[0]:
        for row in await conn.fetch(_INSERT_EVENTS, *cols, *key_cols):
            positions[(row["stream_id"], row["version"])] = row["position"]

    accepted: Accepted = []
    for i in to_write:
        req = requests[i]
        last_version = first_version[i] + len(req.events) - 1
        result = AppendResult(
            req.stream_id,
            positions[(req.stream_id, first_version[i])],
            positions[(req.stream_id, last_version)],
            last_version,
        )
        answers[i] = result
        accepted.append((req, result))
    for i, req in enumerate(requests):
        if answers[i] is None and req.idempotency_key is not None:
            first = answers[pending_keys[req.idempotency_key]]
            assert isinstance(first, AppendResult)
            answers[i] = AppendResult(
                first.stream_id, first.first_position, first.last_position, first.version, duplicate=True
            )
    if projector is not None and accepted:
        await projector(conn, accepted)
    return [a for a in answers if a is not None]


def _recorded(row: asyncpg.Record) -> RecordedEvent:
    return RecordedEvent(
        row["position"], row["stream_id"], row["version"], row["type"], row["data"], row["metadata"],
        row["occurred_at"], row["recorded_at"],
    )


async def read_after(conn: Connection | asyncpg.Pool, position: int, limit: int = 1000) -> list[RecordedEvent]:
    """Every committed event after `position`, in commit order (see the module docstring for why)."""
    rows = await conn.fetch(
        "SELECT position, stream_id, version, type, data, metadata, occurred_at, recorded_at FROM events "
        "WHERE position > $1 ORDER BY position LIMIT $2",
        position,
        limit,
    )
    return [_recorded(r) for r in rows]


async def read_stream(conn: Connection | asyncpg.Pool, stream_id: UUID) -> list[RecordedEvent]:
    rows = await conn.fetch(
        "SELECT position, stream_id, version, type, data, metadata, occurred_at, recorded_at FROM events "
        "WHERE stream_id = $1 ORDER BY version",
        stream_id,
    )
    return [_recorded(r) for r in rows]


async def head_position(conn: Connection | asyncpg.Pool) -> int:
    value = await conn.fetchval("SELECT coalesce(max(position), 0) FROM events")
    return int(value)
