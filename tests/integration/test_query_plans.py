"""The queries that run on every commit or over a whole area are served by an index that matches them
(migrations/0028): asked of PostgreSQL's planner with sequential scans priced out, so that what is checked is
whether a fitting index exists, not what the planner prefers on a near-empty test table."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, date, datetime
from typing import Any

import asyncpg
import orjson
import pytest

from hub.infra.db import Connection, create_pool
from hub.services.analysis import Analysis, Place
from hub.services.outbox import OUTBOX_SEQUENCES
from hub.store.reads import QUEUES, CaseReads


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database_url, min_size=1, max_size=2)
    yield pool
    await pool.close()


async def plan_of(conn: Connection, sql: str, *args: Any) -> list[dict[str, Any]]:
    """Every node of the plan of `sql`, sequential scans priced out (they still appear when nothing else can
    answer the query)."""
    async with conn.transaction():
        await conn.execute("SET LOCAL enable_seqscan = off")
        raw = await conn.fetchval(f"EXPLAIN (FORMAT JSON) {sql}", *args)
    nodes, todo = [], [(orjson.loads(raw) if isinstance(raw, str) else raw)[0]["Plan"]]
    while todo:
        node = todo.pop()
        nodes.append(node)
        todo.extend(node.get("Plans", []))
    return nodes


class Explaining:
    """A pool for Analysis that explains what it is asked instead of running it."""

    def __init__(self, conn: Connection) -> None:
        self.conn = conn
        self.plans: list[list[dict[str, Any]]] = []

    async def fetch(self, sql: str, *args: Any) -> list[Any]:
        self.plans.append(await plan_of(self.conn, sql, *args))
        return []


async def test_numbering_a_cases_callbacks_reads_that_cases_outbox_rows_not_the_whole_outbox(
        pool: asyncpg.Pool) -> None:
    async with pool.acquire() as conn:
        nodes = await plan_of(conn, OUTBOX_SEQUENCES, [uuid.uuid4(), uuid.uuid4()])
    scans = [(n["Node Type"], n.get("Index Name")) for n in nodes if "Scan" in n["Node Type"]]
    assert scans and all(kind != "Seq Scan" for kind, _ in scans), scans
    assert "outbox_case" in {name for _, name in scans}, scans


@pytest.mark.parametrize("area", ["450103", "450103001", "450103001001"])
async def test_the_analysis_of_an_area_over_a_period_is_one_index_range_on_both(
        pool: asyncpg.Pool, area: str) -> None:
    """A county's, a township's and a community's reports of a period: the index condition holds the area's code
    and the period's bounds, rather than reading all of the area's cases ever (or all of the city's in the
    period) and filtering."""
    async with pool.acquire() as conn:
        explaining = Explaining(conn)
        await Analysis(explaining).daily(Place(area), date(2026, 11, 1), date(2026, 12, 1))  # type: ignore[arg-type]
    [nodes] = explaining.plans
    conditions = [n.get("Index Cond", "") for n in nodes if "Index" in n["Node Type"]]
    column = {6: "county_code", 9: "township_code", 12: "community_code"}[len(area)]
    assert any(column in cond and "reported_at" in cond for cond in conditions), conditions


@pytest.mark.parametrize("scopes", [frozenset({"450100"}), frozenset({"450103001"})])
async def test_the_consoles_recent_case_reads_never_scan_the_finished_cases(
        pool: asyncpg.Pool, scopes: frozenset[str]) -> None:
    """A snapshot and every queue (most recently changed first) are answered by an index: the partial index of
    open cases by last_position (0029) where nothing narrower serves, which the planner may use only when the
    query's condition implies an open state — a queue added without one would read every finished case."""
    async with pool.acquire() as conn:
        explaining = Explaining(conn)
        reads = CaseReads(explaining)  # type: ignore[arg-type]
        await reads.open_in_scopes(explaining, scopes, 50)  # type: ignore[arg-type]
        for name in QUEUES:
            await reads.queue(name, scopes, datetime(2026, 12, 7, tzinfo=UTC), 50)
    assert len(explaining.plans) == 1 + len(QUEUES)
    for what, nodes in zip(["snapshot", *QUEUES], explaining.plans, strict=True):
        scans = {(n["Node Type"], n.get("Index Name")) for n in nodes if "Scan" in n["Node Type"]}
        assert scans and not any(kind == "Seq Scan" for kind, _ in scans), (what, scans)
    snapshot_scans = {n.get("Index Name") for n in explaining.plans[0]}
    assert "cases_recent_open" in snapshot_scans, explaining.plans[0]
