"""Admission (hub.services.admission): slots counted in tickets, all-or-nothing or partial, given back when the
block ends; a deadline that answers for work still going on, and says whether the database was answering."""

from __future__ import annotations

import asyncio

import pytest

from hub.services.admission import Admission
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

