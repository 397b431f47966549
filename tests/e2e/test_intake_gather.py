"""Intake gathering: a ticket that finds the intake stage idle while another caller's ticket is still unanswered
waits a moment for the ones right behind it, so that they share one batch (one duplicate query, one commit); a
caller sending one ticket after another's answer never waits. Counted by the stage (batches taken, and how many
waited), never timed."""

from __future__ import annotations

import asyncio

from hub import keys
from hub.infra.settings import Settings
from tests.conftest import Hub, commits_held, running_hub
from tests.e2e.test_hotline_to_console import QINGXIU_SEAT, push, ticket
from tests.integration.test_leadership import until

# Long enough that a ticket sent 100 ms after another arrives within it on any box; the answers' deadline is
# raised to match (the test holds the committer back on purpose).
WINDOW_MS = 1_000.0


async def _send(hub: Hub, key: str, content: str, delay_s: float = 0.0) -> int:
    await asyncio.sleep(delay_s)
    status, _ = await push(hub, key, ticket(QINGXIU_SEAT, category="street_light", content=content))
    return status


async def _while_another_is_unanswered(settings: Settings, database_url: str) -> tuple[int, int]:
    """One ticket alone; then one (X) held unanswered by a lock on the store, and two more sent 100 ms apart while
    it waits: (batches, gathered) of the stage."""
    async with running_hub(settings) as hub:
        key = await hub.hotline_key()
        intake = hub.app[keys.INTAKE]
        assert await _send(hub, key, "路灯不亮") == 202
        async with commits_held(database_url) as a_commit_waits:
            held = asyncio.create_task(_send(hub, key, "路灯又坏了一盏"))
            await a_commit_waits()  # X taken, decided and handed over: its commit waits
            assert intake.batches == 2
            pair = asyncio.gather(_send(hub, key, "井盖丢了"), _send(hub, key, "井盖松动", delay_s=0.1))
            await until(lambda: intake.batches == 3 or intake.gathered == 1, 30)
        assert await held == 202 and list(await pair) == [202, 202]
        return intake.batches, intake.gathered


async def test_tickets_arriving_while_others_are_in_progress_share_a_batch(
        settings: Settings, database_url: str) -> None:
    update = {"intake_gather_ms": WINDOW_MS, "intake_timeout_s": 30.0}
    # The lone ticket and the held one each made a batch of their own (nobody was waiting on an answer when they
    # came); the next found X unanswered, waited, and the one sent 100 ms later joined it.
    assert await _while_another_is_unanswered(settings.model_copy(update=update), database_url) == (3, 1)


async def test_without_gathering_they_are_batches_of_their_own(settings: Settings, database_url: str) -> None:
    update = {"intake_gather_ms": 0, "intake_timeout_s": 30.0}
    assert await _while_another_is_unanswered(settings.model_copy(update=update), database_url) == (4, 0)


async def test_a_caller_sending_one_ticket_after_another_never_waits(settings: Settings) -> None:
    async with running_hub(settings.model_copy(update={"intake_gather_ms": WINDOW_MS})) as hub:
        key = await hub.hotline_key()
        for n in range(5):
            assert await _send(hub, key, f"路灯不亮 {n}") == 202
        intake = hub.app[keys.INTAKE]
        assert (intake.batches, intake.gathered) == (5, 0)
