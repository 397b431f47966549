"""Cases that point at each other: merge into a parent incident (合并), split back out, children following
their parent, and a new complaint about a closed case becoming a new linked case.

Each decision changes one case's stream; what another case must record in turn is named by `follow_ups`
and carried out by the hub as the `system` actor, through `decide`, after the first commit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Final

from dispatch import commands as c
from dispatch.case import Intake, Routing
from dispatch.context import Ctx, Decision
from dispatch.events import Case, DomainEvent, JsonDict
from dispatch.permissions import Refusal
from dispatch.states import UNRESOLVED_STATES

# A parent's state change its merged children record (they follow its resolution).
_PARENT_MOVES: Final = frozenset({
    "case.dispatched", "case.accepted", "case.resolved", "case.closed", "case.redone", "case.parked",
    "case.reopened", "case.rejected", "case.return_reviewed",
})


@dataclass(frozen=True, slots=True)
class FollowUp:
    """A command the hub must decide on another case, as `dispatch.permissions.SYSTEM`."""

    case_id: str
    command: c.Command


def _illegal(reason: str) -> Refusal:
    return Refusal("illegal_transition", reason)


def _merge(ctx: Ctx, cmd: c.Merge) -> Decision:
    case = ctx.case
    if cmd.into == case["case_id"]:
        return _illegal("into: a case cannot be merged into itself")
    if case.get("children"):
        return _illegal("this case is the parent of merged cases; split them off before merging it")
    parent = ctx.related.get(cmd.into)
    if parent is None:
        return _illegal(f"into: case {cmd.into} was not found")
    if parent.get("state") not in UNRESOLVED_STATES:
        return _illegal(f"into: case {cmd.into} is {parent.get('state')}; merge only into an open case")
    return [DomainEvent("case.merged", {"into": cmd.into, "previous_state": case["state"]})]


def _split(ctx: Ctx, cmd: c.Split) -> Decision:
    parent = ctx.case.get("parent_id")
    if parent and parent not in ctx.related:  # the hub only passes cases the actor may see
        return _illegal(f"parent: case {parent} was not found")
    # Back to where it was; a child merged straight at intake goes to triage for a person to place.
    state = ctx.case.get("state_before") or "triage"
    if state == "received":
        state = "triage"
    return [DomainEvent("case.split", {"parent": ctx.case.get("parent_id"), "state": state})]


def _attach(ctx: Ctx, cmd: c.AttachChild) -> Decision:
    return [DomainEvent("case.child_attached", {"child": cmd.child})]


def _detach(ctx: Ctx, cmd: c.DetachChild) -> Decision:
    if cmd.child not in (ctx.case.get("children") or []):
        return []  # already detached: follow-ups may be retried
    return [DomainEvent("case.child_detached", {"child": cmd.child})]


def _follow(ctx: Ctx, cmd: c.FollowParent) -> Decision:
    if ctx.case.get("parent_id") != cmd.parent:
        return _illegal(f"this case is not merged into {cmd.parent}")
    if ctx.case.get("parent_state") == cmd.state:
        return []
    return [DomainEvent("case.parent_updated", {"parent": cmd.parent, "state": cmd.state})]


LINK_DECIDERS: Final[dict[type[c.Command], Callable[[Ctx, Any], Decision]]] = {
    c.Merge: _merge, c.Split: _split, c.AttachChild: _attach, c.DetachChild: _detach, c.FollowParent: _follow,
}


def named_cases(case: Case, command: c.Command) -> list[str]:
    """The other cases a command names or acts through (a merge's `into`, a merged child's parent on a
    split). The hub loads them into `related` only when the actor may see them, with the same rule as the
    case acted on, so a case outside the actor's jurisdiction is refused exactly like one that does not exist."""
    if isinstance(command, c.Merge):
        return [command.into]
    if isinstance(command, c.Split) and case.get("parent_id"):
        return [str(case["parent_id"])]
    return []


def follow_ups(case: Case, events: Iterable[DomainEvent]) -> list[FollowUp]:
    """What linked cases must record after `events` were committed on `case` (the case as folded after)."""
    out: list[FollowUp] = []
    moved = False
    for event in events:
        if event.type == "case.merged":
            out.append(FollowUp(event.data["into"], c.AttachChild(child=case["case_id"])))
        elif event.type == "case.split" and event.data.get("parent"):
            out.append(FollowUp(event.data["parent"], c.DetachChild(child=case["case_id"])))
        moved = moved or event.type in _PARENT_MOVES
    if moved:
        out += [FollowUp(child, c.FollowParent(parent=case["case_id"], state=case["state"]))
                for child in case.get("children") or []]
    return out


def reopen_as_new(closed: Case, report: JsonDict | None = None) -> tuple[Intake, Routing]:
    """A new complaint about a closed case: the intake and routing of a new case linked to it (closed
    cases are never edited). Pass the new report when a citizen raised it; else the old one is reused."""
    if closed.get("state") != "closed":
        raise ValueError("only a closed case is reopened as a new linked case")
    new_report = {**(report if report is not None else closed.get("report") or {}), "linked_to": closed["case_id"]}
    intake = Intake(source=closed.get("source") or "reopen", report=new_report, location=closed.get("location"))
    areas = closed.get("areas") or {}
    return intake, Routing(inside=bool(areas), areas=dict(areas), reason=None if areas else "no_location")
