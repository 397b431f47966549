"""dispatch.changes against the real fold: an event's patch carries every field its handler writes, and the
events that need the whole case are exactly those after which a console may not hold it."""

from __future__ import annotations

import copy
from datetime import timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dispatch.case import Case, Intake, Routing, apply, area_codes, fold, new_case, receive
from dispatch.changes import (
    ALWAYS_WRITTEN,
    DETAIL_FIELDS,
    REOPENING_EVENTS,
    WHOLE_CASE_EVENTS,
    WRITTEN_FIELDS,
    feed_fields,
    feed_form,
    needs_whole_case,
    written_fields,
)
from dispatch.fold import HANDLERS
from dispatch.lifecycle import decide
from dispatch.permissions import Refusal
from dispatch.sensors import Reading, on_reading
from dispatch.sla import due_timer_events, start_clocks
from dispatch.sla_policy import SlaPolicy
from dispatch.states import FINISHED_STATES
from tests.unit.test_dispatch_properties import AREAS, PARENT, POLICIES, START, draw_move, minutes


class Recording(dict[str, Any]):
    """A case that remembers every top-level key a handler writes or removes, however it does so."""

    def __init__(self, case: Case) -> None:
        super().__init__(case)
        self.written: set[str] = set()

    def __setitem__(self, key: str, value: Any) -> None:
        self.written.add(key)
        super().__setitem__(key, value)

    def __delitem__(self, key: str) -> None:
        self.written.add(key)
        super().__delitem__(key)

    def pop(self, key: str, *default: Any) -> Any:
        self.written.add(key)
        return super().pop(key, *default)

    def setdefault(self, key: str, default: Any = None) -> Any:
        self.written.add(key)
        return super().setdefault(key, default)

    def update(self, *args: Any, **kwargs: Any) -> None:
        self.written.update(dict(*args, **kwargs))
        super().update(*args, **kwargs)


def written_by_handler(case: Case, event_type: str, data: dict[str, Any]) -> set[str]:
    recording = Recording(copy.deepcopy(case))
    HANDLERS[event_type](recording, data, START)  # type: ignore[arg-type]  # a Case is a dict
    return recording.written


def changed_keys(before: Case, after: Case) -> set[str]:
    return {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}


def check_event(case: Case, event_type: str, data: dict[str, Any], version: int) -> Case:
    """Apply one event the real way and check the table against what it wrote and changed."""
    assert written_by_handler(case, event_type, data) <= written_fields(event_type), event_type
    after = apply(case, event_type, data, version, START)
    assert changed_keys(case, after) <= written_fields(event_type), event_type
    if area_codes(after) != area_codes(case):
        assert event_type in WHOLE_CASE_EVENTS, f"{event_type} moves the case: consoles may see it anew"
    if case["state"] in FINISHED_STATES and after["state"] not in FINISHED_STATES:
        assert event_type in REOPENING_EVENTS, f"{event_type} reopens a finished case"
    return after


def test_the_table_names_every_handler_and_nothing_else() -> None:
    assert set(WRITTEN_FIELDS) == set(HANDLERS)
    assert written_fields("case.something_new") == ALWAYS_WRITTEN, "unknown types only bump the version"
    assert all(keys >= ALWAYS_WRITTEN for keys in WRITTEN_FIELDS.values())
    assert set(new_case("c", START)) >= set().union(*WRITTEN_FIELDS.values()), "only the document's own fields"


# One event of every type with every optional field present, on a case where every conditional branch runs
# (a running SLA schedule, an open sensor): the union of what the handlers write is the table, exactly.
SCHEDULE = {"resolve": {"due": "2026-10-01T09:00:00+08:00"}, "done": []}
SAMPLES: dict[str, list[dict[str, Any]]] = {
    "case.received": [{"source": "hotline", "report": {"ticket_no": "T", "device_id": "D"}, "location": None}],
    "case.triaged": [{"reason": "unknown_category", "routing": {}, "areas": AREAS, "flags": ["near_boundary"],
                      "suggestions": [{"code": "010101", "confidence": 0.5, "evidence": ["路灯"], "rule": "k"}]}],
    "case.merge_suggested": [{"into": "P", "score": 0.8}],
    "case.dispatched": [{"areas": AREAS, "lead": {"code": "u", "name": "U"}, "assist": [], "rule": "R",
                         "explanation": "e", "category": {"code": "x", "path": ["X"]}, "flags": ["near_boundary"],
                         "routing": {}, "sla": SCHEDULE, "deadlines": {"resolve_by": "x"},
                         "understanding": {"code": "x", "confidence": 1.0, "evidence": ["X"], "rule": "name"},
                         "incident": {"incident_id": "I", "level": "II", "kind": "flood", "title": "T"}}],
    "case.incident_linked": [{"incident": {"incident_id": "I", "level": "II", "kind": "flood", "title": "T"}}],
    "case.accepted": [{"sla": SCHEDULE, "deadlines": {}}],
    "case.return_requested": [{"unit": "u", "reason": "wrong_area", "note": None}],
    "case.return_reviewed": [{"approved": False, "arbitrated": True, "sla": SCHEDULE, "deadlines": {}},
                             {"approved": True}],
    "case.extension_requested": [{"until": "2026-10-09T09:00:00+08:00", "reason": "r"}],
    "case.extension_reviewed": [{"approved": True, "sla": SCHEDULE, "deadlines": {}}, {"approved": False}],
    "case.progressed": [{"note": "n", "photos": ["p1"]}],
    "case.pushed_down": [{"subtask_id": "s", "area": "450103001001", "unit": "g"}],
    "case.resolved": [{"note": "n", "callback_by": "2026-10-02T09:00:00+08:00"}],
    "case.callback_recorded": [{"contacted": True, "solved": True, "satisfaction": "satisfied", "valid": True}],
    "case.closed": [{"outcome": "satisfied"}],
    "case.redone": [{"escalation_level": 1, "sla": SCHEDULE, "deadlines": {}}],
    "case.supervised": [{"clock": "resolve", "step": "supervise"}],
    "case.sla_warning": [{"clock": "resolve", "step": "warning"}],
    "case.reminded": [{"clock": "resolve", "step": "remind"}],
    "case.flagged": [{"clock": "resolve", "step": "flag"}],
    "case.escalated": [{"level": 1}],
    "case.merged": [{"previous_state": "dispatched", "into": "P"}],
    "case.split": [{"parent": "P", "state": "dispatched"}],
    "case.child_attached": [{"child": "K"}],
    "case.child_detached": [{"child": "K"}],
    "case.parent_updated": [{"state": "closed"}],
    "case.parked": [{"previous_state": "accepted", "note": "n"}],
    "case.reopened": [{"state": "accepted"}],
    "case.rejected": [{"reason": "r"}],
    "case.commented": [{"note": "c"}],
    "case.alarm_repeated": [{"seq": 2, "value": 0.5, "threshold": 0.2, "at": "2026-09-24T09:01:00+08:00"}],
    "case.sensor_recovered": [{"seq": 3, "value": 0.1, "threshold": 0.2, "at": "2026-09-24T09:02:00+08:00"}],
}


def test_every_handler_writes_exactly_the_fields_of_its_entry() -> None:
    assert set(SAMPLES) == set(HANDLERS), "a new event type needs a sample here and an entry in the table"
    base: Case = {**new_case("c", START), "sla": SCHEDULE, "children": ["K"],
                  "sensor": {"state": "alarm", "alarms": 1}}
    for event_type, samples in SAMPLES.items():
        written: set[str] = set(ALWAYS_WRITTEN)  # apply's own
        for data in samples:
            written |= written_by_handler(base, event_type, data)
            check_event(base, event_type, data, 2)
        assert written == WRITTEN_FIELDS[event_type], f"{event_type}: the table says more than the handler writes"


def test_whole_cases_go_with_first_events_placements_and_reopenings() -> None:
    assert needs_whole_case("case.accepted", 1) and needs_whole_case("case.received", 1)
    assert not needs_whole_case("case.accepted", 5) and not needs_whole_case("case.something_new", 5)
    assert {t for t in HANDLERS if needs_whole_case(t, 2)} == {"case.dispatched", "case.triaged", "case.reopened",
                                                                  "case.split"}


def reading(case: Case, seq: int, state: str) -> list[tuple[str, dict[str, Any]]]:
    """What a device's reading adds to its case (nothing when it opens another case or is ignored)."""
    decision = on_reading(case, Reading("D", seq, state, 0.4, 0.2, START + timedelta(seconds=seq)))  # type: ignore[arg-type]
    return [(e.type, e.data) for e in decision] if isinstance(decision, list) else []


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policy_name=st.sampled_from(sorted(POLICIES)), data=st.data(), length=st.integers(1, 30),
       located=st.booleans(), source=st.sampled_from(["hotline", "iot"]))
def test_random_histories_write_only_what_the_table_says(policy_name: str, data: st.DataObject, length: int,
                                                         located: bool, source: str) -> None:
    """Real decisions, timer ticks and sensor readings, applied one by one with the table checked each time."""
    policy = POLICIES[policy_name]
    now = START
    routing = Routing(inside=True, areas=AREAS) if located else Routing(inside=False, reason="no_location")
    report = {"ticket_no": "T", "category": "streetlight", "content": "x"} | (
        {"device_id": "D", "seq": 1, "value": 0.4, "at": START.isoformat()} if source == "iot" else {})
    events = [(e.type, e.data) for e in receive(Intake(source, report, None), routing, now=now, policy=policy)]
    case = new_case("K", now)
    version = 0
    for event_type, event_data in events:
        version += 1
        case = check_event(case, event_type, event_data, version)
    assert fold("K", [(t, d, i + 1, now) for i, (t, d) in enumerate(events)]) == case
    timers = policy.sla or SlaPolicy()
    for step in range(length):
        now += timedelta(minutes=data.draw(minutes))
        kind = data.draw(st.integers(0, 5))
        if kind == 0:
            result: list[tuple[str, dict[str, Any]]] = [(e.type, e.data) for e in due_timer_events(case, now, timers)]
        elif kind == 1 and source == "iot":
            result = reading(case, step + 2, data.draw(st.sampled_from(["alarm", "clear"])))
        else:
            command, actor = draw_move(data, case, policy)
            decision = decide(case, command, actor, now, policy, {"P": PARENT})
            result = [] if isinstance(decision, Refusal) else [(e.type, e.data) for e in decision]
        for event_type, event_data in result:
            version += 1
            case = check_event(case, event_type, event_data, version)


def test_the_feed_form_leaves_out_what_only_a_cases_own_screen_shows_and_keeps_the_rest_as_it_is() -> None:
    """The console feed (hub.live.frames) sends a case in its feed form: no explanation, routing or understanding
    (the panel and the phone's case screen read those by REST), and of the SLA schedule what the lists and the
    map compare with the clock (frontend/shared/cases.js: each clock's due time and warning step, whether it is
    paused, its class). Every other field goes exactly as it is, and a patch carries no detail field either."""
    sla = start_clocks({"urgency": "urgent"}, START, SlaPolicy())
    case = {**new_case("c", START), "sla": {**sla, "paused_at": "2026-09-24T02:00:00+00:00"},
            "explanation": "R1 …", "explanation_facts": {"kind": "rule"}, "routing": {"method": "point"},
            "understanding": {"code": "010101", "evidence": ["路灯"]}}
    fed = feed_form(case)
    assert not DETAIL_FIELDS & set(fed)
    assert {k: v for k, v in fed.items() if k != "sla"} == {k: v for k, v in case.items()
                                                            if k not in DETAIL_FIELDS | {"sla"}}
    assert fed["sla"]["class"] == sla["class"] == "urgent"
    assert fed["sla"]["paused_at"] == "2026-09-24T02:00:00+00:00"
    for clock in ("sign", "resolve"):
        schedule = sla[clock]
        if schedule is None:
            assert fed["sla"][clock] is None
        else:
            assert fed["sla"][clock] == {"due": schedule["due"], "steps": {"warning": schedule["steps"]["warning"]}}
    assert len(str(fed["sla"])) < len(str(sla)) / 2, "the schedule's steps, limits and history stay out"
    assert feed_form({"version": 4, "sla": None}) == {"version": 4, "sla": None}
    for event_type in WRITTEN_FIELDS:
        assert feed_fields(event_type) == written_fields(event_type) - DETAIL_FIELDS
    assert "understanding" not in feed_fields("case.dispatched") and "sla" in feed_fields("case.dispatched")
