"""The simulator's settings and the few facts every part shares."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta, timezone
from typing import Final

from geo.areas import NANNING

CITY_TZ: Final = timezone(timedelta(hours=8))
CITY: Final = NANNING.code
OPERATOR: Final = ("city_operator", CITY)
DEFAULT_MIX: Final = (("hotline", 0.55), ("open311", 0.10), ("iot", 0.20), ("grid", 0.15))


@dataclass(frozen=True, slots=True)
class SimConfig:
    rate: float = 2.0  # events per second, all channels together
    duration: float | None = 60.0  # seconds; None = until cancelled (the demo)
    mqtt_url: str | None = None  # IoT readings over MQTT when given, else over the HTTP twin
    # How much faster than real staff the crew works: 60 turns "signed for after 10 minutes" into 10 seconds.
    speed: float = 60.0
    mix: tuple[tuple[str, float], ...] = DEFAULT_MIX
    max_in_flight: int = 24  # requests on the wire at once, all channels and the crew together
    poll_s: float = 3.0  # how often the crew looks at the open cases
    fleet_size: int = 24
    crew: bool = True
    callback_url: str | None = None  # put on ~30 % of tickets when something receives the status callbacks
    seed: int | None = None
    report_every_s: float | None = None  # log a one-line summary this often (the demo runs forever)
    # Scripted surges (tools.simulation.surge): every `surge_every_s` (None: never), the first after
    # min(surge_first_s, surge_every_s), `surge_size` hotline tickets of one topic in one township over
    # `surge_spread_s` seconds — what early warning is for.
    surge_every_s: float | None = None
    surge_first_s: float = 90.0
    surge_size: int = 15
    surge_spread_s: float = 120.0
