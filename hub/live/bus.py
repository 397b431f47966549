"""Wake-ups between hub processes over Redis pub/sub.

A wake-up carries only "the store has news up to position P": it is a hint, never data. Readers
always read the store from their own last position, so a lost wake-up (Redis down, a message dropped)
only delays them until the next one or the next poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

log = logging.getLogger(__name__)
T = TypeVar("T")

CHANNEL = "cityloop:events"




class WakeupBus:
    def __init__(self, redis: aioredis.Redis, channel: str = CHANNEL) -> None:
        self._redis = redis
        self._channel = channel
        self._pending: int = 0  # highest position not yet published
        self._signal = asyncio.Event()
        self._listeners: list[Callable[[int], None]] = []

    def subscribe(self, listener: Callable[[int], None]) -> None:
        self._listeners.append(listener)

    def publish(self, position: int) -> None:
        """Called after a local commit; the publisher task sends the newest position only."""
        self._pending = max(self._pending, position)
        self._signal.set()

    async def run_publisher(self) -> None:
        while True:
            await self._signal.wait()
            self._signal.clear()
            position = self._pending
            try:
                await guarded(self._redis.publish(self._channel, str(position)))
            except (OSError, aioredis.RedisError) as exc:
                log.warning("wake-up publish failed; other processes will catch up by polling",
                            extra={"error": repr(exc)})
                await asyncio.sleep(1.0)

    async def run_subscriber(self) -> None:
        """Deliver every wake-up to the listeners; reconnect with a pause while Redis is away."""

        def deliver(data: bytes) -> None:
            position = int(data)
            for listener in self._listeners:
                listener(position)

        await listen(self._redis, self._channel, deliver)


async def guarded(call: Awaitable[T]) -> T:
    """Await a redis-py call so that our own cancellation always reaches us: redis-py can absorb a
    cancellation while it reads or reconnects and go on waiting, which hung shutdown."""
    task = asyncio.ensure_future(call)
    task.add_done_callback(_retrieved)
    try:
        await asyncio.wait({task})
    finally:
        task.cancel()
    return task.result()


async def listen(redis: aioredis.Redis, channel: str, handle: Callable[[bytes], None]) -> None:
    """Hand every message of `channel` to `handle`, forever; reconnect with a pause while Redis is away."""
    while True:
        client = _subscription_client(redis)
        pubsub = client.pubsub(ignore_subscribe_messages=True)
        reader = asyncio.create_task(_pump(pubsub, channel, handle), name=f"redis-subscription:{channel}")
        reader.add_done_callback(_retrieved)
        try:
            # Our own cancellation (shutdown) lands here, not inside redis-py (see `guarded`).
            await asyncio.wait({reader})
            exc = reader.exception()
            if not isinstance(exc, (OSError, aioredis.RedisError, ValueError)):
                raise exc or RuntimeError("the Redis subscription ended")
            log.warning("subscription lost; retrying", extra={"channel": channel, "error": repr(exc)})
            await asyncio.sleep(1.0)
        finally:
            reader.cancel()
            await _close(client, pubsub, reader)


async def _close(client: aioredis.Redis, pubsub: PubSub, reader: asyncio.Task[None]) -> None:
    """Close a subscription's sockets whatever its reader is doing. Closing the subscription's own pool
    closes its socket, so a reader that absorbed the cancellation fails on its next read and ends (no
    retries: it cannot reconnect behind our back). Each step is bounded on its own: the pubsub's close waits
    for a lock a reader caught mid-connect may hold, and must not keep the pool's sockets open."""
    with contextlib.suppress(Exception):
        async with asyncio.timeout(0.5):
            await pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py leaves PubSub.aclose unannotated
    for _ in range(2):  # a reader caught mid-connect may open its socket after we closed the pool's
        with contextlib.suppress(Exception):
            async with asyncio.timeout(0.5):
                await client.connection_pool.disconnect(inuse_connections=True)
        if reader.done():
            return
        await asyncio.wait({reader}, timeout=0.5)


def _subscription_client(redis: aioredis.Redis) -> aioredis.Redis:
    """A client with a connection pool of its own and no retries, for one subscription: shared connections with
    retries let an abandoned reader reconnect after we closed its socket, and leave that socket open."""
    pool = redis.connection_pool
    kwargs = {**pool.connection_kwargs, "retry": Retry(NoBackoff(), 0)}
    return aioredis.Redis(connection_pool=aioredis.ConnectionPool(connection_class=pool.connection_class, **kwargs))


def _retrieved(task: asyncio.Future[Any]) -> None:
    """A redis-py call left behind at shutdown ends later with a connection error nobody needs."""
    if not task.cancelled():
        task.exception()


async def _pump(pubsub: PubSub, channel: str, handle: Callable[[bytes], None]) -> None:
    await pubsub.subscribe(channel)
    async for message in pubsub.listen():
        if message.get("type") == "message":
            handle(message["data"])
