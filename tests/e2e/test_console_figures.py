"""The consoles' figures from the server: the headline (GET /api/v1/console/headline), identical for every
console of a jurisdiction and counting cases no console snapshot holds; the KPIs' sample sizes, ranking only
units with enough samples, and the trend by day (GET /api/v1/kpis)."""

from __future__ import annotations

import asyncio
import csv
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from dispatch.states import FINISHED_STATES
from hub.infra.clock import FixedClock
from hub.infra.settings import Settings
from hub.keys import HEADLINE
from hub.services.headline import today_start
from tests.conftest import Hub, running_hub
from tests.e2e.test_case_lifecycle import Console
from tests.e2e.test_hotline_to_console import push, ticket

MONDAY_9AM = datetime(2026, 11, 23, 1, 0, tzinfo=UTC)  # 09:00 in Nanning


def qingxiu_townships(count: int, communities: int) -> list[tuple[dict[str, str], list[str]]]:
    """`count` real 青秀区 townships, each with `communities` of its communities whose names are unique in
    the city (so that an address names one place, and no two tickets are merged as duplicates)."""
    path = Path(__file__).parent.parent.parent / "geo" / "data" / "nanning_villages_nbs2023.csv"
    with path.open(encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    names: dict[str, int] = {}
    for r in rows:
        names[r["name"]] = names.get(r["name"], 0) + 1
    by_township: dict[tuple[str, str], list[str]] = {}
    for r in rows:
        if r["county_adcode"] == "450103" and names[r["name"]] == 1 and "虚拟" not in r["name"]:
            by_township.setdefault((r["township_code9"], r["township_name"]), []).append(r["name"])
    chosen = [(k, v) for k, v in sorted(by_township.items()) if len(v) >= communities][:count]
    assert len(chosen) == count
    return [({"code": code, "name": name}, found[:communities]) for (code, name), found in chosen]


async def new_case(hub: Hub, key: str, township: dict[str, str], community: str) -> str:
    status, answer = await push(hub, key, ticket(None, address=f"青秀区{township['name']}{community}门口",
                                                 category="exposed_rubbish"))
    assert status == 202, answer
    return str(answer["case_id"])


async def get(hub: Hub, headers: dict[str, str], path: str, **params: str) -> dict[str, Any]:
    async with hub.http.get(f"{hub.base}{path}", params=params, headers=headers) as resp:
        assert resp.status == 200, await resp.text()
        return dict(await resp.json())


def expected_headline(cases: list[dict[str, Any]], now: datetime) -> dict[str, int]:
    """The figures counted by hand from the cases themselves."""
    def before(text: str | None) -> bool:
        return text is not None and datetime.fromisoformat(text) < now

    n = dict.fromkeys(("open", "overdue", "warning", "triage", "today"), 0)
    for c in cases:
        sla, deadlines = c.get("sla") or {}, c.get("deadlines") or {}
        if datetime.fromisoformat(c["created_at"]) >= today_start(now):
            n["today"] += 1
        if c["state"] in FINISHED_STATES:
            continue
        n["open"] += 1
        n["triage"] += c["state"] == "triage"
        overdue = ((c["state"] == "dispatched" and before(deadlines.get("sign_by")))
                   or (c["state"] in ("dispatched", "accepted") and before(deadlines.get("resolve_by"))))
        clock = {"dispatched": "sign", "accepted": "resolve"}.get(c["state"])
        warning = clock is not None and before(((sla.get(clock) or {}).get("steps") or {}).get("warning"))
        n["overdue"] += overdue
        n["warning"] += warning and not overdue
    return n


async def test_headline_is_the_servers_count_the_same_for_every_console(settings: Settings) -> None:
    clock = FixedClock(MONDAY_9AM)
    async with running_hub(settings.model_copy(update={"sla_sweep_s": 3600.0}), clock) as hub:
        key = await hub.hotline_key()
        [(township, communities)] = qingxiu_townships(1, 4)
        operator = Console(hub, await hub.login("city_operator", None))
        handler = Console(hub, await hub.login("township_handler", township["code"]))
        old = await new_case(hub, key, township, communities[0])  # ten days old by the end: overdue
        clock.advance(timedelta(days=10))
        closed, warned, accepted = [await new_case(hub, key, township, c) for c in communities[1:]]
        status, answer = await push(hub, key, ticket(None, address="柳州市城中区某路口"))  # outside: triage
        assert status == 202
        unplaced = str(answer["case_id"])
        # One created today and already closed: in no console's snapshot, yet one of today's new cases.
        case = await handler.ok(closed, "accept", (await operator.case(closed))["version"])
        case = await handler.ok(closed, "resolve", case["version"], note="已清理")
        case = await operator.ok(closed, "callback", case["version"], contacted=True, solved=True,
                                 satisfaction="satisfied")
        assert case["state"] == "closed"
        await handler.ok(accepted, "accept", (await operator.case(accepted))["version"])
        # The clock just past the sign-off warning of one case, before its deadline: 预警.
        sign = (await operator.case(warned))["sla"]["sign"]
        warning_at = datetime.fromisoformat(sign["steps"]["warning"])
        assert warning_at < datetime.fromisoformat(sign["due"])
        clock.set(warning_at + timedelta(seconds=1))

        cases = [await operator.case(c) for c in (old, closed, warned, accepted, unplaced)]
        mine = expected_headline(cases, clock.now())
        assert clock.now() < today_start(MONDAY_9AM + timedelta(days=11)), "still the day they were created"
        assert mine == {"open": 4, "overdue": 1, "warning": 1, "triage": 1, "today": 4}

        second = Console(hub, await hub.login("city_operator", None))
        before = hub.app[HEADLINE].computed
        answers = await asyncio.gather(*(get(hub, who.headers, "/api/v1/console/headline")
                                         for who in [operator, second] * 10))
        assert hub.app[HEADLINE].computed == before + 1, "twenty consoles asking at once: one query"
        assert all(a == answers[0] for a in answers), "every console of the city shows the same figures"
        assert {k: answers[0][k] for k in mine} == mine

        # A county sees its own: the unplaced triage case belongs to whoever watches the whole city.
        qingxiu = Console(hub, await hub.login("county_dispatcher", "450103"))
        county = await get(hub, qingxiu.headers, "/api/v1/console/headline")
        assert {k: county[k] for k in mine} == expected_headline(cases[:4], clock.now())
        assert county["areas"] == ["450103"]
        narrowed = await get(hub, operator.headers, "/api/v1/console/headline", area="450103")
        assert {k: narrowed[k] for k in mine} == {k: county[k] for k in mine}
        xingning = Console(hub, await hub.login("county_dispatcher", "450102"))
        other = await get(hub, xingning.headers, "/api/v1/console/headline")
        assert {k: other[k] for k in mine} == dict.fromkeys(mine, 0)
        outside = await get(hub, xingning.headers, "/api/v1/console/headline", area="450103")
        assert outside["open"] == 0, "another county's figures are not the caller's to see"

        # A new case moves the figures once the shared answer is older than the cache allows (by the hub's clock).
        await new_case(hub, key, township, communities[0] + "东")
        cached = await get(hub, operator.headers, "/api/v1/console/headline")
        assert cached["open"] == mine["open"], "within the cache's time every console gets the shared answer"
        clock.advance(timedelta(seconds=settings.headline_cache_s))
        after = await get(hub, operator.headers, "/api/v1/console/headline")
        assert after["open"] == mine["open"] + 1


async def test_kpis_carry_sample_sizes_rank_only_units_with_enough_and_trend_by_day(settings: Settings) -> None:
    clock = FixedClock(MONDAY_9AM)
    async with running_hub(settings.model_copy(update={"sla_sweep_s": 3600.0, "kpi_min_samples": 2}),
                           clock) as hub:
        key = await hub.hotline_key()
        (busy, busy_places), (quiet, quiet_places) = qingxiu_townships(2, 2)
        operator = Console(hub, await hub.login("city_operator", None))

        async def close_with(township: dict[str, str], community: str, satisfaction: str) -> None:
            handler = Console(hub, await hub.login("township_handler", township["code"]))
            case_id = await new_case(hub, key, township, community)
            case = await handler.ok(case_id, "accept", (await operator.case(case_id))["version"])
            case = await handler.ok(case_id, "resolve", case["version"], note="已处理")
            await operator.ok(case_id, "callback", case["version"], contacted=True,
                              solved=satisfaction != "dissatisfied", satisfaction=satisfaction)

        # The busy township: two valid callbacks, one dissatisfied. The quiet one: a single satisfied caller,
        # a perfect score on one sample — shown, but not ranked above the busy one.
        await close_with(busy, busy_places[0], "satisfied")
        clock.advance(timedelta(days=1))
        await close_with(busy, busy_places[1], "dissatisfied")
        await close_with(quiet, quiet_places[0], "satisfied")

        body = await get(hub, operator.headers, "/api/v1/kpis", level="township", period="month")
        assert body["min_samples"] == 2
        rows = {r["code"]: r for r in body["rows"]}
        b, q = rows[busy["code"]], rows[quiet["code"]]
        assert b["samples"]["satisfaction_rate"] == b["valid_callbacks"] == 2
        assert q["samples"]["satisfaction_rate"] == q["valid_callbacks"] == 1
        assert b["samples"]["on_time_sign_rate"] == b["sign_counted"] == 2
        assert b["samples"]["return_rate"] == b["dispatched"] == 2
        assert q["composite"] == 1.0 and b["composite"] < 1.0
        assert (b["ranked"], b["rank"]) == (True, 1)
        assert (q["ranked"], q["rank"]) == (False, None), "one callback is no ground for a 红榜 place"

        # The city's rates by day: one row a day, each with its own n.
        trend = await get(hub, operator.headers, "/api/v1/kpis", level="city", period="day",
                          **{"from": "2026-11-23", "to": "2026-11-24"})
        days = {r["period"]: r for r in trend["rows"]}
        assert sorted(days) == ["2026-11-23", "2026-11-24"]
        assert days["2026-11-23"]["samples"]["satisfaction_rate"] == 1
        assert days["2026-11-23"]["satisfaction_rate"] == 1.0
        assert days["2026-11-24"]["samples"]["satisfaction_rate"] == 2
        assert days["2026-11-24"]["satisfaction_rate"] == 0.5
        assert days["2026-11-24"]["samples"]["on_time_resolution_rate"] == days["2026-11-24"]["resolve_counted"]
