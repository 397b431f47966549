"""Emergency incidents (突发事件, 平急转换) as pure functions: the incident stream's events, its fold, which new
case an active incident takes in, and what emergency footing does to that case's dispatch.

An incident is a stream of its own (`incident.declared`, `incident.updated`, `incident.case_linked`,
`incident.closed`; not case events: dispatch.events.is_case_event). While it is active, a case reported in its
areas and categories links to it at intake (`receive(..., incidents=...)`): the dispatch event carries the
incident's reference, the clocks take the level's emergency limits (SlaPolicy.emergency) and the steps the
level skips are recorded as done (签收 at dispatch for level I/II in the demo policy).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any, Final, Literal, get_args

from dispatch import sla
from dispatch.events import Case, DomainEvent, JsonDict
from dispatch.sla_policy import EmergencyLevel, SlaPolicy
from geo.areas import code_prefix

INCIDENT_EVENT_PREFIX: Final = "incident."
# Kinds of emergencies (自然灾害, 事故灾难, 公共卫生事件, 社会安全事件 and their common cases).
IncidentKind = Literal["flood", "typhoon", "rainstorm", "earthquake", "geological", "fire", "accident", "hazmat",
                       "public_health", "mass_event", "other"]
KINDS: Final = get_args(IncidentKind)
# Levels of the national emergency plan system: Ⅰ 特别重大, Ⅱ 重大, Ⅲ 较大, Ⅳ 一般 — I is the most severe.
LEVELS: Final = get_args(EmergencyLevel)
INCIDENT_STATES: Final = ("active", "closed")
LINK_HOW: Final = ("automatic", "by_hand")


@dataclass(frozen=True, slots=True)
class Incident:
    """What the intake decision needs of an active incident."""

    incident_id: str
    level: str
    areas: tuple[str, ...]  # division codes; a case inside any of them is in the incident's area
    categories: tuple[str, ...]  # category codes at any level of the tree (01, 0103, 010301); empty: every one
    kind: str = "other"
    title: str = ""
    declared_at: str = ""

    def covers(self, case_areas: Iterable[str], category: str | None) -> bool:
        """Whether a case placed in `case_areas` (its codes from the city down) with `category` belongs here.
        Codes nest by prefix, for areas (450103 ⊃ 450103001) and categories (01 ⊃ 0103 ⊃ 010301)."""
        codes = list(case_areas)
        if not any(code.startswith(_prefix(area)) for code in codes for area in self.areas):
            return False
        if not self.categories:
            return True
        return category is not None and any(category.startswith(c) for c in self.categories)

    def ref(self) -> JsonDict:
        """The reference a linked case carries (its document, its console row)."""
        return {"incident_id": self.incident_id, "level": self.level, "kind": self.kind, "title": self.title}


# The significant digits of an incident's area (450100 → 4501): codes nest by prefix (geo.areas.code_within),
# and intake asks for every new case, so the few areas' prefixes are worked out once.
_prefix = lru_cache(maxsize=4096)(code_prefix)


def incident_of(doc: Mapping[str, Any]) -> Incident:
    return Incident(incident_id=str(doc["incident_id"]), level=str(doc["level"]),
                    areas=tuple(a["code"] for a in doc.get("areas") or ()),
                    categories=tuple(c["code"] for c in doc.get("categories") or ()),
                    kind=str(doc.get("kind") or "other"), title=str(doc.get("title") or ""),
                    declared_at=str(doc.get("declared_at") or ""))


def incident_for(case_areas: Sequence[str], category: str | None, incidents: Iterable[Incident]) -> Incident | None:
    """The active incident a new case links to: the most severe that covers it, the earliest declared among
    equals (a case links to one incident)."""
    found = [i for i in incidents if i.covers(case_areas, category)]
    if not found:
        return None
    return min(found, key=lambda i: (LEVELS.index(i.level) if i.level in LEVELS else len(LEVELS), i.declared_at))


def emergency_dispatch(data: JsonDict, incident: Incident, now: datetime | None,
                       policy: SlaPolicy | None) -> list[DomainEvent]:
    """A dispatch under emergency footing, whose clocks were started at the incident's level
    (`sla.start_clocks(..., emergency=level)`): the dispatch event's data gets the incident's reference and the
    `emergency` flag (in place), and the result holds the events of the steps the level skips — `case.accepted`
    at once when it skips 签收, recorded as done by the system, not by the unit."""
    data["incident"] = incident.ref()
    data["flags"] = sorted({*data.get("flags", []), "emergency"})
    schedule = data.get("sla")
    if policy is None or now is None or schedule is None or "sign" not in policy.skipped_steps(incident.level):
        return []
    signed = sla.on_sign_off(schedule, now, policy)
    return [DomainEvent("case.accepted", {"unit": data.get("lead"), "skipped": "sign",
                                          "incident_id": incident.incident_id, "sla": signed,
                                          "deadlines": sla.deadlines_of(signed)})]


# --- the incident's own stream --------------------------------------------------------------------------

def new_incident(incident_id: str) -> JsonDict:
    return {"incident_id": incident_id, "kind": None, "level": None, "title": None, "areas": [], "categories": [],
            "state": "active", "declared_by": None, "declared_at": None, "updated_at": None, "levels": [],
            "closed_by": None, "closed_at": None, "summary": None, "linked": 0, "version": 0}


def apply_incident(incident: JsonDict, event_type: str, data: JsonDict, version: int) -> JsonDict:
    """Fold one incident event into the incident document (a copy). The linked cases themselves are kept
    by the projection (one row each), the document only counts them."""
    doc = dict(incident)
    doc["version"] = version
    at = data.get("at")
    if event_type == "incident.declared":
        doc |= {k: data[k] for k in ("kind", "level", "title", "areas", "categories", "declared_by")}
        doc |= {"declared_at": at, "updated_at": at, "levels": [{"level": data["level"], "at": at}]}
    elif event_type == "incident.updated":
        for key in ("level", "areas", "categories", "title"):
            if key in data:
                doc[key] = data[key]
        if "level" in data:
            doc["levels"] = [*doc.get("levels", []), {"level": data["level"], "at": at, "by": data.get("by")}]
        doc["updated_at"] = at
    elif event_type == "incident.case_linked":
        doc["linked"] = doc.get("linked", 0) + len(data.get("case_ids") or [data.get("case_id")])
    elif event_type == "incident.closed":
        doc |= {"state": "closed", "closed_by": data["by"], "closed_at": at, "summary": data.get("summary"),
                "updated_at": at}
    return doc


def declared(incident_id: str, fields: JsonDict, by: JsonDict, now: datetime) -> tuple[DomainEvent, JsonDict]:
    """The declaration's event and the document it folds into."""
    event = DomainEvent("incident.declared", {**fields, "declared_by": by, "at": sla.iso(now)})
    return event, apply_incident(new_incident(incident_id), event.type, event.data, 1)


def change_level(doc: JsonDict, level: str, by: JsonDict, now: datetime, note: str | None = None) -> DomainEvent | str:
    """The event that changes the level, or why it cannot: a closed incident is closed, the same level is
    no change."""
    if doc["state"] != "active":
        return "the incident is closed"
    if level == doc["level"]:
        return f"the incident is already level {level}"
    return DomainEvent("incident.updated", {"level": level, "previous_level": doc["level"], "by": by,
                                            "note": note, "at": sla.iso(now)})


def close(doc: JsonDict, by: JsonDict, summary: str, now: datetime) -> DomainEvent | str:
    if doc["state"] != "active":
        return "the incident is already closed"
    return DomainEvent("incident.closed", {"by": by, "summary": summary, "at": sla.iso(now)})


def linked(case_ids: Sequence[str], how: str, now: datetime, by: JsonDict | None = None) -> DomainEvent:
    """Cases linked to the incident: at intake (automatic, one case) or on request (by hand, several)."""
    return DomainEvent("incident.case_linked", {"case_ids": list(case_ids), "how": how, "by": by,
                                                "at": sla.iso(now)})


def linkable(case: Case, incident: Incident, open_states: Iterable[str]) -> bool:
    """An existing case the incident may take in on request: open, in its areas and categories, not yet
    linked to an incident."""
    codes = [a["code"] for a in (case.get("areas") or {}).values()]
    return (case.get("state") in set(open_states) and not case.get("incident")
            and incident.covers(codes, (case.get("category") or {}).get("code")))


def area_scope(doc: Mapping[str, Any]) -> list[str]:
    """The area codes an incident belongs to: who sees it (its areas; the city sees everything anyway)."""
    return [a["code"] for a in doc.get("areas") or ()]


__all__ = ["INCIDENT_EVENT_PREFIX", "INCIDENT_STATES", "KINDS", "LEVELS", "LINK_HOW", "EmergencyLevel", "Incident",
           "IncidentKind", "apply_incident", "area_scope", "change_level", "close", "declared", "emergency_dispatch",
           "incident_for", "incident_of", "linkable", "linked", "new_incident"]
