"""What the domain decides: events to record, as stable type strings and plain JSON data."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

JsonDict = dict[str, Any]


@dataclass(frozen=True, slots=True)
class DomainEvent:
    """A fact the domain wants recorded. `type` is a stable string such as ``case.received``."""

    type: str
    data: JsonDict = field(default_factory=dict)
