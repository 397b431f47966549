"""The closed loop as one pure decision: (case, command, actor, now, policy) → events, or a refusal.

Every (state, action) pair not in `permissions.ALLOWED_STATES` is refused with a reason a person can read;
there is no status switch that lets an unexpected transition through. Events carry every decided fact
(new deadlines included), so `dispatch.fold.apply` replays them without the policy.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import datetime
from typing import Any

from dispatch import commands as c
from dispatch import sla
from dispatch.codes import LEVELS, level_of, unit_level, within
from dispatch.context import Ctx, Decision
from dispatch.events import Case, DomainEvent
from dispatch.linking import LINK_DECIDERS
from dispatch.matrix import CategoryNode, category_of, hints_of, place_of
from dispatch.permissions import Actor, Refusal, handles, review_roles, role_refusal, state_refusal
from dispatch.policy import Policy
from dispatch.responsibility import Unit, responsible_unit
from dispatch.sensors import SENSOR_CLOSE_OUTCOME, closes_on_resolve
from dispatch.sla_policy import SlaPolicy


def decide(case: Case, command: c.Command, actor: Actor, now: datetime, policy: Policy | None = None,
           related: Mapping[str, Case] | None = None) -> Decision:
    """What `command` by `actor` at `now` does to `case`. `related` holds other cases a command names
    (the parent of a merge), keyed by case id."""
    refusal = role_refusal(command.action, actor.role) or state_refusal(command.action, case["state"])
    if refusal is not None:
        return refusal
    ctx = Ctx(case, actor, now, policy or Policy(), related or {})
    decider = _DECIDERS.get(type(command)) or LINK_DECIDERS[type(command)]
    return decider(ctx, command)


def _event(event_type: str, **data: Any) -> DomainEvent:
    return DomainEvent(event_type, data)


def _illegal(reason: str) -> Refusal:
    return Refusal("illegal_transition", reason)


# --- which unit ----------------------------------------------------------------------------------

def _areas_for(case: Case, area: str, given: Mapping[str, Mapping[str, str]] | None) -> dict[str, Any]:
    """The area chain down to `area`: as the hub named it, else the case's own levels above and at it."""
    if given:
        return {lv: dict(given[lv]) for lv in LEVELS if lv in given}
    own = case.get("areas") or {}
    chain = {lv: dict(a) for lv, a in own.items() if within(area, a["code"])}
    chain.setdefault(level_of(area), {"code": area, "name": area})
    return {lv: chain[lv] for lv in LEVELS if lv in chain and LEVELS.index(lv) <= LEVELS.index(level_of(area))}


def _unit(ctx: Ctx, code: str, name: str | None, areas: Mapping[str, Mapping[str, str]]) -> Unit | Refusal:
    matrix = ctx.policy.matrix
    known = matrix.unit(code, areas) if matrix is not None else None
    if known is not None:
        return known
    area_code, _, suffix = code.partition("-")
    level = level_of(area_code)
    if suffix == "gov" and level in areas and areas[level]["code"] == area_code:
        return Unit(code, f"{areas[level]['name']}人民政府", level)  # the area's own government
    if name:
        return Unit(code, name, level if area_code.isdigit() else None)
    if matrix is not None:
        return _illegal(f"unit: {code!r} is not in the responsibility matrix; give unit_name to use it anyway")
    return Unit(code, code, level if area_code.isdigit() else None)


Choice = tuple[Unit, tuple[Unit, ...], str, str, dict[str, Any]]  # lead, assist, rule, explanation, its facts


def _alternative(ctx: Ctx) -> Choice | None:
    """The unit the system proposes for 改派: never one that has returned the case."""
    exclude = frozenset(ctx.case.get("returned_by") or ())
    if ctx.policy.matrix is not None:
        found = ctx.policy.matrix.propose_alternative(ctx.case, exclude)
        return (found.lead, found.assist, found.rule_id, found.explanation, found.facts) if found else None
    areas = ctx.case.get("areas") or {}
    for level in ("township", "county"):
        if level in areas:
            unit, rule = responsible_unit({level: areas[level]})
            if unit.code not in exclude:
                lead = Unit(unit.code, unit.name, level)
                return lead, (), rule, f"属地兜底 → {unit.name}", {
                    "kind": "fallback", "rule": rule, "level": level, "why": "exhausted", "place": place_of(areas),
                    "lead": _ref(lead), "assist": []}
    return None


def _dispatched(ctx: Ctx, areas: Mapping[str, Any], lead: Unit, assist: tuple[Unit, ...], rule: str,
                explanation: str, facts: dict[str, Any], channel_category: str | None = None) -> DomainEvent:
    return _event("case.dispatched", areas=dict(areas), lead=lead.as_json(), assist=[u.as_json() for u in assist],
                  rule=rule, flags=[], explanation=explanation, explanation_facts=facts,
                  **ctx.fresh_clocks(channel_category))


def _ref(unit: Unit) -> dict[str, str]:
    return {"code": unit.code, "name": unit.name}


def _chosen_by(kind: str, ctx: Ctx, areas: Mapping[str, Any], unit: Unit) -> dict[str, Any]:
    """The facts of a unit a person named (a dispatcher's 派单, a reviewer's 改派): by which role, where."""
    return {"kind": kind, "role": ctx.actor.role, "place": place_of(areas), "lead": _ref(unit), "assist": []}


# --- deciders ------------------------------------------------------------------------------------

def _chosen_category(ctx: Ctx, category: str) -> tuple[CategoryNode, ...] | Refusal:
    """The path of the leaf a dispatcher chose: it must be in the tree, and a leaf (what the rules and the
    learning key on)."""
    matrix = ctx.policy.matrix
    if matrix is None or not matrix.knows(category):
        return _illegal(f"category: {category!r} is not a category of the tree")
    path = matrix.path(category)
    if path[-1].children:
        return _illegal(f"category: {path[-1].name} has sub-categories; choose one of them")
    return path


def _dispatch(ctx: Ctx, cmd: c.Dispatch) -> Decision:
    path = _chosen_category(ctx, cmd.category) if cmd.category is not None else None
    if isinstance(path, Refusal):
        return path
    if cmd.unit is None:
        if path is None:
            return _illegal("unit: name a unit, or a category for the matrix to choose the units")
        return _dispatch_by_category(ctx, cmd, path)
    if cmd.area is None:
        return _illegal("area: name the area of the unit")
    areas = _areas_for(ctx.case, cmd.area, cmd.areas)
    unit = _unit(ctx, cmd.unit, cmd.unit_name, areas)
    if isinstance(unit, Refusal):
        return unit
    if ctx.case["state"] == "dispatched" and ctx.lead is not None and ctx.lead["code"] == unit.code \
            and path is None:
        return _illegal(f"the case is already dispatched to {unit.name}")
    why = f"dispatched by {ctx.actor.name} ({ctx.actor.role}) to {unit.name}"
    event = _dispatched(ctx, areas, unit, (), f"manual:{ctx.actor.role}", why, _chosen_by("manual", ctx, areas, unit),
                        path[-1].channel_category if path else None)
    return [_with_category(ctx, event, path) if path else event]


def _dispatch_by_category(ctx: Ctx, cmd: c.Dispatch, path: tuple[CategoryNode, ...]) -> Decision:
    """研判 in one click: the dispatcher names the category, the matrix names the units, as it would have at
    intake, in the case's own areas (or the area named)."""
    matrix = ctx.policy.matrix
    assert matrix is not None  # _chosen_category found the category in it
    areas = _areas_for(ctx.case, cmd.area, cmd.areas) if cmd.area is not None else dict(ctx.case.get("areas") or {})
    if not any(level in areas for level in ("township", "county")):
        return _illegal("area: the case is not placed in a county; name the area to dispatch it to")
    found = matrix.assign(path[-1].code, areas, hints_of(ctx.case.get("report") or {}))
    if ctx.case["state"] == "dispatched" and ctx.lead is not None and ctx.lead["code"] == found.lead.code \
            and (ctx.case.get("category") or {}).get("code") == path[-1].code:
        return _illegal(f"the case is already dispatched to {found.lead.name} under this category")
    event = _dispatched(ctx, areas, found.lead, found.assist, found.rule_id, found.explanation, found.facts,
                        path[-1].channel_category)
    return [_with_category(ctx, event, path)]


def _with_category(ctx: Ctx, event: DomainEvent, path: tuple[CategoryNode, ...]) -> DomainEvent:
    """The dispatch event with the category a person chose: who chose it, and whether it was one the
    understanding step suggested (the hub learns the hotline's wording from such choices)."""
    suggested = [s.get("code") for s in ctx.case.get("suggestions") or []]
    return DomainEvent(event.type, {**event.data, "category": category_of(path),
                                    "chosen_by": {"name": ctx.actor.name, "role": ctx.actor.role},
                                    "from_suggestion": path[-1].code in suggested})


def _accept(ctx: Ctx, cmd: c.Accept) -> Decision:
    if (refusal := handles(ctx.case, ctx.actor.role)) is not None:
        return refusal
    schedule = ctx.case.get("sla")
    if schedule is not None and ctx.policy.sla is not None:
        schedule = sla.on_sign_off(schedule, ctx.now, ctx.policy.sla)
    return [_event("case.accepted", unit=ctx.lead, **ctx.sla_data(schedule))]


def _return(ctx: Ctx, cmd: c.Return) -> Decision:
    if (refusal := handles(ctx.case, ctx.actor.role)) is not None:
        return refusal
    if ctx.case.get("arbitrated") or ctx.case.get("return_count", 0) >= ctx.policy.max_returns:
        return _illegal(f"the city arbitrated this case after {ctx.policy.max_returns} returns: "
                        "it cannot be returned again")
    if ctx.lead is None:
        return _illegal("the case has no lead unit to return it from")
    return [_event("case.return_requested", unit=ctx.lead["code"], reason=cmd.reason, note=cmd.note)]


def _review_return(ctx: Ctx, cmd: c.ReviewReturn) -> Decision:
    arbitration = ctx.case.get("return_count", 0) >= ctx.policy.max_returns
    reviewers = review_roles(ctx.case, arbitration)
    if ctx.actor.role not in reviewers:
        who = "the city arbitrates" if arbitration else "the level above the unit reviews"
        return Refusal("forbidden_role", f"{who} this return: {', '.join(sorted(reviewers))}")
    returning = (ctx.case["pending_return"] or {})["unit"]  # the state says a return is pending
    reviewed = dict(approved=cmd.approve, arbitrated=arbitration, unit=returning, reviewer_role=ctx.actor.role)
    if not cmd.approve:
        schedule = ctx.case.get("sla")
        if schedule is not None and ctx.policy.sla is not None:
            schedule = sla.resume(schedule, ctx.now, ctx.policy.sla)
        return [_event("case.return_reviewed", **reviewed, **ctx.sla_data(schedule))]
    areas = ctx.case.get("areas") or {}
    if cmd.unit is not None:
        if cmd.unit == returning:
            return _illegal("unit: approving a return sends the case to another unit; to keep it with "
                            f"{returning}, refuse the return (approve: false)")
        unit = _unit(ctx, cmd.unit, cmd.unit_name, areas)
        if isinstance(unit, Refusal):
            return unit
        choice: Choice = (unit, (), f"review:{ctx.actor.role}", f"named by the reviewer {ctx.actor.name}",
                          _chosen_by("review", ctx, areas, unit))
    else:
        proposal = _alternative(ctx)
        if proposal is None:
            return _illegal("unit: the system has no other unit to propose; name one")
        choice = proposal
    return [_event("case.return_reviewed", **reviewed), _dispatched(ctx, areas, *choice)]


def _request_extension(ctx: Ctx, cmd: c.RequestExtension) -> Decision:
    if (refusal := handles(ctx.case, ctx.actor.role)) is not None:
        return refusal
    if ctx.case.get("extension") is not None:
        return _illegal("an extension request is already waiting for review")
    due_text = (ctx.case.get("deadlines") or {}).get("resolve_by")
    due = sla.parse(due_text) if due_text else None
    if due is not None and ctx.now >= due:
        return _illegal(f"extensions are requested before the deadline ({due_text}); it has passed")
    if cmd.until <= (due or ctx.now):
        return _illegal(f"until: must be after the current deadline ({due_text or 'now'})")
    return [_event("case.extension_requested", until=sla.iso(cmd.until), reason=cmd.reason)]


def _review_extension(ctx: Ctx, cmd: c.ReviewExtension) -> Decision:
    pending = ctx.case.get("extension")
    if pending is None:
        return _illegal("there is no extension request to review")
    reviewers = review_roles(ctx.case, arbitration=False)
    if ctx.actor.role not in reviewers:
        return Refusal("forbidden_role", f"the level above the unit reviews extensions: {', '.join(sorted(reviewers))}")
    if not cmd.approve:
        return [_event("case.extension_reviewed", approved=False, until=pending["until"])]
    until = sla.parse(pending["until"])
    schedule = ctx.case.get("sla")
    if schedule is not None and schedule.get("resolve") and ctx.policy.sla is not None:
        moved = ctx.sla_data(sla.extend(schedule, until, ctx.policy.sla))
    else:
        moved = {"deadlines": {**(ctx.case.get("deadlines") or {}), "resolve_by": pending["until"]}}
    return [_event("case.extension_reviewed", approved=True, until=pending["until"], **moved)]


def _progress(ctx: Ctx, cmd: c.Progress) -> Decision:
    return [_event("case.progressed", note=cmd.note, photos=list(cmd.photos))]


def _push_down(ctx: Ctx, cmd: c.PushDown) -> Decision:
    if (refusal := handles(ctx.case, ctx.actor.role)) is not None:
        return refusal
    lead = ctx.lead or {}
    home = str(lead.get("code", "")).partition("-")[0]
    if home.isdigit() and (not within(cmd.area, home) or cmd.area == home):
        return _illegal(f"area: a sub-task goes down inside the lead unit's area {home}, not to {cmd.area}")
    if LEVELS.index(level_of(cmd.area)) <= LEVELS.index(unit_level(lead) or "city"):
        return _illegal("area: 下派 goes to a lower level than the lead unit")
    n = len(ctx.case.get("subtasks") or []) + 1
    return [_event("case.pushed_down", subtask_id=f"{ctx.case['case_id']}-{n}", area=cmd.area, unit=cmd.unit)]


def _resolve(ctx: Ctx, cmd: c.Resolve) -> Decision:
    if (refusal := handles(ctx.case, ctx.actor.role)) is not None:
        return refusal
    callback_by = sla.callback_deadline(ctx.now, ctx.policy.sla or SlaPolicy())
    resolved = _event("case.resolved", note=cmd.note, callback_by=callback_by)
    if closes_on_resolve(ctx.case):  # the sensor already says the problem is gone: no callback needed
        return [resolved, _event("case.closed", outcome=SENSOR_CLOSE_OUTCOME)]
    return [resolved]


def _callback(ctx: Ctx, cmd: c.Callback) -> Decision:
    valid = cmd.satisfaction != "unreachable"
    events = [_event("case.callback_recorded", contacted=cmd.contacted, solved=cmd.solved,
                     satisfaction=cmd.satisfaction, valid=valid)]
    if cmd.satisfaction in ("satisfied", "basically_satisfied"):
        events.append(_event("case.closed", outcome=cmd.satisfaction))
    elif cmd.satisfaction == "dissatisfied":  # 重办
        schedule = ctx.case.get("sla")
        if schedule is not None and ctx.policy.sla is not None:
            redo = ctx.sla_data(sla.restart_resolution(schedule, ctx.now, ctx.policy.sla))
        else:
            redo = {"deadlines": {k: v for k, v in (ctx.case.get("deadlines") or {}).items() if k != "callback_by"}}
        events.append(_event("case.redone", escalation_level=ctx.case.get("escalation_level", 0) + 1, **redo))
    else:
        window_end = (ctx.case.get("deadlines") or {}).get("callback_by")
        if window_end is None or ctx.now >= sla.parse(window_end):
            events.append(_event("case.closed", outcome="unreachable"))
    return events


def _supervise(ctx: Ctx, cmd: c.Supervise) -> Decision:
    return [_event("case.supervised", note=cmd.note, auto=False)]


def _escalate(ctx: Ctx, cmd: c.Escalate) -> Decision:
    return [_event("case.escalated", level=ctx.case.get("escalation_level", 0) + 1)]


def _park(ctx: Ctx, cmd: c.Park) -> Decision:
    return [_event("case.parked", note=cmd.note, previous_state=ctx.case["state"])]


def _reopen(ctx: Ctx, cmd: c.Reopen) -> Decision:
    state = "triage" if ctx.case["state"] == "rejected" else (ctx.case.get("state_before") or "accepted")
    return [_event("case.reopened", state=state)]


def _reject(ctx: Ctx, cmd: c.Reject) -> Decision:
    return [_event("case.rejected", reason=cmd.reason)]


def _comment(ctx: Ctx, cmd: c.Comment) -> Decision:
    return [_event("case.commented", note=cmd.note)]


_DECIDERS: dict[type[c.Command], Callable[[Ctx, Any], Decision]] = {
    c.Dispatch: _dispatch, c.Accept: _accept, c.Return: _return, c.ReviewReturn: _review_return,
    c.RequestExtension: _request_extension, c.ReviewExtension: _review_extension, c.Progress: _progress,
    c.PushDown: _push_down, c.Resolve: _resolve, c.Callback: _callback, c.Supervise: _supervise,
    c.Escalate: _escalate, c.Park: _park, c.Reopen: _reopen, c.Reject: _reject, c.Comment: _comment,
}
