"""Console fan-out: one reader of the store per process, coalesced frames, one bounded queue per client.

The gateway reads committed events in position order (woken by local commits and Redis, or by a slow
poll), gathers them for `coalesce_s`, and sends each subscription what changed (hub.live.frames: patches,
the whole case only where a console may not hold it). Rows are matched to subscriptions through an index of
area-code prefixes; one frame per distinct (areas, privacy view — LIST_VIEW, or a unit's, see hub.live.frames)
is encoded once, as bytes, and every client
with that subscription is handed the same object. Snapshots likewise: one per (areas, view), built once and
reused by every console that connects until the feed moves past it. A client whose queue is full is dropped —
it reconnects with its last position and misses nothing — so a slow console never slows the others.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Any, cast

import asyncpg
import orjson

from dispatch.case import area_codes
from dispatch.changes import feed_form
from dispatch.events import Case
from geo.areas import code_prefix
from hub.identity.access import case_in_scopes, listed_view, redact_case
from hub.infra.loops import StoreNews
from hub.infra.metrics import Metrics
from hub.live.frames import FeedRow, ScopeIndex, batch_frame, read_rows
from hub.store.alerts import AlertReads, shown_alert
from hub.store.directives import DirectiveReads
from hub.store.events import head_position
from hub.store.incidents import IncidentReads
from hub.store.reads import CaseReads

log = logging.getLogger(__name__)

# Catch-up frames are kept small so that a reconnecting console never parks megabytes in memory.
_CATCH_UP_PAGE = 200

Key = tuple[frozenset[str], str]  # a subscription: (areas, privacy view)


@dataclass(eq=False)
class ConsoleClient:
    scopes: frozenset[str]
    view: str
    max_frames: int
    max_bytes: int = 4 * 1024 * 1024
    cursor: int = 0  # last position this client has been sent (or skipped as out of scope)
    queue: asyncio.Queue[bytes | None] = field(init=False)
    queued_bytes: int = 0
    dropped: bool = False
    _room: asyncio.Event = field(init=False)

    def __post_init__(self) -> None:
        self.queue = asyncio.Queue(maxsize=self.max_frames)
        self._room = asyncio.Event()
        self._room.set()

    @property
    def key(self) -> Key:
        return self.scopes, self.view

    def offer(self, frame: bytes) -> bool:
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

    async def next_frame(self) -> bytes | None:
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


def encode(message: dict[str, Any]) -> bytes:
    """A frame as the sockets send it: UTF-8 JSON bytes, sent as a text frame without re-encoding."""
    return orjson.dumps(message)



class ConsoleGateway:
    def __init__(self, pool: asyncpg.Pool, reads: CaseReads, alerts: AlertReads, directives: DirectiveReads, *,
                 coalesce_s: float, poll_s: float, heartbeat_s: float,
                 snapshot_limit: int, page: int = 2_000, incidents: IncidentReads | None = None,
                 metrics: Metrics | None = None) -> None:
        self._pool = pool
        self._reads = reads
        self._alerts = alerts
        self._directives = directives
        self._incidents = incidents
        self._coalesce_s = coalesce_s
        self._poll_s = poll_s
        self._heartbeat_s = heartbeat_s
        self._snapshot_limit = snapshot_limit
        self._page = page
        self._news = StoreNews()
        self._groups: dict[Key, set[ConsoleClient]] = defaultdict(set)
        self._index = ScopeIndex([])
        self._indexed: frozenset[frozenset[str]] = frozenset()
        # Snapshots by subscription: (position, frame), reusable while no event after `position` has been fanned
        # out (a console that takes one joins the live feed right after it); and the builds under way.
        self._snapshots: dict[Key, tuple[int, bytes]] = {}
        self._building: dict[Key, asyncio.Future[tuple[int, bytes]]] = {}
        self.position = 0
        self.empty_rounds = 0  # rounds that found no new event (a wake-up for nothing)
        # For /readyz-style diagnostics and the tests: how much work the frames and snapshots took.
        self.snapshots_built = 0
        self.snapshots_reused = 0
        self.frames_encoded = 0
        metrics = metrics or Metrics()
        self._dropped = metrics.consoles_dropped
        self._fanout_seconds = metrics.fanout_seconds
        # When the first wake-up not yet fanned out arrived (perf_counter), for the fan-out latency.
        self._woken_at: float | None = None

    @property
    def client_count(self) -> int:
        return sum(len(g) for g in self._groups.values())

    def wake(self, position: int = 0) -> None:
        """New events up to `position` (0: unknown); see hub.infra.loops.StoreNews."""
        if self._woken_at is None and self._news.is_news(position, self.position):
            self._woken_at = time.perf_counter()
        self._news.wake(position)

    async def start(self) -> None:
        self.position = await head_position(self._pool)

    async def run(self) -> None:
        while True:
            await self._news.next_round(lambda: self.position, self._poll_s, self._coalesce_s)
            # Wake-ups that arrive from here on are for the next round.
            woken, self._woken_at = self._woken_at, None
            try:
                if not self.client_count:
                    # Nobody is watching: skip reading (and decoding) the events, just move to the head.
                    head = await head_position(self._pool)
                    if not self.client_count:  # still nobody: no await between this check and the jump
                        if head <= self.position:
                            self.empty_rounds += 1
                        self._advance(max(self.position, head))
                        continue
                rows = await read_rows(self._pool, self.position, self._page)
                if not rows:
                    self.empty_rounds += 1
                while True:
                    if rows:
                        self._fan_out(rows)
                    if len(rows) < self._page:
                        break
                    rows = await read_rows(self._pool, self.position, self._page)
                if woken is not None:
                    self._fanout_seconds.observe(time.perf_counter() - woken)
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
                        self._drop(client)

    def _visible(self, rows: list[FeedRow]) -> dict[frozenset[str], list[FeedRow]]:
        subscriptions = frozenset(scopes for scopes, _view in self._groups)
        if subscriptions != self._indexed:
            self._index, self._indexed = ScopeIndex(subscriptions), subscriptions
        return self._index.split(rows)

    def _fan_out(self, rows: list[FeedRow]) -> None:
        """Deliver rows (positions after self.position) to every registered client; no awaits inside,
        so that attach() can never slip between a read and the position update."""
        last = rows[-1].position
        visible = self._visible(rows)
        for key, group in list(self._groups.items()):
            if not group:
                del self._groups[key]
                continue
            scopes, view = key
            seen = visible.get(scopes, [])
            shared: bytes | None = None
            for client in list(group):
                if client.cursor < last:
                    mine = seen if client.cursor < rows[0].position else [
                        r for r in seen if r.position > client.cursor]
                    if mine:
                        if mine is seen:
                            if shared is None:
                                shared = self._frame(seen, view)
                            frame = shared
                        else:
                            frame = self._frame(mine, view)
                        if not client.offer(frame):
                            self._drop(client)
                            continue
                    client.cursor = last
        self._advance(last)

    def _frame(self, rows: list[FeedRow], view: str) -> bytes:
        self.frames_encoded += 1
        return batch_frame(rows, view)

    def _advance(self, position: int) -> None:
        self.position = position
        # Snapshots the feed has moved past are of no more use (and may be large): let them go.
        stale = [key for key, (at, _frame) in self._snapshots.items() if at < position]
        for key in stale:
            del self._snapshots[key]

    def _drop(self, client: ConsoleClient) -> None:
        """A client whose queue is full was dropped (ConsoleClient.offer): it leaves the feed, and is counted."""
        self._dropped.inc()
        self.detach(client)

    def detach(self, client: ConsoleClient) -> None:
        group = self._groups.get(client.key)
        if group is not None:
            group.discard(client)

    async def attach(self, client: ConsoleClient, since: int | None) -> None:
        """Send the snapshot (or what the client missed since `since`), then join the live feed."""
        for scope in client.scopes:
            code_prefix(scope)  # a subscription the area index cannot hold is refused here, not in the feed
        # No position, or one from another store (e.g. a reset demo): start from a snapshot.
        if since is None or since > await head_position(self._pool):
            position, frame = await self.snapshot(client.key)
            client.offer(frame)
            client.cursor = position
        else:
            client.cursor = max(since, 0)
        while client.cursor < self.position:
            await client.wait_for_room()
            rows = await read_rows(self._pool, client.cursor, _CATCH_UP_PAGE)
            if not rows:
                break
            visible = ScopeIndex([client.scopes]).split(rows).get(client.scopes)
            if visible and not client.offer(self._frame(visible, client.view)):
                self._dropped.inc()
                return
            client.cursor = rows[-1].position
        # No await between the check above and this line: the live feed takes over exactly here.
        self._groups[client.key].add(client)

    async def snapshot(self, key: Key) -> tuple[int, bytes]:
        """The snapshot frame of a subscription and its position: the one already built if the feed has not
        moved past it, else the one being built (a thousand consoles reconnecting at once share it), else a new one."""
        cached = self._snapshots.get(key)
        if cached is not None and cached[0] >= self.position:
            self.snapshots_reused += 1
            return cached
        building = self._building.get(key)
        if building is None:
            building = self._building[key] = asyncio.ensure_future(self._build_snapshot(key))
            building.add_done_callback(lambda done: self._built(key, done))
        else:
            self.snapshots_reused += 1
        # Shielded: a console that goes away while waiting must not cancel the build the others wait for.
        return await asyncio.shield(building)

    def _built(self, key: Key, done: asyncio.Future[tuple[int, bytes]]) -> None:
        if self._building.get(key) is done:
            del self._building[key]
        if done.cancelled():
            return
        if done.exception() is None:  # also marks a failure as retrieved when every waiter has gone
            position, frame = done.result()
            if position >= self.position:
                self._snapshots[key] = (position, frame)

    async def _build_snapshot(self, key: Key) -> tuple[int, bytes]:
        scopes, view = key
        async with self._pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            # The cases first: the statement that takes the snapshot is the one that locks `cases`, so against a
            # projection rebuild swapping a new table in (hub.store.rebuild) the snapshot is taken either before
            # the swap, which then waits for this transaction, or while the swap holds its lock, after the new
            # table's last rows were committed. The position comes from the same snapshot either way.
            docs = await self._reads.open_in_scopes(conn, scopes, self._snapshot_limit)
            position = await head_position(conn)
            alerts = await self._alerts.open_in_scopes(conn, scopes, self._snapshot_limit)
            directives = await self._directives.page(view, scopes, current=True, limit=100, conn=conn)
            incidents = await self._incidents.active_in_scopes(conn, scopes, self._snapshot_limit) \
                if self._incidents is not None else []
        # In the feed's form (dispatch.changes.feed_form), like every case a console is sent.
        cases = [redact_case(cast(Case, feed_form(doc)), listed_view(view, doc)) for doc in docs
                 if case_in_scopes(area_codes(doc), scopes)]
        self.snapshots_built += 1
        # The alerts not closed in these areas (open and acknowledged), as the API shows them; the directives this
        # subscription sees that are not completed (or completed but not yet due), as GET /api/v1/directives; the
        # active emergency incidents over these areas (平急转换).
        return position, encode({"type": "snapshot", "position": position, "cases": cases,
                                 "alerts": [shown_alert(a) for a in alerts], "directives": directives,
                                 "incidents": incidents})
