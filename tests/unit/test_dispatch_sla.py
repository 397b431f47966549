"""Working calendar, SLA clocks and the escalation ladder, with explicit datetimes (UTC+8)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from dispatch import commands as c
from dispatch.calendar import WorkingCalendar, add_working, default_calendar, working_between
from dispatch.case import Case, Intake, Routing, apply, fold, receive
from dispatch.events import DomainEvent
from dispatch.holidays import covered_years
from dispatch.lifecycle import decide
from dispatch.permissions import Actor, Refusal
from dispatch.policy import Policy
from dispatch.sla import due_timer_events, next_due_at, parse
from dispatch.sla_policy import SlaPolicy

CST = timezone(timedelta(hours=8))
AREAS = {"city": {"code": "450100", "name": "南宁市"}, "county": {"code": "450103", "name": "青秀区"},
         "township": {"code": "450103001", "name": "新竹街道"}}
TOWNSHIP = Actor("wang", "township_handler")
COUNTY = Actor("li", "county_dispatcher")


def at(day: str, hh: int, mm: int = 0) -> datetime:
    return datetime.combine(date.fromisoformat(day), time(hh, mm), CST)


@pytest.mark.parametrize(("start", "hours", "expected"), [
    (at("2026-11-23", 9), 2, at("2026-11-23", 11)),            # Monday morning
    (at("2026-11-23", 11), 2, at("2026-11-23", 15, 30)),       # across the lunch break
    (at("2026-11-23", 7), 1, at("2026-11-23", 9)),             # before opening: the clock waits
    (at("2026-11-27", 17), 1, at("2026-11-30", 8, 30)),        # Friday → Monday
    (at("2026-09-30", 16, 30), 2, at("2026-10-08", 9)),        # National Day: 1–7 Oct off
    (at("2026-10-09", 17), 1, at("2026-10-10", 8, 30)),        # Saturday 10 Oct is a make-up working day
    (at("2026-09-18", 17), 1, at("2026-09-20", 8, 30)),        # Sunday 20 Sep too
    (at("2026-02-13", 16), 2, at("2026-02-14", 8, 30)),        # Spring Festival: Saturday 14 Feb worked
    (at("2026-02-14", 17), 1, at("2026-02-24", 8, 30)),        # then 15–23 Feb off
    (at("2026-11-23", 12), 0, at("2026-11-23", 12)),           # nothing to add
])
def test_working_time_is_added_on_the_calendar(start: datetime, hours: int, expected: datetime) -> None:
    assert add_working(start, timedelta(hours=hours)) == expected


def test_working_time_between_two_instants() -> None:
    assert working_between(at("2026-11-23", 11, 30), at("2026-11-23", 15)) == timedelta(hours=1)
    assert working_between(at("2026-09-30", 8), at("2026-10-08", 12)) == timedelta(hours=11)
    assert working_between(at("2026-11-24", 9), at("2026-11-23", 9)) == timedelta()


@given(st.datetimes(min_value=datetime(2025, 1, 1), max_value=datetime(2026, 12, 31)),
       st.integers(min_value=0, max_value=60 * 60 * 7 * 20))
def test_working_between_undoes_add_working(start: datetime, seconds: int) -> None:
    begin = start.replace(tzinfo=CST, microsecond=0)
    assert working_between(begin, add_working(begin, timedelta(seconds=seconds))) == timedelta(seconds=seconds)


def test_the_holiday_data_agrees_with_chinese_calendar_when_it_is_installed() -> None:
    chinese_calendar = pytest.importorskip("chinese_calendar")
    calendar = default_calendar()
    day = date(2025, 1, 1)
    while day.year in covered_years():
        assert calendar.is_working_day(day) == chinese_calendar.is_workday(day), day
        day += timedelta(days=1)


def test_deployments_add_days_without_code() -> None:
    calendar = WorkingCalendar(extra_holidays=frozenset({date(2026, 11, 24)}), periods=((time(9), time(17)),))
    assert calendar.add_working(at("2026-11-23", 16), timedelta(hours=2)) == at("2026-11-25", 10)
    with pytest.raises(ValidationError, match="periods"):
        WorkingCalendar(periods=((time(14), time(12)),))
    with pytest.raises(ValueError, match="time zone"):
        calendar.add_working(datetime(2026, 1, 5, 9), timedelta(hours=1))


def story(category: str = "streetlight", policy: Policy | None = None,
          report: dict[str, str] | None = None) -> tuple[Case, Policy]:
    start = at("2026-11-23", 9)
    policy = policy or Policy()
    intake = Intake("hotline", {"category": category, **(report or {})}, None)
    events = receive(intake, Routing(inside=True, areas=AREAS), now=start, policy=policy)
    case = fold("k", [(e.type, e.data, i + 1, start) for i, e in enumerate(events)])
    assert case is not None
    return case, policy


def sla_of(policy: Policy) -> SlaPolicy:
    assert policy.sla is not None
    return policy.sla


def step(case: Case, events: list[DomainEvent] | Refusal, when: datetime) -> Case:
    assert not isinstance(events, Refusal), events
    for e in events:
        case = apply(case, e.type, e.data, case["version"] + 1, when)
    return case


@pytest.mark.parametrize(("category", "report", "sign_by", "resolve_by"), [
    ("streetlight", {}, at("2026-11-23", 11), at("2026-11-30", 9)),             # normal: 2 wh, 5 working days
    ("exposed_rubbish", {}, at("2026-11-23", 11), at("2026-11-23", 15, 30)),    # category override: 4 wh
    ("gas_leak", {}, at("2026-11-23", 9, 30), at("2026-11-23", 11)),            # critical: calendar time
    ("streetlight", {"urgency": "urgent"}, at("2026-11-23", 10), at("2026-11-24", 9)),  # the ticket says urgent
    ("streetlight", {"urgency": "complex"}, at("2026-11-24", 9), at("2026-12-14", 9)),  # 1 wd, 15 wd
])
def test_limits_by_class_and_category(category: str, report: dict[str, str], sign_by: datetime,
                                      resolve_by: datetime) -> None:
    case, _ = story(category, report=report)
    assert (parse(case["deadlines"]["sign_by"]), parse(case["deadlines"]["resolve_by"])) == (sign_by, resolve_by)


def test_the_resolution_clock_can_start_at_sign_off() -> None:
    case, policy = story(policy=Policy(sla=SlaPolicy(clock_start="sign_off")))
    assert "resolve_by" not in case["deadlines"]
    case = step(case, decide(case, c.Accept(), TOWNSHIP, at("2026-11-23", 10), policy), at("2026-11-23", 10))
    assert parse(case["deadlines"]["resolve_by"]) == at("2026-11-30", 10)


def test_time_under_return_review_is_paused_in_working_time() -> None:
    case, policy = story()
    case = step(case, decide(case, c.Return(reason="wrong_area", note="x"), TOWNSHIP, at("2026-11-23", 11, 30), policy),
                at("2026-11-23", 11, 30))
    assert due_timer_events(case, at("2026-11-25", 9), sla_of(policy)) == [], "no timers while paused"
    assert next_due_at(case, sla_of(policy)) is None
    case = step(case, decide(case, c.ReviewReturn(approve=False), COUNTY, at("2026-11-23", 15), policy),
                at("2026-11-23", 15))
    # 11:30–12:00 and 14:30–15:00: one working hour paused
    assert parse(case["deadlines"]["sign_by"]) == at("2026-11-23", 12)
    assert parse(case["deadlines"]["resolve_by"]) == at("2026-11-30", 10)


def test_the_ladder_steps_each_once_in_order() -> None:
    case, policy = story()
    sla_policy = policy.sla
    assert sla_policy is not None
    assert next_due_at(case, sla_policy) == at("2026-11-23", 10, 36)  # 80 % of 2 working hours
    expected = [
        (at("2026-11-23", 10, 36), ["case.sla_warning"], 0),
        (at("2026-11-23", 11), ["case.reminded"], 1),                # 催办 at the deadline
        (at("2026-11-23", 12), ["case.supervised"], 2),              # 督办 half a limit later
        (at("2026-11-23", 15, 30), ["case.flagged"], 3),             # 挂牌督办 a whole limit later
    ]
    for when, types, level in expected:
        assert due_timer_events(case, when - timedelta(seconds=1), sla_policy) == []
        events = due_timer_events(case, when, sla_policy)
        assert [e.type for e in events] == types and all(e.data["clock"] == "sign" for e in events)
        case = step(case, events, when)
        assert case["supervision_level"] == level
        assert due_timer_events(case, when, sla_policy) == [], "idempotent once applied"
    assert "flagged" in case["flags"]
    assert next_due_at(case, sla_policy) == at("2026-11-27", 9), "next: the resolution warning"


def test_a_late_tick_catches_up_every_missed_step() -> None:
    case, policy = story()
    events = due_timer_events(case, at("2026-12-31", 9), sla_of(policy))
    assert [(e.data["clock"], e.data["step"]) for e in events] == [
        ("sign", "warning"), ("sign", "reminder"), ("sign", "supervision"), ("sign", "flagged"),
        ("resolve", "warning"), ("resolve", "reminder"), ("resolve", "supervision"), ("resolve", "flagged")]


def test_an_approved_extension_moves_the_deadline_and_warns_afresh() -> None:
    case, policy = story()
    case = step(case, decide(case, c.Accept(), TOWNSHIP, at("2026-11-23", 10), policy), at("2026-11-23", 10))
    warned = due_timer_events(case, at("2026-11-27", 9), sla_of(policy))
    case = step(case, warned, at("2026-11-27", 9))
    assert [e.data["step"] for e in warned] == ["warning"]
    until = at("2026-12-04", 9)
    case = step(case, decide(case, c.RequestExtension(until=until, reason="等配件"), TOWNSHIP, at("2026-11-27", 10),
                             policy), at("2026-11-27", 10))
    case = step(case, decide(case, c.ReviewExtension(approve=True), COUNTY, at("2026-11-27", 11), policy),
                at("2026-11-27", 11))
    assert parse(case["deadlines"]["resolve_by"]) == until
    assert due_timer_events(case, at("2026-11-30", 9), sla_of(policy)) == []
    again = next_due_at(case, sla_of(policy))
    assert again is not None and at("2026-11-30", 9) < again < until


def test_a_policy_without_supervision_steps_only_warns_and_reminds() -> None:
    quiet = Policy(sla=SlaPolicy(supervise_after=None, flag_after=None))
    case, _ = story(policy=quiet)
    events = due_timer_events(case, at("2026-12-31", 9), sla_of(quiet))
    assert {e.data["step"] for e in events} == {"warning", "reminder"}


@pytest.mark.parametrize(("config", "message"), [
    ({"default_class": "cosmic"}, "default_class"),
    ({"categories": {"x": {"sla_class": "cosmic"}}}, "categories.x.sla_class"),
    ({"classes": {"normal": {"clock": "working", "sign": "2 hours", "resolve": "5d"}}}, "sign"),
    ({"supervise_after": 1.0, "flag_after": 0.5}, "flag_after"),
])
def test_a_bad_sla_policy_is_refused(config: dict[str, Any], message: str) -> None:
    with pytest.raises(ValidationError, match=message):
        SlaPolicy.model_validate(config)
