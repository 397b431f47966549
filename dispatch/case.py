"""The case (工单): the intake decision, and the home of the fold (`dispatch.fold`, re-exported here).

`receive` decides what a new report becomes. Without a matrix and policy it keeps the first behaviour
(属地兜底 only, no deadlines); with them, the responsibility matrix picks the units and explains why,
and the SLA clocks start.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from dispatch import sla
from dispatch.events import Case, DomainEvent, JsonDict
from dispatch.fold import AREA_LEVELS, STATES, apply, fold, new_case
from dispatch.matrix import Matrix, category_of, hints_of, place_of
from dispatch.policy import Policy
from dispatch.responsibility import Unit, responsible_unit


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


def receive(intake: Intake, routing: Routing, matrix: Matrix | None = None, now: datetime | None = None,
            policy: Policy | None = None) -> list[DomainEvent]:
    """Decide what a newly received case becomes: dispatched to the responsible units, or triage.

    `matrix` (else `policy.matrix`) chooses the units; with `policy.sla` and `now` the clocks start."""
    events = [DomainEvent("case.received", {"source": intake.source, "report": intake.report,
                                             "location": intake.location})]
    placed = routing.deepest
    if not routing.inside or placed is None:
        reason = routing.reason or ("no_location" if intake.location is None else "outside_city")
        events.append(DomainEvent("case.triaged", {"reason": reason, "routing": routing.details}))
        return events
    matrix = matrix if matrix is not None else (policy.matrix if policy is not None else None)
    flags = ["near_boundary"] if routing.near_boundary else []
    if routing.details.get("neighbours"):
        flags.append("near_internal_boundary")  # the dispatcher sees which neighbour it might belong to
    data: dict[str, Any] = {"areas": routing.areas, "assist": [], "flags": flags, "routing": routing.details}
    if matrix is None:
        unit, rule = responsible_unit(routing.areas)
        data |= {"lead": unit.as_json(), "rule": rule,
                 "explanation_facts": {"kind": "fallback", "rule": rule, "why": "no_matrix",
                                       "level": next(lv for lv in ("township", "county") if lv in routing.areas),
                                       "place": place_of(routing.areas), "lead": unit.as_json(), "assist": []}}
    else:
        category = intake.report.get("category")
        if not isinstance(category, str) or not matrix.knows(category):
            # Placed, only the category is unclear: the case keeps its areas (its county sees it as 待研判).
            events.append(DomainEvent("case.triaged", {"reason": "unknown_category", "areas": routing.areas,
                                                       "flags": flags, "routing": routing.details}))
            return events
        assignment = matrix.assign(category, routing.areas, hints_of(intake.report))
        path = matrix.path(category)
        data |= {"lead": assignment.lead.as_json(), "assist": [u.as_json() for u in assignment.assist],
                 "rule": assignment.rule_id, "explanation": assignment.explanation,
                 "explanation_facts": assignment.facts, "category": category_of(path)}
    if policy is not None and policy.sla is not None and now is not None:
        schedule = sla.start_clocks(intake.report, now, policy.sla)
        data |= {"sla": schedule, "deadlines": sla.deadlines_of(schedule)}
    events.append(DomainEvent("case.dispatched", data))
    return events


def area_codes(case: Case) -> list[str]:
    """The codes of every level the case is placed in (empty while unplaced)."""
    areas: dict[str, Any] = case.get("areas") or {}
    return [areas[level]["code"] for level in AREA_LEVELS if level in areas]


__all__ = ["AREA_LEVELS", "STATES", "Case", "Intake", "Routing", "Unit", "apply", "area_codes", "fold", "new_case",
           "receive"]
