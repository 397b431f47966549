"""Admission (hub.services.admission): slots counted in tickets, all-or-nothing or partial, given back when the
block ends; the expected-wait rule (tickets ahead at the measured drain rate against the budget) and the drain
rate's EWMA; a deadline that answers for work still going on, and says whether the database was answering."""

from __future__ import annotations

import asyncio
import math

import pytest

from hub.services.admission import Admission, DrainRate, admissible, expected_wait_s
from hub.store.events import StoreOverloaded, StoreUnavailable


def test_slots_are_counted_in_tickets_and_given_back() -> None:
    admission = Admission(capacity=10, timeout_s=1.0)
    with admission.slots(7) as seven:
        assert seven == 7 and admission.in_flight == 7
        with pytest.raises(StoreOverloaded, match="the limit is 10"), admission.slots(4):  # all or nothing
            pass
        with admission.slots(4, partial=True) as some:
            assert some == 3 and admission.in_flight == 10
            with pytest.raises(StoreOverloaded), admission.slots(1, partial=True):  # partial, none is free
                pass
        assert admission.in_flight == 7
    assert admission.in_flight == 0
    with pytest.raises(ValueError), admission.slots(2):
        raise ValueError("a failing request gives its slots back too")
    assert admission.in_flight == 0
    with admission.slots(1000, partial=True) as most:  # a batch larger than the whole bound still gets in
        assert most == 10


async def test_late_work_is_answered_unavailable_and_goes_on_to_the_end() -> None:
    admission = Admission(capacity=10, timeout_s=0.05)
    release = asyncio.Event()
    done: list[str] = []

    async def work() -> str:
        await release.wait()
        done.append("recorded")
        return "ok"

    with admission.slots(1), pytest.raises(StoreUnavailable, match="the database is not answering; the outcome "
                                                                    "is unknown"):
        await admission.within(work())
    assert admission.in_flight == 1, "late work holds a slot of its own until it ends"
    release.set()  # the database answers after all: the work is not lost, and is recorded once
    await admission.close()
    assert done == ["recorded"] and admission.in_flight == 0
    assert await admission.within(work()) == "ok"


async def test_late_work_while_commits_go_on_is_answered_overloaded() -> None:
    admission = Admission(capacity=10, timeout_s=0.05)
    never = asyncio.Event()

    async def slow() -> None:
        admission.committed(1)  # other requests' commits: the database answers, this hub is behind
        await never.wait()

    with pytest.raises(StoreOverloaded, match="the hub is behind"):
        await admission.within(slow())
    await admission.close(wait_s=0)  # what is left at shutdown is cancelled, not left pending


async def test_a_database_wait_that_times_out_inside_the_work_is_unavailable() -> None:
    admission = Admission(capacity=10, timeout_s=5.0)

    async def acquire_times_out() -> None:
        raise TimeoutError

    with pytest.raises(StoreUnavailable, match="a database wait timed out"):
        await admission.within(acquire_times_out())


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_hub_full_without_a_commit_for_a_whole_deadline_says_the_database_is_not_answering() -> None:
    clock = Clock()
    admission = Admission(capacity=1, timeout_s=1.5, clock=clock)
    with admission.slots(1):
        with pytest.raises(StoreOverloaded), admission.slots(1):  # full, but not busy for a deadline yet
            pass
        clock.now += 2  # a deadline and more, without a commit: the slot's work is stuck
        with pytest.raises(StoreUnavailable, match="nothing has been committed"), admission.slots(1):
            pass
        admission.committed(7)  # the database answers again: the hub is only full
        with pytest.raises(StoreOverloaded), admission.slots(1):
            pass



def test_the_rule_admits_what_finishes_within_the_budget_at_the_measured_rate() -> None:
    # 1,000 tickets/s and 0.2 s: room for 200 tickets in progress; the k-th newcomer waits (ahead + k) / rate.
    assert admissible(1, ahead=0, rate_per_s=1000.0, budget_s=0.2, floor=1) == 1
    assert admissible(1, ahead=199, rate_per_s=1000.0, budget_s=0.2, floor=1) == 1
    assert admissible(1, ahead=200, rate_per_s=1000.0, budget_s=0.2, floor=1) == 0
    assert admissible(100, ahead=150, rate_per_s=1000.0, budget_s=0.2, floor=1) == 50  # a batch: what fits
    assert admissible(100, ahead=150, rate_per_s=10_000.0, budget_s=0.2, floor=1) == 100  # a faster hub: all
    assert expected_wait_s(150 + 50, 1000.0) == pytest.approx(0.2)
    # A slow estimate still lets the floor in, and so does a hub that has measured nothing yet — no more.
    assert admissible(10, ahead=0, rate_per_s=5.0, budget_s=0.2, floor=64) == 10
    assert admissible(10, ahead=60, rate_per_s=5.0, budget_s=0.2, floor=64) == 4
    assert admissible(500, ahead=0, rate_per_s=None, budget_s=0.2, floor=64) == 64
    assert admissible(500, ahead=64, rate_per_s=None, budget_s=0.2, floor=64) == 0


def test_the_drain_rate_is_an_ewma_of_busy_stretches_and_a_quiet_hub_teaches_it_nothing() -> None:
    clock = Clock()
    admission = Admission(capacity=1000, timeout_s=1.5, clock=clock, budget_s=0.2, floor=200)
    for _ in range(20):  # light load: one ticket at a time, answered in 3 ms
        with admission.slots(1):
            clock.now += 0.003
        clock.now += 0.5
    assert admission.drain.per_s is None
    with admission.slots(200), pytest.raises(StoreOverloaded, match=r"the limit is 200 until this hub has "
                                                                     "measured its pace"), admission.slots(1):
        pass
    assert admission.drain.per_s is None  # nor does a stretch of no time
    # Saturated: 100 tickets in progress, and one more answered each millisecond: 1,000 tickets/s.
    with admission.slots(100):
        for _ in range(200):
            with admission.slots(1):
                clock.now += 0.001
    assert admission.drain.per_s == pytest.approx(1000.0, rel=0.05)
    rate = DrainRate()
    rate.observe(100, 0.1)
    rate.observe(400, 0.1)  # a faster stretch moves the estimate by 1 - e^(-0.1) of the way
    assert rate.per_s == pytest.approx(1000 + (4000 - 1000) * (1 - math.exp(-0.1)))


def test_a_hub_refuses_what_would_wait_longer_than_the_budget_and_says_so() -> None:
    clock = Clock()
    admission = Admission(capacity=1000, timeout_s=1.5, clock=clock, budget_s=0.2, floor=2)
    admission.drain.observe(100, 0.1)  # measured: 1,000 tickets/s
    with admission.slots(150):
        with admission.slots(100, partial=True) as some:  # 50 fit in 0.2 s behind the 150
            assert some == 50
            with pytest.raises(StoreOverloaded, match=r"about 0\.2 s of work at 1,000 tickets/s \(the budget is "
                                                      r"0\.2 s\)"), admission.slots(1):
                pass
        with pytest.raises(StoreOverloaded), admission.slots(51):  # all or nothing: 51 do not fit
            pass
        with admission.slots(50):
            pass
