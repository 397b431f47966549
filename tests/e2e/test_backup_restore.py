"""Backups that restore: `cityloop backup` of a hub's database, `cityloop restore` into a new one (projections
rebuilt from the events), and a hub on the restored database serves the same cases — and the store goes on
from the next position."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg

from hub.infra.backup import dumped_by, server_major
from hub.infra.embedded import ServiceUrls
from hub.infra.settings import Settings
from tests.conftest import Hub, hub_settings, running_hub
from tests.e2e.test_case_lifecycle import Console
from tests.e2e.test_hotline_to_console import QINGXIU_SEAT, XINGNING_SEAT, push, ticket

EVENTS_SQL = "SELECT position, stream_id, version, type, data FROM events ORDER BY position"


async def cityloop(database_url: str, *args: str) -> tuple[int, str, str]:
    """The real command in its own process, on `database_url`."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "hub.cli", *args, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "DATABASE_URL": database_url, "CITYLOOP_LOG_LEVEL": "WARNING"})
    out, err = await asyncio.wait_for(proc.communicate(), timeout=60)
    assert proc.returncode is not None
    return proc.returncode, out.decode(), err.decode()


async def events(database_url: str) -> list[tuple[Any, ...]]:
    conn = await asyncpg.connect(database_url)
    try:
        return [tuple(row) for row in await conn.fetch(EVENTS_SQL)]
    finally:
        await conn.close()


async def next_delivery_id(database_url: str) -> int:
    conn = await asyncpg.connect(database_url)
    try:
        return int(await conn.fetchval("SELECT nextval(pg_get_serial_sequence('outbox', 'id'))"))
    finally:
        await conn.close()


async def skip_a_position(database_url: str) -> None:
    conn = await asyncpg.connect(database_url)
    try:
        await conn.execute("SELECT nextval(pg_get_serial_sequence('events', 'position'))")
    finally:
        await conn.close()


async def cases_seen(hub: Hub, operator: Console) -> dict[str, dict[str, Any]]:
    async with hub.http.get(f"{hub.base}/api/v1/cases", headers=operator.headers, params={"limit": "100"}) as resp:
        assert resp.status == 200, await resp.text()
        listed = (await resp.json())["cases"]
    return {case["case_id"]: await operator.case(case["case_id"]) for case in listed}


async def test_a_backup_restored_into_a_new_database_serves_the_same_cases_and_continues_the_store(
        hub: Hub, settings: Settings, empty_database: str, service_urls: ServiceUrls, work_dir: Path,
        tmp_path: Path) -> None:
    assert settings.database_url is not None
    key = await hub.hotline_key()
    operator = Console(hub, await hub.login("city_operator", None))
    ids = [(await push(hub, key, ticket(point, category="exposed_rubbish", content="路边垃圾堆积")))[1]["case_id"]
           for point in (QINGXIU_SEAT, XINGNING_SEAT, QINGXIU_SEAT)]
    case = await operator.case(ids[0])
    handler = Console(hub, await hub.login("township_handler", case["areas"]["township"]["code"]))
    case = await handler.ok(ids[0], "accept", case["version"])
    await handler.ok(ids[0], "resolve", case["version"], note="已清运")
    before = await cases_seen(hub, operator)
    assert set(before) == set(ids) and before[ids[0]]["state"] == "resolved"
    stored = await events(settings.database_url)
    # An append that rolled back, or one committed after pg_dump's snapshot: the counter is past the last event.
    await skip_a_position(settings.database_url)

    archive = tmp_path / "cityloop.dump"
    code, out, err = await cityloop(settings.database_url, "backup", "--out", str(archive))
    assert code == 0, err
    assert archive.is_file() and f"backup: {archive}" in out
    # Written by the server's own pg_dump (embedded PostgreSQL's, when the one on PATH is older); its header says so.
    assert dumped_by(archive) == server_major(settings.database_url)

    restored_at = int(time.time())
    code, out, err = await cityloop(empty_database, "restore", str(archive))
    assert code == 0, err
    assert f"cases rebuilt from {len(stored):,} events" in out, "the projections are rebuilt from the store"
    assert await events(empty_database) == stored
    # Callbacks' delivery ids never repeat one handed out in the history the restore lost.
    assert await next_delivery_id(empty_database) > restored_at * 1000

    async with running_hub(hub_settings(empty_database, service_urls, work_dir)) as restored:
        # The same sign-in and key work there: sessions and keys are in the backup too.
        again = Console(restored, operator.headers["Authorization"].removeprefix("Bearer "))
        assert await cases_seen(restored, again) == before
        status, answer = await push(restored, key, ticket(QINGXIU_SEAT))
        assert status == 202, answer
    after = await events(empty_database)
    assert after[:len(stored)] == stored
    new = [row for row in after[len(stored):] if str(row[1]) == answer["case_id"]]
    assert new and new[0][0] == stored[-1][0] + 1, "the next append continues right after the restored events"


async def test_restore_refuses_a_database_that_is_not_empty_without_force(database_url: str,
                                                                          tmp_path: Path) -> None:
    archive = tmp_path / "any.dump"
    archive.write_bytes(b"PGDMP")
    before = await events(database_url)
    code, _, err = await cityloop(database_url, "restore", str(archive))
    assert code == 2 and "the target database is not empty" in err and "--force" in err
    assert await events(database_url) == before
