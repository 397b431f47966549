"""What every decider sees: the case, who acts, when, under which policy, and the cases it names."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from dispatch import sla
from dispatch.events import Case, DomainEvent, JsonDict
from dispatch.permissions import Actor, Refusal
from dispatch.policy import Policy

Decision = list[DomainEvent] | Refusal


@dataclass(frozen=True, slots=True)
class Ctx:
    case: Case
    actor: Actor
    now: datetime
    policy: Policy
    related: Mapping[str, Case] = field(default_factory=dict)

    @property
    def lead(self) -> dict[str, str] | None:
        lead: dict[str, str] | None = (self.case.get("units") or {}).get("lead")
        return lead

    def sla_data(self, schedule: JsonDict | None) -> JsonDict:
        """The `sla` and `deadlines` an event carries when it moves the clocks."""
        if schedule is None:
            return {}
        return {"sla": schedule, "deadlines": sla.deadlines_of(schedule)}

    def fresh_clocks(self, category: str | None = None) -> JsonDict:
        """New clocks for a (re-)dispatch; `category`: the channel name of a category a dispatcher chose, whose
        limits apply instead of those of the name the channel sent."""
        if self.policy.sla is None:
            return {}
        report = self.case.get("report") or {}
        if category is not None:
            report = {**report, "category": category}
        # A case linked to an incident keeps its emergency limits when it is dispatched again (改派).
        incident = self.case.get("incident")
        level = incident.get("level") if incident is not None else None
        return self.sla_data(sla.start_clocks(report, self.now, self.policy.sla, level))
