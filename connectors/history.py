"""History from an earlier 12345 system (数据平滑迁移): one ticket per JSON line, in the push API's schema
(connectors.hotline.HotlineTicket, the same validation) plus what became of it in the old system (`outcome`).

The outcome's times must follow the loop's order: reported_at ≤ dispatched_at ≤ returned_at ≤ signed_at ≤
resolved_at ≤ closed_at (those given). `order_problem` says which field breaks it, so that the import's
summary names the line and the field.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from pydantic import ConfigDict, Field

from connectors.hotline import HotlineTicket
from dispatch.inputs import InputModel, Moment

Satisfaction = Literal["satisfied", "basically_satisfied", "dissatisfied", "unreachable"]  # as the callback action
ReturnReason = Literal["not_our_remit", "wrong_area", "unclear_ownership"]  # as the return action


class Outcome(InputModel):
    """What the old system recorded after the call. Every field is optional: a ticket still open there is
    imported open (dispatched, or signed for), with no live clocks."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    unit: Annotated[str, Field(min_length=1, max_length=64)] | None = Field(default=None, description=(
        "the unit that handled it (a unit code of the responsibility matrix, or any code with unit_name); "
        "without it, the unit the matrix names today"))
    unit_name: Annotated[str, Field(min_length=1, max_length=100)] | None = None
    dispatched_at: Moment | None = None
    returned_at: Moment | None = Field(default=None, description=(
        "the first unit returned the ticket (退回) and the centre sent it on to `unit` (else the matrix's next "
        "choice) at this time"))
    return_reason: ReturnReason = "not_our_remit"
    signed_at: Moment | None = None
    resolved_at: Moment | None = None
    closed_at: Moment | None = Field(default=None, description="the callback (回访) that ended it; needs satisfaction")
    satisfaction: Satisfaction | None = None


class HistoricalTicket(HotlineTicket):
    """A line of an import file: a hotline ticket and, optionally, its outcome."""

    outcome: Outcome | None = None


# The outcome's times in the loop's order, after the ticket's own reported_at.
STEPS: tuple[str, ...] = ("dispatched_at", "returned_at", "signed_at", "resolved_at", "closed_at")


def order_problem(ticket: HistoricalTicket, now: datetime) -> tuple[str, str] | None:
    """(field, message) for the first time out of the loop's order or in the future, or None."""
    if ticket.reported_at > now:
        return "reported_at", f"{ticket.reported_at.isoformat()} is in the future"
    outcome = ticket.outcome
    if outcome is None:
        return None
    before, before_name = ticket.reported_at, "reported_at"
    for name in STEPS:
        at: datetime | None = getattr(outcome, name)
        if at is None:
            continue
        if at < before:
            return f"outcome.{name}", f"{at.isoformat()} is before {before_name} ({before.isoformat()})"
        if at > now:
            return f"outcome.{name}", f"{at.isoformat()} is in the future"
        before, before_name = at, f"outcome.{name}"
    if (outcome.closed_at is None) != (outcome.satisfaction is None):
        return ("outcome.satisfaction", "required with closed_at") if outcome.satisfaction is None else (
            "outcome.closed_at", "required with satisfaction (the time of the callback)")
    if outcome.closed_at is not None and outcome.resolved_at is None:
        return "outcome.resolved_at", "required with closed_at (a callback follows the resolution)"
    if outcome.unit_name is not None and outcome.unit is None:
        return "outcome.unit", "required with unit_name"
    return None
