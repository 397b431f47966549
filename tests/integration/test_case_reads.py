"""The read model over the case projection (hub.store.reads) against a real store."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from hub.keys import POOL, READS
from hub.store.reads import _DUPLICATE_CANDIDATES, OPEN311_PUBLIC
from tests.conftest import Hub
from tests.e2e.test_hotline_to_console import QINGXIU_SEAT, XINGNING_SEAT, push, ticket


async def test_reads_get_and_page_by_scope_and_cursor(hub: Hub) -> None:
    reads = hub.app[READS]
    key = await hub.hotline_key()
    ids = []
    for point in (QINGXIU_SEAT, XINGNING_SEAT, QINGXIU_SEAT):
        status, body = await push(hub, key, ticket(point))
        assert status == 202
        ids.append(uuid.UUID(body["case_id"]))
    first = await reads.get(ids[0])
    assert first is not None and first["case_id"] == str(ids[0])
    assert await reads.get(uuid.uuid4()) is None
    county = first["areas"]["county"]["code"]
    second = await reads.get(ids[1])
    assert second is not None
    other = second["areas"]["county"]["code"]
    assert county != other, "the two seats are in different counties"

    # Only the county's own cases, newest first; the cursor continues strictly after the last row.
    rows = await reads.page(frozenset({county}), state=None, category=None, ticket_no=None, before=None, limit=10)
    assert [r["case_id"] for r in rows] == [ids[2], ids[0]]
    rest = await reads.page(frozenset({county}), state=None, category=None, ticket_no=None,
                            before=(rows[0]["created_at"], rows[0]["case_id"]), limit=10)
    assert [r["case_id"] for r in rest] == [ids[0]]

    # The console snapshot reads open cases in scope on the caller's connection.
    async with hub.app[POOL].acquire() as conn:
        docs = await reads.open_in_scopes(conn, frozenset({other}), 10)
    assert [d["case_id"] for d in docs] == [str(ids[1])]


async def test_projection_keeps_when_each_report_was_made(hub: Hub) -> None:
    """Early warning counts reports at their `reported_at`: a ticket pushed two days late counts then."""
    key = await hub.hotline_key()
    late = datetime.now(UTC) - timedelta(days=2, minutes=7)
    status, body = await push(hub, key, ticket(QINGXIU_SEAT, reported_at=late.isoformat()))
    assert status == 202
    status, fresh = await push(hub, key, ticket(XINGNING_SEAT))
    assert status == 202
    async with hub.app[POOL].acquire() as conn:
        rows = {str(r["case_id"]): r for r in await conn.fetch(
            "SELECT case_id, reported_at, created_at, imported FROM cases WHERE case_id = ANY($1::uuid[])",
            [uuid.UUID(body["case_id"]), uuid.UUID(fresh["case_id"])])}
    assert rows[body["case_id"]]["reported_at"] == late
    assert rows[body["case_id"]]["created_at"] - late > timedelta(days=2)
    assert rows[fresh["case_id"]]["reported_at"] <= rows[fresh["case_id"]]["created_at"]
    assert not any(r["imported"] for r in rows.values())


async def test_open311_listing_is_served_by_its_partial_index_without_reading_documents(hub: Hub) -> None:
    # The public listing's filter must match the partial index's predicate, and the predicate must not reach into
    # the case document (building such an index detoasts every document: 1.4 s of a million-event rebuild).
    async with hub.app[POOL].acquire() as conn:
        definition = await conn.fetchval(
            "SELECT indexdef FROM pg_indexes WHERE tablename = 'cases' AND indexname = 'cases_open311_recent'")
        assert "doc" not in definition and "source" in definition
        async with conn.transaction():
            await conn.execute("SET LOCAL enable_seqscan = off")
            plan = "\n".join(r[0] for r in await conn.fetch(
                f"EXPLAIN SELECT doc FROM cases WHERE {OPEN311_PUBLIC} ORDER BY created_at DESC, case_id DESC "
                "LIMIT 20"))
    assert "cases_open311_recent" in plan, plan


async def test_duplicate_search_for_an_address_only_report_reads_an_index_not_every_document(hub: Hub) -> None:
    # A report with an address and no point is compared with open cases of its category at the same address. The
    # search read `doc->'report'->>'address'` of every case (a sequential scan detoasting each document: 11 ms a
    # batch after 15,000 tickets, most of PostgreSQL's CPU under saturated ingest, growing with the store); the
    # address is a slim column with an index of its own.
    async with hub.app[POOL].acquire() as conn, conn.transaction():
        await conn.execute("SET LOCAL enable_seqscan = off")
        plan = "\n".join(r[0] for r in await conn.fetch(
            "EXPLAIN " + _DUPLICATE_CANDIDATES, [], [], [], [], [], [], [0], ["市政设施"], ["青秀区中山路12号"],
            datetime.now(UTC) - timedelta(hours=72), ["dispatched"]))
    assert "Seq Scan on cases" not in plan and "doc" not in plan, plan
    assert "cases_category_address" in plan, plan


async def test_the_case_row_keeps_the_reports_address_for_the_duplicate_search(hub: Hub) -> None:
    key = await hub.hotline_key()
    status, answer = await push(hub, key, ticket(QINGXIU_SEAT, address="青秀区中山路12号"))
    assert status == 202, answer
    async with hub.app[POOL].acquire() as conn:
        stored = await conn.fetchval("SELECT address FROM cases WHERE case_id = $1", uuid.UUID(answer["case_id"]))
    assert stored == "青秀区中山路12号"
