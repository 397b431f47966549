"""Console fan-out: one reader of the store per process, coalesced frames, one bounded queue per client.

The gateway reads committed events in position order (woken by local commits and Redis, or by a slow
poll), gathers them for `coalesce_s`, and encodes one frame per distinct (areas, privacy view) which
every client with that subscription shares. A client whose queue is full is dropped — it reconnects
with its last position and misses nothing — so a slow console never slows the others.
"""

from __future__ import annotations

import asyncio
import logging
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any

import asyncpg
import orjson

from dispatch.case import area_codes
from hub.identity.access import case_in_scopes, redact_case, redact_event_data
from hub.infra.loops import wake_or_timeout
from hub.store.events import head_position
from hub.store.reads import CaseReads

log = logging.getLogger(__name__)

# Catch-up frames are kept small so that a reconnecting console never parks megabytes in memory.
_CATCH_UP_PAGE = 200

_READ_WITH_CASES = """
SELECT e.position, e.stream_id, e.version, e.type, e.data, e.metadata, e.occurred_at, e.recorded_at, c.doc
FROM events e LEFT JOIN cases c ON c.case_id = e.stream_id
WHERE e.position > $1 ORDER BY e.position LIMIT $2
"""


@dataclass(eq=False)
class ConsoleClient:
    scopes: frozenset[str]
    view: str
    max_frames: int
    max_bytes: int = 4 * 1024 * 1024
    cursor: int = 0  # last position this client has been sent (or skipped as out of scope)
    queue: asyncio.Queue[str | None] = field(init=False)
    queued_bytes: int = 0
    dropped: bool = False
    _room: asyncio.Event = field(init=False)

    def __post_init__(self) -> None:
        self.queue = asyncio.Queue(maxsize=self.max_frames)
        self._room = asyncio.Event()
        self._room.set()

    @property
    def key(self) -> tuple[frozenset[str], str]:
        return self.scopes, self.view

    def offer(self, frame: str) -> bool:
        """Queue a frame without waiting; a full queue (frames or bytes) drops the client (it will resume)."""
        if self.dropped:
            return False
        if self.queued_bytes + len(frame) > self.max_bytes and self.queued_bytes:
            self.drop()
            return False
        try:
            self.queue.put_nowait(frame)
        except asyncio.QueueFull:
            self.drop()
            return False
        self.queued_bytes += len(frame)
        if self.queued_bytes > self.max_bytes // 2:
            self._room.clear()
        return True

    async def next_frame(self) -> str | None:
        """For the socket writer: the next frame, or None when the client must be closed."""
        frame = await self.queue.get()
        if frame is not None:
            self.queued_bytes -= len(frame)
            if self.queued_bytes <= self.max_bytes // 2:
                self._room.set()
        return frame

    async def wait_for_room(self) -> None:
        """Catch-up paces itself on the writer instead of filling memory with a backlog."""
        await self._room.wait()

    def drop(self) -> None:
        self.dropped = True
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queued_bytes = 0
        self._room.set()
        self.queue.put_nowait(None)  # tells the writer to close the socket


def event_payload(row: asyncpg.Record, view: str) -> dict[str, Any]:
    metadata = row["metadata"] or {}
    doc = row["doc"]
    return {
        "type": "event",
        "position": row["position"],
        "case_id": str(row["stream_id"]),
        "event": {
            "type": row["type"],
            "version": row["version"],
            "data": redact_event_data(row["type"], row["data"], view),
            "actor": metadata.get("actor"),
            "occurred_at": row["occurred_at"].isoformat(),
            "recorded_at": row["recorded_at"].isoformat(),
        },
        # The case as it is now: its version may be ahead of this event (consoles keep the newest).
        "case": redact_case(doc, view) if doc is not None else None,
    }


def encode(message: dict[str, Any]) -> str:
    return orjson.dumps(message).decode()


class ConsoleGateway:
    def __init__(self, pool: asyncpg.Pool, reads: CaseReads, *, coalesce_s: float, poll_s: float, heartbeat_s: float,
                 snapshot_limit: int, page: int = 2_000) -> None:
        self._pool = pool
        self._reads = reads
        self._coalesce_s = coalesce_s
        self._poll_s = poll_s
        self._heartbeat_s = heartbeat_s
        self._snapshot_limit = snapshot_limit
        self._page = page
        self._wake = asyncio.Event()
        self._groups: dict[tuple[frozenset[str], str], set[ConsoleClient]] = defaultdict(set)
        self.position = 0

    @property
    def client_count(self) -> int:
        return sum(len(g) for g in self._groups.values())

    def wake(self, _position: int = 0) -> None:
        self._wake.set()

    async def start(self) -> None:
        self.position = await head_position(self._pool)

    async def run(self) -> None:
        while True:
            await wake_or_timeout(self._wake, self._poll_s)
            if self._coalesce_s:
                await asyncio.sleep(self._coalesce_s)
            try:
                if not self.client_count:
                    # Nobody is watching: skip reading (and decoding) the events, just move to the head.
                    head = await head_position(self._pool)
                    if not self.client_count:  # still nobody: no await between this check and the jump
                        self.position = max(self.position, head)
                        continue
                while True:
                    rows = await self._pool.fetch(_READ_WITH_CASES, self.position, self._page)
                    if rows:
                        self._fan_out(rows)
                    if len(rows) < self._page:
                        break
            except Exception as exc:  # noqa: BLE001 — the feed must outlive any one failure
                log.warning("console feed cannot read the store; retrying", extra={"error": repr(exc)})
                await asyncio.sleep(self._poll_s)

    async def run_heartbeat(self) -> None:
        while True:
            await asyncio.sleep(self._heartbeat_s)
            # The position lets an idle console advance its resume point past events it was not shown;
            # a client that read ahead while catching up is never sent a lower one.
            frame = encode({"type": "ping", "position": self.position})
            for group in list(self._groups.values()):
                for client in list(group):
                    ping = frame if client.cursor <= self.position else encode(
                        {"type": "ping", "position": client.cursor})
                    if not client.offer(ping):
                        self.detach(client)

    def _fan_out(self, rows: list[asyncpg.Record]) -> None:
        """Deliver rows (positions after self.position) to every registered client; no awaits inside,
        so that attach() can never slip between a read and the position update."""
        last = rows[-1]["position"]
        for key, group in list(self._groups.items()):
            if not group:
                del self._groups[key]
                continue
            scopes, view = key
            try:
                visible = [r for r in rows if _row_visible(r, scopes)]
            except Exception:  # noqa: BLE001 — one bad subscription must not stop the feed for all
                log.exception("dropping a console group that cannot be served", extra={"scopes": sorted(scopes)})
                for client in group:
                    client.drop()
                del self._groups[key]
                continue
            shared: str | None = None
            for client in list(group):
                if client.cursor < last:
                    mine = visible if client.cursor < rows[0]["position"] else [
                        r for r in visible if r["position"] > client.cursor]
                    if mine:
                        if mine is visible:
                            shared = shared or _batch_frame(visible, view)
                            frame = shared
                        else:
                            frame = _batch_frame(mine, view)
                        if not client.offer(frame):
                            self.detach(client)
                            continue
                    client.cursor = last
        self.position = last

    def detach(self, client: ConsoleClient) -> None:
        group = self._groups.get(client.key)
        if group is not None:
            group.discard(client)

    async def attach(self, client: ConsoleClient, since: int | None) -> None:
        """Send the snapshot (or what the client missed since `since`), then join the live feed."""
        head = await head_position(self._pool)
        if since is None or since > head:
            # No position, or one from another store (e.g. a reset demo): start from a snapshot.
            client.cursor = await self._send_snapshot(client)
        else:
            client.cursor = max(since, 0)
        while client.cursor < self.position:
            await client.wait_for_room()
            rows = await self._pool.fetch(_READ_WITH_CASES, client.cursor, _CATCH_UP_PAGE)
            if not rows:
                break
            visible = [r for r in rows if _row_visible(r, client.scopes)]
            if visible and not client.offer(_batch_frame(visible, client.view)):
                return
            client.cursor = rows[-1]["position"]
        # No await between the check above and this line: the live feed takes over exactly here.
        self._groups[client.key].add(client)

    async def _send_snapshot(self, client: ConsoleClient) -> int:
        async with self._pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            position = await head_position(conn)
            docs = await self._reads.open_in_scopes(conn, client.scopes, self._snapshot_limit)
        cases = [redact_case(doc, client.view) for doc in docs if case_in_scopes(area_codes(doc), client.scopes)]
        client.offer(encode({"type": "snapshot", "position": position, "cases": cases}))
        return position


def _row_visible(row: asyncpg.Record, scopes: frozenset[str]) -> bool:
    """Visibility is decided by where the case was when the event happened (`scope` in the metadata:
    its area codes before and after it), so a console also sees the event that moves a case away."""
    scope = (row["metadata"] or {}).get("scope")
    if scope is None:
        doc = row["doc"]
        return case_in_scopes(area_codes(doc) if doc is not None else [], scopes)
    return case_in_scopes(list(scope), scopes)


def _batch_frame(rows: list[asyncpg.Record], view: str) -> str:
    return encode({"type": "batch", "events": [event_payload(r, view) for r in rows]})
