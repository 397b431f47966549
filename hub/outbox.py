"""The outbox of hotline status callbacks: written from the event log, delivered with retries.

Two loops. The writer reads committed events after its checkpoint and records a callback row for each
reported event of a hotline case, moving the checkpoint in the same transaction — so a callback exists
for every committed event exactly once, whichever hub writes it and however often hubs restart. The
deliverer leases due rows (one per case at a time, oldest first, so a case's callbacks leave in order),
posts them signed, and on failure schedules the next attempt with backoff; after the last attempt the
row is dead and a quarantine item tells the operators, who can replay it once the receiver is fixed.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from typing import Any

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
from hub.bus import wake_or_timeout
from hub.eventstore import read_after
from hub.quarantine import Quarantine, ReplayFailed
from hub.settings import Settings

log = logging.getLogger(__name__)
CHECKPOINT = "outbox"

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
RETURNING outbox.id, outbox.case_id, outbox.event, outbox.url, outbox.body, outbox.attempts
"""


class Outbox:
    def __init__(self, pool: asyncpg.Pool, settings: Settings, quarantine: Quarantine,
                 rand: random.Random | None = None) -> None:
        self._pool = pool
        self._settings = settings
        self._quarantine = quarantine
        self._rand = rand or random.Random()
        self._written = asyncio.Event()  # new events may need callbacks
        self._queued = asyncio.Event()  # new callbacks may be due

    def wake(self, _position: int = 0) -> None:
        self._written.set()

    # --- writer ---------------------------------------------------------------------------------------

    async def run_writer(self) -> None:
        while True:
            if not await self.write_pending():
                await wake_or_timeout(self._written, self._settings.outbox_poll_s)

    async def write_pending(self, page: int = 1000) -> int:
        """Record callbacks for the next page of events; the number of events read (0 = caught up)."""
        async with self._pool.acquire() as conn, conn.transaction():
            # The checkpoint row is the writers' lock: two hubs never write the same page.
            await conn.execute("INSERT INTO checkpoints (name, position) VALUES ($1, 0) ON CONFLICT DO NOTHING",
                               CHECKPOINT)
            after = await conn.fetchval("SELECT position FROM checkpoints WHERE name = $1 FOR UPDATE", CHECKPOINT)
            events = await read_after(conn, after, page)
            if not events:
                return 0
            reported = [e for e in events if e.type in CALLBACK_EVENTS]
            rows = await self._rows(conn, reported) if reported else []
            if rows:
                await conn.executemany(
                    "INSERT INTO outbox (case_id, event_position, event, url, body) VALUES ($1, $2, $3, $4, $5) "
                    "ON CONFLICT (event_position) DO NOTHING", rows)
            await conn.execute("UPDATE checkpoints SET position = $2 WHERE name = $1", CHECKPOINT,
                               events[-1].position)
        if rows:
            self._queued.set()
        return len(events)

    async def _rows(self, conn: asyncpg.Connection, events: list[Any]) -> list[tuple[Any, ...]]:
        ids = list({e.stream_id for e in events})
        docs = {r["case_id"]: r["doc"] for r in await conn.fetch(
            "SELECT case_id, doc FROM cases WHERE case_id = ANY($1::uuid[])", ids)}
        seqs = {r["case_id"]: r["n"] for r in await conn.fetch(
            "SELECT case_id, count(*) AS n FROM outbox WHERE case_id = ANY($1::uuid[]) GROUP BY case_id", ids)}
        rows = []
        for event in events:
            case = docs.get(event.stream_id)
            url = callback_url(case, self._settings.hotline_callback_url) if case else None
            if case is None or url is None:
                continue
            seq = seqs.get(event.stream_id, 0) + 1
            body = status_update(event.type, event.data, case, event.position, event.occurred_at.isoformat(), seq)
            if body is None:
                continue
            seqs[event.stream_id] = seq
            rows.append((event.stream_id, event.position, CALLBACK_EVENTS[event.type], url, body))
        return rows

    # --- deliverer ------------------------------------------------------------------------------------

    async def run_deliverer(self) -> None:
        timeout = aiohttp.ClientTimeout(total=self._settings.callback_timeout_s)
        async with aiohttp.ClientSession(timeout=timeout) as http:
            while True:
                if not await self.deliver_due(http):
                    await wake_or_timeout(self._queued, self._settings.outbox_poll_s)

    async def deliver_due(self, http: aiohttp.ClientSession, batch: int = 50) -> int:
        lease_s = self._settings.callback_timeout_s * 2 + 5
        rows = await self._pool.fetch(_CLAIM, batch, float(lease_s))
        if rows:
            await asyncio.gather(*(self._deliver(http, row) for row in rows))
        return len(rows)

    async def _deliver(self, http: aiohttp.ClientSession, row: asyncpg.Record) -> None:
        body = orjson.dumps(row["body"])
        timestamp = int(time.time())
        headers = {"Content-Type": "application/json", TIMESTAMP_HEADER: str(timestamp),
                   SIGNATURE_HEADER: signature(self._settings.callback_secret, timestamp, body),
                   DELIVERY_HEADER: str(row["id"]), EVENT_HEADER: row["event"]}
        status: int | None = None
        error: str | None = None
        try:
            async with http.post(row["url"], data=body, headers=headers) as resp:
                status = resp.status
        except (aiohttp.ClientError, TimeoutError, OSError) as exc:
            error = f"{type(exc).__name__}: {exc}"[:500]
        if status is not None and 200 <= status < 300:
            await self._pool.execute(
                "UPDATE outbox SET state = 'delivered', delivered_at = now(), attempts = attempts + 1, "
                "last_status = $2, leased_until = NULL WHERE id = $1", row["id"], status)
            return
        await self._failed(row, body, status, error)

    async def _failed(self, row: asyncpg.Record, body: bytes, status: int | None, error: str | None) -> None:
        attempts = row["attempts"] + 1
        settings = self._settings
        if attempts >= settings.callback_max_attempts:
            async with self._pool.acquire() as conn, conn.transaction():
                await conn.execute(
                    "UPDATE outbox SET state = 'dead', attempts = $2, last_status = $3, last_error = $4, "
                    "leased_until = NULL WHERE id = $1", row["id"], attempts, status, error)
            reason = (f"callback to {row['url']} refused {attempts} times; last: {describe_failure(status, error)}")
            await self._quarantine.hold("callback", reason, body,
                                        {"outbox_id": row["id"], "url": row["url"], "case_id": str(row["case_id"]),
                                         "event": row["event"], "last_status": status})
            return
        delay = backoff_s(attempts, settings.callback_backoff_base_s, settings.callback_backoff_max_s,
                          self._rand.random)
        await self._pool.execute(
            "UPDATE outbox SET attempts = $2, last_status = $3, last_error = $4, leased_until = NULL, "
            "next_attempt_at = now() + make_interval(secs => $5) WHERE id = $1",
            row["id"], attempts, status, error, delay)
        log.info("callback failed; retrying", extra={"outbox_id": row["id"], "attempt": attempts,
                                                      "retry_in_s": round(delay, 2), "status": status})

    async def replay(self, item: asyncpg.Record) -> dict[str, Any]:
        """The quarantine's replayer for dead callbacks: back to pending with a fresh retry ladder."""
        outbox_id = item["meta"].get("outbox_id")
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
