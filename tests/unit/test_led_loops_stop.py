"""The leader's loops (hub.app._run_all) are stopped once each when leadership ends or the hub shuts down: a loop
whose round is ending after the cancellation (a transaction's ROLLBACK) is not cancelled again in the middle of
it. With `gather`, the first loop to stop ended the wait and the others were cancelled a second time: asyncpg
then logged "Resetting connection with an active transaction" at ERROR for the callback writer's round."""

from __future__ import annotations

import asyncio

from hub.app import _run_all


async def test_each_led_loop_is_cancelled_once_and_ends_its_round() -> None:
    ended: dict[str, int] = {}
    running = {"quick": asyncio.Event(), "rolling-back": asyncio.Event()}

    async def quick() -> None:
        running["quick"].set()
        await asyncio.Event().wait()

    async def rolling_back() -> None:
        try:
            running["rolling-back"].set()
            await asyncio.Event().wait()
        except asyncio.CancelledError:
            task = asyncio.current_task()
            assert task is not None
            await asyncio.sleep(0.05)  # the round's ROLLBACK, on its way to the server
            ended["rolling-back"] = task.cancelling()
            raise

    leader = asyncio.create_task(_run_all({"quick": quick, "rolling-back": rolling_back}))
    for started in running.values():
        await started.wait()
    leader.cancel()
    async with asyncio.timeout(5):
        await asyncio.gather(leader, return_exceptions=True)
    assert ended == {"rolling-back": 1}  # reached the end of its cleanup, with one cancellation asked for
