"""A process builds the jurisdiction index of given shapes once (hub.services.boundaries): hubs over databases
holding the same boundaries share it, and any change to a shape — a geometry alone included — builds another."""

from __future__ import annotations

import dataclasses
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import shapely

from hub.infra.db import create_pool
from hub.infra.embedded import ServiceUrls
from hub.services.boundaries import Boundaries, activate, active_versions, load_shapes, store_version
from tests.conftest import fresh_database


@asynccontextmanager
async def boundaries_of(url: str) -> AsyncIterator[Boundaries]:
    pool = await create_pool(url, min_size=1, max_size=2)
    try:
        boundaries = Boundaries(pool, near_boundary_m=200.0)
        assert await boundaries.refresh()
        yield boundaries
    finally:
        await pool.close()


async def test_the_same_shapes_share_one_index_and_a_moved_geometry_gets_its_own(
        database_url: str, service_urls: ServiceUrls, template_database: str) -> None:
    async with (fresh_database(service_urls, template_database) as other_url, boundaries_of(database_url) as one,
                boundaries_of(other_url) as other):
        assert one.index is not None
        assert other.index is one.index, "two databases with the same boundaries: one index in the process"

        # The other database gets a county layer that differs from the template's in one geometry only: same
        # codes, names and parents, one county's outline moved by a centimetre (its WKB as long as before).
        pool = await create_pool(other_url, min_size=1, max_size=1)
        try:
            counties = await load_shapes(pool, (await active_versions(pool))["county"])
            first = counties[0]
            redrawn = shapely.transform(first.geometry, lambda xy: xy + 1e-7)
            assert not shapely.equals_exact(redrawn, first.geometry, 0.0)
            assert len(shapely.to_wkb(redrawn)) == len(shapely.to_wkb(first.geometry))
            async with pool.acquire() as conn:
                version = await store_version(conn, "county", "redrawn", [
                    dataclasses.replace(first, geometry=redrawn), *counties[1:]])
                await activate(conn, version)
        finally:
            await pool.close()
        assert await other.refresh()
        assert other.index is not None and other.index is not one.index
        changed, kept = other.index.area(first.code), one.index.area(first.code)
        assert changed is not None and kept is not None
        assert shapely.equals_exact(changed.geometry, redrawn, 0.0)
        assert shapely.equals_exact(kept.geometry, first.geometry, 0.0), "the first database's index is untouched"
