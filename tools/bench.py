"""`cityloop bench`: throughput and latency as ratios against baselines measured in the same run.

Timings never go into pass/fail tests; this command reports them. Each figure is printed next to its
baseline: the naive store (one commit per event) and the raw limit (COPY) for appends, raw shapely for
routing. The HTTP ingest runs the hub as a separate `cityloop serve` process and drives it from here,
so hub and load generator share this machine's cores (as on the 2-core reference box).
"""

from __future__ import annotations

import asyncio
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import aiohttp
import asyncpg
import numpy as np

from dispatch.events import DomainEvent
from hub.data import DEMO_POLICY_FILE
from hub.identity.auth import add_api_key
from hub.infra.db import create_pool
from hub.infra.migrate import apply_migrations
from hub.infra.settings import Settings
from hub.store.committer import GroupCommitter
from hub.store.events import AppendRequest, append_batch
from tools.demo import seed_demo_boundaries
from tools.router import CountyRouter
from tools.simulation import TicketFactory


def _report(label: str, value: float, unit: str, baseline: tuple[str, float] | None = None) -> None:
    ratio = f"   {value / baseline[1]:6.2f}x {baseline[0]}" if baseline and baseline[1] else ""
    print(f"  {label:<46} {value:>12,.0f} {unit}{ratio}", flush=True)


def _event(i: int) -> DomainEvent:
    return DomainEvent("bench.happened", {"i": i, "note": "路灯不亮" * 4})


async def _timed(n: int, run: Callable[[], Awaitable[None]]) -> float:
    started = time.perf_counter()
    await run()
    return n / (time.perf_counter() - started)


async def bench_store(pool: asyncpg.Pool, n: int, concurrency: int) -> dict[str, float]:
    now = datetime.now(UTC)

    async def naive() -> None:
        async def worker(k: int) -> None:
            for i in range(k, n, concurrency):
                async with pool.acquire() as conn, conn.transaction():
                    await append_batch(conn, [AppendRequest(uuid.uuid4(), 0, [_event(i)], now)])
        await asyncio.gather(*(worker(k) for k in range(concurrency)))

    async def grouped() -> None:
        committer = GroupCommitter(pool)
        task = asyncio.create_task(committer.run())

        async def worker(k: int) -> None:
            for i in range(k, n, concurrency * 8):
                await committer.append(AppendRequest(uuid.uuid4(), 0, [_event(i)], now))
        await asyncio.gather(*(worker(k) for k in range(concurrency * 8)))
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)

    async def copy_limit() -> None:
        records: list[tuple[Any, ...]] = [(uuid.uuid4(), 1, "bench.happened", _event(i).data, {}, now)
                                          for i in range(n)]
        async with pool.acquire() as conn:
            await conn.copy_records_to_table(
                "events", records=records,
                columns=["stream_id", "version", "type", "data", "metadata", "occurred_at"])

    return {
        "naive": await _timed(max(n // 4, 200), naive),
        "group": await _timed(n, grouped),
        "copy": await _timed(n, copy_limit),
    }


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def bench_http(settings: Settings, database_url: str, key: str, seconds: float, concurrency: int
                     ) -> tuple[float, list[float]]:
    port = _free_port()
    # The demo policy unless one is configured; the database was seeded with the demo layers (run_bench).
    env = {"CITYLOOP_POLICY_FILE": str(DEMO_POLICY_FILE), **os.environ, "DATABASE_URL": database_url,
           "REDIS_URL": settings.redis_url or "", "CITYLOOP_PORT": str(port), "CITYLOOP_LOG_LEVEL": "WARNING"}
    factory = TicketFactory(CountyRouter.nanning(), seed=1)
    tickets = [factory.ticket() for _ in range(int(seconds * 8_000))]
    proc = subprocess.Popen([sys.executable, "-m", "hub.cli", "serve"], env=env)
    base = f"http://127.0.0.1:{port}"
    latencies: list[float] = []
    try:
        connector = aiohttp.TCPConnector(limit=concurrency)
        async with aiohttp.ClientSession(base, connector=connector, headers={"X-API-Key": key}) as http:
            for _ in range(300):
                try:
                    async with http.get("/readyz") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
            deadline = time.perf_counter() + seconds
            cursor = iter(tickets)

            async def worker() -> None:
                for body in cursor:
                    if time.perf_counter() > deadline:
                        return
                    started = time.perf_counter()
                    async with http.post("/api/v1/hotline/tickets", json=body) as resp:
                        await resp.read()
                        if resp.status in (200, 202):
                            latencies.append(time.perf_counter() - started)

            started = time.perf_counter()
            await asyncio.gather(*(worker() for _ in range(concurrency)))
            elapsed = time.perf_counter() - started
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    return len(latencies) / elapsed, latencies


def _points_inside(polygons: list[Any], n: int, seed: int = 3) -> tuple[Any, Any]:
    """n random points inside the city (rejection sampling in its bounding box)."""
    import shapely

    city = shapely.union_all(polygons)
    shapely.prepare(city)
    minx, miny, maxx, maxy = city.bounds
    rng = np.random.default_rng(seed)
    xs: list[Any] = []
    ys: list[Any] = []
    while sum(len(x) for x in xs) < n:
        x, y = rng.uniform(minx, maxx, n), rng.uniform(miny, maxy, n)
        keep = shapely.contains_xy(city, x, y)
        xs.append(x[keep])
        ys.append(y[keep])
    return np.concatenate(xs)[:n], np.concatenate(ys)[:n]


def _rate(n: int, fn: Callable[[], object]) -> float:
    started = time.perf_counter()
    fn()
    return n / (time.perf_counter() - started)


def bench_routing(cache_dir: Path, n: int) -> dict[str, float]:
    """Hub index against raw shapely STRtree and geopandas.sjoin on the same points and polygons."""
    import geopandas
    import shapely

    from geo.hierarchy import JurisdictionIndex
    from tools.demo_layers import load_or_build_demo_layers

    layers = load_or_build_demo_layers(cache_dir)
    counties = [s.geometry for s in layers["county"]]
    grids = [s.geometry for s in layers["grid"]]
    lngs, lats = _points_inside(counties, n)
    points = shapely.points(lngs, lats)
    county_index = JurisdictionIndex({"county": layers["county"]})
    full_index = JurisdictionIndex(layers)
    county_tree, grid_tree = shapely.STRtree(counties), shapely.STRtree(grids)
    frame = geopandas.GeoDataFrame(geometry=points, crs=4326)
    county_frame = geopandas.GeoDataFrame({"code": [s.code for s in layers["county"]]}, geometry=counties, crs=4326)
    single_n = min(n, 20_000)
    pairs = list(zip(lngs[:single_n].tolist(), lats[:single_n].tolist(), strict=True))
    return {
        "county_hub": _rate(n, lambda: county_index.locate_many(lngs, lats)),
        "county_raw": _rate(n, lambda: county_tree.query(points, predicate="within")),
        "county_sjoin": _rate(n, lambda: geopandas.sjoin(frame, county_frame, predicate="within")),
        "full_hub": _rate(n, lambda: full_index.locate_many(lngs, lats)),
        "grid_raw": _rate(n, lambda: grid_tree.query(points, predicate="within")),
        "county_single_us": 1e6 / _rate(single_n, lambda: [county_index.locate(x, y) for x, y in pairs]),
        "full_single_us": 1e6 / _rate(single_n, lambda: [full_index.locate(x, y) for x, y in pairs]),
        "grids": len(grids),
    }


async def run_bench(settings: Settings, *, quick: bool = False) -> None:
    assert settings.database_url is not None
    name = f"cityloop_bench_{uuid.uuid4().hex[:8]}"
    admin = await asyncpg.connect(settings.database_url)
    await admin.execute(f'CREATE DATABASE "{name}"')
    url = urlsplit(settings.database_url)._replace(path=f"/{name}").geturl()
    try:
        await asyncio.to_thread(apply_migrations, url)
        pool = await create_pool(url, min_size=4, max_size=16)
        try:
            n = 5_000 if quick else 40_000
            print(f"event store appends ({n:,} events, one event per append)", flush=True)
            store = await bench_store(pool, n, concurrency=8)
            _report("naive: one commit per event", store["naive"], "ev/s")
            _report("hub: group commit", store["group"], "ev/s", ("naive", store["naive"]))
            _report("limit: COPY", store["copy"], "ev/s")
            _report("hub group commit as % of COPY", 100 * store["group"] / store["copy"], "%")
            key = await add_api_key(pool, f"bench-{uuid.uuid4().hex[:6]}", "hotline")
            await seed_demo_boundaries(pool, settings.data_dir / "geo-cache")  # for the HTTP ingest's routing
        finally:
            await pool.close()
        seconds = 3.0 if quick else 10.0
        print(f"HTTP single-ticket ingest ({seconds:.0f} s, 64 concurrent clients, 2 events per ticket)", flush=True)
        rate, latencies = await bench_http(settings, url, key, seconds, concurrency=64)
        lat = np.array(latencies) * 1000
        _report("tickets acknowledged after commit", rate, "tickets/s")
        _report("events committed", rate * 2, "ev/s", ("naive store", store["naive"]))
        if len(lat):
            print(f"  {'acknowledgement latency p50 / p99 / max':<46} {np.percentile(lat, 50):8.1f} / "
                  f"{np.percentile(lat, 99):.1f} / {lat.max():.1f} ms", flush=True)
        points = 200_000 if quick else 1_000_000
        print(f"routing ({points:,} random points inside Nanning)", flush=True)
        route = bench_routing(settings.data_dir / "geo-cache", points)
        _report("county level: hub locate_many", route["county_hub"], "pts/s",
                ("raw shapely", route["county_raw"]))
        _report("county level: raw shapely STRtree.query", route["county_raw"], "pts/s")
        _report("county level: geopandas.sjoin", route["county_sjoin"], "pts/s",
                ("raw shapely", route["county_raw"]))
        _report(f"all 5 levels: hub locate_many ({route['grids']:,.0f} grids)", route["full_hub"], "pts/s",
                ("raw shapely on grids", route["grid_raw"]))
        _report("grid level: raw shapely STRtree.query", route["grid_raw"], "pts/s")
        print(f"  {'county level: hub locate, one point':<46} {route['county_single_us']:12.1f} µs/pt", flush=True)
        print(f"  {'all 5 levels: hub locate, one point':<46} {route['full_single_us']:12.1f} µs/pt", flush=True)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
