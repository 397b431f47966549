"""Which hubs on this machine run an embedded database, and where: so that a CLI command started with another
CITYLOOP_DATA_DIR does not silently start a second database whose users and keys the running hub never sees.

A hub (`cityloop serve` or `demo`) that starts the embedded PostgreSQL writes a small record — its pid, data
directory and DATABASE_URL — into CITYLOOP_RUN_DIR (by default a per-user folder of the system's temporary
directory, the same for every data directory) and removes it when it stops. Records of processes that are gone
(a hub killed with SIGKILL) are ignored and removed when read.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path


def default_run_dir() -> Path:
    return Path(tempfile.gettempdir()) / f"cityloop-{os.getuid()}"


@dataclass(frozen=True, slots=True)
class RunningHub:
    pid: int
    command: str
    data_dir: str  # resolved
    database_url: str


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: it exists
        return True
    return True


@contextlib.contextmanager
def recorded(run_dir: Path, command: str, data_dir: Path, database_url: str) -> Iterator[None]:
    """Record this process as a hub with an embedded database under `data_dir` while the block runs."""
    run_dir.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = run_dir / f"hub-{os.getpid()}.json"
    record = RunningHub(os.getpid(), command, str(data_dir.resolve()), database_url)
    temporary = path.with_suffix(".tmp")
    temporary.write_text(json.dumps(asdict(record)), encoding="utf-8")
    temporary.replace(path)  # readers never see half a record
    try:
        yield
    finally:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def running_hubs(run_dir: Path) -> list[RunningHub]:
    """The hubs with an embedded database whose process still runs (stale records are removed)."""
    hubs = []
    for path in sorted(run_dir.glob("hub-*.json")) if run_dir.is_dir() else ():
        try:
            hub = RunningHub(**json.loads(path.read_text(encoding="utf-8")))
        except (OSError, ValueError, TypeError):
            continue  # being written or not ours: never fail a command over it
        if hub.pid != os.getpid() and _alive(hub.pid):
            hubs.append(hub)
        elif hub.pid != os.getpid():
            with contextlib.suppress(OSError):
                path.unlink()
    return hubs


def check_same_database(run_dir: Path, data_dir: Path) -> None:
    """Refuse (ValueError) to start an embedded database under `data_dir` while hubs run with theirs elsewhere
    and none with this one: the command's changes (a user, a key) would land in a database no hub reads."""
    hubs = running_hubs(run_dir)
    mine = str(data_dir.resolve())
    if not hubs or any(hub.data_dir == mine for hub in hubs):
        return
    found = "; ".join(f"`cityloop {hub.command}` (pid {hub.pid}) with CITYLOOP_DATA_DIR={hub.data_dir} "
                      f"(DATABASE_URL={hub.database_url})" for hub in hubs)
    raise ValueError(
        f"a running hub uses another embedded database: {found}. This command would start a second database "
        f"under {mine}, and what it changes would never reach that hub. Run it with the hub's CITYLOOP_DATA_DIR "
        f"(or its DATABASE_URL), or stop that hub first.")
