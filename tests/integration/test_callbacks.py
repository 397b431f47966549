"""Hotline status callbacks from the persistent outbox: signed, in order per case, retried with backoff
through receiver failures and a hub restart, dead-lettered to quarantine and replayable."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from connectors.callbacks import CALLBACK_EVENTS, DELIVERY_HEADER, SIGNATURE_HEADER, TIMESTAMP_HEADER, verify
from hub.infra.settings import Settings
from hub.keys import METRICS, POOL
from hub.services.outbox import _PAGE
from tests.conftest import Hub, running_hub
from tests.e2e.test_case_lifecycle import Console
from tests.e2e.test_hotline_to_console import QINGXIU_SEAT, push, ticket

SECRET = "test-callback-secret"


@dataclass
class Receiver:
    """A hotline system's webhook: refuses the first `fail_first` attempts, then takes everything."""

    fail_first: int = 0
    attempts: int = 0
    received: list[dict[str, Any]] = field(default_factory=list)
    bad_signatures: int = 0
    server: TestServer | None = None

    async def handle(self, request: web.Request) -> web.Response:
        self.attempts += 1
        body = await request.read()
        if not verify(SECRET, request.headers.get(TIMESTAMP_HEADER, ""), body,
                      request.headers.get(SIGNATURE_HEADER, ""), time.time()):
            self.bad_signatures += 1
            return web.Response(status=401)
        if self.attempts <= self.fail_first:
            return web.Response(status=503)
        self.received.append({**orjson.loads(body), "delivery": request.headers[DELIVERY_HEADER]})
        return web.Response(status=204)

    @property
    def url(self) -> str:
        assert self.server is not None
        return str(self.server.make_url("/12345/callback"))

    @property
    def origin(self) -> str:
        """What an operator registers for the hotline key (callbacks go to registered origins only)."""
        assert self.server is not None
        return str(self.server.make_url("/").origin())


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    rec = Receiver()
    app = web.Application()
    app.router.add_post("/12345/callback", rec.handle)
    rec.server = TestServer(app, host="127.0.0.1", port=0)
    await rec.server.start_server()
    yield rec
    await rec.server.close()


def callback_settings(settings: Settings, **more: Any) -> Settings:
    return settings.model_copy(update={"callback_secret": SECRET, "callback_backoff_base_s": 0.05,
                                       "callback_backoff_max_s": 0.3, "outbox_poll_s": 0.05, **more})


async def eventually(check: Callable[[], Awaitable[bool] | bool], timeout: float = 15.0) -> None:
    async with asyncio.timeout(timeout):
        while True:
            result = check()
            if result if isinstance(result, bool) else await result:
                return
            await asyncio.sleep(0.05)


async def test_callbacks_survive_failures_and_a_restart_in_order_and_signed(
        settings: Settings, receiver: Receiver) -> None:
    receiver.fail_first = 3
    config = callback_settings(settings)
    async with running_hub(config) as hub:
        sent = ticket(QINGXIU_SEAT, callback_url=receiver.url)
        status, accepted = await push(hub, await hub.hotline_key(receiver.origin), sent)
        assert status == 202
        case_id = accepted["case_id"]
        await eventually(lambda: receiver.attempts >= 2)  # failing: the hub goes away in the middle
    assert receiver.received == []

    async with running_hub(config) as hub:
        await eventually(lambda: len(receiver.received) == 1)
        dispatcher = Console(hub, await hub.login("county_dispatcher", "450103"))
        operator = Console(hub, await hub.login("city_operator", "450100"))
        case = await dispatcher.case(case_id)
        case = await dispatcher.ok(case_id, "accept", case["version"])
        case = await dispatcher.ok(case_id, "resolve", case["version"], note="已更换灯泡")
        await operator.ok(case_id, "callback", case["version"], contacted=True, solved=True,
                          satisfaction="satisfied")
        await eventually(lambda: len(receiver.received) == 5)
        await asyncio.sleep(0.3)  # nothing more (no duplicate) arrives

    assert receiver.attempts >= 3 + 5 and receiver.bad_signatures == 0
    events = [(r["event"], r["seq"]) for r in receiver.received]
    assert events == [("dispatched", 1), ("signed", 2), ("resolved", 3), ("evaluated", 4), ("closed", 5)]
    assert [r["position"] for r in receiver.received] == sorted(r["position"] for r in receiver.received)
    assert {r["ticket_no"] for r in receiver.received} == {sent["ticket_no"]}
    assert receiver.received[0]["unit"]["name"] and receiver.received[3]["satisfaction"] == "satisfied"
    assert len({r["delivery"] for r in receiver.received}) == 5


async def test_a_receiver_that_keeps_refusing_is_dead_lettered_and_replayed_after_the_fix(
        settings: Settings, receiver: Receiver) -> None:
    receiver.fail_first = 10**6
    async with running_hub(callback_settings(settings, callback_max_attempts=3)) as hub:
        status, accepted = await push(hub, await hub.hotline_key(receiver.origin),
                                      ticket(QINGXIU_SEAT, callback_url=receiver.url))
        assert status == 202
        operator = {"Authorization": f"Bearer {await hub.login('city_operator', '450100')}"}

        async def dead_letter() -> bool:
            async with hub.http.get(f"{hub.base}/api/v1/quarantine?channel=callback", headers=operator) as resp:
                return bool((await resp.json())["items"])

        await eventually(dead_letter)
        assert receiver.attempts == 3
        async with hub.http.get(f"{hub.base}/api/v1/quarantine?channel=callback", headers=operator) as resp:
            [item] = (await resp.json())["items"]
        assert "refused 3 times" in item["reason"] and "HTTP 503" in item["reason"]
        assert item["meta"]["case_id"] == accepted["case_id"]
        assert await hub.app[POOL].fetchval("SELECT state FROM outbox WHERE id = $1", item["meta"]["outbox_id"]) \
            == "dead"

        async with hub.http.get(f"{hub.base}/metrics") as resp:
            assert "cityloop_callbacks_dead 1.0\n" in await resp.text(), "operators see dead callbacks in the metrics"
        deliveries = {outcome: hub.app[METRICS].registry.get_sample_value(
            "cityloop_callback_deliveries_total", {"outcome": outcome}) for outcome in ("failed", "dead", "delivered")}
        assert deliveries == {"failed": 2, "dead": 1, "delivered": 0}
        receiver.fail_first = 0  # the hotline system is fixed
        async with hub.http.post(f"{hub.base}/api/v1/quarantine/{item['id']}/replay", headers=operator) as resp:
            assert resp.status == 200
        await eventually(lambda: len(receiver.received) == 1)
        assert receiver.received[0]["event"] == "dispatched"


async def test_cases_without_a_callback_url_use_the_default_or_none(settings: Settings, receiver: Receiver) -> None:
    async with running_hub(callback_settings(settings, hotline_callback_url=receiver.url,
                                             callback_allowed_origins=(receiver.origin,))) as hub:
        status, _ = await push(hub, await hub.hotline_key(), ticket(QINGXIU_SEAT))
        assert status == 202
        await eventually(lambda: len(receiver.received) == 1)
    async with running_hub(callback_settings(settings)) as hub:
        status, _ = await push(hub, await hub.hotline_key(), ticket((108.33, 22.84), category="road_damage"))
        assert status == 202
        await asyncio.sleep(0.5)
        assert await hub.app[POOL].fetchval("SELECT count(*) FROM outbox") == 1, "no URL: no callback row"


def _rows_read(node: dict[str, Any], relation: str) -> float:
    """Rows a plan read from `relation`: those it kept and those its filters removed, over every loop."""
    own = 0.0
    if node.get("Relation Name") == relation:
        own = (node.get("Actual Rows", 0) + node.get("Rows Removed by Filter", 0)) * node.get("Actual Loops", 1)
    return own + sum(_rows_read(child, relation) for child in node.get("Plans", []))


@pytest.mark.parametrize(("page", "default_url"), [(5, False), (1000, True)])
async def test_the_callback_writers_page_reads_the_cases_of_its_events_not_every_case(
        hub: Hub, page: int, default_url: bool) -> None:
    # The writer runs a round after every commit. Left to the planner, a store where few cases have a callback URL
    # made the page scan every case for those first: 60–70 ms a round on a million-event store, growing with it.
    # Here 20,000 hotline cases without one and their 40,000 events, then a page of five events of five of them (and
    # a full page of 1,000 with a default callback URL configured, where every hotline case qualifies): the page
    # reads the cases of its events, by key, and no others (in a transaction rolled back: the hub never sees them).
    async with hub.app[POOL].acquire() as conn, conn.transaction():
        now = datetime.now(UTC)
        ids = [uuid.uuid4() for _ in range(20_000)]
        await conn.copy_records_to_table("cases", records=[
            (i, 2, "dispatched", "hotline", n, now, now, now, "{}") for n, i in enumerate(ids)],
            columns=["case_id", "version", "state", "source", "last_position", "created_at", "updated_at",
                     "reported_at", "doc"])
        await conn.copy_records_to_table("events", records=[
            (i, v, kind, "{}", "{}", now) for i in ids for v, kind in ((1, "case.received"), (2, "case.dispatched"))],
            columns=["stream_id", "version", "type", "data", "metadata", "occurred_at"])
        head = await conn.fetchval("SELECT max(position) FROM events")
        await conn.executemany(
            "INSERT INTO events (stream_id, version, type, data, metadata, occurred_at) VALUES ($1, 3, "
            "'case.accepted', '{}', '{}', now())", [(i,) for i in ids[:page]])
        await conn.execute("ANALYZE cases; ANALYZE events")
        [plan] = orjson.loads(await conn.fetchval(
            "EXPLAIN (ANALYZE, FORMAT JSON) " + _PAGE, head, 1000, list(CALLBACK_EVENTS), default_url))
    shown = orjson.dumps(plan, option=orjson.OPT_INDENT_2).decode()
    assert _rows_read(plan["Plan"], "cases") <= page, shown
    assert _rows_read(plan["Plan"], "events") <= 2 * page, shown  # the page, then each reported event's data
