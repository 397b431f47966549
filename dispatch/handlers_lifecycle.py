"""Fold handlers for everything after dispatch: sign-off, returns, extensions, handling, callback,
the SLA ladder, merging and the operator's actions. Each handler only copies the facts its event carries;
every decision (new deadlines included) was taken by `dispatch.lifecycle.decide` and is in the data."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

from dispatch.events import Case, Handler, JsonDict


def _set_clocks(case: Case, data: JsonDict) -> None:
    """Events that move deadlines carry the whole new schedule, so replay never needs the policy."""
    if "sla" in data:
        case["sla"] = data["sla"]
    if "deadlines" in data:
        case["deadlines"] = dict(data["deadlines"])


def _mark_step(case: Case, data: JsonDict) -> None:
    """Remember a timer step so `due_timer_events` never emits it twice for the same schedule."""
    sla = case.get("sla")
    if sla is not None and data.get("clock") and data.get("step"):
        case["sla"] = {**sla, "done": [*sla.get("done", []), f"{data['clock']}:{data['step']}"]}


def _raise_supervision(case: Case, level: int) -> None:
    case["supervision_level"] = max(case.get("supervision_level", 0), level)


def _accepted(case: Case, data: JsonDict, at: datetime) -> None:
    case["state"] = "accepted"
    case["accepted_at"] = at.isoformat()
    _set_clocks(case, data)


def _return_requested(case: Case, data: JsonDict, at: datetime) -> None:
    case["state"] = "return_requested"
    case["pending_return"] = {"unit": data["unit"], "reason": data["reason"], "note": data.get("note"),
                              "requested_at": at.isoformat()}
    case["return_count"] = case.get("return_count", 0) + 1
    returned: list[Any] = case.get("returned_by", [])
    case["returned_by"] = returned if data["unit"] in returned else [*returned, data["unit"]]
    schedule = case.get("sla")
    if schedule is not None:  # the clock stops while the level above reviews (PRODUCT.md 3)
        case["sla"] = {**schedule, "paused_at": at.isoformat()}


def _return_reviewed(case: Case, data: JsonDict, at: datetime) -> None:
    case["pending_return"] = None
    case["arbitrated"] = bool(case.get("arbitrated")) or bool(data.get("arbitrated"))
    if not data["approved"]:  # back to the same unit; an approved return is followed by case.dispatched
        case["state"] = "dispatched"
        _set_clocks(case, data)


def _extension_requested(case: Case, data: JsonDict, at: datetime) -> None:
    case["extension"] = {"until": data["until"], "reason": data["reason"], "requested_at": at.isoformat()}


def _extension_reviewed(case: Case, data: JsonDict, at: datetime) -> None:
    case["extension"] = None
    if data["approved"]:
        case["extension_count"] = case.get("extension_count", 0) + 1
        _set_clocks(case, data)


def _progressed(case: Case, data: JsonDict, at: datetime) -> None:
    case["progress_count"] = case.get("progress_count", 0) + 1
    case["last_progress"] = {"note": data["note"], "photos": list(data.get("photos", [])), "at": at.isoformat()}
    if data.get("photos"):  # every photo the case's work has named, for whoever may see the case
        case["progress_photos"] = [*case.get("progress_photos", []), *data["photos"]]


def _pushed_down(case: Case, data: JsonDict, at: datetime) -> None:
    task = {"id": data["subtask_id"], "area": data["area"], "unit": data["unit"], "at": at.isoformat()}
    case["subtasks"] = [*case.get("subtasks", []), task]


def _resolved(case: Case, data: JsonDict, at: datetime) -> None:
    case["state"] = "resolved"
    case["extension"] = None  # a pending extension request lapses: the work is done
    case["resolved_at"] = at.isoformat()
    case["resolution"] = {"note": data["note"], "at": at.isoformat()}
    case["deadlines"] = {**case.get("deadlines", {}), "callback_by": data["callback_by"]}


def _callback_recorded(case: Case, data: JsonDict, at: datetime) -> None:
    record = {k: data[k] for k in ("contacted", "solved", "satisfaction", "valid")}
    case["callbacks"] = [*case.get("callbacks", []), {**record, "at": at.isoformat()}]


def _closed(case: Case, data: JsonDict, at: datetime) -> None:
    case["state"] = "closed"
    case["closed_at"] = at.isoformat()
    case["outcome"] = data["outcome"]


def _redone(case: Case, data: JsonDict, at: datetime) -> None:
    """重办: back to the same unit with the escalation level raised and a fresh resolution clock."""
    case["state"] = "accepted"
    case["escalation_level"] = data["escalation_level"]
    case["redo_count"] = case.get("redo_count", 0) + 1
    case["resolution"] = None
    case["resolved_at"] = None
    _set_clocks(case, data)


def _supervised(case: Case, data: JsonDict, at: datetime) -> None:
    _raise_supervision(case, 2)  # 督办
    _mark_step(case, data)


def _sla_warning(case: Case, data: JsonDict, at: datetime) -> None:
    _mark_step(case, data)


def _reminded(case: Case, data: JsonDict, at: datetime) -> None:
    _raise_supervision(case, 1)  # 催办
    _mark_step(case, data)


def _flagged(case: Case, data: JsonDict, at: datetime) -> None:
    _raise_supervision(case, 3)  # 挂牌督办
    case["flags"] = sorted(set(case.get("flags", [])) | {"flagged"})
    _mark_step(case, data)


def _escalated(case: Case, data: JsonDict, at: datetime) -> None:
    case["escalation_level"] = data["level"]


def _merged(case: Case, data: JsonDict, at: datetime) -> None:
    case["state_before"] = data["previous_state"]
    case["state"] = "merged"
    case["parent_id"] = data["into"]
    case["merge_suggestion"] = None


def _split(case: Case, data: JsonDict, at: datetime) -> None:
    case["state"] = data["state"]
    case["state_before"] = None
    case["parent_id"] = None
    case["parent_state"] = None


def _child_attached(case: Case, data: JsonDict, at: datetime) -> None:
    children: list[Any] = case.get("children", [])
    case["children"] = children if data["child"] in children else [*children, data["child"]]


def _child_detached(case: Case, data: JsonDict, at: datetime) -> None:
    case["children"] = [c for c in case.get("children", []) if c != data["child"]]


def _parent_updated(case: Case, data: JsonDict, at: datetime) -> None:
    case["parent_state"] = data["state"]


def _parked(case: Case, data: JsonDict, at: datetime) -> None:
    case["state_before"] = data["previous_state"]
    case["state"] = "parked"
    case["parked_note"] = data["note"]


def _reopened(case: Case, data: JsonDict, at: datetime) -> None:
    case["state"] = data["state"]
    case["state_before"] = None


def _rejected(case: Case, data: JsonDict, at: datetime) -> None:
    case["state"] = "rejected"
    case["rejected_reason"] = data["reason"]


def _commented(case: Case, data: JsonDict, at: datetime) -> None:
    case["comment_count"] = case.get("comment_count", 0) + 1


HANDLERS: Final[dict[str, Handler]] = {
    "case.accepted": _accepted,
    "case.return_requested": _return_requested,
    "case.return_reviewed": _return_reviewed,
    "case.extension_requested": _extension_requested,
    "case.extension_reviewed": _extension_reviewed,
    "case.progressed": _progressed,
    "case.pushed_down": _pushed_down,
    "case.resolved": _resolved,
    "case.callback_recorded": _callback_recorded,
    "case.closed": _closed,
    "case.redone": _redone,
    "case.supervised": _supervised,
    "case.sla_warning": _sla_warning,
    "case.reminded": _reminded,
    "case.flagged": _flagged,
    "case.escalated": _escalated,
    "case.merged": _merged,
    "case.split": _split,
    "case.child_attached": _child_attached,
    "case.child_detached": _child_detached,
    "case.parent_updated": _parent_updated,
    "case.parked": _parked,
    "case.reopened": _reopened,
    "case.rejected": _rejected,
    "case.commented": _commented,
}
