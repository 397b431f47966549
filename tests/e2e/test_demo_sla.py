"""The demo shows the whole range of SLA colours a real centre sees: a run of the simulator against a hub with the
demo's policy (time limits as many times shorter as the crew is faster) shows, within the run, cases near their
limit (预警), overdue, escalated by the hub's own timers (催办 and 督办: supervision_level > 0, ≥ 2), returns
waiting for the dispatcher's review and extensions waiting for approval — read from the database as the run goes
on. The crew's lateness comes from each case's SLA schedule, not from the demo: dispatch/ has no demo rule."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import UTC, datetime, time, timedelta
from typing import Final

import asyncpg
import pytest

from dispatch.calendar import WorkingCalendar
from hub.infra.settings import Settings
from hub.keys import POOL
from tests.conftest import running_hub
from tools.demo import SimulatorAccounts, demo_policy
from tools.simulation import SimConfig, Simulator
from tools.simulation.config import CITY_TZ
from tools.simulation.crew import FollowUpCrew

SPEED: Final = 600.0  # an urgent case's 1 h sign-off limit lasts 6 s; 督办 follows 3 s after the deadline
SIGHTS: Final = ("warning", "overdue", "escalated", "supervised", "return_requested", "extension_pending")

# What the open cases show right now. A sign-off clock counts while the case awaits sign-off, the resolution
# clock until it is resolved; a step is in the schedule's `done` once the hub's timer has fired it.
NOW_SQL: Final = """
SELECT
  bool_or((state = 'dispatched' AND d ? 'sign:warning' AND NOT d ? 'sign:reminder')
          OR (d ? 'resolve:warning' AND NOT d ? 'resolve:reminder')) AS warning,
  bool_or((state = 'dispatched' AND d ? 'sign:reminder') OR d ? 'resolve:reminder') AS overdue,
  bool_or(coalesce((doc->>'supervision_level')::int, 0) > 0) AS escalated,
  bool_or(coalesce((doc->>'supervision_level')::int, 0) >= 2) AS supervised,
  bool_or(state = 'return_requested') AS return_requested,
  bool_or(doc->'extension' IS NOT NULL AND doc->'extension' <> 'null'::jsonb) AS extension_pending
FROM (SELECT state, doc, coalesce(doc->'sla'->'done', '[]'::jsonb) AS d FROM cases
      WHERE state IN ('dispatched', 'accepted', 'return_requested')) open_cases
"""


async def sights(pool: asyncpg.Pool) -> set[str]:
    row = await pool.fetchrow(NOW_SQL)
    return {name for name in SIGHTS if row is not None and row[name]}


def calendar_where_working_time(runs: bool) -> WorkingCalendar:
    """A working calendar on which, today and for weeks around (China time), working time runs all day long (as
    in office hours) or never (as at night, at weekends and on holidays). The demo runs at any hour, and the
    normal classes' working-time clocks count only in office hours: with the real calendar, what this test saw
    (and which classes made the colours) depended on when it ran."""
    today = datetime.now(CITY_TZ).date()
    days = frozenset(today + timedelta(days=n) for n in range(-2, 60))
    if runs:
        return WorkingCalendar(periods=((time.min, time.max),), extra_workdays=days)
    return WorkingCalendar(workdays=frozenset(), extra_holidays=days)  # no 调休 day may open a window either


@pytest.mark.parametrize("working_time_runs", [True, False], ids=["office-hours", "clocks-paused"])
async def test_a_demo_run_shows_warning_overdue_escalated_returns_and_extensions(
        settings: Settings, working_time_runs: bool) -> None:
    fast = settings.model_copy(update={"sla_sweep_s": 0.3})
    policy = demo_policy(SPEED)
    assert policy.sla is not None
    calendar = calendar_where_working_time(working_time_runs)
    policy = policy.model_copy(update={"sla": policy.sla.model_copy(update={"calendar": calendar})})
    assert policy.sla is not None and policy.sla.calendar.running_at(datetime.now(UTC))[0] is working_time_runs
    async with running_hub(fast, policy=policy) as hub:
        pool = hub.app[POOL]
        config = SimConfig(rate=6.0, duration=None, speed=SPEED, poll_s=0.5, seed=11)
        simulator = Simulator(hub.base, SimulatorAccounts(pool), config)
        run = asyncio.create_task(simulator.run())
        seen: set[str] = set()
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(120):  # the machine may be busy; usually well under a minute
                while seen != set(SIGHTS) and not run.done():
                    seen |= await sights(pool)
                    await asyncio.sleep(0.25)
        simulator.stop()
        summary = await run
        print(summary.render())
        assert seen == set(SIGHTS), f"never seen: {set(SIGHTS) - seen}"
        assert summary.unexpected_5xx == 0 and summary.errors == 0, summary.render()
        assert summary.actions["request_extension"] > 0 and summary.actions["return"] > 0, summary.render()
        # The escalation is the hub's own: its timers reminded and supervised cases the crew left past their deadline.
        timers = {r["type"] for r in await pool.fetch(
            "SELECT DISTINCT type FROM events WHERE metadata->>'actor' NOT LIKE '%:sim-%'")}
        assert {"case.sla_warning", "case.reminded", "case.supervised"} <= timers


def test_paces_are_decided_per_case_and_clock_and_most_units_are_prompt() -> None:
    paces = [FollowUpCrew.pace(f"case-{i}", "sign") for i in range(2000)]
    assert paces == [FollowUpCrew.pace(f"case-{i}", "sign") for i in range(2000)]  # stays decided
    assert 0.6 < paces.count("prompt") / len(paces) < 0.8
    assert {"near", "late", "supervised", "flagged"} <= set(paces)
