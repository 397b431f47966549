"""The console gateway against a real store: bounded queues, slow clients dropped, rebuilds, outages."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from typing import Any

import asyncpg
import orjson

from hub.infra.settings import Settings
from hub.keys import GATEWAY, METRICS, POOL, PROJECTION
from hub.live.gateway import ConsoleClient
from tests.conftest import Hub, database_url_for, running_hub
from tests.e2e.test_hotline_to_console import QINGXIU_SEAT, XINGNING_SEAT, push, ticket

CATEGORIES = ("streetlight", "exposed_rubbish", "road_damage", "illegal_parking", "noise", "manhole_cover")


async def drain(client: ConsoleClient, into: list[dict[str, Any]]) -> None:
    while (frame := await client.queue.get()) is not None:
        into.append(orjson.loads(frame))


def event_positions(frames: list[dict[str, Any]]) -> list[int]:
    return [e["position"] for f in frames if f["type"] == "batch" for e in f["events"]]


async def test_a_slow_console_is_dropped_and_the_others_get_everything(hub: Hub) -> None:
    gateway = hub.app[GATEWAY]
    slow = ConsoleClient(frozenset({"450100"}), "full", max_frames=2)
    fast = ConsoleClient(frozenset({"450100"}), "full", max_frames=100)
    await gateway.attach(slow, None)
    await gateway.attach(fast, None)
    received: list[dict[str, Any]] = []
    reader = asyncio.create_task(drain(fast, received))
    key = await hub.hotline_key()
    last = 0
    for i in range(6):
        # Distinct categories: the same problem twice at one spot would be merged (more events).
        _, answer = await push(hub, key, ticket(QINGXIU_SEAT if i % 2 else XINGNING_SEAT, category=CATEGORIES[i]))
        last = answer["position"] + 1
        async with asyncio.timeout(5):
            while last not in event_positions(received):  # noqa: ASYNC110 — the drain task fills it
                await asyncio.sleep(0.01)
    reader.cancel()
    assert slow.dropped, "the client that never read must be dropped"
    assert await slow.queue.get() is None, "its writer is told to close the socket"
    assert gateway.client_count == 1
    assert hub.app[METRICS].registry.get_sample_value("cityloop_consoles_dropped_total") == 1, "operators see it"
    assert event_positions(received) == list(range(1, last + 1)), "the fast console missed nothing"


async def test_console_queues_are_bounded_in_bytes_too() -> None:
    client = ConsoleClient(frozenset({"450100"}), "full", max_frames=100, max_bytes=64 * 1024)
    assert client.offer(b"x" * 40_000)
    assert not client.offer(b"y" * 40_000), "past the byte budget the client is dropped"
    assert client.dropped and await client.next_frame() is None


async def test_rebuild_while_tickets_arrive_misses_none(hub: Hub) -> None:
    key = await hub.hotline_key()
    for _ in range(20):
        await push(hub, key, ticket(QINGXIU_SEAT))
    pool = hub.app[POOL]
    pushes = asyncio.gather(*(push(hub, key, ticket(XINGNING_SEAT)) for _ in range(20)))
    await asyncio.gather(hub.app[PROJECTION].rebuild(pool, page=7), pushes)
    assert await pool.fetchval("SELECT count(*) FROM cases") == 40
    live = [dict(r) for r in await pool.fetch("SELECT * FROM cases ORDER BY case_id")]
    await hub.app[PROJECTION].rebuild(pool)
    assert [dict(r) for r in await pool.fetch("SELECT * FROM cases ORDER BY case_id")] == live


async def test_rebuilt_projection_equals_the_live_one(hub: Hub) -> None:
    key = await hub.hotline_key()
    for point in (QINGXIU_SEAT, XINGNING_SEAT, None, (100.0, 30.0)):
        body = ticket(point) if point else ticket(None, address="某街道")
        assert (await push(hub, key, body))[0] == 202
    pool = hub.app[POOL]
    live = await pool.fetch("SELECT * FROM cases ORDER BY case_id")
    assert await hub.app[PROJECTION].rebuild(pool) == 8
    rebuilt = await pool.fetch("SELECT * FROM cases ORDER BY case_id")
    assert [dict(r) for r in rebuilt] == [dict(r) for r in live]


async def test_redis_down_ingest_goes_on_and_readyz_says_so(settings: Settings) -> None:
    # Nothing listens on port 9: Redis is "down" for the whole life of this hub.
    async with running_hub(settings.model_copy(update={"redis_url": "redis://127.0.0.1:9"})) as hub:
        async with hub.http.get(f"{hub.base}/readyz") as resp:
            assert resp.status == 503
            assert (await resp.json())["checks"]["postgres"] == "ok"
        operator = await hub.login("city_operator", None)
        ws = await hub.http.ws_connect(f"{hub.ws_base}/ws/console?token={operator}")
        await ws.send_json({"type": "subscribe", "areas": [], "since": None})
        status, answer = await push(hub, await hub.hotline_key(), ticket(QINGXIU_SEAT))
        assert status == 202
        async with asyncio.timeout(5):  # consoles still get it, from the store
            while True:
                msg = await ws.receive_json()
                if msg["type"] == "batch" and any(e["case_id"] == answer["case_id"] for e in msg["events"]):
                    break
        await ws.close()


async def test_postgres_gone_answers_503_and_writes_nothing(hub: Hub, service_urls: Any) -> None:
    key = await hub.hotline_key()
    database = await hub.app[POOL].fetchval("SELECT current_database()")
    admin = database_url_for(service_urls.database_url, "postgres")
    conn = await asyncpg.connect(admin)
    try:
        await conn.execute(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS false')
        await conn.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1", database)
        async with hub.http.get(f"{hub.base}/readyz") as resp:
            assert resp.status == 503 and (await resp.json())["checks"]["redis"] == "ok"
        status, body = await push(hub, key, ticket(QINGXIU_SEAT))
        assert status == 503 and body["error"]["code"] == "store_unavailable"
        await conn.execute(f'ALTER DATABASE "{database}" WITH ALLOW_CONNECTIONS true')
        # Recovery without a restart: the next push goes through.
        for _ in range(50):
            status, body = await push(hub, key, ticket(QINGXIU_SEAT))
            if status == 202:
                break
            await asyncio.sleep(0.1)
        assert status == 202
    finally:
        await conn.close()


async def test_the_rebuild_command_restores_the_cases_table(hub: Hub, database_url: str) -> None:
    key = await hub.hotline_key()
    for point in (QINGXIU_SEAT, XINGNING_SEAT):
        assert (await push(hub, key, ticket(point)))[0] == 202
    pool = hub.app[POOL]
    live = [dict(r) for r in await pool.fetch("SELECT * FROM cases ORDER BY case_id")]
    await pool.execute("UPDATE cases SET state = 'closed'")  # a damaged read model
    env = {**os.environ, "DATABASE_URL": database_url, "CITYLOOP_LOG_LEVEL": "WARNING"}
    done = await asyncio.to_thread(subprocess.run, [sys.executable, "-m", "hub.cli", "projections", "rebuild"],
                                   env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "from 4 events" in done.stdout
    assert [dict(r) for r in await pool.fetch("SELECT * FROM cases ORDER BY case_id")] == live


async def test_rebuild_of_interleaved_histories_equals_the_live_projection(hub: Hub) -> None:
    """Cases whose events are interleaved in the store (as a live store is) are rebuilt stream by stream, with
    pages that end mid-stream, and equal the live table."""
    from tests.e2e.test_case_lifecycle import Console

    key = await hub.hotline_key()
    operator = Console(hub, await hub.login("city_operator", None))
    ids = [(await push(hub, key, ticket((QINGXIU_SEAT[0] + 0.01 * i, QINGXIU_SEAT[1]), category="exposed_rubbish",
                                        content=f"垃圾{i}")))[1]["case_id"] for i in range(4)]
    for _round in range(2):  # each round touches every case: their events interleave in the store
        for case_id in ids:
            await operator.ok(case_id, "comment", (await operator.case(case_id))["version"], note="跟进")
    pool = hub.app[POOL]
    live = [dict(r) for r in await pool.fetch("SELECT * FROM cases ORDER BY case_id")]
    assert all(r["version"] == 4 for r in live), "two intake events and two comments each"
    assert await hub.app[PROJECTION].rebuild(pool, page=3) == 16
    assert [dict(r) for r in await pool.fetch("SELECT * FROM cases ORDER BY case_id")] == live
