"""The pool hands a released connection back as it is (no reset round trip), so nothing may leave session
state on it: the boundary lock of `exclusive` is released before the connection returns to the pool."""

from __future__ import annotations

import contextlib

import asyncpg
import pytest

from hub.infra.db import create_pool
from hub.services.boundaries import _BOUNDARY_LOCK, exclusive


async def test_a_released_connection_is_not_reset_with_a_round_trip(database_url: str) -> None:
    pool = await create_pool(database_url, min_size=1, max_size=1)
    sent: list[str] = []
    try:
        async with pool.acquire() as conn:
            conn.add_query_logger(lambda record: sent.append(record.query))
            await conn.fetchval("SELECT 1")
        async with pool.acquire() as conn:  # the same connection (max_size=1), after its release
            await conn.fetchval("SELECT 2")
    finally:
        await pool.close()
    assert sent == ["SELECT 1", "SELECT 2"]  # asyncpg's default would have sent RESET ALL etc. in between


@pytest.mark.parametrize("fails", [False, True])
async def test_the_boundary_lock_is_released_before_the_connection_goes_back(database_url: str,
                                                                             fails: bool) -> None:
    pool = await create_pool(database_url, min_size=1, max_size=1)
    other = await asyncpg.connect(database_url)
    try:
        with pytest.raises(RuntimeError) if fails else contextlib.nullcontext():
            async with pool.acquire() as conn, exclusive(conn):
                assert not await other.fetchval("SELECT pg_try_advisory_lock($1)", _BOUNDARY_LOCK)
                if fails:
                    raise RuntimeError("loading the layers failed")
        assert await other.fetchval("SELECT pg_try_advisory_lock($1)", _BOUNDARY_LOCK)
    finally:
        await other.close()
        await pool.close()

