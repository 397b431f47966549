"""Fold handlers for how a case enters the loop: received, triaged, dispatched (派单 and 改派)."""

from __future__ import annotations

from datetime import datetime
from typing import Final

from dispatch.events import Case, Handler, JsonDict
from dispatch.sensors import sensor_at_intake


def _received(case: Case, data: JsonDict, at: datetime) -> None:
    case["state"] = "received"
    case["source"] = data["source"]
    case["report"] = data["report"]
    case["location"] = data.get("location")
    case["sensor"] = sensor_at_intake(data["report"])
    case["imported"] = bool(data.get("imported"))


def _triaged(case: Case, data: JsonDict, at: datetime) -> None:
    case["state"] = "triage"
    case["triage_reason"] = data.get("reason")
    case["routing"] = data.get("routing") or {}
    # A case triaged after it was placed (its category is unclear) keeps where it is, so that its county and
    # township see it and dispatch it; an unplaced one (no location, outside the city) has no `areas`.
    if "areas" in data:
        case["areas"] = data["areas"]
    if data.get("flags"):  # danger_from_text, near_boundary ...
        case["flags"] = sorted(set(case.get("flags", [])) | set(data["flags"]))
    # What the understanding step read ({code, confidence, evidence, rule}, danger) and proposes (up to three
    # {code, confidence, evidence, rule}), best first.
    case["understanding"] = data.get("understanding")
    case["suggestions"] = list(data.get("suggestions") or [])


def _merge_suggested(case: Case, data: JsonDict, at: datetime) -> None:
    """A likely duplicate below the automatic threshold: the operator decides (merge or ignore)."""
    case["merge_suggestion"] = {"into": data["into"], "score": data["score"]}


def _dispatched(case: Case, data: JsonDict, at: datetime) -> None:
    """A (re-)dispatch starts a new assignment: fresh clocks, no pending return, ladder back at zero."""
    case["state"] = "dispatched"
    case["areas"] = data["areas"]
    case["units"] = {"lead": data["lead"], "assist": list(data.get("assist", []))}
    case["rule"] = data.get("rule")
    case["explanation"] = data.get("explanation")
    case["explanation_facts"] = data.get("explanation_facts")
    if data.get("category") is not None:
        case["category"] = data["category"]
    case["flags"] = sorted(set(case.get("flags", [])) | set(data.get("flags", [])))
    case["triage_reason"] = None
    case["suggestions"] = []
    if "understanding" in data:
        case["understanding"] = data["understanding"]
    if "routing" in data:
        case["routing"] = data["routing"]
    case["pending_return"] = None
    case["sla"] = data.get("sla")
    case["deadlines"] = dict(data.get("deadlines") or {})
    case["supervision_level"] = 0
    case["dispatch_count"] = case.get("dispatch_count", 0) + 1
    case["dispatched_at"] = at.isoformat()
    case["accepted_at"] = None
    if "incident" in data:  # linked at intake to an active emergency incident (dispatch.incidents)
        case["incident"] = data["incident"]


def _incident_linked(case: Case, data: JsonDict, at: datetime) -> None:
    """An open case taken into an emergency incident on request (its limits stay as they were)."""
    case["incident"] = data["incident"]


HANDLERS: Final[dict[str, Handler]] = {
    "case.received": _received,
    "case.triaged": _triaged,
    "case.dispatched": _dispatched,
    "case.merge_suggested": _merge_suggested,
    "case.incident_linked": _incident_linked,
}
