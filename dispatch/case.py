"""The case (工单): the intake decision, and the home of the fold (`dispatch.fold`, re-exported here).

`receive` decides what a new report becomes. Without a matrix and policy it keeps the first behaviour
(属地兜底 only, no deadlines); with them, the responsibility matrix picks the units and explains why,
and the SLA clocks start.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dispatch import sla
from dispatch.events import Case, DomainEvent, JsonDict
from dispatch.fold import AREA_LEVELS, STATES, apply, fold, new_case
from dispatch.incidents import Incident, emergency_dispatch, incident_for
from dispatch.matrix import Matrix, category_of, hints_of, place_of
from dispatch.policy import Policy
from dispatch.responsibility import Unit, responsible_unit
from dispatch.understanding import Understanding, raised_urgency


@dataclass(frozen=True, slots=True)
class Routing:
    """Where the router placed a case: `areas` maps a level to {"code", "name"} for the levels found."""

    inside: bool
    near_boundary: bool = False
    areas: dict[str, dict[str, str]] = field(default_factory=dict)
    reason: str | None = None  # why the router could not place it, when it could not
    # How it was placed, kept on the case for the dispatcher: method (point/address), confidence,
    # neighbours across a nearby internal border, ambiguous candidates, boundary versions used.
    details: JsonDict = field(default_factory=dict)

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
    # History from an earlier system, recorded at its original times: the case never runs live SLA clocks,
    # callbacks or merges (hub.services.history_import).
    imported: bool = False


def receive(intake: Intake, routing: Routing, matrix: Matrix | None = None, now: datetime | None = None,
            policy: Policy | None = None, understood: Understanding | None = None,
            incidents: Sequence[Incident] = ()) -> list[DomainEvent]:
    """Decide what a newly received case becomes: dispatched to the responsible units, or triage.

    `matrix` (else `policy.matrix`) chooses the units; with `policy.sla` and `now` the clocks start.
    `understood`: what intake read from the report's words (dispatch.understanding): the category it recognised
    when the channel's is not ours, its suggestions when unsure, and the urgency its danger words call for.
    `incidents`: the active emergency incidents (平急转换); a dispatched case in one's areas and categories links
    to it, takes its level's emergency limits and skips the steps the level names (dispatch.incidents)."""
    received: dict[str, Any] = {"source": intake.source, "report": intake.report, "location": intake.location}
    if intake.imported:
        received["imported"] = True
    events = [DomainEvent("case.received", received)]
    read = _understood_data(understood)
    placed = routing.deepest
    if not routing.inside or placed is None:
        reason = routing.reason or ("no_location" if intake.location is None else "outside_city")
        events.append(DomainEvent("case.triaged", {"reason": reason, "routing": routing.details, **read}))
        return events
    matrix = matrix if matrix is not None else (policy.matrix if policy is not None else None)
    flags = ["near_boundary"] if routing.near_boundary else []
    flags += read.get("flags", [])
    if routing.details.get("neighbours"):
        flags.append("near_internal_boundary")  # the dispatcher sees which neighbour it might belong to
    data: dict[str, Any] = {"areas": routing.areas, "assist": [], "flags": flags, "routing": routing.details}
    sla_report: dict[str, Any] = dict(intake.report)  # what the clocks read: the words may raise the urgency
    if matrix is None:
        unit, rule = responsible_unit(routing.areas)
        data |= {"lead": unit.as_json(), "rule": rule,
                 "explanation_facts": {"kind": "fallback", "rule": rule, "why": "no_matrix",
                                       "level": next(lv for lv in ("township", "county") if lv in routing.areas),
                                       "place": place_of(routing.areas), "lead": unit.as_json(), "assist": []}}
    else:
        category = intake.report.get("category")
        if understood is not None and understood.category is not None and matrix.knows(understood.category):
            category = understood.category
        elif not isinstance(category, str) or not matrix.knows(category):
            # Placed, only the category is unclear: the case keeps its areas (its county sees it as 待研判).
            reason = understood.reason if understood is not None and understood.reason else "unknown_category"
            events.append(DomainEvent("case.triaged", {**read, "reason": reason, "areas": routing.areas,
                                                       "flags": flags, "routing": routing.details}))
            return events
        assignment = matrix.assign(category, routing.areas, hints_of(intake.report))
        path = matrix.path(category)
        data |= {"lead": assignment.lead.as_json(), "assist": [u.as_json() for u in assignment.assist],
                 "rule": assignment.rule_id, "explanation": assignment.explanation,
                 "explanation_facts": assignment.facts, "category": category_of(path)}
        if "understanding" in read:
            data["understanding"] = read["understanding"]
        if category != intake.report.get("category"):
            # The per-category limits are keyed on the channel names: a recognised leaf brings its own.
            sla_report["category"] = path[-1].channel_category
    category_code = (data.get("category") or {}).get("code")
    incident = incident_for([a["code"] for a in routing.areas.values()], category_code, incidents) \
        if incidents else None
    if policy is not None and policy.sla is not None and now is not None:
        if understood is not None and understood.urgency is not None:
            sla_report["urgency"] = raised_urgency(policy.sla.class_of(sla_report), understood)
        schedule = sla.start_clocks(sla_report, now, policy.sla, incident.level if incident is not None else None)
        data |= {"sla": schedule, "deadlines": sla.deadlines_of(schedule)}
    events.append(DomainEvent("case.dispatched", data))
    if incident is not None:
        events += emergency_dispatch(data, incident, now, policy.sla if policy is not None else None)
    return events


def _understood_data(understood: Understanding | None) -> dict[str, Any]:
    """What the intake events carry of the understanding: the decision, the suggestions when there is no
    category, and the danger flag when the words signal danger."""
    if understood is None:
        return {}
    out: dict[str, Any] = {"understanding": understood.decision()}
    if understood.category is None:
        out["suggestions"] = [s.as_json() for s in understood.suggestions]
    if understood.danger:
        out["flags"] = ["danger_from_text"]
    return out


def area_codes(case: Case) -> list[str]:
    """The codes of every level the case is placed in (empty while unplaced)."""
    areas: dict[str, Any] = case.get("areas") or {}
    return [areas[level]["code"] for level in AREA_LEVELS if level in areas]


__all__ = ["AREA_LEVELS", "STATES", "Case", "Intake", "Routing", "Unit", "apply", "area_codes", "fold", "new_case",
           "receive"]
