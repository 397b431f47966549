"""What the domain decides: events to record, as stable type strings and plain JSON data."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypedDict

JsonDict = dict[str, Any]


class Case(TypedDict):
    """A case (工单) document: plain JSON, the same shape in the store's projection, the API and the
    consoles. Only the fold (`dispatch.fold`) writes it; `new_case` gives every key its starting value."""

    case_id: str
    state: str  # one of dispatch.fold.STATES
    version: int
    source: str | None  # hotline | open311 | iot | grid | reopen
    report: JsonDict  # the channel's fields worth keeping (ticket_no, category, content, reporter, ...)
    location: JsonDict | None  # {"lng", "lat"} in WGS84
    areas: dict[str, dict[str, str]]  # level → {"code", "name"}
    units: JsonDict  # {"lead": unit or None, "assist": [units]} (主办 / 协办)
    rule: str | None  # the matrix rule (or manual:<role>) that named the lead unit
    explanation: str | None
    explanation_facts: JsonDict | None  # the explanation as facts (dispatch.matrix.Assignment.facts); None before
    category: JsonDict | None  # {"code", "path", "path_en"?}: the leaf of the category tree the matrix placed it in
    flags: list[str]
    deadlines: JsonDict  # sign_by, resolve_by, callback_by … as ISO strings
    sla: JsonDict | None  # the SLA schedule the deadlines come from (clocks, pauses, steps done)
    triage_reason: str | None
    suggestions: list[JsonDict]  # the understanding step's proposals in triage: {code, confidence, evidence, rule}
    escalation_level: int
    supervision_level: int  # 催办 1 → 督办 2 → 挂牌督办 3
    return_count: int
    returned_by: list[str]
    pending_return: JsonDict | None
    arbitrated: bool  # the city decided after the return limit: no more returns
    extension: JsonDict | None  # a pending extension request
    extension_count: int
    redo_count: int
    dispatch_count: int
    subtasks: list[JsonDict]  # 下派 to communities and grids
    callbacks: list[JsonDict]  # 回访 records
    resolution: JsonDict | None
    outcome: str | None
    parent_id: str | None  # merged into (合并)
    children: list[str]
    parent_state: str | None
    state_before: str | None
    parked_note: str | None
    rejected_reason: str | None
    last_progress: JsonDict | None
    progress_count: int
    progress_photos: list[str]
    comment_count: int
    routing: JsonDict  # how the place was found (point, address, confidence)
    merge_suggestion: JsonDict | None
    understanding: JsonDict | None  # what intake read from the words: code, confidence, evidence, rule
    sensor: JsonDict | None  # machine-detected cases: device, alarms, recovery
    imported: bool  # history from an earlier system (数据平滑迁移): no live clocks, callbacks or merges
    dispatched_at: str | None
    accepted_at: str | None
    resolved_at: str | None
    closed_at: str | None
    created_at: str
    updated_at: str
    # The emergency incident it is linked to ({incident_id, level, kind, title}; dispatch.incidents): None until
    # it is linked, at intake or on request (absent from documents written before incidents existed).
    incident: JsonDict | None

# How one event type changes a (shallow-copied) case document; `at` is when the event occurred.
Handler = Callable[[Case, JsonDict, datetime], None]


@dataclass(frozen=True, slots=True)
class DomainEvent:
    """A fact the domain wants recorded. `type` is a stable string such as ``case.received``."""

    type: str
    data: JsonDict = field(default_factory=dict)


CASE_EVENT_PREFIX = "case."


def is_case_event(event_type: str) -> bool:
    """Whether an event belongs to a case stream. The store also holds other streams (alerts; directives and
    incidents later): every reader that folds cases asks this, so a new kind of stream never breaks them."""
    return event_type.startswith(CASE_EVENT_PREFIX)
