"""The consoles row: tickets at a steady rate, first with no console, then with a thousand consoles (50
city-wide, 950 township-scoped) connected in a process of their own (tools/bench/consoles.py)."""

from __future__ import annotations

import asyncio
import os
import secrets
import sys
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np
import orjson

from hub.identity.auth import hash_password, save_user, token_digest
from hub.infra.db import Connection
from tools.bench import procs
from tools.bench.databases import maintained_now
from tools.bench.load import TicketStream, paced
from tools.bench.report import Row, cpu_per_ticket, note
from tools.bench.run import Run, hub_on_fresh_database
from tools.bench.stats import Latency, console_latencies, latency_ms

CONSOLE_P99_MS = 250.0
ACK_FACTOR = 2.0
CITY = "450100"


async def console_sessions(pool: Connection | asyncpg.Pool, city: int, township: int) -> list[dict[str, Any]]:
    """Console sign-ins for `city` city-wide operators and `township` township handlers spread over the
    active townships (one user per township). The sessions are written as a sign-in would write them: a
    thousand real sign-ins would cost the hub ~200 s of argon2."""
    townships = [r["code"] for r in await pool.fetch(
        "SELECT a.code FROM areas a JOIN boundary_versions v ON v.id = a.version_id "
        "WHERE v.active AND v.level = 'township' ORDER BY a.code")]
    if not townships:
        raise RuntimeError("the bench database has no townships (demo boundaries missing)")
    password_hash = await hash_password(secrets.token_urlsafe(16))
    await save_user(pool, "bench-city", password_hash, "city_operator", CITY)
    for code in townships:
        await save_user(pool, f"bench-township-{code}", password_hash, "township_handler", code)
    expires = datetime.now(UTC) + timedelta(hours=2)
    consoles: list[dict[str, Any]] = []
    sessions: list[tuple[bytes, str, datetime]] = []
    for i in range(city + township):
        token = secrets.token_urlsafe(32)
        if i < city:
            user, areas, kind = "bench-city", [], "city"
        else:
            code = townships[(i - city) % len(townships)]
            user, areas, kind = f"bench-township-{code}", [code], "township"
        sessions.append((token_digest(token), user, expires))
        consoles.append({"token": token, "areas": areas, "kind": kind})
    await pool.executemany("INSERT INTO sessions (token_hash, username, expires_at) VALUES ($1, $2, $3)", sessions)
    return consoles


async def _read_word(proc: asyncio.subprocess.Process, word: str, timeout_s: float) -> dict[str, Any]:
    assert proc.stdout is not None
    while True:
        raw = await asyncio.wait_for(proc.stdout.readline(), timeout=timeout_s)
        if not raw:
            raise RuntimeError(f"the console fleet ended before saying {word}")
        text = raw.decode()
        if text.startswith(word + " "):
            data: dict[str, Any] = orjson.loads(text[len(word) + 1:])
            return data


async def consoles(run: Run) -> None:
    scale = run.scale
    n = scale.city_consoles + scale.township_consoles
    rate, seconds = scale.console_rate, scale.console_s
    print(f"{n:,} consoles ({scale.city_consoles} city-wide, {scale.township_consoles} township-scoped) at "
          f"{rate:.0f} tickets/s ({seconds / 3:.0f} s warm-up, {seconds:.0f} s without consoles, then {seconds:.0f} s "
          "with them; each phase starts with the database vacuumed and analysed, autovacuum held off until the row "
          "ends)", flush=True)
    async with hub_on_fresh_database(run, "consoles", run.workers) as (hub, key, url):
        pool = await asyncpg.connect(url)
        try:
            specs = await console_sessions(pool, scale.city_consoles, scale.township_consoles)
        finally:
            await pool.close()
        stream = TicketStream(run.templates)
        postgres = await procs.postgres_server_pid(url)
        # A warm-up, so that the statistics the first phase's plans are made from describe tables with cases in
        # them; then each phase starts vacuumed and analysed, with no autovacuum inside one of them.
        warm = await paced(hub.base, key, stream, rate=rate, seconds=seconds / 3)
        await maintained_now(url)
        alone, spent_alone = await procs.spent_on(hub, postgres, lambda: paced(
            hub.base, key, stream, rate=rate, seconds=seconds, first=len(warm.sent_at)))
        first = len(alone.sent_at)
        await maintained_now(url, hold_autovacuum=False)
        with tempfile.TemporaryDirectory(prefix="cityloop-consoles-") as tmp:
            out = Path(tmp) / "receipts.npz"
            env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
            fleet = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "tools.bench.consoles", stdin=asyncio.subprocess.PIPE,
                stdout=asyncio.subprocess.PIPE, env=env)
            assert fleet.stdin is not None
            spec = {"base": hub.base, "prefix": stream.prefix, "consoles": specs, "first": first,
                    "max_tickets": first + int(rate * seconds) + 1, "out": str(out)}
            fleet.stdin.write(orjson.dumps(spec) + b"\n")
            await fleet.stdin.drain()
            try:
                ready = await _read_word(fleet, "READY", 900)
                rss_before = hub.rss_mb()
                watched, spent_watched = await procs.spent_on(hub, postgres, lambda: paced(
                    hub.base, key, stream, rate=rate, seconds=seconds, first=first))
                await asyncio.sleep(2.0)  # the last frames on their way
                rss_with = hub.rss_mb()
                fleet.stdin.write(b"stop\n")
                await fleet.stdin.drain()
                done = await _read_word(fleet, "DONE", 120)
            finally:
                if fleet.returncode is None:
                    fleet.stdin.close()
                    await fleet.wait()
            receipts = np.load(out)
            sent = watched.sent_at.copy()
            sent[:first] = np.nan  # the first phase's tickets reach consoles only in their snapshots
            delays = latency_ms(console_latencies(receipts["tickets"], receipts["times"], sent))
    _judge(run, n, alone.answers.latency_of(range(200, 300)), watched.answers.latency_of(range(200, 300)),
           delays, ready, done, len(watched.answers.statuses),
           (spent_alone.server_s, alone.answers.count(range(200, 300))),
           (spent_watched.server_s, watched.answers.count(range(200, 300))), (rss_before, rss_with),
           (spent_alone.postgres_s, spent_watched.postgres_s))


def _judge(run: Run, n: int, alone: Latency, watched: Latency, delays: Latency, ready: dict[str, Any],
           done: dict[str, Any], sent: int, cpu_alone: tuple[float, int], cpu_watched: tuple[float, int],
           rss: tuple[float, float], db: tuple[float | None, float | None] = (None, None)) -> None:
    failed = f"; {ready['failed']:,} could not connect {ready['errors']}" if ready["failed"] else ""
    retries = ready.get("retries") or {}
    if retries:  # reconnects as a browser's would (a 503 or 1013 from a busy hub), and why
        failed += f"; {sum(retries.values()):,} reconnects before the snapshot {retries}"
    if ready.get("stuck"):
        failed += f"; still waiting: {ready['stuck']}"
    note("consoles ready", f"{ready['ready']:,} of {n:,} had their snapshot after {ready['seconds']:.1f} s{failed}")
    note("ack without consoles", alone.text())
    note("ack with consoles", watched.text())
    note("ingest → console", f"{delays.text()} over {delays.n:,} deliveries")
    city_seen = done.get("min_seen", {}).get("city")
    if city_seen is not None:
        note("city-wide consoles", f"the least served saw {city_seen:,} of the {sent:,} tickets sent")
    note("fleet", f"{done['frames']:,} frames, {done['bytes'] / 1e6:,.1f} MB; console process CPU "
                  f"{done['cpu_s']:.1f} s")
    note("hub CPU without consoles", cpu_per_ticket(*cpu_alone))
    note("hub CPU with consoles", cpu_per_ticket(*cpu_watched))
    for label, db_cpu, (_, tickets) in (("without", db[0], cpu_alone), ("with", db[1], cpu_watched)):
        if db_cpu is not None:
            note(f"PostgreSQL CPU {label} consoles", cpu_per_ticket(db_cpu, tickets))
    note("hub RSS with consoles", f"{rss[0]:,.0f} MB → {rss[1]:,.0f} MB")
    dropped = int(done["dropped"]) + (n - int(done["connected"]))
    ratio = watched.p99 / alone.p99 if alone.p99 else float("inf")
    met = (delays.n > 0 and delays.p99 <= CONSOLE_P99_MS and ratio <= ACK_FACTOR and dropped == 0
           and ready["ready"] == n)
    codes = f" (close codes {done['close_codes']})" if done["close_codes"] else ""
    run.add(Row(f"{n:,} consoles ({run.scale.city_consoles} city-wide, {run.scale.township_consoles} township) at "
                f"{run.scale.console_rate:.0f} tickets/s",
                f"ingest→console p99 {delays.p99:,.0f} ms; ack p99 {watched.p99:,.0f} ms = {ratio:.2f}× no-console; "
                f"{dropped:,} dropped{codes}",
                "ingest→console p99 ≤ 250 ms, ack p99 ≤ 2× the no-console figure, no console dropped", met,
                f"ack p99 without consoles {alone.p99:,.0f} ms"))
