"""The HTTP rows of the table: single-ticket ingest against the bare baseline, 1 vs 2 workers, the batch
endpoint, memory after many tickets, and overload."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Awaitable, Callable

from tools.bench import procs
from tools.bench.load import Closed, TicketStream, closed_loop
from tools.bench.procs import Spent
from tools.bench.report import Row, cpu_per_ticket, note, ratio_text
from tools.bench.run import Run, hub_on_fresh_database
from tools.bench.stats import WrkResult
from tools.bench.wrk import run_wrk

INGEST_TARGET_TPS = 4_000
INGEST_TARGET_P99_MS = 100.0
BATCH_TARGET_TPS = 10_000
MEMORY_TARGET_MB = 60.0
OVERLOAD_LATE_S = 2.0
OVERLOAD_P99_MS = 500.0


def _wrk_line(label: str, result: WrkResult) -> None:
    failed = f", {result.failed:,} not 2xx" if result.failed else ""
    note(label, f"{result.tickets_per_s:>9,.0f} tickets/s  {result.latency.text()}{failed}")


async def _spent(server: procs.Server, database_url: str,
                 work: Callable[[], Awaitable[WrkResult]]) -> tuple[WrkResult, Spent]:
    return await procs.spent_on(server, await procs.postgres_server_pid(database_url), work)


def _cpu_lines(label: str, spent: Spent, tickets: int) -> None:
    """Each side's CPU per acknowledged ticket, and the rate those two alone would allow on the cores this
    process may use — a ceiling that the load generator, sharing the cores, only lowers. Unlike the rate, CPU
    per ticket hardly moves with what else the shared cores are doing."""
    note(label, cpu_per_ticket(spent.server_s, tickets))
    if spent.postgres_s is None:
        return
    note("PostgreSQL CPU (the whole server)", cpu_per_ticket(spent.postgres_s, tickets))
    both_ms = 1000 * (spent.server_s + spent.postgres_s) / tickets if tickets else 0.0
    if both_ms > 0:
        cores = len(os.sched_getaffinity(0))
        note("ceiling at this CPU per ticket", f"{cores * 1000 / both_ms:>9,.0f} tickets/s on {cores} cores "
             f"({both_ms:.2f} ms of CPU per ticket, were nothing else to run)")


async def _ingest_once(run: Run, workers: int) -> tuple[WrkResult, float]:
    """Single tickets with wrk against a fresh hub: a warm-up, then the measured run; (result, hub RSS MB).
    The hub's CPU time per ticket is noted too: unlike the rate, it hardly moves with what else the shared
    cores are doing."""
    if workers in run.ingest:
        return run.ingest[workers]
    scale = run.scale
    async with hub_on_fresh_database(run, f"ingest{workers}", workers) as (hub, key, url):
        await run_wrk(hub.base, key, run.templates, seconds=scale.warmup_s, connections=scale.ingest_clients)
        result, spent = await _spent(hub, url, lambda: run_wrk(hub.base, key, run.templates,
                                                                seconds=scale.ingest_s,
                                                                connections=scale.ingest_clients))
        rss = hub.rss_mb()
    _cpu_lines(f"hub CPU ({workers} worker(s))", spent, result.tickets_accepted)
    run.ingest[workers] = (result, rss)
    return result, rss


async def baseline_ingest(run: Run) -> WrkResult:
    """The bare aiohttp + group-commit app on a database of its own, driven exactly like the hub."""
    url = await run.dbs.fresh("baseline")
    server = procs.start_baseline(url)
    try:
        await server.wait_ready()
        scale = run.scale
        await run_wrk(server.base, "none", run.templates, seconds=scale.warmup_s, connections=scale.ingest_clients)
        result, spent = await _spent(server, url, lambda: run_wrk(server.base, "none", run.templates,
                                                                  seconds=scale.ingest_s,
                                                                  connections=scale.ingest_clients))
        _cpu_lines("bare app CPU", spent, result.tickets_accepted)
        return result
    finally:
        server.stop()
        await run.dbs.drop(url)


async def ingest(run: Run) -> None:
    scale = run.scale
    print(f"single-ticket HTTP ingest (wrk, {scale.ingest_clients} clients, {scale.ingest_s:.0f} s after "
          f"{scale.warmup_s:.0f} s warm-up, acknowledged after commit; {run.workers} worker(s))", flush=True)
    hub, rss = await _ingest_once(run, run.workers)
    _wrk_line("hub", hub)
    note("hub RSS at the end", f"{rss:,.0f} MB")
    base = await baseline_ingest(run)
    _wrk_line("bare aiohttp + group-commit INSERT", base)
    met = (hub.tickets_per_s >= INGEST_TARGET_TPS and hub.latency.p99 <= INGEST_TARGET_P99_MS
           and hub.failed == 0)
    run.add(Row(f"single-ticket HTTP ingest, {scale.ingest_clients} clients, acked after commit"
                + (f" ({run.workers} workers)" if run.workers != 1 else ""),
                f"{hub.tickets_per_s:,.0f} tickets/s, p99 {hub.latency.p99:,.0f} ms"
                + (f", {hub.failed:,} not 2xx" if hub.failed else ""),
                f"≥ {INGEST_TARGET_TPS:,} tickets/s, p99 ≤ {INGEST_TARGET_P99_MS:.0f} ms", met,
                f"{ratio_text(hub.tickets_per_s, base.tickets_per_s, 'bare aiohttp + group commit')} "
                f"({base.tickets_per_s:,.0f} tickets/s, p99 {base.latency.p99:,.0f} ms)"))


async def workers(run: Run) -> None:
    print("single-ticket HTTP ingest, 1 vs 2 hub workers (`cityloop serve --workers N`)", flush=True)
    if not procs.serve_has_workers():
        note("2 workers", "not measured: this hub's `cityloop serve` has no --workers option yet")
        run.add(Row("single-ticket ingest, 2 workers vs 1", "not measured (`serve --workers` missing)",
                    "measure", None))
        return
    one, rss1 = await _ingest_once(run, 1)
    two, rss2 = await _ingest_once(run, 2)
    _wrk_line("1 worker", one)
    _wrk_line("2 workers", two)
    note("RSS (all workers)", f"{rss1:,.0f} MB with 1, {rss2:,.0f} MB with 2")
    run.add(Row("single-ticket ingest, 2 workers vs 1",
                f"{two.tickets_per_s:,.0f} vs {one.tickets_per_s:,.0f} tickets/s; p99 {two.latency.p99:,.0f} vs "
                f"{one.latency.p99:,.0f} ms", "measure", None,
                ratio_text(two.tickets_per_s, one.tickets_per_s, "1 worker")))


async def batch(run: Run) -> None:
    scale = run.scale
    print(f"batch endpoint (wrk, {scale.batch_clients} clients × {scale.batch_size} tickets per request, "
          f"{scale.batch_s:.0f} s)", flush=True)
    async with hub_on_fresh_database(run, "batch", run.workers) as (hub, key, url):
        await run_wrk(hub.base, key, run.templates, seconds=scale.warmup_s, connections=scale.batch_clients,
                      per_request=scale.batch_size)
        result, spent = await _spent(hub, url, lambda: run_wrk(hub.base, key, run.templates, seconds=scale.batch_s,
                                                                connections=scale.batch_clients,
                                                                per_request=scale.batch_size, timeout_s=60))
    _cpu_lines("hub CPU", spent, result.tickets_accepted)
    _wrk_line("hub, tickets accepted", result)
    single = run.ingest.get(run.workers)
    run.add(Row("batch endpoint (POST /api/v1/hotline/tickets:batch)",
                f"{result.tickets_per_s:,.0f} tickets/s ({scale.batch_clients} clients × {scale.batch_size}, "
                f"p99 {result.latency.p99:,.0f} ms per request)",
                f"≥ {BATCH_TARGET_TPS:,} tickets/s", result.tickets_per_s >= BATCH_TARGET_TPS,
                ratio_text(result.tickets_per_s, single[0].tickets_per_s, "single-ticket ingest") if single else ""))


async def memory(run: Run) -> None:
    scale = run.scale
    n = scale.memory_tickets
    print(f"memory: hub RSS idle, then after {n:,} tickets (batch endpoint, 8 clients × 100)", flush=True)
    async with hub_on_fresh_database(run, "memory", run.workers) as (hub, key, _url):
        await asyncio.sleep(2.0)
        idle = hub.rss_mb()
        sent = await closed_loop(hub.base, key, TicketStream(run.templates), clients=8, total_tickets=n,
                                 per_request=100, timeout_s=120, until_accepted=True)
        at_end = hub.rss_mb()
        await asyncio.sleep(3.0)
        after = hub.rss_mb()
    note("tickets acknowledged", f"{sent.answers.tickets_accepted:,} in {sent.elapsed_s:.0f} s "
                           f"({sent.answers.tickets_accepted / sent.elapsed_s:,.0f} tickets/s)")
    note("RSS", f"idle {idle:,.0f} MB, at the last answer {at_end:,.0f} MB, 3 s later {after:,.0f} MB")
    growth = after - idle
    run.add(Row(f"memory: hub RSS after {n:,} tickets",
                f"idle {idle:,.0f} MB → {after:,.0f} MB (+{growth:,.0f} MB; "
                f"{1024 * growth / max(1, sent.answers.tickets_accepted):.2f} KB per ticket)",
                f"≤ idle + {MEMORY_TARGET_MB:.0f} MB", growth <= MEMORY_TARGET_MB and
                sent.answers.tickets_accepted >= n * 0.99, "hub at idle, same process"))


async def overload(run: Run) -> None:
    scale = run.scale
    for per_request, label in ((1, "single"), (scale.batch_size, "batch")):
        what = "single tickets" if per_request == 1 else f"batches of {per_request}"
        print(f"overload: {scale.overload_clients} clients sending {what} as fast as answered "
              f"({scale.overload_s:.0f} s; Retry-After honoured)", flush=True)
        async with hub_on_fresh_database(run, f"overload{label}", run.workers) as (hub, key, _url):
            result = await closed_loop(hub.base, key, TicketStream(run.templates), clients=scale.overload_clients,
                                       seconds=scale.overload_s, per_request=per_request, timeout_s=10)
            rss = hub.rss_mb()
        run.add(_overload_row(label, scale.overload_clients, result, rss))


def _overload_row(label: str, clients: int, result: Closed, rss: float) -> Row:
    a = result.answers
    ok, unavailable = a.count(range(200, 300)), a.count([503])
    others = len(a.statuses) - ok - unavailable
    late = a.slower_than(OVERLOAD_LATE_S)
    ok_latency = a.latency_of(range(200, 300))
    note("answers", f"{len(a.statuses):,}: {ok:,} 2xx, {unavailable:,} 503 ({a.no_retry_after:,} without "
                    f"Retry-After), {others:,} other or none; {late:,} later than {OVERLOAD_LATE_S:.0f} s")
    note("2xx latency", ok_latency.text())
    note("all answers latency", a.latency_of(range(0, 600)).text())
    if result.item_statuses:
        items = ", ".join(f"{n:,} × {s}" for s, n in sorted(result.item_statuses.items()))
        codes = f" (codes: {dict(result.item_codes)})" if result.item_codes else ""
        note("tickets inside 2xx batch answers", items + codes)
    note("tickets acknowledged", f"{a.tickets_accepted:,} ({a.tickets_accepted / result.elapsed_s:,.0f} tickets/s); "
                           f"hub RSS {rss:,.0f} MB")
    met = (late == 0 and others == 0 and a.no_retry_after == 0 and ok_latency.p99 <= OVERLOAD_P99_MS
           and len(a.statuses) > 0)
    return Row(f"overload ({clients} clients, {label})",
               f"{late:,} of {len(a.statuses):,} later than 2 s or unanswered, {others + a.no_retry_after:,} "
               f"neither 2xx nor 503 + Retry-After; "
               + (f"2xx p99 {ok_latency.p99:,.0f} ms" if ok_latency.n else "no 2xx") + f" ({unavailable:,} × 503)",
               "all answered within 2 s: 2xx or 503 with Retry-After; 2xx p99 ≤ 500 ms", met)
