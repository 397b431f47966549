"""What an event changes on the case document, known from its type alone: the fields a console patch for it
carries, and when a console cannot have the case yet and needs it whole.

The handlers registered in `dispatch.fold` assign top-level keys on a shallow copy of the case (`apply`), and
which keys depends only on the event's type (a few only under a condition, listed all the same: a patch may
carry a field that did not change, never miss one that did). `apply` itself always sets `version` and
`updated_at`. tests/unit/test_case_changes.py checks this table against a recording fold of every handler, so
it cannot drift from the handlers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

ALWAYS_WRITTEN: Final = frozenset({"version", "updated_at"})

_WRITES: Final[dict[str, frozenset[str]]] = {name: frozenset(keys) for name, keys in {
    # dispatch.handlers_intake
    "case.received": ("state", "source", "report", "location", "sensor", "imported"),
    "case.triaged": ("state", "triage_reason", "routing", "areas", "flags", "understanding", "suggestions"),
    "case.merge_suggested": ("merge_suggestion",),
    "case.dispatched": ("state", "areas", "units", "rule", "explanation", "explanation_facts",
                        "category", "flags", "triage_reason", "understanding", "suggestions",
                        "routing", "pending_return", "sla", "deadlines", "supervision_level", "dispatch_count",
                        "dispatched_at", "accepted_at", "incident"),
    "case.incident_linked": ("incident",),
    # dispatch.handlers_lifecycle
    "case.accepted": ("state", "accepted_at", "sla", "deadlines"),
    "case.return_requested": ("state", "pending_return", "return_count", "returned_by", "sla"),
    "case.return_reviewed": ("pending_return", "arbitrated", "state", "sla", "deadlines"),
    "case.extension_requested": ("extension",),
    "case.extension_reviewed": ("extension", "extension_count", "sla", "deadlines"),
    "case.progressed": ("progress_count", "last_progress", "progress_photos"),
    "case.pushed_down": ("subtasks",),
    "case.resolved": ("state", "extension", "resolved_at", "resolution", "deadlines"),
    "case.callback_recorded": ("callbacks",),
    "case.closed": ("state", "closed_at", "outcome"),
    "case.redone": ("state", "escalation_level", "redo_count", "resolution", "resolved_at", "sla", "deadlines"),
    "case.supervised": ("supervision_level", "sla"),
    "case.sla_warning": ("sla",),
    "case.reminded": ("supervision_level", "sla"),
    "case.flagged": ("supervision_level", "flags", "sla"),
    "case.escalated": ("escalation_level",),
    "case.merged": ("state_before", "state", "parent_id", "merge_suggestion"),
    "case.split": ("state", "state_before", "parent_id", "parent_state"),
    "case.child_attached": ("children",),
    "case.child_detached": ("children",),
    "case.parent_updated": ("parent_state",),
    "case.parked": ("state_before", "state", "parked_note"),
    "case.reopened": ("state", "state_before"),
    "case.rejected": ("state", "rejected_reason"),
    "case.commented": ("comment_count",),
    # dispatch.sensors
    "case.alarm_repeated": ("sensor", "flags"),
    "case.sensor_recovered": ("sensor", "flags"),
}.items()}

# Every type's fields with what `apply` always writes; an unknown type (forward compatible) only bumps these.
WRITTEN_FIELDS: Final[dict[str, frozenset[str]]] = {name: keys | ALWAYS_WRITTEN for name, keys in _WRITES.items()}

# Events that can take a case out of a finished state (closed, rejected, merged): finished cases are in no
# console's snapshot and the phone forgets them, so a console may hold no copy to patch.
REOPENING_EVENTS: Final = frozenset({"case.reopened", "case.split"})

# Events after which a console may see a case it has not seen before, and so gets it whole: those that place it
# (its area codes, which decide who sees it, change only with `areas`), and those that reopen a finished one.
WHOLE_CASE_EVENTS: Final = frozenset(
    {name for name, keys in _WRITES.items() if "areas" in keys} | REOPENING_EVENTS)


def written_fields(event_type: str) -> frozenset[str]:
    """The top-level fields of the case that an event of this type may write (a superset of those it changes)."""
    return WRITTEN_FIELDS.get(event_type, ALWAYS_WRITTEN)


def needs_whole_case(event_type: str, version: int) -> bool:
    """Whether a console may lack the case before this event: its first event, or one in WHOLE_CASE_EVENTS.
    Every other event reaches only consoles that were sent the case before (visibility follows the area
    codes, and they change only with a WHOLE_CASE_EVENTS event), so a patch of `written_fields` suffices."""
    return version == 1 or event_type in WHOLE_CASE_EVENTS


# What the console feed carries of a case (the whole case, a patch, a snapshot's case), issue 14's "only what
# travels is what a console shows from the cases it holds". The command centre's case panel and the phone's case
# screen read the case by REST when they open it and again after each of its events, so the fields only they
# show never go down the feed: the dispatch explanation and its facts, the routing record and the
# understanding's evidence — a third of a new case's bytes, sent to every city-wide console.
DETAIL_FIELDS: Final = frozenset({"explanation", "explanation_facts", "routing", "understanding"})
# Of the SLA schedule (dispatch.sla) the lists, map and queues need when each clock falls due, when it turns to
# warning, whether it is paused and the class it runs on (frontend/shared/cases.js); its start, limits, later
# ladder steps and history are the panel's.
_FEED_SLA: Final = ("class", "paused_at", "emergency")
_FEED_CLOCKS: Final = ("sign", "resolve")


def feed_fields(event_type: str) -> frozenset[str]:
    """The fields a console patch for this event type carries: those it may write, less DETAIL_FIELDS."""
    return written_fields(event_type) - DETAIL_FIELDS


def feed_form(fields: Mapping[str, Any]) -> dict[str, Any]:
    """A whole case or a patch as the console feed carries it (see DETAIL_FIELDS)."""
    out = {key: value for key, value in fields.items() if key not in DETAIL_FIELDS}
    sla = out.get("sla")
    if isinstance(sla, Mapping):
        out["sla"] = _feed_sla(sla)
    return out


def _feed_sla(sla: Mapping[str, Any]) -> dict[str, Any]:
    out = {key: sla[key] for key in _FEED_SLA if key in sla}
    for name in _FEED_CLOCKS:
        clock = sla.get(name)
        if isinstance(clock, Mapping):
            out[name] = {"due": clock.get("due"), "steps": {"warning": (clock.get("steps") or {}).get("warning")}}
        elif name in sla:
            out[name] = clock
    return out
