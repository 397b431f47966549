"""tools/simulation/history.py: background history for the demo and the detectors' measurements."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta
from functools import cache
from typing import Any

from connectors.history import HistoricalTicket, order_problem
from dispatch.policy import Policy
from hub.data import DEMO_POLICY_FILE
from tools.simulation.config import CITY_TZ
from tools.simulation.history import generate

END = datetime(2026, 11, 30, tzinfo=CITY_TZ)  # a Monday: the 14 days before are two whole weeks


@cache
def two_weeks(seed: int = 5) -> list[dict[str, Any]]:
    return list(generate(14, 200, seed=seed, end=END))


def test_the_same_seed_gives_the_same_history_and_another_seed_another() -> None:
    assert list(generate(2, 50, seed=5, end=END)) == list(generate(2, 50, seed=5, end=END))
    assert list(generate(2, 50, seed=5, end=END)) != list(generate(2, 50, seed=6, end=END))


def test_every_line_is_an_importable_ticket_of_the_demo_policy_in_the_period() -> None:
    tickets = two_weeks()
    matrix = Policy.model_validate_json(DEMO_POLICY_FILE.read_bytes()).matrix
    assert matrix is not None
    assert len({t["ticket_no"] for t in tickets}) == len(tickets)
    for raw in tickets:
        ticket = HistoricalTicket.model_validate(raw)
        assert order_problem(ticket, END) is None, raw
        assert END - timedelta(days=14) <= ticket.reported_at < END
        assert matrix.knows(ticket.category)
        assert ticket.location is not None or ticket.address is not None
    reported = [t["reported_at"] for t in tickets]
    assert reported == sorted(reported)


def test_volume_follows_the_weekday_and_the_hour_of_day() -> None:
    tickets = two_weeks()
    assert 2_400 <= len(tickets) <= 2_900  # 10 weekdays at ~200, 4 weekend days at ~145
    days = Counter(datetime.fromisoformat(t["reported_at"]).weekday() for t in tickets)
    assert days[1] > days[6] * 1.2  # Tuesdays busier than Sundays
    hours = Counter(datetime.fromisoformat(t["reported_at"]).hour for t in tickets)
    night = sum(hours[h] for h in range(0, 6))
    morning = sum(hours[h] for h in range(9, 12))
    assert morning > 6 * night


def test_outcomes_have_plausible_durations_some_returns_and_open_tail() -> None:
    tickets = two_weeks()
    outcomes = [t.get("outcome") or {} for t in tickets]
    closed = [o for o in outcomes if "closed_at" in o]
    assert len(closed) > 0.8 * len(tickets)
    assert {o["satisfaction"] for o in closed} == {"satisfied", "basically_satisfied", "dissatisfied", "unreachable"}
    returned = sum("returned_at" in o for o in outcomes)
    assert 0.01 * len(tickets) < returned < 0.1 * len(tickets)
    to_resolve = sorted(datetime.fromisoformat(o["resolved_at"]) - datetime.fromisoformat(o["dispatched_at"])
                        for o in closed)
    median = to_resolve[len(to_resolve) // 2]
    assert timedelta(hours=8) < median < timedelta(days=2)
    # The last day's tickets are mostly still being worked when the history ends.
    last_day = [t for t in tickets if datetime.fromisoformat(t["reported_at"]) >= END - timedelta(days=1)]
    assert sum("closed_at" in (t.get("outcome") or {}) for t in last_day) < len(last_day) / 2
