"""Leadership: the background loops a deployment runs once (SLA timers, the outbox, the MQTT subscriber) run in
one hub process at a time — whichever holds a PostgreSQL advisory lock on a connection of its own.

Why a session advisory lock: PostgreSQL is what every hub process of a deployment already shares (the lock
space is per database, so deployments on other databases never compete), and the lock lives exactly as long as
the session holding it. A leader that exits, is killed or loses its connection loses the lock with it, and
the next follower to ask gets it: followers ask every `check_s`. The leader checks its connection as often
and stops its loops as soon as it cannot confirm it, before anyone else can have been granted the lock, or
at worst at the same moment (when PostgreSQL ended the session first); the loops tolerate that overlap
(expected versions, row locks, SKIP LOCKED) — leadership keeps the work from being done N times, it is not
what makes it correct. The server ends the session of a leader that stops answering (a frozen process, a
dead network) after `idle_session_timeout` and TCP keepalives, so a hung leader does not hold the lock forever.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable, Coroutine
from typing import Any

import asyncpg

log = logging.getLogger(__name__)

# The advisory lock key. It is the one the MQTT subscriber used alone before leadership covered every
# once-per-deployment loop ("CLMQ"): during a rolling upgrade an old hub leading MQTT and a new hub leading
# everything can never both hold it.
LEADER_LOCK = 0x434C4D51

# Connection trouble that costs leadership (or the chance to get it) for now; the next round tries again.
_LOST = (OSError, asyncpg.PostgresError, asyncpg.InterfaceError)  # TimeoutError is an OSError


class Leadership:
    """Runs `lead()` while this process holds the lock; cancels it when the lock may be lost."""

    def __init__(self, database_url: str, lead: Callable[[], Coroutine[Any, Any, None]], *, check_s: float = 2.0,
                 key: int = LEADER_LOCK) -> None:
        self._database_url = database_url
        self._lead = lead
        self._check_s = check_s
        self._key = key
        self.is_leader = False
        self.terms = 0  # how many times this process became the leader

    async def run(self) -> None:
        """Until cancelled: connect, wait for the lock, lead while it is held; start over when it is lost."""
        while True:
            try:
                conn = await self._connect()
            except _LOST as exc:
                log.warning("leadership: cannot reach PostgreSQL; retrying", extra={"error": repr(exc)})
                await asyncio.sleep(self._check_s)
                continue
            try:
                await self._wait_for_lock(conn)
                await self._hold(conn)
            except _LOST as exc:
                log.warning("leadership: the lock's connection failed", extra={"error": repr(exc)})
            finally:
                await _close(conn)
            await asyncio.sleep(self._check_s)

    async def _connect(self) -> asyncpg.Connection:
        async with asyncio.timeout(self._check_s * 5):
            conn = await asyncpg.connect(self._database_url, server_settings={
                "application_name": "cityloop-leadership",
                # The server notices a vanished client within ~10 s rather than the kernel default of hours.
                "tcp_keepalives_idle": "5", "tcp_keepalives_interval": "2", "tcp_keepalives_count": "3"})
        try:
            # A frozen leader (SIGSTOP, a blocked event loop) stops asking; the server then ends its session and
            # frees the lock. Every process here asks every `check_s`, so only a stuck one is ever idle this long;
            # at least 10 s, so that a busy moment of the event loop does not cost leadership.
            # PostgreSQL before 14 has no such setting: there only keepalives apply.
            idle_ms = int(max(10.0, self._check_s * 5) * 1000)
            with contextlib.suppress(asyncpg.UndefinedObjectError):
                await conn.execute(f"SET idle_session_timeout = {idle_ms}")
        except BaseException:
            await _close(conn)
            raise
        return conn

    async def _wait_for_lock(self, conn: asyncpg.Connection) -> None:
        while True:
            async with asyncio.timeout(self._check_s * 2):
                if await conn.fetchval("SELECT pg_try_advisory_lock($1)", self._key):
                    return
            await asyncio.sleep(self._check_s)

    async def _hold(self, conn: asyncpg.Connection) -> None:
        self.is_leader = True
        self.terms += 1
        log.info("leadership: this process leads the deployment's background loops", extra={"pid": os.getpid()})
        loops = asyncio.create_task(self._lead(), name="leader-loops")
        try:
            while True:
                done, _ = await asyncio.wait([loops], timeout=self._check_s)
                if done:  # the loops are supervised and never end: if they do, let another process lead
                    log.error("leadership: the leader's loops ended; stepping down",
                              extra={"error": repr(loops.exception()) if not loops.cancelled() else "cancelled"})
                    return
                async with asyncio.timeout(self._check_s * 2):
                    await conn.fetchval("SELECT 1")
        finally:
            self.is_leader = False
            loops.cancel()
            # Bounded, like the app's own shutdown: one stuck loop must not keep this process from following.
            await asyncio.wait([loops], timeout=5.0)
            log.info("leadership: this process no longer leads", extra={"pid": os.getpid()})


async def _close(conn: asyncpg.Connection) -> None:
    try:
        async with asyncio.timeout(2.0):
            await conn.close()
    except _LOST:
        conn.terminate()
    except asyncio.CancelledError:
        conn.terminate()  # the lock goes with the connection, now
        raise
