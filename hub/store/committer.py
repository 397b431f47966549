"""Group commit: concurrent appends share one transaction; each caller is answered after the commit.

While one transaction is in flight, new appends queue up; the next transaction takes them all (up to
`batch_max`). Under light load a batch is one item and adds no delay; under heavy load a commit
carries hundreds of items, which is how per-event durability and thousands of events/s coexist.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable

import asyncpg

from hub.infra.db import describe, is_unavailable
from hub.infra.metrics import Metrics
from hub.store.events import (
    AppendRequest,
    AppendResult,
    Projector,
    StoreError,
    StoreOverloaded,
    StoreUnavailable,
    append_batch,
)

log = logging.getLogger(__name__)

CommitListener = Callable[[int], Awaitable[None] | None]
_Item = tuple[AppendRequest, "asyncio.Future[AppendResult]"]


class GroupCommitter:
    def __init__(
        self,
        pool: asyncpg.Pool,
        projector: Projector | None = None,
        *,
        queue_size: int = 20_000,
        batch_max: int = 1_000,
        timeout_s: float = 30.0,
        metrics: Metrics | None = None,
    ) -> None:
        self._pool = pool
        self._projector = projector
        self._queue: asyncio.Queue[_Item] = asyncio.Queue(maxsize=queue_size)
        self._batch_max = batch_max
        self._timeout_s = timeout_s
        self._listeners: list[Callable[[int], None]] = []
        metrics = metrics or Metrics()
        self._batch_sizes = metrics.commit_batch_size
        self._commit_seconds = metrics.commit_seconds
        self._commit_failures = metrics.commit_failures

    def queue_depth(self) -> int:
        """Appends waiting for a commit (for /metrics)."""
        return self._queue.qsize()

    @property
    def timeout_s(self) -> float:
        """How long an append may wait for its commit before the caller is told the outcome is unknown."""
        return self._timeout_s

    def on_commit(self, listener: Callable[[int], None]) -> None:
        """Call `listener(last_position)` after each commit (must not block; schedule work instead)."""
        self._listeners.append(listener)

    def enqueue(self, request: AppendRequest) -> asyncio.Future[AppendResult]:
        """Queue one append without waiting; the future is answered after the commit. Raises
        StoreOverloaded when the queue is full. For callers that queue a whole batch at once (intake)."""
        future: asyncio.Future[AppendResult] = asyncio.get_running_loop().create_future()
        # If the caller went away, nobody reads the outcome: mark it retrieved so it is not logged as lost.
        future.add_done_callback(lambda f: f.cancelled() or f.exception())
        try:
            self._queue.put_nowait((request, future))
        except asyncio.QueueFull:
            raise StoreOverloaded("append queue full") from None
        return future

    async def wait(self, future: asyncio.Future[AppendResult]) -> AppendResult:
        """The outcome of an enqueued append, or StoreUnavailable when no commit came within the limit."""
        # The caller may go away (client disconnect); the append still completes and is recorded.
        try:
            async with asyncio.timeout(self._timeout_s):
                return await asyncio.shield(future)
        except TimeoutError:
            raise StoreUnavailable(
                "no commit within the time limit; the outcome is unknown — retrying with the same "
                "idempotency key is safe") from None

    async def append(self, request: AppendRequest) -> AppendResult:
        """Queue one append and wait for its commit. Raises a StoreError subclass on refusal."""
        return await self.wait(self.enqueue(request))

    async def run(self) -> None:
        """The committer loop; owned by the application and cancelled at shutdown."""
        while True:
            batch = [await self._queue.get()]
            while len(batch) < self._batch_max and not self._queue.empty():
                batch.append(self._queue.get_nowait())
            await self._commit(batch)

    async def _commit(self, batch: list[_Item]) -> None:
        requests = [req for req, _ in batch]
        start = time.perf_counter()
        try:
            answers = await self._write(requests)
        except Exception as exc:  # noqa: BLE001 — the committer must outlive any one bad batch
            self._commit_failures.inc()
            unreachable = is_unavailable(exc)
            if len(batch) > 1 and not unreachable:
                # One bad item must not sink the others: retry them one by one.
                for item in batch:
                    await self._commit([item])
                return
            log.warning("append failed", extra={"error": describe(exc), "items": len(batch),
                                                "database_unavailable": unreachable})
            # A connection lost during COMMIT leaves the outcome unknown; idempotency keys make a retry safe.
            failure: Exception = StoreUnavailable(describe(exc)) if unreachable else exc
            for _, fut in batch:
                if not fut.done():
                    fut.set_exception(failure)
            return
        self._commit_seconds.observe(time.perf_counter() - start)
        self._batch_sizes.observe(len(batch))
        last = 0
        for (_, fut), answer in zip(batch, answers, strict=True):
            if isinstance(answer, AppendResult):
                last = max(last, answer.last_position)
            if fut.done():
                continue
            if isinstance(answer, StoreError):
                fut.set_exception(answer)
            else:
                fut.set_result(answer)
        if last:
            for listener in self._listeners:
                listener(last)

    async def _write(self, requests: list[AppendRequest]) -> list[AppendResult | StoreError]:
        async with self._pool.acquire() as conn, conn.transaction():
            return await append_batch(conn, requests, self._projector)
