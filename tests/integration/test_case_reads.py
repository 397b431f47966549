"""The read model over the case projection (hub.store.reads) against a real store."""

from __future__ import annotations

import uuid

from hub.keys import POOL, READS
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
