"""The bench's database maintenance between the phases of a row (tools.bench.databases.maintained_now): every
table vacuumed and analysed now, and autovacuum held off the tables when asked, so that PostgreSQL's own
maintenance does not land inside only one of the phases a row compares."""

from __future__ import annotations

import asyncpg

from tools.bench.databases import maintained_now


async def _tables(url: str) -> list[asyncpg.Record]:
    conn = await asyncpg.connect(url)
    try:
        return await conn.fetch(
            "SELECT s.relname, s.last_vacuum, s.last_analyze, c.reloptions FROM pg_stat_user_tables s "
            "JOIN pg_class c ON c.oid = s.relid")
    finally:
        await conn.close()


async def test_every_table_is_vacuumed_and_analysed_and_autovacuum_is_held(database_url: str) -> None:
    before = {t["relname"]: t for t in await _tables(database_url)}
    assert "events" in before and "cases" in before
    await maintained_now(database_url)
    after = await _tables(database_url)
    assert {t["relname"] for t in after} == set(before)
    for table in after:
        assert table["last_vacuum"] is not None and table["last_analyze"] is not None, table["relname"]
        assert "autovacuum_enabled=false" in (table["reloptions"] or []), table["relname"]


async def test_without_holding_autovacuum_the_tables_keep_their_options(database_url: str) -> None:
    await maintained_now(database_url, hold_autovacuum=False)
    for table in await _tables(database_url):
        assert table["last_vacuum"] is not None, table["relname"]
        assert "autovacuum_enabled=false" not in (table["reloptions"] or []), table["relname"]
