"""What the domain decides: events to record, as stable type strings and plain JSON data."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

JsonDict = dict[str, Any]
# A case (工单) document: plain JSON, the same shape in the store's projection, the API and the consoles.
Case = JsonDict
# How one event type changes a (shallow-copied) case document; `at` is when the event occurred.
Handler = Callable[[Case, JsonDict, datetime], None]


@dataclass(frozen=True, slots=True)
class DomainEvent:
    """A fact the domain wants recorded. `type` is a stable string such as ``case.received``."""

    type: str
    data: JsonDict = field(default_factory=dict)
