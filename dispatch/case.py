"""The case (工单) as a pure fold of its events, and the intake decision.

A case document is plain JSON so that the projection, the API and the consoles share one shape. Only
this module knows how an event changes a case; the store and the projection just call `apply`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Final

from dispatch.events import DomainEvent, JsonDict
from dispatch.responsibility import Unit, responsible_unit

STATES: Final = (
    "received", "triage", "dispatched", "return_requested", "accepted",
    "resolved", "closed", "merged", "parked", "rejected",
)
AREA_LEVELS: Final = ("city", "county", "township", "community", "grid")


@dataclass(frozen=True, slots=True)
class Routing:
    """Where the router placed a case: `areas` maps a level to {"code", "name"} for the levels found."""

    inside: bool
    near_boundary: bool = False
    areas: dict[str, dict[str, str]] = field(default_factory=dict)
    reason: str | None = None  # why the router could not place it, when it could not

    @property
    def deepest(self) -> tuple[str, dict[str, str]] | None:
        for level in reversed(AREA_LEVELS):
            if level in self.areas:
                return level, self.areas[level]
        return None


@dataclass(frozen=True, slots=True)
class Intake:
    """A new problem reported on any channel, already validated by its connector."""

    source: str  # hotline | iot | grid | open311
    report: JsonDict  # the channel's fields worth keeping (ticket_no, category, content, reporter, ...)
    location: JsonDict | None  # {"lng", "lat"} in WGS84, after conversion; None when only an address


def receive(intake: Intake, routing: Routing) -> list[DomainEvent]:
    """Decide what a newly received case becomes: dispatched to the responsible unit, or triage."""
    events = [DomainEvent("case.received", {"source": intake.source, "report": intake.report,
                                             "location": intake.location})]
    placed = routing.deepest
    if not routing.inside or placed is None:
        reason = routing.reason or ("no_location" if intake.location is None else "outside_city")
        events.append(DomainEvent("case.triaged", {"reason": reason}))
        return events
    unit, rule = responsible_unit(routing.areas)
    flags = ["near_boundary"] if routing.near_boundary else []
    events.append(DomainEvent("case.dispatched", {
        "areas": routing.areas, "lead": unit.as_json(), "assist": [], "rule": rule, "flags": flags,
    }))
    return events


# --- the fold -----------------------------------------------------------------------------------

Case = JsonDict
_Handler = Callable[[Case, JsonDict], None]
_HANDLERS: dict[str, _Handler] = {}


def _on(event_type: str) -> Callable[[_Handler], _Handler]:
    def register(fn: _Handler) -> _Handler:
        _HANDLERS[event_type] = fn
        return fn
    return register


def new_case(case_id: str, at: datetime) -> Case:
    return {
        "case_id": case_id, "state": "received", "version": 0, "source": None, "report": {},
        "location": None, "areas": {}, "units": {"lead": None, "assist": []}, "rule": None,
        "flags": [], "deadlines": {}, "triage_reason": None,
        "created_at": at.isoformat(), "updated_at": at.isoformat(),
    }


def apply(case: Case, event_type: str, data: JsonDict, version: int, at: datetime) -> Case:
    """Return the case after one event. Unknown types only bump the version (forward compatible)."""
    nxt = dict(case)
    handler = _HANDLERS.get(event_type)
    if handler is not None:
        handler(nxt, data)
    nxt["version"] = version
    nxt["updated_at"] = at.isoformat()
    return nxt


def fold(case_id: str, events: Iterable[tuple[str, JsonDict, int, datetime]]) -> Case | None:
    case: Case | None = None
    for event_type, data, version, at in events:
        case = apply(case if case is not None else new_case(case_id, at), event_type, data, version, at)
    return case


@_on("case.received")
def _received(case: Case, data: JsonDict) -> None:
    case["state"] = "received"
    case["source"] = data["source"]
    case["report"] = data["report"]
    case["location"] = data.get("location")


@_on("case.triaged")
def _triaged(case: Case, data: JsonDict) -> None:
    case["state"] = "triage"
    case["triage_reason"] = data.get("reason")


@_on("case.dispatched")
def _dispatched(case: Case, data: JsonDict) -> None:
    case["state"] = "dispatched"
    case["areas"] = data["areas"]
    case["units"] = {"lead": data["lead"], "assist": list(data.get("assist", []))}
    case["rule"] = data.get("rule")
    case["flags"] = sorted(set(case.get("flags", [])) | set(data.get("flags", [])))
    case["triage_reason"] = None


def area_codes(case: Case) -> list[str]:
    """The codes of every level the case is placed in (empty while unplaced)."""
    areas: dict[str, Any] = case.get("areas") or {}
    return [areas[level]["code"] for level in AREA_LEVELS if level in areas]


__all__ = ["Case", "Intake", "Routing", "STATES", "Unit", "apply", "area_codes", "fold", "new_case", "receive"]
