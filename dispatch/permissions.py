"""Who may do what, in which state: the tables every decision checks first.

Jurisdiction (is this case in the actor's area?) is the hub's check, by area code. The domain checks the
role, the state, and the rules that depend on the case itself: a unit's own staff sign for it (a township
handler for a township unit, the county for a county bureau); returns and extensions are reviewed by the
level above the unit; after `max_returns` returns only the city may arbitrate.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

from dispatch.codes import unit_level
from dispatch.events import Case
from dispatch.fold import STATES


@dataclass(frozen=True, slots=True)
class Actor:
    name: str
    role: str
    area: str | None = None


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a command was not carried out. The hub answers 422 for illegal_transition, 403 for forbidden_role."""

    code: Literal["illegal_transition", "forbidden_role"]
    reason: str


SYSTEM: Final = Actor("system", "system")  # timers and follow-ups between linked cases

CITY: Final = frozenset({"admin", "city_operator"})
OPERATORS: Final = CITY | {"county_dispatcher"}
HANDLING: Final = OPERATORS | {"township_handler"}  # narrowed by the lead unit's level, see handles()

ROLES: Final[dict[str, frozenset[str]]] = {
    "dispatch": OPERATORS,
    "accept": HANDLING,
    "return": HANDLING,
    "review_return": OPERATORS,  # narrowed by review_roles()
    "request_extension": HANDLING,
    "review_extension": OPERATORS,
    "progress": HANDLING | {"grid_worker"},
    "push_down": HANDLING,
    "resolve": HANDLING,
    "callback": CITY | {"hotline", "grid_worker", "system"},  # 12345 回访, or a grid worker's 核查
    "supervise": OPERATORS,
    "escalate": OPERATORS,
    "merge": OPERATORS | {"system"},  # system: automatic merge above the threshold
    "split": OPERATORS,
    "park": CITY,
    "reopen": CITY,
    "reject": OPERATORS,
    "comment": HANDLING | {"grid_worker"},
    "attach_child": frozenset({"system"}),
    "detach_child": frozenset({"system"}),
    "follow_parent": frozenset({"system"}),
}

_WORKING: Final = frozenset({"dispatched", "return_requested", "accepted"})
ALLOWED_STATES: Final[dict[str, frozenset[str]]] = {
    "dispatch": frozenset({"received", "triage", "dispatched"}),  # from dispatched: 改派 before sign-off
    "accept": frozenset({"dispatched"}),
    "return": frozenset({"dispatched"}),
    "review_return": frozenset({"return_requested"}),
    "request_extension": frozenset({"accepted"}),
    "review_extension": frozenset({"accepted"}),
    "progress": frozenset({"accepted"}),
    "push_down": frozenset({"accepted"}),
    "resolve": frozenset({"accepted"}),
    "callback": frozenset({"resolved"}),
    "supervise": _WORKING,
    "escalate": _WORKING | {"triage"},
    "merge": frozenset({"received", "triage", "dispatched", "accepted"}),
    "split": frozenset({"merged"}),
    "park": frozenset({"dispatched", "accepted"}),
    "reopen": frozenset({"parked", "rejected"}),
    "reject": frozenset({"received", "triage"}),
    "comment": frozenset(STATES) - {"closed"},
    "attach_child": frozenset(STATES) - {"closed"},
    "detach_child": frozenset(STATES) - {"closed"},
    "follow_parent": frozenset({"merged"}),
}

# The role that works a unit's queue, by the unit's level.
_UNIT_STAFF: Final = {"city": "city_operator", "county": "county_dispatcher", "township": "township_handler",
                      "community": "township_handler", "grid": "township_handler"}

STATE_NAMES: Final = {
    "received": "received (已受理)", "triage": "in triage (待人工研判)", "dispatched": "waiting for sign-off (待签收)",
    "return_requested": "under return review (退单审核)", "accepted": "being handled (办理中)",
    "resolved": "resolved and awaiting the callback (已办结待回访)", "closed": "closed (已结案)",
    "merged": "merged into another case (已合并)", "parked": "parked (挂账)", "rejected": "rejected (不予受理)",
}
_WHY_NOT: Final = {
    "closed": "closed cases are never edited; a new complaint about the same problem opens a new linked case",
    "merged": "it follows its parent case; act on the parent, or split it off first",
}


def role_refusal(action: str, role: str) -> Refusal | None:
    if role in ROLES[action]:
        return None
    if role == "auditor":
        return Refusal("forbidden_role", "auditors read cases and KPIs; they never act on cases")
    allowed = ", ".join(sorted(ROLES[action]))
    return Refusal("forbidden_role", f"a {role} may not {action} a case (allowed: {allowed})")


def state_refusal(action: str, state: str) -> Refusal | None:
    if state in ALLOWED_STATES[action]:
        return None
    why = _WHY_NOT.get(state)
    allowed = ", ".join(sorted(ALLOWED_STATES[action]))
    text = f"cannot {action} a case that is {STATE_NAMES.get(state, state)}"
    return Refusal("illegal_transition", f"{text}: {why}" if why else f"{text}; {action} applies to: {allowed}")


def handles(case: Case, role: str) -> Refusal | None:
    """Only the lead unit's own staff (or an admin) sign for, return, extend and resolve a case."""
    level = unit_level((case.get("units") or {}).get("lead")) or "unknown"
    if role == "admin" or _UNIT_STAFF.get(level) == role:
        return None
    return Refusal("forbidden_role", f"the lead unit is a {level}-level unit: its own staff "
                                     f"({_UNIT_STAFF.get(level, 'admin')}) act on it, not a {role}")


def review_roles(case: Case, arbitration: bool) -> frozenset[str]:
    """The level above the lead unit reviews; the city alone arbitrates, and reviews county/city units."""
    level = unit_level((case.get("units") or {}).get("lead"))
    if arbitration or level in ("city", "county"):
        return CITY
    return OPERATORS


# Actions that only the lead unit's own staff take (handles()).
_UNIT_ACTIONS: Final = frozenset({"accept", "return", "request_extension", "push_down", "resolve"})
_INTERNAL: Final = frozenset({"attach_child", "detach_child", "follow_parent"})


def available_actions(case: Case, role: str, max_returns: int) -> list[str]:
    """The actions `role` may take on `case` now — what a console offers. The same rules `decide`
    applies before it looks at the command's fields; an offered action can still be refused for its
    fields (a date in the past, a unit that does not exist)."""
    state = case["state"]
    arbitration = case.get("arbitrated") or case.get("return_count", 0) >= max_returns
    offered = []
    for action in ROLES:
        if action in _INTERNAL or role_refusal(action, role) or state_refusal(action, state):
            continue
        if action in _UNIT_ACTIONS and handles(case, role) is not None:
            continue
        if action == "return" and arbitration:
            continue
        if action == "request_extension" and case.get("extension") is not None:
            continue
        if action == "review_return" and role not in review_roles(case, bool(arbitration)):
            continue
        if action == "review_extension" and (case.get("extension") is None or role not in review_roles(case, False)):
            continue
        offered.append(action)
    return offered
