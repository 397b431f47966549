"""What the simulator counts: per channel sent/accepted/failed, the crew's actions, the summary."""

from __future__ import annotations

import logging
import time
from collections import Counter
from dataclasses import dataclass, field
from typing import Final

from tools.simulation.config import DEFAULT_MIX

log = logging.getLogger(__name__)


# ---- counting -------------------------------------------------------------------------------------------


@dataclass(slots=True)
class ChannelStats:
    sent: int = 0
    accepted: int = 0
    failed: int = 0
    statuses: Counter[str] = field(default_factory=Counter)  # every answer, retries included


@dataclass(slots=True)
class Summary:
    rate: float
    transport: str = "http"  # of the IoT readings
    started: float = field(default_factory=time.monotonic)
    elapsed: float = 0.0
    channels: dict[str, ChannelStats] = field(default_factory=dict)
    actions: Counter[str] = field(default_factory=Counter)  # crew actions the hub accepted
    refused: Counter[str] = field(default_factory=Counter)  # "accept 403": crew actions the hub refused
    conflicts: int = 0  # 409: someone else moved the case first
    unexpected_5xx: int = 0  # any 5xx but 503: a bug in the hub, never expected
    errors: int = 0  # exceptions in the simulator itself (logged): a bug here, never expected
    surges: int = 0  # scripted surges played (tools.simulation.surge)

    def channel(self, name: str) -> ChannelStats:
        return self.channels.setdefault(name, ChannelStats())

    def render(self) -> str:
        iot = f"IoT over {self.transport}" if "iot" in self.channels else "no IoT"
        lines = [f"simulated {self.elapsed:.0f} s at {self.rate:g} events/s ({iot})",
                 f"  {'channel':<8} {'sent':>6} {'accepted':>9} {'failed':>7}  answers"]
        for name in ("hotline", "open311", "iot", "grid", "crew", "setup"):
            stats = self.channels.get(name)
            if stats is None or not stats.sent:
                continue
            answers = " ".join(f"{code}×{n}" for code, n in sorted(stats.statuses.items()))
            lines.append(f"  {name:<8} {stats.sent:>6} {stats.accepted:>9} {stats.failed:>7}  {answers}")
        if self.surges:
            lines.append(f"  scripted surges: {self.surges}")
        acted = ", ".join(f"{a} {n}" for a, n in self.actions.most_common()) or "none"
        lines.append(f"  crew actions: {acted}")
        if self.refused:
            lines.append("  refused: " + ", ".join(f"{a} ×{n}" for a, n in self.refused.most_common()))
        lines.append(f"  version conflicts: {self.conflicts}; unexpected 5xx: {self.unexpected_5xx}; "
                     f"simulator errors: {self.errors}")
        return "\n".join(lines)

    def one_line(self) -> str:
        parts = [f"{n} {s.accepted}/{s.sent}" for n, s in self.channels.items() if n in DEFAULT_CHANNELS]
        return f"simulator: {', '.join(parts)}; actions {sum(self.actions.values())}; 5xx {self.unexpected_5xx}"


DEFAULT_CHANNELS: Final = frozenset(name for name, _ in DEFAULT_MIX)
