"""The bare baseline for single-ticket ingest: a minimal aiohttp app that validates nothing, puts each request
body into one table with a group-committed INSERT, and answers after the commit.

`python -m tools.bench.baseline_app DATABASE_URL PORT` — run by `cityloop bench` in a process of its own, on
the same database as the hub it is compared with. What it leaves out (authentication, validation, routing,
deciding, projections, the console feed) is what the hub's figure pays for.
"""

from __future__ import annotations

import asyncio
import signal
import sys

import asyncpg
import orjson
from aiohttp import web

_Item = tuple[str, "asyncio.Future[int]"]
QUEUE: web.AppKey[asyncio.Queue[_Item]] = web.AppKey("queue", asyncio.Queue)

_INSERT = "INSERT INTO bench_baseline (body) SELECT unnest($1::text[])::jsonb RETURNING id"


async def _commit_loop(pool: asyncpg.Pool, queue: asyncio.Queue[_Item]) -> None:
    """Whatever waits while a commit is in flight goes into the next one (as the hub's GroupCommitter)."""
    while True:
        batch = [await queue.get()]
        while len(batch) < 1000 and not queue.empty():
            batch.append(queue.get_nowait())
        try:
            async with pool.acquire() as conn, conn.transaction():
                ids = [row["id"] for row in await conn.fetch(_INSERT, [body for body, _ in batch])]
        except Exception as exc:  # noqa: BLE001 — every waiting request gets the failure
            for _, fut in batch:
                if not fut.done():
                    fut.set_exception(exc)
            continue
        for (_, fut), ident in zip(batch, ids, strict=True):
            if not fut.done():
                fut.set_result(ident)


async def ticket(request: web.Request) -> web.Response:
    body = await request.text()
    future: asyncio.Future[int] = asyncio.get_running_loop().create_future()
    request.app[QUEUE].put_nowait((body, future))
    position = await future
    return web.Response(status=202, content_type="application/json",
                        body=orjson.dumps({"case_id": None, "position": position, "duplicate": False}))


async def healthy(_request: web.Request) -> web.Response:
    return web.Response(text="ok")


async def main(database_url: str, port: int) -> None:
    pool = await asyncpg.create_pool(database_url, min_size=2, max_size=4)
    await pool.execute("CREATE TABLE IF NOT EXISTS bench_baseline (id bigint GENERATED ALWAYS AS IDENTITY "
                       "PRIMARY KEY, body jsonb NOT NULL)")
    app = web.Application()
    app[QUEUE] = asyncio.Queue()
    app.router.add_post("/api/v1/hotline/tickets", ticket)
    app.router.add_get("/readyz", healthy)
    committer = asyncio.create_task(_commit_loop(pool, app[QUEUE]))
    runner = web.AppRunner(app, handle_signals=False, access_log=None)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", port).start()
    stop = asyncio.Event()
    for sig in (signal.SIGINT, signal.SIGTERM):
        asyncio.get_running_loop().add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await runner.cleanup()
        committer.cancel()
        await asyncio.gather(committer, return_exceptions=True)
        await pool.close()


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
