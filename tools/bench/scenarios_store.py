"""The store and start-up rows: appends (group commit against one commit per event and COPY), the projection
rebuild of a million events, start-up on that store, and routing against raw shapely."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import asyncpg
import numpy as np

from dispatch.events import DomainEvent
from hub.store.committer import GroupCommitter
from hub.store.events import AppendRequest, append_batch
from tools.bench import fill, procs
from tools.bench.databases import pool_of
from tools.bench.report import Row, line, note
from tools.bench.run import Run

REBUILD_TARGET_EVENTS_PER_S = 1_000_000 / 60
STARTUP_TARGET_S = 3.0
STARTUP_RSS_MB = 30.0


# ---- store appends (the first figures the bench printed; kept) -------------------------------------------

def _event(i: int) -> DomainEvent:
    return DomainEvent("bench.happened", {"i": i, "note": "路灯不亮" * 4})


async def _timed(n: int, work: Callable[[], Awaitable[None]]) -> float:
    started = time.perf_counter()
    await work()
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


async def store(run: Run) -> None:
    n = run.scale.store_events
    print(f"event store appends ({n:,} events, one event per append)", flush=True)
    url = await run.dbs.plain("store")
    try:
        async with pool_of(url) as pool:
            figures = await bench_store(pool, n, concurrency=8)
    finally:
        await run.dbs.drop(url)
    line("naive: one commit per event", figures["naive"], "ev/s")
    line("hub: group commit", figures["group"], "ev/s", ("naive", figures["naive"]))
    line("limit: COPY", figures["copy"], "ev/s")
    line("hub group commit as % of COPY", 100 * figures["group"] / figures["copy"], "%")


# ---- a store of a million events: rebuild, then start-up ---------------------------------------------------

async def _filled_store(run: Run, label: str) -> tuple[str, int, float]:
    """A new database filled with `scale.events` realistic events: (url, events, seconds the COPY took)."""
    url = await run.dbs.fresh(label)
    async with pool_of(url) as pool:
        samples = await fill.sample_cases(pool, 400)
    started = time.monotonic()
    written = await fill.fill(url, samples, run.scale.events)
    return url, written, time.monotonic() - started


def _rebuild_command(url: str, redis_url: str) -> tuple[float, str]:
    """`cityloop projections rebuild` on `url` in a process of its own: (seconds, what it printed)."""
    env = procs.bench_env(url, redis_url, 0)
    started = time.monotonic()
    out = subprocess.run([sys.executable, "-m", "hub.cli", "projections", "rebuild"], env=env, capture_output=True,
                         text=True, check=False, timeout=3600)
    elapsed = time.monotonic() - started
    if out.returncode != 0:
        raise RuntimeError(f"projections rebuild failed ({out.returncode}): {out.stderr.strip()[-2000:]}")
    return elapsed, out.stdout.strip()


async def rebuild(run: Run) -> None:
    n = run.scale.events
    print(f"projection rebuild ({n:,} events of realistic cases, `cityloop projections rebuild`)", flush=True)
    url, written, fill_s = await _filled_store(run, "rebuild")
    note("store filled", f"{written:,} events by COPY in {fill_s:.1f} s ({written / fill_s:,.0f} events/s)")
    seconds, said = await asyncio.to_thread(_rebuild_command, url, run.redis_url)
    rate = written / seconds
    note("rebuild", f"{seconds:.1f} s = {rate:,.0f} events/s ({said.splitlines()[-1] if said else 'no output'})")
    run.filled = (url, written)
    run.add(Row(f"projection rebuild ({written:,} events)", f"{seconds:.1f} s ({rate:,.0f} events/s)",
                "1,000,000 events ≤ 60 s (≥ 16,667 events/s)", rate >= REBUILD_TARGET_EVENTS_PER_S,
                f"{seconds / fill_s:.1f}× the COPY that filled it ({fill_s:.1f} s)"))


# A hub answers /readyz before the leader's loops have caught up (early warning restores its windows, the
# callback writer reads from its checkpoint): RSS is sampled every second for this long after ready, and the
# figure is the last sample (after the heap-release loop's first rounds, hub.infra.heap), with the peak shown.
# Three seconds, as before 2026-12-07, caught early warning halfway through restoring its windows.
SETTLE_S = 20


async def _start(url: str, run: Run) -> tuple[float, float, float]:
    """A fresh hub on `url`: (seconds until /readyz answers 200, RSS SETTLE_S later, the peak RSS until then)."""
    hub = procs.start_hub(url, run.redis_url, run.workers)
    try:
        ready = await hub.wait_ready(timeout_s=600)
        samples = []
        for _ in range(SETTLE_S):
            await asyncio.sleep(1.0)
            samples.append(hub.rss_mb())
        return ready, samples[-1], max(samples)
    finally:
        hub.stop()


async def startup(run: Run) -> None:
    print("start-up: a fresh `cityloop serve` until /readyz answers 200, on an empty store and on a full one",
          flush=True)
    empty = await run.dbs.fresh("startempty")
    try:
        empty_ready, empty_rss, empty_peak = await _start(empty, run)
    finally:
        await run.dbs.drop(empty)
    note("empty store", f"ready in {empty_ready:.2f} s, RSS {empty_rss:,.0f} MB after {SETTLE_S} s "
                        f"(peak {empty_peak:,.0f} MB)")
    if run.filled is None:
        url, written, _ = await _filled_store(run, "startfull")
        await asyncio.to_thread(_rebuild_command, url, run.redis_url)
        run.filled = (url, written)
    url, written = run.filled
    # The first hub on a store filled behind its back may have to catch its projections up (as after an
    # upgrade); a hub restarted on a store it kept itself is the case the target is about.
    first_ready, first_rss, first_peak = await _start(url, run)
    note(f"{written:,} events, first start", f"ready in {first_ready:.2f} s, RSS {first_rss:,.0f} MB after "
                                             f"{SETTLE_S} s (peak {first_peak:,.0f} MB)")
    ready, rss, peak = await _start(url, run)
    note(f"{written:,} events, restart", f"ready in {ready:.2f} s, RSS {rss:,.0f} MB after {SETTLE_S} s "
                                         f"(peak {peak:,.0f} MB)")
    diff = rss - empty_rss
    run.add(Row(f"start-up with {written:,} events in the store",
                f"ready in {ready:.1f} s (first start {first_ready:.1f} s); RSS {rss:,.0f} MB vs {empty_rss:,.0f} MB "
                f"empty ({diff:+,.0f} MB), {SETTLE_S} s after ready",
                f"ready ≤ {STARTUP_TARGET_S:.0f} s; RSS within ± {STARTUP_RSS_MB:.0f} MB of the empty store",
                ready <= STARTUP_TARGET_S and abs(diff) <= STARTUP_RSS_MB,
                f"empty store: ready in {empty_ready:.1f} s, {empty_rss:,.0f} MB"))


# ---- routing (kept) ----------------------------------------------------------------------------------------

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


def _rate(n: int, work: Callable[[], object]) -> float:
    started = time.perf_counter()
    work()
    return n / (time.perf_counter() - started)


def bench_routing(cache_dir: Any, n: int) -> dict[str, float]:
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


async def routing(run: Run) -> None:
    points = run.scale.routing_points
    print(f"routing ({points:,} random points inside Nanning)", flush=True)
    route = await asyncio.to_thread(bench_routing, run.settings.data_dir / "geo-cache", points)
    line("county level: hub locate_many", route["county_hub"], "pts/s", ("raw shapely", route["county_raw"]))
    line("county level: raw shapely STRtree.query", route["county_raw"], "pts/s")
    line("county level: geopandas.sjoin", route["county_sjoin"], "pts/s", ("raw shapely", route["county_raw"]))
    line(f"all 5 levels: hub locate_many ({route['grids']:,.0f} grids)", route["full_hub"], "pts/s",
         ("raw shapely on grids", route["grid_raw"]))
    line("grid level: raw shapely STRtree.query", route["grid_raw"], "pts/s")
    print(f"  {'county level: hub locate, one point':<46} {route['county_single_us']:12.1f} µs/pt", flush=True)
    print(f"  {'all 5 levels: hub locate, one point':<46} {route['full_single_us']:12.1f} µs/pt", flush=True)

