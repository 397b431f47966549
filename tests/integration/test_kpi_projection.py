"""The KPI projection against the real store: written from the committed batch (several events of one case in a
batch, re-dispatches within and across batches), equal to a rebuild and to the in-memory reference, and read by
a hub that never replays the store."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import pytest

from dispatch import commands as c
from dispatch.case import Case, Intake, Routing, new_case, receive
from dispatch.events import DomainEvent
from dispatch.fold import fold_onto
from dispatch.kpi import rank_rows
from dispatch.lifecycle import decide
from dispatch.permissions import Actor, Refusal
from hub.infra.db import Connection, create_pool
from hub.infra.settings import Settings
from hub.keys import POOL
from hub.services.kpis import Kpis, Period, rebuilt_rows
from hub.store.events import Accepted, AppendRequest, append_batch, read_after
from hub.store.kpi_projection import KpiProjection, missing_up_to, rebuild_kpis
from hub.store.projection import CaseProjection
from tests.conftest import running_hub
from tests.e2e.test_case_lifecycle import Console
from tests.e2e.test_hotline_to_console import QINGXIU_SEAT, XINGNING_SEAT, push, ticket
from tests.unit.test_dispatch_kpi import AREAS, COUNTY, HOTLINE, POLICY, TOWNSHIP, at

CASES, KPIS = CaseProjection(), KpiProjection()


async def both(conn: Connection, accepted: Accepted) -> None:
    """What the hub's committer runs (hub.app): the case projection, then the KPI projection."""
    await CASES(conn, accepted)
    await KPIS(conn, accepted)


class Desk:
    """Decides like the hub (the domain, on the case as folded so far) and queues appends for one batch."""

    def __init__(self) -> None:
        self.cases: dict[uuid.UUID, Case] = {}
        self.batch: list[AppendRequest] = []

    def _queue(self, case_id: uuid.UUID, events: list[DomainEvent] | Refusal, when: datetime) -> None:
        assert not isinstance(events, Refusal), events
        case = self.cases.get(case_id) or new_case(str(case_id), when)
        self.cases[case_id] = fold_onto(case, events, when)
        self.batch.append(AppendRequest(case_id, case["version"], events, when, projection=self.cases[case_id]))

    def open(self, when: datetime) -> uuid.UUID:
        case_id = uuid.uuid4()
        intake = Intake("hotline", {"ticket_no": str(case_id), "category": "streetlight"}, None)
        self._queue(case_id, receive(intake, Routing(inside=True, areas=AREAS), now=when, policy=POLICY), when)
        return case_id

    def do(self, case_id: uuid.UUID, command: c.Command, actor: Actor, when: datetime) -> None:
        self._queue(case_id, decide(self.cases[case_id], command, actor, when, POLICY), when)

    async def commit(self, pool: asyncpg.Pool) -> None:
        async with pool.acquire() as conn, conn.transaction():
            answers = await append_batch(conn, self.batch, both)
        assert all(not isinstance(a, Exception) for a in answers), answers
        self.batch = []


@pytest.fixture
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    pool = await create_pool(database_url, max_size=3)
    yield pool
    await pool.close()


async def table(pool: asyncpg.Pool) -> list[dict[str, Any]]:
    return [dict(r) for r in await pool.fetch("SELECT * FROM kpi_assignments ORDER BY position")]


async def reference(db: asyncpg.Pool | Connection, as_of: datetime, period: Any = "month") -> list[dict[str, Any]]:
    """The figures of the in-memory reference, fed every event of the store."""
    events = [(str(e.stream_id), e.type, e.data, e.version, e.occurred_at) for e in await read_after(db, 0, 10_000)]
    return sorted(rebuilt_rows(events, period, as_of), key=str)


async def test_batches_with_repeated_cases_and_re_dispatches_equal_the_rebuild_and_the_reference(
        pool: asyncpg.Pool) -> None:
    desk = Desk()
    # Batch 1: every case several times. A is signed and resolved; B is returned and re-dispatched (改派) in the
    # same batch — the review and the new dispatch even in one request.
    a, b, c_, d = desk.open(at(23, 9)), desk.open(at(23, 9)), desk.open(at(23, 9)), desk.open(at(23, 9))
    desk.do(a, c.Accept(), TOWNSHIP, at(23, 9, 30))
    desk.do(a, c.Resolve(note="ok"), TOWNSHIP, at(24, 10))
    desk.do(b, c.Return(reason="wrong_area", note="x"), TOWNSHIP, at(23, 10))
    desk.do(b, c.ReviewReturn(approve=True), COUNTY, at(23, 10, 30))
    await desk.commit(pool)
    # Batch 2: C's callback and redo in one request, D returned, A satisfied and closed.
    desk.do(c_, c.Accept(), TOWNSHIP, at(23, 12))
    desk.do(c_, c.Resolve(note="ok"), TOWNSHIP, at(25, 10))
    desk.do(c_, c.Callback(contacted=False, solved=False, satisfaction="dissatisfied"), HOTLINE, at(25, 11))
    desk.do(d, c.Return(reason="wrong_area", note="x"), TOWNSHIP, at(23, 10))
    desk.do(a, c.Callback(contacted=True, solved=True, satisfaction="satisfied"), HOTLINE, at(24, 15))
    await desk.commit(pool)
    # Batch 3: D re-dispatched after its assignment was committed earlier (the stored one must end); C resolved
    # again and B signed by its new unit.
    desk.do(d, c.ReviewReturn(approve=True), COUNTY, at(24, 9))
    desk.do(c_, c.Resolve(note="again"), TOWNSHIP, at(26, 10))
    desk.do(b, c.Accept(), COUNTY, at(23, 11))
    await desk.commit(pool)

    live = await table(pool)
    by_case: dict[uuid.UUID, list[dict[str, Any]]] = {}
    for row in live:
        by_case.setdefault(row["case_id"], []).append(row)
    assert {k: len(v) for k, v in by_case.items()} == {a: 1, b: 2, c_: 1, d: 2}, "one row per dispatch"
    assert all([r["ended"] for r in rows] == [True] * (len(rows) - 1) + [False] for rows in by_case.values())
    [c_row] = by_case[c_]
    assert (c_row["resolutions"], c_row["redos"], c_row["valid_callbacks"], c_row["resolved_at"]) == (
        2, 1, 1, at(26, 10)), "every event of C counted once, in order"
    assert by_case[b][1]["signed_at"] == at(23, 11) and by_case[b][0]["returned"]

    await pool.execute("UPDATE kpi_backfill SET missing_up_to = 3")  # as migrated on a store with history
    assert await rebuild_kpis(pool, page=3) == await pool.fetchval("SELECT count(*) FROM events")
    assert await table(pool) == live, "the rebuilt table equals the live one"
    assert await missing_up_to(pool) == 0, "after a rebuild nothing is missing"

    kpis = Kpis(pool)
    checks: list[tuple[datetime, Period]] = [(at(10, 9, month=12), "month"), (at(23, 14), "week"), (at(25, 9), "day")]
    for as_of, period in checks:
        rows = await kpis.rows(level=None, period=period, start=at(1, 0).date(), end=at(30, 0).date(), as_of=as_of)
        assert sorted(rows, key=str) == await reference(pool, as_of, period)
    township = await kpis.rows(level="township", period="month", start=at(23, 0).date(), end=at(23, 0).date(),
                               as_of=at(10, 9, month=12))
    assert [(r["code"], r["dispatched"], r["returns"]) for r in township] == [("450103001", 6, 2)]


async def test_the_live_table_of_a_running_hub_equals_a_rebuild(settings: Settings) -> None:
    async with running_hub(settings) as hub:
        key = await hub.hotline_key()
        operator = Console(hub, await hub.login("city_operator", None))
        ids = []
        for point, category in ((QINGXIU_SEAT, "exposed_rubbish"), (XINGNING_SEAT, "exposed_rubbish"),
                                (QINGXIU_SEAT, "streetlight")):
            status, answer = await push(hub, key, ticket(point, category=category))
            assert status == 202
            ids.append(answer["case_id"])
        first = await operator.case(ids[0])
        handler = Console(hub, await hub.login("township_handler", first["areas"]["township"]["code"]))
        county = Console(hub, await hub.login("county_dispatcher", first["areas"]["county"]["code"]))
        case = await handler.ok(ids[0], "return", first["version"], reason="not_our_remit", note="应由城管处理")
        case = await county.ok(ids[0], "review_return", case["version"], approve=True)  # 改派
        assert case["dispatch_count"] == 2
        pool = hub.app[POOL]
        live = await table(pool)
        assert len(live) == 4 and sum(r["ended"] for r in live) == 1
        assert await rebuild_kpis(pool) > 0
        assert await table(pool) == live


async def test_a_hub_starts_on_history_without_reading_it(settings: Settings, database_url: str) -> None:
    """History is written; then the hub starts as a database user that may not read the events' contents (only
    their positions, for the console feed's head). The first version replayed the store at start-up and could
    not start; this one starts at once and serves the figures of the whole history from its KPI table."""
    async with running_hub(settings) as hub:
        key = await hub.hotline_key()
        for point in (QINGXIU_SEAT, XINGNING_SEAT, QINGXIU_SEAT):
            assert (await push(hub, key, ticket(point, category="exposed_rubbish")))[0] == 202
        operator = Console(hub, await hub.login("city_operator", None))
        token = operator.headers
    role, password = f"cityloop_blind_{uuid.uuid4().hex[:8]}", uuid.uuid4().hex
    admin = await create_pool(database_url, min_size=1, max_size=1)
    try:
        await admin.execute(f"CREATE ROLE {role} LOGIN PASSWORD '{password}'")
        await admin.execute(f"GRANT USAGE, CREATE ON SCHEMA public TO {role}")
        await admin.execute(f"GRANT ALL ON ALL TABLES IN SCHEMA public TO {role}")
        await admin.execute(f"GRANT ALL ON ALL SEQUENCES IN SCHEMA public TO {role}")
        await admin.execute(f"REVOKE SELECT ON events FROM {role}")
        await admin.execute(f"GRANT SELECT (position) ON events TO {role}")
        parts = urlsplit(database_url)
        blind_url = parts._replace(netloc=f"{role}:{password}@{parts.netloc.rpartition('@')[2]}").geturl()
        blind = settings.model_copy(update={"database_url": blind_url})
        async with running_hub(blind) as hub:
            async with hub.http.get(f"{hub.base}/api/v1/kpis", params={"level": "unit"}, headers=token) as resp:
                assert resp.status == 200, await resp.text()
                rows = (await resp.json())["rows"]
            now = datetime.now(UTC)
        assert await missing_up_to(admin) == 0
        expected = [r for r in await reference(admin, now) if r["level"] == "unit"]
        rank_rows(expected, settings.kpi_min_samples)  # the API ranks the rows it serves
        assert sorted(rows, key=lambda r: r["code"]) == sorted(expected, key=lambda r: r["code"])
        assert sum(r["dispatched"] for r in rows) == 3
    finally:
        await admin.execute(f"DROP OWNED BY {role}")
        await admin.execute(f"DROP ROLE {role}")
        await admin.close()
