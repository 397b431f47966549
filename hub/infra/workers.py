"""`cityloop serve --workers N`: N hub processes on one port, and the parent that supervises them.

Each worker is a whole hub (`cityloop serve` run as a child) listening with SO_REUSEPORT, so the kernel spreads
incoming connections over them; they share the database and Redis like any hubs of one deployment, and the
once-per-deployment loops are led by one of them (hub.infra.leader). The parent does no serving: it checks
the port is free, starts the workers, restarts one that exits (after a delay that grows while a worker keeps
failing at start-up), and on SIGTERM or SIGINT stops them all — SIGTERM, then SIGKILL for one that has not
exited in time — and exits. Workers watch their parent and stop if it disappears.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import FrameType

log = logging.getLogger(__name__)

# A worker that exits sooner than this after starting is failing at start-up: its next start waits longer.
_HEALTHY_AFTER_S = 10.0
_FIRST_DELAY_S = 0.5
_MAX_DELAY_S = 30.0


def check_port_free(host: str, port: int) -> int:
    """Raise OSError when something already listens on host:port; return the port (a free one for 0).

    Bound without SO_REUSEPORT on purpose: with it, the workers could silently join the listening group of a
    hub already running on this port (as the same user), and share its traffic."""
    family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    with socket.socket(family, kind, proto) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as the workers' sockets (aiohttp) do
        sock.bind(address)
        return int(sock.getsockname()[1])


@dataclass
class _Worker:
    index: int
    proc: subprocess.Popen[bytes] | None = None
    started_at: float = 0.0
    restart_at: float = 0.0
    failures: int = 0  # consecutive exits soon after start
    exits: list[int] = field(default_factory=list)


class Supervisor:
    """Keeps `count` workers running: `command(index)` is the argv of worker `index`, run with `env`."""

    def __init__(self, command: Callable[[int], Sequence[str]], env: Mapping[str, str], count: int, *,
                 stop_timeout_s: float = 25.0) -> None:
        self._command = command
        self._env = dict(env)
        self._workers = [_Worker(i) for i in range(count)]
        self._stop_timeout_s = stop_timeout_s
        self._stopping = False

    def run(self) -> int:
        """Until SIGTERM or SIGINT; the exit code is 0 when every worker stopped cleanly."""
        previous = {sig: signal.signal(sig, self._on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
        try:
            while not self._stopping:
                now = time.monotonic()
                for worker in self._workers:
                    self._tend(worker, now)
                time.sleep(0.2)
            return self._stop_all()
        finally:
            for sig, handler in previous.items():
                signal.signal(sig, handler)

    def _on_signal(self, _signum: int, _frame: FrameType | None) -> None:
        self._stopping = True

    def _tend(self, worker: _Worker, now: float) -> None:
        if worker.proc is None:
            if now >= worker.restart_at:
                self._start(worker, now)
            return
        code = worker.proc.poll()
        if code is None:
            return
        worker.proc = None
        worker.exits.append(code)
        ran_s = now - worker.started_at
        worker.failures = worker.failures + 1 if ran_s < _HEALTHY_AFTER_S else 0
        delay = min(_FIRST_DELAY_S * 2 ** max(worker.failures - 1, 0), _MAX_DELAY_S)
        worker.restart_at = now + delay
        log.warning("hub worker exited; restarting it", extra={
            "worker": worker.index, "exit_code": code, "ran_s": round(ran_s, 1), "restart_in_s": delay})

    def _start(self, worker: _Worker, now: float) -> None:
        worker.proc = subprocess.Popen(list(self._command(worker.index)), env=self._env)
        worker.started_at = now
        log.info("hub worker started", extra={"worker": worker.index, "pid": worker.proc.pid})

    def _stop_all(self) -> int:
        running = [w.proc for w in self._workers if w.proc is not None]
        for proc in running:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + self._stop_timeout_s
        clean = True
        for proc in running:
            try:
                code = proc.wait(timeout=max(deadline - time.monotonic(), 0.1))
            except subprocess.TimeoutExpired:
                log.error("hub worker did not stop in time; killing it", extra={"pid": proc.pid})
                proc.kill()
                code = proc.wait()
            clean = clean and code == 0
        return 0 if clean else 1


def parent_gone(parent_pid: int) -> bool:
    """For a worker: its supervisor has exited (the worker was re-parented), so it should stop too."""
    return os.getppid() != parent_pid
