"""The processes the bench drives: `cityloop serve` (with `--workers N` when the hub has it), the bare
baseline app, and their memory as Linux reports it (/proc)."""

from __future__ import annotations

import asyncio
import functools
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import aiohttp

from hub.data import DEMO_POLICY_FILE


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@functools.cache
def serve_has_workers() -> bool:
    """Whether this hub's `cityloop serve` takes `--workers` (asked once, from its own --help)."""
    out = subprocess.run([sys.executable, "-m", "hub.cli", "serve", "--help"], capture_output=True, text=True,
                         timeout=60, check=False)
    return "--workers" in out.stdout


def serve_command(workers: int) -> list[str]:
    """`cityloop serve`, with `--workers N` passed through when the hub has the flag. One worker needs no flag,
    so the bench runs on a hub without it; more than one is refused there instead of silently measuring one."""
    command = [sys.executable, "-m", "hub.cli", "serve"]
    if serve_has_workers():
        return [*command, "--workers", str(workers)]
    if workers != 1:
        raise ValueError("this hub's `cityloop serve` has no --workers option yet; run the bench with --workers 1")
    return command


def raise_open_files_limit(wanted: int = 65_536) -> int:
    """A thousand consoles need more sockets than a soft limit of 1,024 allows, in the console fleet and in
    the hub: raise this process's soft limit (up to the hard one) before starting them, who inherit it."""
    import resource

    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    target = wanted if hard == resource.RLIM_INFINITY else min(wanted, hard)
    if soft != resource.RLIM_INFINITY and soft < target:
        resource.setrlimit(resource.RLIMIT_NOFILE, (target, hard))
        return target
    return soft


def _children() -> dict[int, list[int]]:
    tree: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = Path(f"/proc/{entry}/stat").read_text()
        except OSError:  # it ended meanwhile
            continue
        # The command name (field 2) is in parentheses and may hold spaces: the ppid follows the last ')'.
        ppid = int(stat.rsplit(")", 1)[1].split()[1])
        tree.setdefault(ppid, []).append(int(entry))
    return tree


def rss_mb(pid: int) -> float:
    """Resident memory of `pid` and every process below it (hub workers), in MB (VmRSS, summed)."""
    tree = _children()
    total_kb = 0
    todo = [pid]
    while todo:
        current = todo.pop()
        todo.extend(tree.get(current, []))
        try:
            status = Path(f"/proc/{current}/status").read_text()
        except OSError:
            continue
        for row in status.splitlines():
            if row.startswith("VmRSS:"):
                total_kb += int(row.split()[1])
    return total_kb / 1024


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of `pid` and every process below it so far, those that have ended included (from
    /proc, in seconds). Counting only the live ones lost the time of each backend that ended between two
    readings — a PostgreSQL whose hub closed pooled connections during a run showed negative CPU; an ended
    process's time is in its parent's cutime/cstime once the parent has reaped it."""
    tree = _children()
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0
    todo = [pid]
    while todo:
        current = todo.pop()
        todo.extend(tree.get(current, []))
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        # utime, stime, cutime, cstime (fields 14 to 17 of stat): its own and its reaped children's
        total += int(fields[11]) + int(fields[12]) + int(fields[13]) + int(fields[14])
    return total / ticks


async def postgres_server_pid(database_url: str) -> int | None:
    """The PostgreSQL server (postmaster) serving `database_url`, when it runs on this machine: its CPU time with
    its backends' (cpu_seconds) is the database's share of a measured run. None for a server elsewhere."""
    import asyncpg

    conn = await asyncpg.connect(database_url)
    try:  # asked while the backend is alive: it ends with the connection
        return parent_pid(int(await conn.fetchval("SELECT pg_backend_pid()")))
    finally:
        await conn.close()


def parent_pid(pid: int) -> int | None:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:  # not a process of this machine (or it ended)
        return None
    return int(stat.rsplit(")", 1)[1].split()[1])


def bench_env(database_url: str, redis_url: str, port: int, extra: dict[str, str] | None = None) -> dict[str, str]:
    """A hub's environment: this run's database and Redis, a port of its own, the demo policy unless one is
    configured, quiet logs and no MQTT (the bench drives HTTP and websockets only)."""
    # A throwaway callback secret unless one is configured: `cityloop serve` refuses the public demo one.
    env = {"CITYLOOP_POLICY_FILE": str(DEMO_POLICY_FILE), "CITYLOOP_CALLBACK_SECRET": secrets.token_hex(32),
           **os.environ, "DATABASE_URL": database_url,
           "REDIS_URL": redis_url, "CITYLOOP_PORT": str(port), "CITYLOOP_HOST": "127.0.0.1",
           "CITYLOOP_LOG_LEVEL": "WARNING", **(extra or {})}
    env.pop("MQTT_URL", None)
    return env


@dataclass
class Server:
    """A process serving HTTP on 127.0.0.1:port, started by the bench and stopped by it."""

    proc: subprocess.Popen[bytes]
    port: int
    started: float  # time.monotonic() when it was spawned

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rss_mb(self) -> float:
        return rss_mb(self.proc.pid)

    def cpu_seconds(self) -> float:
        return cpu_seconds(self.proc.pid)

    async def wait_ready(self, path: str = "/readyz", timeout_s: float = 120.0) -> float:
        """Seconds from spawn until `path` first answers 200 (polled every 20 ms)."""
        deadline = self.started + timeout_s
        async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=2)) as http:
            while time.monotonic() < deadline:
                if self.proc.poll() is not None:
                    raise RuntimeError(f"{self.proc.args!r} exited with {self.proc.returncode} before it was ready")
                try:
                    async with http.get(self.base + path) as resp:
                        if resp.status == 200:
                            return time.monotonic() - self.started
                except (aiohttp.ClientError, TimeoutError):
                    pass
                await asyncio.sleep(0.02)
        raise RuntimeError(f"{self.proc.args!r} was not ready within {timeout_s:.0f} s")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class Spent:
    """CPU seconds a measured run cost the server under test (all its processes) and PostgreSQL (the whole
    server, None when it runs elsewhere)."""

    server_s: float
    postgres_s: float | None


async def spent_on(server: Server, postgres: int | None, work: Callable[[], Awaitable[T]]) -> tuple[T, Spent]:
    """`work`'s result and what it cost `server` and the PostgreSQL server `postgres` (postgres_server_pid)."""
    cpu0, db0 = server.cpu_seconds(), cpu_seconds(postgres) if postgres else 0.0
    result = await work()
    return result, Spent(server.cpu_seconds() - cpu0, cpu_seconds(postgres) - db0 if postgres else None)


def start(command: Sequence[str], env: dict[str, str], port: int) -> Server:
    """Its standard output (a banner) is dropped; its warnings and errors (stderr) show in the bench's output."""
    started = time.monotonic()
    return Server(subprocess.Popen(list(command), env=env, stdout=subprocess.DEVNULL), port, started)


def start_hub(database_url: str, redis_url: str, workers: int = 1) -> Server:
    port = free_port()
    return start(serve_command(workers), bench_env(database_url, redis_url, port), port)


def start_baseline(database_url: str) -> Server:
    """The bare aiohttp + group-commit app (tools/bench/baseline_app.py) in a process of its own."""
    port = free_port()
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    return start([sys.executable, "-m", "tools.bench.baseline_app", database_url, str(port)], env, port)
