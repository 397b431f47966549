"""Pure helpers of the bench: percentiles, what wrk's Lua script printed, console receipts joined with send
times. No I/O here, so each is unit-tested (tests/unit/test_bench_stats.py)."""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

WRK_MARKER = "CITYLOOP_WRK "  # the line the Lua script's done() prints, followed by one JSON object


@dataclass(frozen=True, slots=True)
class Latency:
    """Milliseconds. `n` is how many samples they come from (0: none, and every figure is 0)."""

    n: int
    p50: float
    p99: float
    max: float

    def text(self) -> str:
        return f"p50 {self.p50:.1f} / p99 {self.p99:.1f} / max {self.max:.1f} ms" if self.n else "no samples"


def latency_ms(seconds: Iterable[float] | np.ndarray[Any, Any]) -> Latency:
    """Percentiles of latencies given in seconds (linear interpolation, numpy's default)."""
    values = np.fromiter(seconds, dtype=float) if not isinstance(seconds, np.ndarray) else seconds.astype(float)
    if values.size == 0:
        return Latency(0, 0.0, 0.0, 0.0)
    ms = values * 1000.0
    p50, p99 = np.percentile(ms, [50, 99])
    return Latency(int(values.size), float(p50), float(p99), float(ms.max()))


@dataclass(frozen=True, slots=True)
class WrkResult:
    """One wrk run as the bench's Lua script reports it (tools/bench/wrk.py)."""

    duration_s: float
    requests: int  # answered requests, any status
    statuses: dict[int, int]  # HTTP status → count
    latency: Latency  # over every answered request (wrk's own histogram)
    errors: dict[str, int]  # connect, read, write, timeout (wrk's socket-level errors)
    tickets_accepted: int  # 2xx single tickets, or the sum of `accepted` of 200 batch answers
    no_retry_after: int = 0  # 503 answers without a Retry-After header

    @property
    def ok(self) -> int:
        return sum(n for status, n in self.statuses.items() if 200 <= status < 300)

    @property
    def tickets_per_s(self) -> float:
        return self.tickets_accepted / self.duration_s if self.duration_s > 0 else 0.0

    @property
    def failed(self) -> int:
        """Requests not answered 2xx: other statuses and socket errors (timeouts included)."""
        return self.requests - self.ok + sum(self.errors.values())


def parse_wrk(output: str) -> WrkResult:
    """The result line of our wrk script (see WRK_MARKER); ValueError when wrk did not print one (it
    failed to connect, say), quoting what it printed instead."""
    for line in output.splitlines():
        if line.startswith(WRK_MARKER):
            data = json.loads(line[len(WRK_MARKER):])
            break
    else:
        raise ValueError(f"wrk printed no result line; its output was:\n{output.strip()[-2000:]}")
    lat = data["latency_us"]
    requests = int(data["requests"])
    return WrkResult(
        duration_s=float(data["duration_us"]) / 1e6,
        requests=requests,
        statuses={int(k): int(v) for k, v in data["statuses"].items()},
        latency=Latency(requests, lat["p50"] / 1000, lat["p99"] / 1000, lat["max"] / 1000),
        errors={k: int(v) for k, v in data["errors"].items()},
        tickets_accepted=int(data["accepted"]),
        no_retry_after=int(data.get("no_retry_after", 0)),
    )


def console_latencies(ticket_index: np.ndarray[Any, Any], received_at: np.ndarray[Any, Any],
                      sent_at: np.ndarray[Any, Any]) -> np.ndarray[Any, Any]:
    """Ingest → console delays in seconds: for each receipt (a console got the frame carrying ticket
    `ticket_index[i]` at `received_at[i]`), minus when that ticket was sent. Receipts of tickets that were
    never sent (NaN send time, or an index out of range) are left out."""
    idx = ticket_index.astype(np.int64)
    inside = (idx >= 0) & (idx < sent_at.size)
    idx, received = idx[inside], received_at[inside]
    sent = sent_at[idx]
    known = ~np.isnan(sent)
    return np.asarray(received[known] - sent[known], dtype=float)


@dataclass(slots=True)
class Answers:
    """What a Python load client saw: one entry per request (seconds, HTTP status or 0 when unanswered)."""

    latencies: list[float] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    no_retry_after: int = 0  # 503 without Retry-After
    tickets_accepted: int = 0

    def add(self, latency: float, status: int) -> None:
        self.latencies.append(latency)
        self.statuses.append(status)

    def count(self, statuses: Sequence[int] | range) -> int:
        wanted = set(statuses)
        return sum(1 for s in self.statuses if s in wanted)

    def latency_of(self, statuses: Sequence[int] | range) -> Latency:
        wanted = set(statuses)
        return latency_ms([t for t, s in zip(self.latencies, self.statuses, strict=True) if s in wanted])

    def slower_than(self, seconds: float) -> int:
        """Requests answered later than `seconds`, or never answered (status 0)."""
        return sum(1 for t, s in zip(self.latencies, self.statuses, strict=True) if s == 0 or t > seconds)
