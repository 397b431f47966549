"""A few counters in Prometheus text format (GET /metrics, loopback only)."""

from __future__ import annotations

from collections import Counter


class Metrics:
    def __init__(self) -> None:
        self.counters: Counter[str] = Counter()

    def inc(self, name: str, value: int = 1) -> None:
        self.counters[name] += value

    def render(self, gauges: dict[str, float]) -> str:
        lines = []
        for name, value in sorted(self.counters.items()):
            lines += [f"# TYPE cityloop_{name} counter", f"cityloop_{name} {value}"]
        for name, gauge in sorted(gauges.items()):
            lines += [f"# TYPE cityloop_{name} gauge", f"cityloop_{name} {gauge}"]
        return "\n".join(lines) + "\n"
