"""A database per scenario, so that one scenario's tickets never weigh on the next: a template is migrated and
loaded with the demo boundaries once per run, and each scenario gets a copy (CREATE DATABASE … TEMPLATE, a
file copy), dropped at the end of the run."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg

from hub.infra.db import create_pool
from hub.infra.migrate import apply_migrations
from tools.demo import seed_demo_boundaries


def url_of(server_url: str, name: str) -> str:
    return urlsplit(server_url)._replace(path=f"/{name}").geturl()


class Databases:
    """Every database this run made (names start with cityloop_bench_), dropped by `close`."""

    def __init__(self, server_url: str, geo_cache: Path) -> None:
        self._server_url = server_url
        self._geo_cache = geo_cache
        self._run = uuid.uuid4().hex[:8]
        self._made: list[str] = []
        self._template: str | None = None
        self._lock = asyncio.Lock()

    async def _admin(self, sql: str) -> None:
        conn = await asyncpg.connect(self._server_url)
        try:
            await conn.execute(sql)
        finally:
            await conn.close()

    async def plain(self, label: str) -> str:
        """An empty, migrated database (the store appends need no boundaries)."""
        name = f"cityloop_bench_{self._run}_{label}"
        await self._admin(f'CREATE DATABASE "{name}"')
        self._made.append(name)
        url = url_of(self._server_url, name)
        await asyncio.to_thread(apply_migrations, url)
        return url

    async def fresh(self, label: str) -> str:
        """A copy of the template: migrated, with the demo boundaries (real counties, generated townships,
        communities and grids) active."""
        async with self._lock:
            if self._template is None:
                url = await self.plain("template")
                pool = await create_pool(url, min_size=1, max_size=2)
                try:
                    await seed_demo_boundaries(pool, self._geo_cache)
                finally:
                    await pool.close()
                self._template = self._made[-1]
        name = f"cityloop_bench_{self._run}_{label}_{uuid.uuid4().hex[:4]}"
        await self._admin(f'CREATE DATABASE "{name}" TEMPLATE "{self._template}"')
        self._made.append(name)
        return url_of(self._server_url, name)

    async def drop(self, url: str) -> None:
        name = urlsplit(url).path.lstrip("/")
        if name in self._made:
            await self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
            self._made.remove(name)

    async def close(self) -> None:
        for name in reversed(self._made):
            with contextlib.suppress(asyncpg.PostgresError, OSError):
                await self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        self._made.clear()


@contextlib.asynccontextmanager
async def pool_of(url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(url, min_size=1, max_size=4)
    try:
        yield pool
    finally:
        await pool.close()


async def maintained_now(url: str, *, hold_autovacuum: bool = True) -> None:
    """VACUUM ANALYZE the whole database now and, with `hold_autovacuum`, keep autovacuum off its tables from
    here on (the database is the scenario's own and is dropped after it). For a row that compares two phases of
    one run: PostgreSQL's first autovacuum of a database comes about a minute after the tables start filling,
    inside the second phase, and its burst (ack p99 158 ms in the second it ran, against 30–40 ms around it, at 300
    tickets/s; 2026-12-07) was counted against whatever that phase added. Vacuumed and analysed before each phase,
    both start alike and neither carries the other's maintenance. Call it once the tables hold a phase's worth of
    rows: statistics taken of empty tables, with autovacuum held, left the first phase's plans poor (PostgreSQL
    1.24–1.50 ms CPU a ticket against ~1.0 in the second) — hence the consoles row's warm-up before the first call."""
    conn = await asyncpg.connect(url)
    try:
        if hold_autovacuum:
            tables = await conn.fetch("SELECT format('%I.%I', schemaname, relname) AS name FROM pg_stat_user_tables")
            for table in tables:
                await conn.execute(f"ALTER TABLE {table['name']} SET (autovacuum_enabled = false)")
        await conn.execute("VACUUM ANALYZE")
    finally:
        await conn.close()
