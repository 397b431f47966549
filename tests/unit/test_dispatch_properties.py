"""Properties of the lifecycle under random sequences of actions, actors and timer ticks."""

from __future__ import annotations

import copy
import json
from datetime import datetime, timedelta, timezone
from typing import cast

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from dispatch import commands as c
from dispatch.case import Case, Intake, Routing, apply, fold, receive
from dispatch.fold import STATES
from dispatch.lifecycle import decide
from dispatch.permissions import ALLOWED_STATES, Actor, Refusal
from dispatch.policy import Policy
from dispatch.sla import due_timer_events, next_due_at
from dispatch.sla_policy import SlaPolicy
from tools.demo_matrix import demo_matrix

CST = timezone(timedelta(hours=8))
START = datetime(2026, 9, 24, 9, 0, tzinfo=CST)  # just before the Mid-Autumn and National Day breaks
AREAS = {"city": {"code": "450100", "name": "南宁市"}, "county": {"code": "450103", "name": "青秀区"},
         "township": {"code": "450103001", "name": "新竹街道"}}
MATRIX = demo_matrix()
POLICIES = {"matrix": Policy(matrix=MATRIX), "one return, no matrix": Policy(max_returns=1),
            "no SLA": Policy(matrix=MATRIX, sla=None)}
ACTORS = [Actor("a", r, "450100") for r in (
    "admin", "city_operator", "county_dispatcher", "township_handler", "grid_worker", "auditor", "hotline", "system")]
UNTIL = [START + timedelta(days=d) for d in (1, 10, 40)]
COMMANDS: list[c.Command] = [
    c.Dispatch(area="450103001", unit="450103001-gov"), c.Dispatch(area="450103", unit="450103-cgj"),
    c.Dispatch(area="450103", unit="unknown-unit"), c.Accept(),
    c.Return(reason="not_our_remit", note="n"), c.Return(reason="wrong_area", note="n"),
    c.Return(reason="unclear_ownership", note="n"),
    c.ReviewReturn(approve=True), c.ReviewReturn(approve=False), c.ReviewReturn(approve=True, unit="450103-zjj"),
    *[c.RequestExtension(until=u, reason="r") for u in UNTIL], c.ReviewExtension(approve=True),
    c.ReviewExtension(approve=False), c.Progress(note="p"), c.PushDown(area="450103001001", unit="g-1"),
    c.Resolve(note="done"),
    *[c.Callback(contacted=True, solved=s != "dissatisfied", satisfaction=s)  # type: ignore[arg-type]
      for s in ("satisfied", "basically_satisfied", "dissatisfied", "unreachable")],
    c.Supervise(note="s"), c.Escalate(), c.Merge(into="P"), c.Merge(into="nowhere"), c.Split(), c.Park(note="p"),
    c.Reopen(), c.Reject(reason="r"), c.Comment(note="c"),
    c.AttachChild(child="K"), c.DetachChild(child="K"), c.FollowParent(parent="P", state="closed"),
]
PARENT: Case = fold("P", [(e.type, e.data, i + 1, START) for i, e in enumerate(
    receive(Intake("grid", {"category": "streetlight"}, None), Routing(inside=True, areas=AREAS), MATRIX))]
) or cast(Case, {})
HANDLED = ("dispatched", "return_requested", "accepted", "resolved")

minutes = st.one_of(st.integers(0, 120), st.integers(0, 60 * 24 * 6))  # mostly minutes, sometimes days


def draw_move(data: st.DataObject, case: Case, policy: Policy) -> tuple[c.Command, Actor]:
    """Mostly a command the state allows, by the first actor whose role may issue it; sometimes anything."""
    allowed = [cmd for cmd in COMMANDS if case["state"] in ALLOWED_STATES[cmd.action]]
    if not allowed or data.draw(st.integers(0, 4)) == 0:
        return data.draw(st.sampled_from(COMMANDS)), data.draw(st.sampled_from(ACTORS))
    command = data.draw(st.sampled_from(allowed))
    for actor in ACTORS:
        result = decide(case, command, actor, START, policy, {"P": PARENT})
        if not (isinstance(result, Refusal) and result.code == "forbidden_role"):
            return command, actor
    return command, ACTORS[0]


def check_invariants(case: Case, previous: Case, policy: Policy) -> None:
    assert case["state"] in STATES
    assert (case["state"] == "return_requested") == (case["pending_return"] is not None)
    assert case["return_count"] <= policy.max_returns
    assert case["state"] not in HANDLED or case["units"]["lead"] is not None
    assert case["extension"] is None or case["state"] in ("accepted", "parked", "merged")
    assert (case["state"] == "merged") == (case["parent_id"] is not None)
    assert case["escalation_level"] >= previous["escalation_level"]
    assert 0 <= case["supervision_level"] <= 3
    assert previous["state"] != "closed" or case == previous, "closed cases are never edited"
    assert json.loads(json.dumps(case)) == case, "the case stays plain JSON"


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(policy_name=st.sampled_from(sorted(POLICIES)), data=st.data(), length=st.integers(0, 30), located=st.booleans(),
       category=st.sampled_from(["streetlight", "exposed_rubbish", "gas_leak", "mystery"]))
def test_random_histories_keep_the_invariants_and_replay_exactly(policy_name: str, data: st.DataObject, length: int,
                                                                   located: bool, category: str) -> None:
    policy = POLICIES[policy_name]
    now = START
    routing = Routing(inside=True, areas=AREAS) if located else Routing(inside=False, reason="no_location")
    intake = Intake("hotline", {"ticket_no": "T", "category": category, "content": "x"}, None)
    recorded = [(e.type, e.data, i + 1, now) for i, e in enumerate(receive(intake, routing, now=now, policy=policy))]
    case = fold("K", recorded)
    assert case is not None
    timers = policy.sla or SlaPolicy()  # without an SLA only the callback window ticks
    for _ in range(length):
        now += timedelta(minutes=data.draw(minutes))
        tick = data.draw(st.integers(0, 3)) == 0
        previous = copy.deepcopy(case)
        command, actor = draw_move(data, case, policy)
        result = due_timer_events(case, now, timers) if tick else decide(case, command, actor, now, policy,
                                                                          {"P": PARENT})
        assert not isinstance(result, Refusal) or (result.code in ("illegal_transition", "forbidden_role")
                                                   and result.reason)
        events = [] if isinstance(result, Refusal) else result
        for ev in events:
            recorded.append((ev.type, ev.data, len(recorded) + 1, now))
            before = copy.deepcopy(case)
            nxt = apply(case, *recorded[-1])
            assert case == before, "apply never changes the case it was given"
            case = nxt
        check_invariants(case, previous, policy)
        proposed = [e for e in events if e.type == "case.dispatched" and e.data["rule"].startswith(("fallback", "R-"))]
        assert not proposed or previous["state"] != "return_requested" or (
            case["units"]["lead"]["code"] not in case["returned_by"]), "改派 never proposes a unit that returned it"
        assert not tick or due_timer_events(case, now, timers) == [], "timers are idempotent"
        due = next_due_at(case, timers)
        assert due is None or due_timer_events(case, due, timers), "next_due_at names a real tick"
    event(f"reached {case['state']}")  # --hypothesis-show-statistics shows how far histories get
    assert fold("K", recorded) == case, "replaying the recorded events rebuilds the same case"
    wire = [(t, json.loads(json.dumps(d)), v, at) for t, d, v, at in recorded]
    assert fold("K", wire) == case, "events survive the JSON round trip of the store"
