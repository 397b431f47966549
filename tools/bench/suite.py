"""`cityloop bench`: the issue's table, measured in one run, each figure next to a baseline of the same run.

Timings never go into pass/fail tests; this command reports them. Every HTTP figure comes from a hub started
as its own `cityloop serve` process (with `--workers N` when asked) on a database of its own, driven from
other processes on the same machine: the load generator shares the hub's cores, as on the 2-core box the
targets were set for. Each scenario can be run alone (`--only NAME[,NAME]`).
"""

from __future__ import annotations

import os
import time
from collections.abc import Awaitable, Callable

from hub.infra.settings import Settings
from tools.bench import procs, scenarios_http, scenarios_live, scenarios_store
from tools.bench.databases import Databases
from tools.bench.report import Row, render_table
from tools.bench.run import Run, Scale
from tools.bench.wrk import have_wrk, ticket_templates

Scenario = Callable[[Run], Awaitable[None]]
# In the order they run; the names are what --only takes.
SCENARIOS: dict[str, Scenario] = {
    "store": scenarios_store.store,
    "ingest": scenarios_http.ingest,
    "workers": scenarios_http.workers,
    "batch": scenarios_http.batch,
    "consoles": scenarios_live.consoles,
    "memory": scenarios_http.memory,
    "overload": scenarios_http.overload,
    "rebuild": scenarios_store.rebuild,
    "startup": scenarios_store.startup,
    "routing": scenarios_store.routing,
}
NEEDS_WRK = frozenset({"ingest", "workers", "batch"})


def chosen(only: str | None) -> list[str]:
    """The scenarios to run, in SCENARIOS order; ValueError naming an unknown one."""
    if not only:
        return list(SCENARIOS)
    wanted = {name.strip() for name in only.split(",") if name.strip()}
    unknown = wanted - set(SCENARIOS)
    if unknown:
        raise ValueError(f"unknown scenario(s) {', '.join(sorted(unknown))}; choose from {', '.join(SCENARIOS)}")
    return [name for name in SCENARIOS if name in wanted]


async def run_bench(settings: Settings, *, quick: bool = False, only: str | None = None, workers: int = 1) -> None:
    assert settings.database_url is not None and settings.redis_url is not None
    names = chosen(only)
    if NEEDS_WRK & set(names) and not have_wrk():
        raise ValueError("wrk is missing (Debian package `wrk`; scripts/system-packages.sh installs it)")
    procs.serve_command(workers)  # ValueError for --workers N > 1 on a hub without the flag, before any work
    scale = Scale.of(quick)
    procs.raise_open_files_limit()  # for the consoles, in the fleet and in the hubs started from here
    began = time.monotonic()
    print(f"cityloop bench{' --quick (SCALED DOWN)' if quick else ''}: {', '.join(names)}; {workers} hub "
          f"worker(s); {os.cpu_count()} cores shared by hub, PostgreSQL and the load generators", flush=True)
    run = Run(settings, scale, workers, Databases(settings.database_url, settings.data_dir / "geo-cache"),
              settings.redis_url, ticket_templates())
    try:
        for name in names:
            try:
                await SCENARIOS[name](run)
            except Exception as exc:  # noqa: BLE001 — one broken scenario must not hide the others' figures
                print(f"  {name}: FAILED: {type(exc).__name__}: {exc}", flush=True)
                run.add(Row(name, f"failed: {type(exc).__name__}: {str(exc)[:200]}", "", False))
    finally:
        await run.dbs.close()
    print(f"\nthe issue's table ({time.monotonic() - began:.0f} s){' — SCALED DOWN (--quick)' if quick else ''}:\n",
          flush=True)
    print(render_table(run.rows, scaled=quick), flush=True)
