"""SLA timers with an injectable clock across hub restarts and concurrent hubs; KPIs over HTTP."""

from __future__ import annotations

import asyncio
import csv
import io
from collections import Counter
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from hub.infra.clock import FixedClock
from hub.infra.settings import Settings
from hub.keys import KPIS, METRICS, POOL, TIMERS
from hub.services.kpis import rebuilt_rows
from hub.store.events import read_after
from tests.conftest import Hub, running_hub
from tests.e2e.test_case_lifecycle import Console
from tests.e2e.test_hotline_to_console import QINGXIU_SEAT, push, ticket

# Monday 23 November 2026, 09:00 in Nanning: inside working hours.
MONDAY_9AM = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)


def clocked_hub(settings: Settings, clock: FixedClock) -> AbstractAsyncContextManager[Hub]:
    # The background sweep is slowed to an hour: the test decides when timers are looked at.
    return running_hub(settings.model_copy(update={"sla_sweep_s": 3600.0}), clock)


async def timeline(hub: Hub, case_id: str) -> list[str]:
    operator = Console(hub, await hub.login("city_operator", None))
    return [t["type"] for t in (await operator.case(case_id))["timeline"]]


async def timer_steps(hub: Hub, case_id: str) -> list[tuple[str, str]]:
    """(clock, event type) of every timer event: the sign-off and resolution clocks have their own."""
    operator = Console(hub, await hub.login("city_operator", None))
    return [(t["data"].get("clock"), t["type"]) for t in (await operator.case(case_id))["timeline"]
            if t["type"] in ("case.sla_warning", "case.reminded", "case.supervised", "case.flagged")]


async def test_timers_fire_once_across_restarts_and_concurrent_hubs(settings: Settings) -> None:
    clock = FixedClock(MONDAY_9AM)
    async with clocked_hub(settings, clock) as hub:
        key = await hub.hotline_key()
        _, answer = await push(hub, key, ticket(QINGXIU_SEAT, category="exposed_rubbish"))
        case_id = answer["case_id"]
        operator = Console(hub, await hub.login("city_operator", None))
        case = await operator.case(case_id)
        deadline = datetime.fromisoformat(case["deadlines"]["sign_by"])
        assert deadline == MONDAY_9AM + timedelta(hours=2), "2 working hours to sign for a normal case"
        # The ladder in working time: 督办 and 挂牌督办 come after the lunch break, not 1 h and 2 h later.
        flagged_at = datetime.fromisoformat(case["sla"]["sign"]["steps"]["flagged"])
        assert flagged_at > deadline + timedelta(hours=2)
        ws = await hub.http.ws_connect(f"{hub.ws_base}/ws/console?token={operator.headers['Authorization'][7:]}")
        await ws.send_json({"type": "subscribe", "areas": [], "since": answer["position"]})
        clock.advance(timedelta(minutes=100))  # past 80 % of the sign-off limit
        assert await hub.app[TIMERS].sweep() == 1
        assert await hub.app[TIMERS].sweep() == 0, "a step fires once"
        assert hub.app[METRICS].registry.get_sample_value("cityloop_sla_timers_fired_total") == 1
        async with asyncio.timeout(5):  # and it reaches the consoles like any event
            while True:
                msg = await ws.receive_json()
                if msg["type"] == "batch" and any(e["event"]["type"] == "case.sla_warning" for e in msg["events"]):
                    break
        await ws.close()

    # The hub stops; time passes beyond the deadline while nobody runs; a new hub finds the step due.
    clock.set(deadline + timedelta(minutes=1))
    async with clocked_hub(settings, clock) as hub:
        assert await hub.app[TIMERS].sweep() == 1
        assert (await timeline(hub, case_id)).count("case.reminded") == 1
        operator = Console(hub, await hub.login("city_operator", None))
        for name, expected in (("overdue", True), ("triage", False), ("returns", False)):
            async with hub.http.get(f"{hub.base}/api/v1/queues/{name}", headers=operator.headers) as resp:
                listed = [c["case_id"] for c in (await resp.json())["cases"]]
            assert (case_id in listed) is expected, name

    # Two hubs sweeping the same store at the same moment: each step is appended once.
    clock.set(flagged_at + timedelta(minutes=1))  # past 督办 (+50 %) and 挂牌督办 (+100 %)
    async with clocked_hub(settings, clock) as first, clocked_hub(settings, clock) as second:
        fired = await asyncio.gather(first.app[TIMERS].sweep(), second.app[TIMERS].sweep())
        assert sum(fired) >= 2
        steps = await timer_steps(first, case_id)
    assert len(steps) == len(set(steps)), f"no step twice: {steps}"
    assert [t for c, t in steps if c == "sign"] == [
        "case.sla_warning", "case.reminded", "case.supervised", "case.flagged"]


def communities_of_a_qingxiu_township(n: int) -> tuple[dict[str, str], list[str]]:
    """A real 青秀区 township and n of its communities whose names are unique in the city."""
    path = Path(__file__).parent.parent.parent / "geo" / "data" / "nanning_villages_nbs2023.csv"
    with path.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    names = Counter(r["name"] for r in rows)
    by_township: dict[tuple[str, str], list[str]] = {}
    for r in rows:
        if r["county_adcode"] == "450103" and names[r["name"]] == 1 and "虚拟" not in r["name"]:
            by_township.setdefault((r["township_code9"], r["township_name"]), []).append(r["name"])
    (code, name), communities = next((k, v) for k, v in sorted(by_township.items()) if len(v) >= n)
    return {"code": code, "name": name}, communities[:n]


async def test_kpis_match_a_hand_count_and_the_rebuild(settings: Settings) -> None:
    clock = FixedClock(MONDAY_9AM)
    async with clocked_hub(settings, clock) as hub:
        key = await hub.hotline_key()
        operator = Console(hub, await hub.login("city_operator", None))
        ids = []
        # Three different places in one township (by address), so that none is merged into another.
        township, communities = communities_of_a_qingxiu_township(3)
        for community in communities:
            body = ticket(None, address=f"青秀区{township['name']}{community}门口", category="exposed_rubbish")
            status, answer = await push(hub, key, body)
            assert status == 202
            ids.append(answer["case_id"])
        first = await operator.case(ids[0])
        assert first["areas"]["township"] == township
        handler = Console(hub, await hub.login("township_handler", township["code"]))

        async def resolve(case_id: str) -> dict[str, Any]:
            case = await operator.case(case_id)
            case = await handler.ok(case_id, "accept", case["version"])
            return await handler.ok(case_id, "resolve", case["version"], note="已处理")

        clock.advance(timedelta(minutes=30))  # A and B are signed for on time
        a = await resolve(ids[0])
        await operator.ok(ids[0], "callback", a["version"], contacted=True, solved=True, satisfaction="satisfied")
        b = await resolve(ids[1])
        b = await operator.ok(ids[1], "callback", b["version"], contacted=True, solved=False,
                              satisfaction="dissatisfied")
        b = await handler.ok(ids[1], "resolve", b["version"], note="返工")
        await operator.ok(ids[1], "callback", b["version"], contacted=True, solved=True,
                          satisfaction="basically_satisfied")
        clock.advance(timedelta(days=10))  # C is never signed for: open and overdue
        kpis = hub.app[KPIS]  # written in the append transactions: nothing to catch up

        async with hub.http.get(f"{hub.base}/api/v1/kpis", params={"level": "township", "period": "month"},
                                headers=operator.headers) as resp:
            rows = (await resp.json())["rows"]
        [row] = [r for r in rows if r["code"] == township["code"]]
        # Three valid callbacks: A satisfied; B dissatisfied, then basically satisfied after the redo.
        assert row["valid_callbacks"] == 3
        assert row["response_rate"] == 1.0
        assert row["resolution_rate"] == pytest.approx(2 / 3, abs=1e-6)
        assert row["satisfaction_rate"] == pytest.approx((1 + 0.9) / 3, abs=1e-6)
        assert row["composite"] == pytest.approx(0.1 * 1 + 0.5 * 2 / 3 + 0.4 * 1.9 / 3, abs=1e-6)
        assert row["dispatched"] == 3 and row["redo_rate"] == pytest.approx(1 / 3, abs=1e-6)
        assert row["on_time_sign_rate"] == pytest.approx(2 / 3, abs=1e-6), "the open overdue case counts"

        async with hub.http.get(f"{hub.base}/api/v1/kpis.csv", params={"level": "township"},
                                headers=operator.headers) as resp:
            text = (await resp.read()).decode("utf-8-sig")
        csv_row = next(r for r in csv.DictReader(io.StringIO(text)) if r["code"] == township["code"])
        assert float(csv_row["composite"]) == pytest.approx(row["composite"])
        xingning = Console(hub, await hub.login("county_dispatcher", "450102"))
        async with hub.http.get(f"{hub.base}/api/v1/kpis", headers=xingning.headers) as resp:
            assert all(not r["code"].startswith("450103") for r in (await resp.json())["rows"])

        events = [(str(e.stream_id), e.type, e.data, e.version, e.occurred_at)
                  for e in await read_after(hub.app[POOL], 0, 100_000)]
        live = await kpis.rows(level=None, period="month", start=MONDAY_9AM.date(), end=MONDAY_9AM.date(),
                         as_of=clock.now())
        rebuilt = rebuilt_rows(events, "month", clock.now())
        assert sorted(live, key=str) == sorted(rebuilt, key=str)
