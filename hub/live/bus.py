"""Wake-ups between hub processes over Redis pub/sub.

A wake-up carries only "the store has news up to position P": it is a hint, never data. Readers
always read the store from their own last position, so a lost wake-up (Redis down, a message dropped)
only delays them until the next one or the next poll.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable

import redis.asyncio as aioredis

log = logging.getLogger(__name__)

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
                await self._redis.publish(self._channel, str(position))
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


async def listen(redis: aioredis.Redis, channel: str, handle: Callable[[bytes], None]) -> None:
    """Hand every message of `channel` to `handle`, forever; reconnect with a pause while Redis is away."""
    while True:
        pubsub = redis.pubsub(ignore_subscribe_messages=True)
        try:
            await pubsub.subscribe(channel)
            async for message in pubsub.listen():
                if message.get("type") != "message":
                    continue
                handle(message["data"])
        except (OSError, aioredis.RedisError, ValueError) as exc:
            log.warning("subscription lost; retrying", extra={"channel": channel, "error": repr(exc)})
            await asyncio.sleep(1.0)
        finally:
            # Bounded: redis-py's aclose can wait forever on a connection its reader still holds
            # when we are being cancelled, which hung shutdown.
            with contextlib.suppress(Exception):
                async with asyncio.timeout(1.0):
                    await pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py leaves PubSub.aclose unannotated
