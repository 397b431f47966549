"""The case document as a pure fold of its events.

A case document is plain JSON so that the projection, the API and the consoles share one shape. Only
the handlers registered here know how an event changes a case; the store and the projection just call
`apply`. Handlers never mutate nested values in place: `apply` makes a shallow copy, and a handler that
changed a list or dict inside it would silently rewrite the previous version of the case as well.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime
from typing import Final

from dispatch.events import Case, DomainEvent, Handler, JsonDict
from dispatch.handlers_intake import HANDLERS as INTAKE_HANDLERS
from dispatch.handlers_lifecycle import HANDLERS as LIFECYCLE_HANDLERS
from dispatch.sensors import HANDLERS as SENSOR_HANDLERS
from dispatch.states import STATES as STATES  # re-exported: long imported from here

AREA_LEVELS: Final = ("city", "county", "township", "community", "grid")

HANDLERS: Final[dict[str, Handler]] = {**INTAKE_HANDLERS, **LIFECYCLE_HANDLERS, **SENSOR_HANDLERS}


def new_case(case_id: str, at: datetime) -> Case:
    return {
        "case_id": case_id, "state": "received", "version": 0, "source": None, "report": {},
        "location": None, "areas": {}, "units": {"lead": None, "assist": []}, "rule": None,
        "explanation": None, "explanation_facts": None,
        "category": None, "flags": [], "deadlines": {}, "sla": None, "triage_reason": None, "suggestions": [],
        "escalation_level": 0, "supervision_level": 0, "return_count": 0, "returned_by": [],
        "pending_return": None, "arbitrated": False, "extension": None, "extension_count": 0,
        "redo_count": 0, "dispatch_count": 0, "subtasks": [], "callbacks": [], "resolution": None,
        "outcome": None, "parent_id": None, "children": [], "parent_state": None, "state_before": None,
        "parked_note": None, "rejected_reason": None, "last_progress": None, "progress_count": 0, "progress_photos": [],
        "comment_count": 0, "routing": {}, "merge_suggestion": None, "understanding": None,
        "sensor": None, "imported": False, "incident": None,
        "dispatched_at": None, "accepted_at": None, "resolved_at": None, "closed_at": None,
        "created_at": at.isoformat(), "updated_at": at.isoformat(),
    }


def apply(case: Case, event_type: str, data: JsonDict, version: int, at: datetime) -> Case:
    """Return the case after one event. Unknown types only bump the version (forward compatible)."""
    nxt = case.copy()
    handler = HANDLERS.get(event_type)
    if handler is not None:
        handler(nxt, data, at)
    nxt["version"] = version
    nxt["updated_at"] = at.isoformat()
    return nxt


def fold_onto(case: Case, events: Iterable[DomainEvent], at: datetime) -> Case:
    """The case after the events a decision just produced, all occurring at `at`: what the store will
    hold once they are appended after the case's current version."""
    version = case["version"]
    for event in events:
        version += 1
        case = apply(case, event.type, event.data, version, at)
    return case


def fold(case_id: str, events: Iterable[tuple[str, JsonDict, int, datetime]]) -> Case | None:
    case: Case | None = None
    for event_type, data, version, at in events:
        case = apply(case if case is not None else new_case(case_id, at), event_type, data, version, at)
    return case
