"""A new problem as a channel reports it: the one command every connector produces and the intake consumes.

Each channel validates its own input (a ticket, an Open311 form, a grid report, a device's alarm) and says
what it amounts to in the same words: where it came from, what to keep on the case, where it is (a point
in the CRS it was sent in, an address text, or both; with neither, the complaint's own words may say) and
the key that makes a retry harmless. The hub then
routes, decides and records every channel's submission the same way (hub.services.intake).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from geo.crs import Crs

# A point as sent: longitude, latitude and the datum they are in (the hub converts to WGS84).
Point = tuple[float, float, Crs]


@dataclass(frozen=True, slots=True)
class Submission:
    source: str  # hotline | open311 | grid | iot
    report: dict[str, Any]  # the channel's fields worth keeping on the case
    idempotency_key: str  # the same key again answers with the first submission's case
    point: Point | None = None
    address: str | None = None
    # The complaint in the reporter's words: where the place is looked for when there is no point or address.
    content: str | None = None
