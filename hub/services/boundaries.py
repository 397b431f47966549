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
import hashlib
import logging
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from typing import Any

import asyncpg
import shapely

from geo.features import AreaShape
from geo.hierarchy import JurisdictionIndex
from hub.infra.db import Connection, session_lock
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
    return _shapes(await _area_rows(conn, version_id))


async def _area_rows(conn: Connection | asyncpg.Pool, version_id: int) -> list[asyncpg.Record]:
    return await conn.fetch(
        "SELECT code, name, level, parent_code, short_names, geometry, properties FROM areas "
        "WHERE version_id = $1 ORDER BY code", version_id)


def _shapes(rows: Sequence[asyncpg.Record]) -> list[AreaShape]:
    geoms = shapely.from_wkb([r["geometry"] for r in rows])
    return [
        AreaShape(code=r["code"], name=r["name"], level=r["level"], parent_code=r["parent_code"],
                  short_names=tuple(r["short_names"]), geometry=g,
                  synthetic=bool(r["properties"].get("synthetic", False)))
        for r, g in zip(rows, geoms, strict=True)
    ]


def exclusive(conn: Connection) -> contextlib.AbstractAsyncContextManager[None]:
    """Hold the boundary lock for this session, so that a loader that looks before it stores (the demo's
    "seed when nothing is active yet") runs once even when two processes start together. `activate` inside
    the block takes the same lock again, which a session may."""
    return session_lock(conn, _BOUNDARY_LOCK)


# Built indexes by the content they were built from: a built index is read-only and shareable (geo.hierarchy),
# and building one takes most of a second of CPU (tens of thousands of grids). A process that needs an index of
# shapes it has indexed before — a second app in one process (the tests start hundreds), a version switched back
# to — takes the one it has. Keyed by content, not version ids: two databases (tests' copies of one template)
# number their versions alike. A few are kept: one is current, and a switch may go back.
_INDEXES: OrderedDict[tuple[float, bytes], JurisdictionIndex] = OrderedDict()
_INDEXES_KEPT = 2


def _content_key(rows_by_level: Mapping[str, Sequence[asyncpg.Record]], near_boundary_m: float) -> tuple[float, bytes]:
    """What an index is built from — every field load_shapes reads, and each geometry's WKB — as one digest."""
    digest = hashlib.sha256()
    for level, rows in sorted(rows_by_level.items()):
        for r in rows:
            fields = (level, r["code"], r["name"], r["level"], r["parent_code"], tuple(r["short_names"]),
                      bool(r["properties"].get("synthetic", False)), len(r["geometry"]))
            digest.update(repr(fields).encode())
            digest.update(r["geometry"])
    return near_boundary_m, digest.digest()


def _index(rows_by_level: Mapping[str, Sequence[asyncpg.Record]], near_boundary_m: float) -> JurisdictionIndex:
    return JurisdictionIndex({level: _shapes(rows) for level, rows in rows_by_level.items()},
                             near_boundary_m=near_boundary_m)


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
            rows = {level: await _area_rows(self._pool, vid) for level, vid in versions.items()}
            key = await asyncio.to_thread(_content_key, rows, self._near_boundary_m)
            # _INDEXES is read and changed on the event loop only; the digest and the build run off it.
            index = _INDEXES.get(key)
            if index is None:
                index = await asyncio.to_thread(_index, rows, self._near_boundary_m)
            _INDEXES[key] = self.index = index
            _INDEXES.move_to_end(key)
            while len(_INDEXES) > _INDEXES_KEPT:
                _INDEXES.popitem(last=False)
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
