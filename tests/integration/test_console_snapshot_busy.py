"""A burst of consoles when the store is busy (a shift change): the snapshot they share fails, and each of them
is told to reconnect (close 1013), instead of an HTTP 500 written onto the websocket (a protocol error, 1002)."""

from __future__ import annotations

import asyncio
import contextlib

import aiohttp
import orjson

from hub.infra.settings import Settings
from hub.keys import GATEWAY, POOL
from hub.live.console_ws import TRY_AGAIN_LATER
from tests.conftest import running_hub

CONSOLES = 12


async def _subscribe(ws: aiohttp.ClientWebSocketResponse) -> list[tuple[aiohttp.WSMsgType, object]]:
    await ws.send_str(orjson.dumps({"type": "subscribe", "areas": [], "since": None}).decode())
    seen: list[tuple[aiohttp.WSMsgType, object]] = []
    async with asyncio.timeout(20):
        async for msg in ws:
            seen.append((msg.type, msg.data))
    return seen


async def test_consoles_sharing_a_failed_snapshot_are_told_to_reconnect(settings: Settings) -> None:
    # The shipped acquire deadline is 1 s; a short one keeps the test fast. The failure is forced, not timed:
    # the test holds every connection of the hub's pool, so the shared snapshot build cannot get one.
    async with running_hub(settings.model_copy(update={"db_acquire_timeout_s": 0.3})) as hub:
        token = await hub.login("city_operator", "450100")
        url = f"{hub.ws_base}/ws/console?token={token}"
        sockets = [await hub.http.ws_connect(url) for _ in range(CONSOLES)]  # signed in while the pool is free
        pool = hub.app[POOL]
        held = [await pool.acquire(timeout=5) for _ in range(pool.get_max_size())]
        try:
            answers = await asyncio.gather(*(_subscribe(ws) for ws in sockets))
        finally:
            for conn in held:
                await pool.release(conn)
        for ws, seen in zip(sockets, answers, strict=True):
            kinds = [kind for kind, _ in seen]
            assert aiohttp.WSMsgType.ERROR not in kinds, f"the stream was broken: {seen}"
            assert ws.close_code == TRY_AGAIN_LATER, (ws.close_code, seen)
        # Nobody was given a snapshot, and nobody is left in the feed.
        assert hub.app[GATEWAY].client_count == 0
        # With the store free again, the console that reconnects gets its snapshot.
        async with hub.http.ws_connect(url) as ws:
            await ws.send_str(orjson.dumps({"type": "subscribe", "areas": [], "since": None}).decode())
            async with asyncio.timeout(20):
                types = [orjson.loads((await ws.receive()).data)["type"] for _ in range(2)]
        assert types == ["subscribed", "snapshot"]
        for ws in sockets:
            with contextlib.suppress(Exception):
                await ws.close()
