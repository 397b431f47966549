"""The bench's wrk script against a small local server: every ticket gets a number of its own across wrk's
threads, answers are counted by status, 503s without Retry-After are noticed, and a batch answer's
`accepted` is summed (tools/bench/wrk.py). Counts only: no timing is asserted."""

from __future__ import annotations

import contextlib
import itertools
import shutil
from collections.abc import AsyncIterator

import orjson
import pytest
from aiohttp import web

from tools.bench.load import TicketStream
from tools.bench.procs import free_port
from tools.bench.wrk import LAT_PASSES, LAT_STEP, LNG_PASSES, LNG_STEP, run_wrk

pytestmark = pytest.mark.skipif(shutil.which("wrk") is None, reason="wrk missing: scripts/system-packages.sh")

TEMPLATES = [('{"ticket_no":"', '","content":"路灯不亮"}'), ('{"ticket_no":"', '","content":"井盖缺失"}')]


class Seen:
    def __init__(self) -> None:
        self.tickets: list[str] = []
        self.turn = itertools.count()
        self.keys: set[str] = set()


@contextlib.asynccontextmanager
async def _server(seen: Seen) -> AsyncIterator[str]:
    async def single(request: web.Request) -> web.Response:
        seen.keys.add(request.headers.get("X-API-Key", ""))
        seen.tickets.append(orjson.loads(await request.read())["ticket_no"])
        turn = next(seen.turn) % 3
        if turn == 1:
            return web.json_response({"error": {"code": "overloaded"}}, status=503)  # no Retry-After: a fault
        if turn == 2:
            return web.json_response({"error": {"code": "overloaded"}}, status=503, headers={"Retry-After": "1"})
        return web.json_response({"case_id": "x"}, status=202)

    async def batch(request: web.Request) -> web.Response:
        tickets = orjson.loads(await request.read())["tickets"]
        seen.tickets.extend(t["ticket_no"] for t in tickets)
        return web.json_response({"results": [], "accepted": len(tickets) - 1, "rejected": 1})

    app = web.Application()
    app.router.add_post("/api/v1/hotline/tickets", single)
    app.router.add_post("/api/v1/hotline/tickets:batch", batch)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


async def test_single_tickets_are_unique_across_threads_and_counted_by_status() -> None:
    seen = Seen()
    async with _server(seen) as base:
        result = await run_wrk(base, "clk_test", TEMPLATES, seconds=1, connections=4, threads=2)
    assert seen.keys == {"clk_test"}
    assert len(seen.tickets) == len(set(seen.tickets)) > 30
    assert set(result.statuses) == {202, 503}
    # Answers still in flight when wrk stops are not counted: up to one per connection.
    assert len(seen.tickets) - 4 <= result.requests <= len(seen.tickets)
    assert result.tickets_accepted == result.statuses[202] == result.ok
    assert 0 < result.no_retry_after < result.statuses[503]


async def test_a_batch_answer_counts_the_tickets_it_accepted() -> None:
    seen = Seen()
    async with _server(seen) as base:
        result = await run_wrk(base, "clk_test", TEMPLATES, seconds=1, connections=2, per_request=10)
    assert len(seen.tickets) == len(set(seen.tickets))
    assert result.statuses[200] == result.requests > 0
    assert result.tickets_accepted == 9 * result.requests


async def test_each_pass_over_the_templates_moves_their_points() -> None:
    """Cycling templates must not repeat a ticket's place (the hub would merge most of a long run as duplicates):
    every pass moves the longitude by LNG_STEP, and after LNG_PASSES passes the latitude by LAT_STEP, in the Lua
    script as in TicketStream; no place repeats within LNG_PASSES × LAT_PASSES passes."""
    seen = Seen()
    points: list[tuple[float, float]] = []

    async def single(request: web.Request) -> web.Response:
        location = orjson.loads(await request.read())["location"]
        points.append((location["lng"], location["lat"]))
        return web.json_response({"case_id": "x"}, status=202)

    app = web.Application()
    app.router.add_post("/api/v1/hotline/tickets", single)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    port = free_port()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    templates = [('{"ticket_no":"', '","location":{"lng":@@LNG:108.3@@,"lat":@@LAT:22.8@@}}'),
                 ('{"ticket_no":"', '","location":{"lng":@@LNG:108.4@@,"lat":@@LAT:22.8@@}}')]
    try:
        await run_wrk(f"http://127.0.0.1:{port}", "k", templates, seconds=1, connections=2)
    finally:
        await runner.cleanup()
    assert len(points) > 2 * 2 * LNG_PASSES and not seen.tickets
    east = {round((lng - 108.3) / LNG_STEP) if lng < 108.35 else round((lng - 108.4) / LNG_STEP) for lng, _ in points}
    north = {round((lat - 22.8) / LAT_STEP) for _, lat in points}
    assert len(east) > 2, "the points moved east from pass to pass"
    assert len(north) > 1, "after LNG_PASSES passes the points moved north"
    stream = TicketStream(templates, prefix="T")
    place = [tuple(orjson.loads(stream.ticket(i))["location"].values()) for i in range(2 * LNG_PASSES * LAT_PASSES)]
    assert place[0] == (108.3, 22.8)
    assert place[2] == pytest.approx((108.3 + LNG_STEP, 22.8))
    assert place[2 * LNG_PASSES] == pytest.approx((108.3, 22.8 + LAT_STEP))
    assert len(set(place)) == len(place), "no place repeats within the passes"
