"""The outbox of hotline status callbacks: written from the event log, delivered with retries.

Two loops. The writer reads committed events after its checkpoint and records a callback row for each reported
event of a hotline case with somewhere to call back (only those events are read and decoded; the projection's
slim `source`/`callback_url` columns say which), moving the checkpoint in the same transaction — so a callback
exists for every committed event exactly once, whichever hub writes it and however often hubs restart. The
deliverer leases due rows (one per case at a time, oldest first, so a case's callbacks leave in order), posts
them signed, and on failure schedules the next attempt with backoff; after the last attempt the row is dead
and a quarantine item tells the operators, who can replay it once the receiver is fixed.

Callbacks go only where the SSRF guard allows (connectors.callback_origins, hub.services.destinations): the origin of
the URL must be registered for the key that pushed the ticket or in CITYLOOP_CALLBACK_ALLOWED_ORIGINS, when
the row is written and again before every attempt. A callback that is not allowed is never sent: the writer
records it dead at once and quarantines it ("refused: destination not allowed"), and so does the deliverer
when an origin was removed or a host name resolves to a forbidden address; replaying it is refused until
the origin is registered again. Redirects are not followed, and a failure is recorded as a fixed category
("timeout", "connection refused", "HTTP 500" ...), never with the other side's answer or error text.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final

import aiohttp
import asyncpg
import orjson

from connectors.callbacks import (
    CALLBACK_EVENTS,
    DELIVERY_HEADER,
    EVENT_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    backoff_s,
    callback_url,
    describe_failure,
    signature,
    status_update,
)
from hub.infra.db import Connection
from hub.infra.loops import StoreNews, wake_or_timeout
from hub.infra.metrics import Metrics
from hub.infra.settings import Settings
from hub.services.destinations import (
    REFUSED,
    callback_session,
    destination_allowed,
    failure_category,
    key_origins,
    redirect_reason,
)
from hub.services.quarantine import Quarantine, ReplayFailed
from hub.store.reads import CaseReads

log = logging.getLogger(__name__)
CHECKPOINT = "outbox"

# How many callbacks each case has had (the next one's sequence number): read through outbox_case (0028), not
# the whole outbox, which only grows.
OUTBOX_SEQUENCES: Final = "SELECT case_id, count(*) AS n FROM outbox WHERE case_id = ANY($1::uuid[]) GROUP BY case_id"

_CLAIM = """
WITH due AS (
    SELECT o.id FROM outbox o
    WHERE o.state = 'pending' AND o.next_attempt_at <= now()
      AND (o.leased_until IS NULL OR o.leased_until < now())
      AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.case_id = o.case_id AND p.state = 'pending' AND p.id < o.id)
    ORDER BY o.id
    LIMIT $1
    FOR UPDATE SKIP LOCKED
)
UPDATE outbox SET leased_until = now() + make_interval(secs => $2)
FROM due WHERE outbox.id = due.id
RETURNING outbox.id, outbox.case_id, outbox.event, outbox.url, outbox.body, outbox.attempts, outbox.key_name
"""


_PAGE_SIZE: Final = 1000  # events the callback writer reads per round
# The next page of events after $1 (at most $2 events), and the events in it that may need a callback: reported
# types ($3), on hotline cases with a callback URL of their own or (when $4, a default URL is configured) any
# hotline case — never imported history, whose hotline system learned the outcome long ago. At least one row:
# `upto` is on every row. Only the reported events' data is read (and decoded); every other event passes by as a
# position, a stream and a type.
# The page drives the reads: it is MATERIALIZED, and each of its reported events looks its case and then its data
# up by key (a LATERAL with LIMIT 1 is never turned into a join the planner may run the other way). Left to the
# planner, a store where few cases have a callback URL made it scan every case for those first (a parallel
# sequential scan of `cases`, 60–70 ms a round on a million-event store, after every commit), and a full page with
# a default callback URL hash-joined a scan of every case.
_PAGE = """
WITH page AS MATERIALIZED (
    SELECT position, stream_id, type FROM events WHERE position > $1 ORDER BY position LIMIT $2)
SELECT page_end.upto, e.position, e.stream_id, e.type, e.data, e.occurred_at
FROM (SELECT max(position) AS upto FROM page) page_end LEFT JOIN LATERAL (
    SELECT e.* FROM page p
    CROSS JOIN LATERAL (
        SELECT 1 FROM cases c WHERE c.case_id = p.stream_id AND c.source = 'hotline' AND NOT c.imported
          AND (c.callback_url IS NOT NULL OR $4) LIMIT 1) c
    CROSS JOIN LATERAL (SELECT * FROM events e WHERE e.position = p.position LIMIT 1) e
    WHERE p.type = ANY($3::text[])
    ORDER BY p.position) e ON true
"""


@dataclass(frozen=True, slots=True)
class _Reported:
    position: int
    stream_id: uuid.UUID
    type: str
    data: dict[str, Any]
    occurred_at: datetime


class Outbox:
    def __init__(self, pool: asyncpg.Pool, reads: CaseReads, settings: Settings, quarantine: Quarantine,
                 rand: random.Random | None = None, metrics: Metrics | None = None) -> None:
        self._pool = pool
        self._outcomes = (metrics or Metrics()).callbacks  # attempts by outcome, for /metrics
        self._reads = reads
        self._settings = settings
        self._quarantine = quarantine
        self._rand = rand or random.Random()
        self._written = StoreNews()  # new events may need callbacks
        self._covered = 0  # the last position the writer has recorded callbacks up to (in this process)
        self.empty_rounds = 0  # writer rounds that found no new event (a wake-up for nothing)
        self._queued = asyncio.Event()  # new callbacks may be due

    def wake(self, position: int = 0) -> None:
        """New events up to `position` (0: unknown); see hub.infra.loops.StoreNews."""
        self._written.wake(position)

    # --- writer ---------------------------------------------------------------------------------------

    async def run_writer(self) -> None:
        while True:
            # A page that was not full reached the head of the store: wait for news rather than ask again at
            # once (a round that finds nothing is still a transaction of four round trips, after every commit).
            if await self.write_pending(_PAGE_SIZE) < _PAGE_SIZE:
                # Under load commits come every few milliseconds: one round for all of them (a callback
                # leaves a few tens of milliseconds later; the commits keep their database round trips).
                await self._written.next_round(lambda: self._covered, self._settings.outbox_poll_s,
                                               self._settings.outbox_coalesce_ms / 1000)

    async def write_pending(self, page: int = _PAGE_SIZE) -> int:
        """Record callbacks for the next page of events; how many positions it covered (fewer than `page`: it
        reached the head of the store; 0: nothing was new)."""
        async with self._pool.acquire() as conn, conn.transaction():
            # The checkpoint row is the writers' lock: two hubs never write the same page.
            after = await conn.fetchval("SELECT position FROM checkpoints WHERE name = $1 FOR UPDATE", CHECKPOINT)
            if after is None:  # the first round ever
                await conn.execute("INSERT INTO checkpoints (name, position) VALUES ($1, 0) ON CONFLICT DO NOTHING",
                                   CHECKPOINT)
                after = await conn.fetchval("SELECT position FROM checkpoints WHERE name = $1 FOR UPDATE",
                                            CHECKPOINT)
            # The page is a range of positions; only the reported events of hotline cases with somewhere to
            # call back are read (and decoded) — every other event passes by as a number.
            found = await conn.fetch(_PAGE, after, page, list(CALLBACK_EVENTS),
                                     self._settings.hotline_callback_url is not None)
            upto = found[0]["upto"]
            if upto is None:
                self._covered = max(self._covered, after)
                self.empty_rounds += 1
                return 0
            reported = [_Reported(r["position"], r["stream_id"], r["type"], r["data"], r["occurred_at"])
                        for r in found if r["position"] is not None]
            rows, refused = await self._rows(conn, reported) if reported else ([], [])
            if rows:
                await conn.executemany(
                    "INSERT INTO outbox (case_id, event_position, event, url, body, key_name) "
                    "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (event_position) DO NOTHING", rows)
            for row in refused:
                await self._refuse_at_write(conn, row)
            await conn.execute("UPDATE checkpoints SET position = $2 WHERE name = $1", CHECKPOINT, upto)
        self._covered = max(self._covered, upto)
        if rows:
            self._queued.set()
        return int(upto - after)

    async def _rows(self, conn: Connection, events: list[_Reported]
                    ) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """The callbacks of these events: those to send, and those whose destination is not allowed."""
        ids = list({e.stream_id for e in events})
        # Each case with the hotline key that pushed its ticket and that key's callback origins now.
        cases = await self._reads.with_callback_keys(conn, ids)
        seqs = {r["case_id"]: r["n"] for r in await conn.fetch(OUTBOX_SEQUENCES, ids)}
        rows, refused = [], []
        for event in events:
            found = cases.get(event.stream_id)
            if found is None:
                continue
            case = found["doc"]
            url = callback_url(case, self._settings.hotline_callback_url)
            if url is None:
                continue
            seq = seqs.get(event.stream_id, 0) + 1
            body = status_update(event.type, event.data, case, event.position, event.occurred_at.isoformat(), seq)
            if body is None:
                continue
            seqs[event.stream_id] = seq  # a refused callback keeps its seq: the receiver sees the gap
            key_name = found["key_name"]
            row = (event.stream_id, event.position, CALLBACK_EVENTS[event.type], url, body, key_name)
            origins = {key_name: found["callback_origins"]} if key_name else {}
            if destination_allowed(url, key_name, origins, self._settings.callback_allowed_origins):
                rows.append(row)
            else:
                refused.append(row)
        return rows, refused

    async def _refuse_at_write(self, conn: Connection, row: tuple[Any, ...]) -> None:
        """A callback to a destination that is not (or no longer) allowed: recorded dead, never sent, and
        quarantined in the writer's transaction, so it is replayable once the origin is registered."""
        case_id, position, event, url, body, key_name = row
        outbox_id = await conn.fetchval(
            "INSERT INTO outbox (case_id, event_position, event, url, body, key_name, state, last_error) "
            "VALUES ($1, $2, $3, $4, $5, $6, 'dead', $7) ON CONFLICT (event_position) DO NOTHING RETURNING id",
            case_id, position, event, url, body, key_name, REFUSED)
        if outbox_id is None:
            return
        self._outcomes["refused"].inc()
        await self._quarantine.hold("callback", f"callback to {url} {REFUSED}", orjson.dumps(body),
                                    {"outbox_id": outbox_id, "url": url, "case_id": str(case_id), "event": event,
                                     "last_status": None}, conn=conn)

    # --- deliverer ------------------------------------------------------------------------------------

    async def run_deliverer(self) -> None:
        async with callback_session(self._settings.callback_timeout_s) as http:
            while True:
                if not await self.deliver_due(http):
                    await wake_or_timeout(self._queued, self._settings.outbox_poll_s)

    async def deliver_due(self, http: aiohttp.ClientSession, batch: int = 50) -> int:
        lease_s = self._settings.callback_timeout_s * 2 + 5
        rows = await self._pool.fetch(_CLAIM, batch, float(lease_s))
        if rows:
            origins = await key_origins(self._pool, (row["key_name"] for row in rows))
            await asyncio.gather(*(self._deliver(http, row, origins) for row in rows))
        return len(rows)

    async def _deliver(self, http: aiohttp.ClientSession, row: asyncpg.Record,
                       origins: dict[str, list[str]]) -> None:
        body = orjson.dumps(row["body"])
        if not destination_allowed(row["url"], row["key_name"], origins, self._settings.callback_allowed_origins):
            self._outcomes["refused"].inc()
            await self._dead(row, body, row["attempts"], None, REFUSED, f"callback to {row['url']} {REFUSED}")
            return
        timestamp = int(time.time())
        headers = {"Content-Type": "application/json", TIMESTAMP_HEADER: str(timestamp),
                   SIGNATURE_HEADER: signature(self._settings.callback_secret, timestamp, body),
                   DELIVERY_HEADER: str(row["id"]), EVENT_HEADER: row["event"]}
        status: int | None = None
        error: str | None = None
        try:
            # The answer's body is never read: nothing the receiver says is kept.
            async with http.post(row["url"], data=body, headers=headers, allow_redirects=False) as resp:
                status = resp.status
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            error = failure_category(exc)
        if error == REFUSED:  # the name resolved to a forbidden address: nothing was sent, no retry
            self._outcomes["refused"].inc()
            await self._dead(row, body, row["attempts"], None, REFUSED, f"callback to {row['url']} {REFUSED}")
            return
        if status is not None and 200 <= status < 300:
            await self._pool.execute(
                "UPDATE outbox SET state = 'delivered', delivered_at = now(), attempts = attempts + 1, "
                "last_status = $2, leased_until = NULL WHERE id = $1", row["id"], status)
            self._outcomes["delivered"].inc()
            return
        if status is not None and 300 <= status < 400:
            error = redirect_reason(status)
        await self._failed(row, body, status, error)

    async def _failed(self, row: asyncpg.Record, body: bytes, status: int | None, error: str | None) -> None:
        attempts = row["attempts"] + 1
        settings = self._settings
        if attempts >= settings.callback_max_attempts:
            reason = f"callback to {row['url']} refused {attempts} times; last: {describe_failure(status, error)}"
            await self._dead(row, body, attempts, status, error, reason)
            self._outcomes["dead"].inc()
            return
        self._outcomes["failed"].inc()
        delay = backoff_s(attempts, settings.callback_backoff_base_s, settings.callback_backoff_max_s,
                          self._rand.random)
        await self._pool.execute(
            "UPDATE outbox SET attempts = $2, last_status = $3, last_error = $4, leased_until = NULL, "
            "next_attempt_at = now() + make_interval(secs => $5) WHERE id = $1",
            row["id"], attempts, status, error, delay)
        log.info("callback failed; retrying", extra={"outbox_id": row["id"], "attempt": attempts,
                                                      "retry_in_s": round(delay, 2), "status": status})

    async def _dead(self, row: asyncpg.Record, body: bytes, attempts: int, status: int | None, error: str | None,
                    reason: str) -> None:
        async with self._pool.acquire() as conn, conn.transaction():
            await conn.execute(
                "UPDATE outbox SET state = 'dead', attempts = $2, last_status = $3, last_error = $4, "
                "leased_until = NULL WHERE id = $1", row["id"], attempts, status, error)
            await self._quarantine.hold("callback", reason, body,
                                        {"outbox_id": row["id"], "url": row["url"], "case_id": str(row["case_id"]),
                                         "event": row["event"], "last_status": status}, conn=conn)

    async def replay(self, item: asyncpg.Record) -> dict[str, Any]:
        """The quarantine's replayer for dead callbacks: back to pending with a fresh retry ladder — unless
        the destination is still not allowed (the item stays held)."""
        outbox_id = item["meta"].get("outbox_id")
        row = await self._pool.fetchrow("SELECT url, key_name FROM outbox WHERE id = $1", outbox_id)
        if row is not None and not destination_allowed(
                row["url"], row["key_name"], await key_origins(self._pool, [row["key_name"]]),
                self._settings.callback_allowed_origins):
            raise ReplayFailed(f"callback to {row['url']} {REFUSED}: register its origin for the hotline key "
                               "(cityloop keys origins) or in CITYLOOP_CALLBACK_ALLOWED_ORIGINS first")
        done = await self._pool.execute(
            "UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_at = now(), last_error = NULL "
            "WHERE id = $1 AND state = 'dead'", outbox_id)
        if done != "UPDATE 1":
            raise ReplayFailed(f"outbox item {outbox_id} is not dead")
        self._queued.set()
        return {"outbox_id": outbox_id, "requeued": True}

    async def counts(self) -> dict[str, int]:
        """Callbacks waiting and dead, for /metrics (delivered rows are history: not counted on every scrape)."""
        rows = await self._pool.fetch(
            "SELECT state, count(*) AS n FROM outbox WHERE state <> 'delivered' GROUP BY state")
        return {r["state"]: r["n"] for r in rows}
