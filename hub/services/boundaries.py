"""Boundary versions in PostgreSQL and the in-memory jurisdiction index built from the active ones.

Loading a file creates an inactive version; activation flips one level's active version in one
transaction. Every hub process checks the active version ids now and then and rebuilds its index off
the event loop when they change. Cases are not touched: they keep the areas they were routed with.

The hub loads no boundaries by itself: an operator loads them (`cityloop geo load`); the demo and the tests
seed synthetic Nanning layers through tools/. With no active version there is no index, and points cannot
be placed (their cases go to triage); the log says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from typing import Any

import asyncpg
import shapely

from geo.features import AreaShape
from geo.hierarchy import JurisdictionIndex
from hub.infra.db import Connection
from hub.infra.loops import every

log = logging.getLogger(__name__)

# Held while activating, and by a loader that checks before it stores (`exclusive`).
_BOUNDARY_LOCK = 4_501_00


async def store_version(conn: Connection, level: str, source: str, shapes: Sequence[AreaShape],
                        metadata: dict[str, Any] | None = None) -> int:
    synthetic = all(s.synthetic for s in shapes)
    async with conn.transaction():
        version_id: int = await conn.fetchval(
            "INSERT INTO boundary_versions (level, source, synthetic, metadata) VALUES ($1, $2, $3, $4) RETURNING id",
            level, source, synthetic, metadata or {})
        await conn.copy_records_to_table(
            "areas",
            records=[(version_id, s.code, s.name, level, s.parent_code, list(s.short_names),
                      shapely.to_wkb(s.geometry), {"synthetic": s.synthetic}) for s in shapes],
            columns=["version_id", "code", "name", "level", "parent_code", "short_names", "geometry", "properties"],
        )
    return version_id


async def activate(conn: Connection, version_id: int) -> None:
    async with conn.transaction():
        await conn.execute("SELECT pg_advisory_xact_lock($1)", _BOUNDARY_LOCK)
        level = await conn.fetchval("SELECT level FROM boundary_versions WHERE id = $1", version_id)
        if level is None:
            raise ValueError(f"no boundary version {version_id}")
        await conn.execute("UPDATE boundary_versions SET active = false WHERE level = $1 AND active", level)
        await conn.execute(
            "UPDATE boundary_versions SET active = true, activated_at = now() WHERE id = $1", version_id)


async def active_versions(conn: Connection | asyncpg.Pool) -> dict[str, int]:
    rows = await conn.fetch("SELECT level, id FROM boundary_versions WHERE active")
    return {r["level"]: r["id"] for r in rows}


async def load_shapes(conn: Connection | asyncpg.Pool, version_id: int) -> list[AreaShape]:
    rows = await conn.fetch(
        "SELECT code, name, level, parent_code, short_names, geometry, properties FROM areas "
        "WHERE version_id = $1 ORDER BY code", version_id)
    geoms = shapely.from_wkb([r["geometry"] for r in rows])
    return [
        AreaShape(code=r["code"], name=r["name"], level=r["level"], parent_code=r["parent_code"],
                  short_names=tuple(r["short_names"]), geometry=g,
                  synthetic=bool(r["properties"].get("synthetic", False)))
        for r, g in zip(rows, geoms, strict=True)
    ]


@contextlib.asynccontextmanager
async def exclusive(conn: Connection) -> AsyncIterator[None]:
    """Hold the boundary lock for this session, so that a loader that looks before it stores (the demo's
    "seed when nothing is active yet") runs once even when two processes start together. `activate` inside
    the block takes the same lock again, which a session may."""
    # The pool does not reset a connection it gets back (hub.infra.db): a connection that might still hold the
    # lock (cancelled while taking or releasing it) is closed rather than handed to the next borrower.
    try:
        await conn.execute("SELECT pg_advisory_lock($1)", _BOUNDARY_LOCK)
    except BaseException:
        conn.terminate()
        raise
    try:
        yield
    finally:
        try:
            await conn.execute("SELECT pg_advisory_unlock($1)", _BOUNDARY_LOCK)
        except BaseException:
            conn.terminate()
            raise


class Boundaries:
    """The current index and the versions it was built from; swapped whole, never mutated."""

    def __init__(self, pool: asyncpg.Pool, near_boundary_m: float) -> None:
        self._pool = pool
        self._near_boundary_m = near_boundary_m
        self._read = False  # whether the active versions have been read once
        self.versions: dict[str, int] = {}
        self.index: JurisdictionIndex | None = None  # None: no layer is active

    async def refresh(self) -> bool:
        """Rebuild the index if the active versions changed; True when it did."""
        versions = await active_versions(self._pool)
        if versions == self.versions and self._read:
            return False
        if versions:
            layers = {level: await load_shapes(self._pool, vid) for level, vid in versions.items()}
            self.index = await asyncio.to_thread(JurisdictionIndex, layers, near_boundary_m=self._near_boundary_m)
            log.info("jurisdiction index built", extra={"versions": versions})
        else:
            self.index = None
            log.warning("no boundary layers are loaded: points cannot be placed, so their cases go to triage "
                        "(reason no_boundaries); load them with `cityloop geo load FILE --level LEVEL --activate`")
        self.versions = versions
        self._read = True
        return True

    async def run_watch(self, every_s: float) -> None:
        await every(every_s, self.refresh, failure="boundary refresh failed; keeping the current index")
