"""The case lifecycle, example by example: who may do what, in which state, and what it records."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any, cast

import pytest
from pydantic import ValidationError

from dispatch import commands as c
from dispatch.case import Case, Intake, Routing, apply, fold, receive
from dispatch.commands import PUBLIC_COMMANDS
from dispatch.events import DomainEvent
from dispatch.fold import STATES
from dispatch.lifecycle import decide
from dispatch.linking import FollowUp, follow_ups, named_cases, reopen_as_new
from dispatch.permissions import ALLOWED_STATES, ROLES, SYSTEM, Actor, Refusal, available_actions
from dispatch.policy import Policy
from dispatch.sla import due_timer_events, parse

CST = timezone(timedelta(hours=8))
MONDAY = datetime(2026, 11, 23, 9, 0, tzinfo=CST)
AREAS = {"city": {"code": "450100", "name": "南宁市"}, "county": {"code": "450103", "name": "青秀区"},
         "township": {"code": "450103001", "name": "新竹街道"}}
POLICY = Policy()
CITY = Actor("chen", "city_operator", "450100")
COUNTY = Actor("li", "county_dispatcher", "450103")
TOWNSHIP = Actor("wang", "township_handler", "450103001")


class Story:
    """A case and its recorded events, moved along by decisions as the hub would."""

    def __init__(self, case_id: str = "c1", category: str = "streetlight", policy: Policy = POLICY,
                 at: datetime = MONDAY, routing: Routing | None = None) -> None:
        self.policy = policy
        self.now = at
        intake = Intake("hotline", {"ticket_no": case_id, "category": category, "content": "路灯不亮"},
                        {"lng": 108.37, "lat": 22.82})
        events = receive(intake, routing or Routing(inside=True, areas=AREAS), now=at, policy=policy)
        self.recorded: list[tuple[str, dict[str, Any], int, datetime]] = []
        self.case: Case = cast(Case, {})  # until the first event is folded
        self.case_id = case_id
        self._record(events)

    def _record(self, events: list[DomainEvent]) -> None:
        for e in events:
            row = (e.type, e.data, len(self.recorded) + 1, self.now)
            self.recorded.append(row)
            first = len(self.recorded) == 1
            self.case = (fold(self.case_id, self.recorded) or cast(Case, {})) if first else apply(self.case, *row)

    def do(self, command: c.Command, actor: Actor, after: timedelta = timedelta(minutes=10),
           related: dict[str, Case] | None = None) -> list[DomainEvent] | Refusal:
        self.now += after
        result = decide(self.case, command, actor, self.now, self.policy, related)
        if not isinstance(result, Refusal):
            self._record(result)
        return result

    def ok(self, command: c.Command, actor: Actor, **kw: Any) -> list[str]:
        result = self.do(command, actor, **kw)
        assert not isinstance(result, Refusal), result
        return [e.type for e in result]

    def timers(self, at: datetime) -> list[str]:
        self.now = at
        assert self.policy.sla is not None
        events = due_timer_events(self.case, at, self.policy.sla)
        self._record(events)
        return [e.type for e in events]


def test_the_happy_path_closes_on_a_satisfied_callback() -> None:
    s = Story()
    assert s.case["state"] == "dispatched" and s.case["units"]["lead"]["code"] == "450103001-gov"
    assert set(s.case["deadlines"]) == {"sign_by", "resolve_by"}
    assert s.ok(c.Accept(), TOWNSHIP) == ["case.accepted"]
    assert s.ok(c.Progress(note="已联系路灯所", photos=("a" * 64,)), TOWNSHIP) == ["case.progressed"]
    assert s.ok(c.Resolve(note="已更换灯泡"), TOWNSHIP) == ["case.resolved"]
    assert "callback_by" in s.case["deadlines"]
    hotline = Actor("12345", "hotline")
    assert s.ok(c.Callback(contacted=True, solved=True, satisfaction="basically_satisfied"), hotline) == [
        "case.callback_recorded", "case.closed"]
    assert (s.case["state"], s.case["outcome"]) == ("closed", "basically_satisfied")
    assert fold("c1", s.recorded) == s.case


SAMPLES: dict[str, c.Command] = {
    "dispatch": c.Dispatch(area="450103", unit="450103-gov"), "accept": c.Accept(),
    "return": c.Return(reason="wrong_area", note="不在本街道"), "review_return": c.ReviewReturn(approve=False),
    "request_extension": c.RequestExtension(until=MONDAY + timedelta(days=30), reason="需采购配件"),
    "review_extension": c.ReviewExtension(approve=True), "progress": c.Progress(note="处理中"),
    "push_down": c.PushDown(area="450103001001", unit="450103001001-gov"), "resolve": c.Resolve(note="已处理"),
    "callback": c.Callback(contacted=True, solved=True, satisfaction="satisfied"),
    "supervise": c.Supervise(note="请加快"), "escalate": c.Escalate(), "merge": c.Merge(into="parent"),
    "split": c.Split(), "park": c.Park(note="需立项"), "reopen": c.Reopen(), "reject": c.Reject(reason="非本市"),
    "comment": c.Comment(note="备注"), "attach_child": c.AttachChild(child="x"),
    "detach_child": c.DetachChild(child="x"), "follow_parent": c.FollowParent(parent="p", state="closed"),
}
ADMIN = Actor("root", "admin")


def story_in(state: str) -> Story:
    """A case brought into `state` by legal steps."""
    s = Story(routing=Routing(inside=False, reason="no_location")) if state in ("triage", "rejected") else Story()
    steps: dict[str, list[tuple[c.Command, Actor]]] = {
        "received": [], "triage": [], "dispatched": [],
        "return_requested": [(c.Return(reason="not_our_remit", note="非我单位"), TOWNSHIP)],
        "accepted": [(c.Accept(), TOWNSHIP)],
        "resolved": [(c.Accept(), TOWNSHIP), (c.Resolve(note="done"), TOWNSHIP)],
        "closed": [(c.Accept(), TOWNSHIP), (c.Resolve(note="done"), TOWNSHIP), (SAMPLES["callback"], CITY)],
        "merged": [(c.Merge(into="parent"), CITY)],
        "parked": [(c.Park(note="需立项"), CITY)],
        "rejected": [(c.Reject(reason="咨询类"), CITY)],
    }
    if state == "received":
        s.case = {**s.case, "state": "received"}  # intake never leaves a case here; shape it by hand
    for command, actor in steps[state]:
        s.ok(command, actor, related={"parent": Story("parent").case})
    assert s.case["state"] == state
    return s


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("action", sorted(ALLOWED_STATES))
def test_every_state_action_pair_outside_the_table_is_refused_with_a_reason(state: str, action: str) -> None:
    s = story_in(state)
    actor = SYSTEM if ROLES[action] == {"system"} else ADMIN
    result = decide(s.case, SAMPLES[action], actor, s.now + timedelta(minutes=1), POLICY,
                    {"parent": Story("parent").case})
    allowed = state in ALLOWED_STATES[action]
    refused_for_state = isinstance(result, Refusal) and result.reason.startswith(f"cannot {action} a case that is")
    assert refused_for_state != allowed, result
    assert not isinstance(result, Refusal) or (result.code == "illegal_transition" and result.reason)


def test_closed_cases_are_never_edited_but_reopen_as_a_new_linked_case() -> None:
    s = story_in("closed")
    for action, command in SAMPLES.items():
        result = decide(s.case, command, SYSTEM if action in ("attach_child", "detach_child") else ADMIN, s.now)
        assert isinstance(result, Refusal)
    refusal = decide(s.case, c.Reopen(), CITY, s.now)
    assert isinstance(refusal, Refusal) and "new linked case" in refusal.reason
    intake, routing = reopen_as_new(s.case, {"category": "streetlight", "content": "又不亮了"})
    assert intake.report["linked_to"] == "c1" and routing.areas == AREAS
    new = receive(intake, routing)
    assert new[0].data["report"]["linked_to"] == "c1" and new[1].type == "case.dispatched"


@pytest.mark.parametrize("action", sorted(SAMPLES))
def test_auditors_never_act(action: str) -> None:
    result = decide(story_in("dispatched").case, SAMPLES[action], Actor("a", "auditor"), MONDAY)
    assert isinstance(result, Refusal) and result.code == "forbidden_role" and "auditor" in result.reason


def test_only_the_lead_units_own_staff_sign_for_it() -> None:
    s = Story()  # lead: a township government
    refusal = s.do(c.Accept(), COUNTY)
    assert isinstance(refusal, Refusal) and refusal.code == "forbidden_role" and "township" in refusal.reason
    county_case = Story(routing=Routing(inside=True, areas={k: AREAS[k] for k in ("city", "county")}))
    assert isinstance(county_case.do(c.Accept(), TOWNSHIP), Refusal)
    assert county_case.ok(c.Accept(), COUNTY) == ["case.accepted"]


def test_returns_are_reviewed_above_and_the_city_arbitrates_the_last_one() -> None:
    s = Story()
    s.ok(c.Return(reason="wrong_area", note="属江南区"), TOWNSHIP)
    assert s.case["pending_return"] is not None and s.case["pending_return"]["reason"] == "wrong_area"
    assert s.case["return_count"] == 1
    assert isinstance(s.do(c.ReviewReturn(approve=True), TOWNSHIP), Refusal)
    assert s.ok(c.ReviewReturn(approve=True), COUNTY) == ["case.return_reviewed", "case.dispatched"]
    assert s.case["units"]["lead"]["code"] == "450103-gov", "the system proposes another unit, never the returner"
    s.ok(c.Return(reason="not_our_remit", note="应由城管处理"), COUNTY)
    refusal = s.do(c.ReviewReturn(approve=True), COUNTY)
    assert isinstance(refusal, Refusal) and refusal.code == "forbidden_role" and "city arbitrates" in refusal.reason
    assert s.ok(c.ReviewReturn(approve=True, unit="450103-cgj", unit_name="青秀区城市管理局"), CITY)
    assert s.case["arbitrated"] and s.case["units"]["lead"]["name"] == "青秀区城市管理局"
    assert s.case["returned_by"] == ["450103001-gov", "450103-gov"]
    refusal = s.do(c.Return(reason="not_our_remit", note="again"), COUNTY)
    assert isinstance(refusal, Refusal) and "cannot be returned again" in refusal.reason


def test_approving_a_return_to_the_same_unit_is_refused() -> None:
    s = story_in("return_requested")
    refusal = s.do(c.ReviewReturn(approve=True, unit="450103001-gov"), COUNTY)
    assert isinstance(refusal, Refusal) and "approve: false" in refusal.reason


def test_a_refused_return_goes_back_with_the_review_time_not_counted() -> None:
    s = Story()  # normal class: sign within 2 working hours of Monday 09:00 → 11:00
    assert parse(s.case["deadlines"]["sign_by"]) == MONDAY + timedelta(hours=2)
    s.ok(c.Return(reason="unclear_ownership", note="权属不清"), TOWNSHIP, after=timedelta(minutes=30))
    s.ok(c.ReviewReturn(approve=False), COUNTY, after=timedelta(hours=1))  # reviewed at 10:30
    assert s.case["state"] == "dispatched" and s.case["units"]["lead"]["code"] == "450103001-gov"
    assert parse(s.case["deadlines"]["sign_by"]) == MONDAY + timedelta(hours=3), "one hour under review"


def test_extensions_are_asked_before_the_deadline_and_approved_above() -> None:
    s = story_in("accepted")
    deadline = parse(s.case["deadlines"]["resolve_by"])
    too_early = s.do(c.RequestExtension(until=deadline - timedelta(hours=1), reason="x"), TOWNSHIP)
    assert isinstance(too_early, Refusal) and "until" in too_early.reason
    until = datetime(2026, 12, 7, 10, 0, tzinfo=CST)
    s.ok(c.RequestExtension(until=until, reason="需采购灯具"), TOWNSHIP)
    assert isinstance(s.do(c.RequestExtension(until=until, reason="again"), TOWNSHIP), Refusal)
    assert isinstance(s.do(c.ReviewExtension(approve=True), TOWNSHIP), Refusal)
    s.ok(c.ReviewExtension(approve=True), COUNTY)
    assert parse(s.case["deadlines"]["resolve_by"]) == until and s.case["extension"] is None
    late = story_in("accepted")
    late.now = parse(late.case["deadlines"]["resolve_by"])
    refusal = late.do(c.RequestExtension(until=until, reason="late"), TOWNSHIP)
    assert isinstance(refusal, Refusal) and "before the deadline" in refusal.reason


def test_a_dissatisfied_callback_is_redone_one_escalation_level_up() -> None:
    s = story_in("resolved")
    events = s.ok(c.Callback(contacted=True, solved=False, satisfaction="dissatisfied"), CITY)
    assert events == ["case.callback_recorded", "case.redone"]
    assert (s.case["state"], s.case["escalation_level"], s.case["redo_count"]) == ("accepted", 1, 1)
    assert parse(s.case["deadlines"]["resolve_by"]) > s.now and "callback_by" not in s.case["deadlines"]


def test_an_unreachable_citizen_closes_the_case_after_the_callback_window() -> None:
    s = story_in("resolved")
    window_end = parse(s.case["deadlines"]["callback_by"])
    assert s.ok(c.Callback(contacted=False, solved=False, satisfaction="unreachable"), CITY) == [
        "case.callback_recorded"]
    assert s.case["state"] == "resolved" and s.case["callbacks"][-1]["valid"] is False
    assert s.timers(window_end - timedelta(seconds=1)) == []
    assert s.timers(window_end) == ["case.closed"]
    assert s.case["outcome"] == "no_answer" and s.timers(window_end + timedelta(days=1)) == []
    late = story_in("resolved")
    late.now = window_end + timedelta(hours=1)
    assert late.ok(c.Callback(contacted=False, solved=False, satisfaction="unreachable"), CITY)[-1] == "case.closed"


def test_merge_split_and_children_following_their_parent() -> None:
    parent, child = Story("P"), Story("C")
    assert isinstance(child.do(c.Merge(into="P"), CITY), Refusal), "the parent must be given"
    assert isinstance(child.do(c.Merge(into="C"), CITY, related={"C": child.case}), Refusal)
    events = child.do(c.Merge(into="P"), CITY, related={"P": parent.case})
    assert not isinstance(events, Refusal) and child.case["state"] == "merged"
    assert follow_ups(child.case, events) == [FollowUp("P", c.AttachChild(child="C"))]
    parent.ok(c.AttachChild(child="C"), SYSTEM)
    accepted = parent.do(c.Accept(), TOWNSHIP)
    assert not isinstance(accepted, Refusal)
    ups = follow_ups(parent.case, accepted)
    assert ups == [FollowUp("C", c.FollowParent(parent="P", state="accepted"))]
    child.ok(ups[0].command, SYSTEM)
    assert child.case["parent_state"] == "accepted"
    assert isinstance(child.do(c.Accept(), TOWNSHIP), Refusal), "a merged case follows its parent"
    assert named_cases(child.case, c.Split()) == ["P"] and named_cases(parent.case, c.Merge(into="X")) == ["X"]
    assert isinstance(child.do(c.Split(), COUNTY), Refusal), "the parent must be given (the actor may see it)"
    split = child.do(c.Split(), COUNTY, related={"P": parent.case})
    assert not isinstance(split, Refusal) and child.case["state"] == "dispatched"
    assert follow_ups(child.case, split) == [FollowUp("P", c.DetachChild(child="C"))]
    closed = story_in("closed")
    assert isinstance(child.do(c.Merge(into="c1"), CITY, related={"c1": closed.case}), Refusal)


def test_park_reject_and_reopen() -> None:
    s = story_in("accepted")
    assert isinstance(s.do(c.Park(note="x"), COUNTY), Refusal), "parking is the city's call"
    s.ok(c.Park(note="需市里立项改造"), CITY)
    assert s.case["parked_note"] == "需市里立项改造"
    assert s.timers(s.now + timedelta(days=60)) == [], "parked cases raise no SLA timers"
    s.ok(c.Reopen(), CITY)
    assert s.case["state"] == "accepted"
    r = story_in("rejected")
    r.ok(c.Reopen(), CITY)
    assert r.case["state"] == "triage"


def test_triage_is_dispatched_by_an_operator_and_push_down_goes_lower() -> None:
    s = story_in("triage")
    s.ok(c.Dispatch(area="450103001", unit="450103001-gov", areas=AREAS), COUNTY)
    assert s.case["units"]["lead"]["name"] == "新竹街道人民政府" and s.case["rule"] == "manual:county_dispatcher"
    assert isinstance(s.do(c.Dispatch(area="450103001", unit="450103001-gov"), COUNTY), Refusal)
    s.ok(c.Accept(), TOWNSHIP)
    s.ok(c.PushDown(area="450103001001", unit="450103001001-gov"), TOWNSHIP)
    assert s.case["subtasks"][0]["area"] == "450103001001"
    refusal = s.do(c.PushDown(area="450102001", unit="450102001-gov"), TOWNSHIP)
    assert isinstance(refusal, Refusal) and "inside the lead unit's area" in refusal.reason


def test_supervise_and_escalate_record_without_moving_the_state() -> None:
    s = story_in("accepted")
    s.ok(c.Supervise(note="请今日内办结"), CITY)
    s.ok(c.Escalate(), COUNTY)
    assert (s.case["state"], s.case["supervision_level"], s.case["escalation_level"]) == ("accepted", 2, 1)


def test_commands_are_parsed_with_errors_naming_the_field() -> None:
    cmd = c.parse_command("return", {"reason": "wrong_area", "note": "x", "expected_version": 3, "action": "return"})
    assert cmd == c.Return(reason="wrong_area", note="x")
    with pytest.raises(ValueError, match="unknown action"):
        c.parse_command("teleport", {})
    with pytest.raises(ValidationError) as info:
        c.parse_command("return", {"reason": "bored"})
    assert {e["loc"][0] for e in info.value.errors()} == {"reason", "note"}
    with pytest.raises(ValidationError, match="until"):
        c.parse_command("request_extension", {"until": "2026-12-01T10:00:00", "reason": "x"})
    with pytest.raises(ValidationError, match="colour"):
        c.parse_command("accept", {"colour": "red"})
    assert set(c.ACTIONS) == {a for a in ALLOWED_STATES if ROLES[a] != {"system"}}


@pytest.mark.parametrize("state", STATES)
@pytest.mark.parametrize("actor", [ADMIN, CITY, COUNTY, TOWNSHIP, Actor("g", "grid_worker", "450103001"),
                                   Actor("a", "auditor")], ids=lambda a: a.role)
def test_offered_actions_are_exactly_those_decide_would_take(state: str, actor: Actor) -> None:
    """What a console offers (available_actions) and what decide accepts must not drift apart: an action
    not offered is refused; an offered one is not refused for the role or the state."""
    s = story_in(state)
    offered = available_actions(s.case, actor.role, POLICY.max_returns)
    for action in sorted(PUBLIC_COMMANDS):
        result = decide(s.case, SAMPLES[action], actor, s.now + timedelta(minutes=1), POLICY,
                        {"parent": Story("parent").case})
        if action in offered:
            assert not (isinstance(result, Refusal) and (result.code == "forbidden_role" or
                                                        result.reason.startswith(f"cannot {action}"))), \
                (action, result)
        else:
            assert isinstance(result, Refusal), (action, "not offered, yet decide took it")
