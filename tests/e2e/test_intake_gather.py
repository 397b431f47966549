"""Intake gathering: a ticket that finds the intake stage idle while tickets are coming close together waits a
moment for the ones right behind it, so that they share one batch (one duplicate query, one commit); a ticket on a
quiet line does not wait. Counted by the stage (batches taken, and how many waited), never timed."""

from __future__ import annotations

import asyncio

from hub import keys
from hub.infra.settings import Settings
from tests.conftest import running_hub
from tests.e2e.test_hotline_to_console import QINGXIU_SEAT, push, ticket

# Long enough that the second ticket below, sent 100 ms after the first, arrives within it on any box.
WINDOW_MS = 1_500.0


async def _two_close_together(settings: Settings) -> tuple[int, int, list[int]]:
    """One ticket, then two 100 ms apart: (batches, gathered) of the stage, and the three answers' statuses."""
    async with running_hub(settings) as hub:
        key = await hub.hotline_key()
        intake = hub.app[keys.INTAKE]
        first, _ = await push(hub, key, ticket(QINGXIU_SEAT, category="exposed_rubbish", content="路边垃圾"))

        async def later(delay_s: float, content: str) -> int:
            await asyncio.sleep(delay_s)
            status, _ = await push(hub, key, ticket(QINGXIU_SEAT, category="street_light", content=content))
            return status

        statuses = await asyncio.gather(later(0.0, "路灯不亮"), later(0.1, "路灯又坏了一盏"))
        return intake.batches, intake.gathered, [first, *statuses]


async def test_tickets_close_together_share_a_batch_and_a_lone_ticket_does_not_wait(settings: Settings) -> None:
    batches, gathered, statuses = await _two_close_together(
        settings.model_copy(update={"intake_gather_ms": WINDOW_MS}))
    assert statuses == [202, 202, 202]
    # The first ticket came on a quiet line: taken alone at once. The second came soon after it: it waited,
    # and the third joined it.
    assert (batches, gathered) == (2, 1)


async def test_without_gathering_each_ticket_is_its_own_batch(settings: Settings) -> None:
    batches, gathered, statuses = await _two_close_together(settings.model_copy(update={"intake_gather_ms": 0}))
    assert statuses == [202, 202, 202]
    assert (batches, gathered) == (3, 0)
