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
from urllib.parse import urlsplit

import aiohttp
import asyncpg
import numpy as np

from dispatch.events import DomainEvent
from geo.router import CountyRouter
from hub.auth import add_api_key
from hub.committer import GroupCommitter
from hub.db import create_pool
from hub.eventstore import AppendRequest, append_batch
from hub.migrate import apply_migrations
from hub.settings import Settings
from hub.simulate import TicketFactory


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
        records = [(uuid.uuid4(), 1, "bench.happened", _event(i).data, {}, now) for i in range(n)]
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
    env = {**os.environ, "DATABASE_URL": database_url, "REDIS_URL": settings.redis_url or "",
           "CITYLOOP_PORT": str(port), "CITYLOOP_LOG_LEVEL": "WARNING"}
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


def bench_routing(n: int) -> dict[str, float]:
    import shapely

    router = CountyRouter.nanning()
    minx, miny, maxx, maxy = router.bounds
    rng = np.random.default_rng(3)
    lngs = rng.uniform(minx + 0.3, maxx - 0.3, n)
    lats = rng.uniform(miny + 0.3, maxy - 0.3, n)
    started = time.perf_counter()
    router.locate_many(lngs, lats)
    batched = n / (time.perf_counter() - started)
    single_n = min(n, 20_000)
    started = time.perf_counter()
    for x, y in zip(lngs[:single_n].tolist(), lats[:single_n].tolist(), strict=True):
        router.locate(x, y)
    single_us = (time.perf_counter() - started) / single_n * 1e6
    polygons = [shapely.geometry.shape(router.geometry_geojson(a.code)) for a in router.counties()]
    tree = shapely.STRtree(polygons)
    points = shapely.points(lngs, lats)
    started = time.perf_counter()
    tree.query(points, predicate="within")
    raw = n / (time.perf_counter() - started)
    return {"batched": batched, "single_us": single_us, "raw": raw}


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
        print(f"routing ({points:,} points in Nanning's bounding box)", flush=True)
        route = bench_routing(points)
        _report("hub: locate_many", route["batched"], "pts/s", ("raw shapely STRtree", route["raw"]))
        _report("raw shapely STRtree.query(within)", route["raw"], "pts/s")
        print(f"  {'hub: locate, one point at a time':<46} {route['single_us']:12.1f} µs/pt", flush=True)
    finally:
        await admin.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        await admin.close()
