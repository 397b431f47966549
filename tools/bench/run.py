"""What every scenario of the bench gets: the scale (full or --quick), the run's databases and Redis, the
worker count, realistic ticket templates, and where the table's rows go."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass, field

from hub.identity.auth import add_api_key
from hub.infra.settings import Settings
from tools.bench import procs
from tools.bench.databases import Databases, pool_of
from tools.bench.report import Row
from tools.bench.stats import WrkResult


@dataclass(frozen=True, slots=True)
class Scale:
    """The issue's numbers (full) or a scaled-down run (--quick) that finishes in a few minutes."""

    quick: bool
    warmup_s: float
    ingest_s: float
    ingest_clients: int
    batch_s: float
    batch_clients: int
    batch_size: int
    city_consoles: int
    township_consoles: int
    console_rate: float
    console_s: float
    memory_tickets: int
    events: int
    overload_s: float
    overload_clients: int
    store_events: int
    routing_points: int

    @classmethod
    def of(cls, quick: bool) -> Scale:
        if quick:
            return cls(quick=True, warmup_s=2, ingest_s=5, ingest_clients=64, batch_s=10, batch_clients=8,
                       batch_size=100, city_consoles=10, township_consoles=190, console_rate=300, console_s=8,
                       memory_tickets=10_000, events=100_000, overload_s=5, overload_clients=256,
                       store_events=5_000, routing_points=200_000)
        return cls(quick=False, warmup_s=3, ingest_s=20, ingest_clients=64, batch_s=20, batch_clients=8,
                   batch_size=100, city_consoles=50, township_consoles=950, console_rate=300, console_s=30,
                   memory_tickets=200_000, events=1_000_000, overload_s=15, overload_clients=256,
                   store_events=40_000, routing_points=1_000_000)


@dataclass
class Run:
    settings: Settings
    scale: Scale
    workers: int
    dbs: Databases
    redis_url: str
    templates: list[tuple[str, str]]
    rows: list[Row] = field(default_factory=list)
    ingest: dict[int, tuple[WrkResult, float]] = field(default_factory=dict)  # workers → (hub, hub RSS MB)
    filled: tuple[str, int] | None = None  # a store of `events` events, rebuilt (for the start-up)

    def add(self, row: Row) -> None:
        self.rows.append(row)


@contextlib.asynccontextmanager
async def hub_on_fresh_database(run: Run, label: str, workers: int = 1
                                ) -> AsyncIterator[tuple[procs.Server, str, str]]:
    """A new database (demo boundaries, a hotline key) and a hub serving it: (hub, hotline key, database URL).
    The database is dropped afterwards."""
    url = await run.dbs.fresh(label)
    try:
        async with pool_of(url) as pool:
            key = await add_api_key(pool, f"bench-{label}", "hotline")
        hub = procs.start_hub(url, run.redis_url, workers)
        try:
            await hub.wait_ready()
            yield hub, key, url
        finally:
            hub.stop()
    finally:
        await run.dbs.drop(url)
