"""Sign-in throttling (暴力破解防护): failed sign-ins are counted per account and per client address over a
sliding window shared by every hub process, and an attempt over either limit is refused before any password
is hashed — a refused attempt costs no argon2, and a correct password during a lock-out is refused too.

Redis holds the counts: a sorted set per account and per address, one member per attempt scored by its time.
A Lua script checks both limits and, for the account, reserves the attempt in the same step: it counts as a
failure from the moment it starts (a successful one takes its reservation back), so a burst of concurrent
guesses at one account costs at most its limit in hashes. An address's failures are added when they happen,
so a burst of legitimate sign-ins from one office (or the demo's simulator) is never refused; a burst of
failures from one address can overshoot its limit by the burst's own size, once.

With Redis away the counts come from PostgreSQL instead — the `login_failed` audit entries are exactly the
failures — rather than failing open: a Redis outage must not switch brute-force protection off.
"""

from __future__ import annotations

import logging
import math
import time
import uuid
from dataclasses import dataclass

import asyncpg
import redis.asyncio as aioredis

log = logging.getLogger(__name__)

# KEYS: the account's and the address's attempts. ARGV: now (ms), window (ms), the two limits, this attempt's id.
# Returns {-1, ms to wait} when either is locked out; else reserves the attempt on the account and returns the
# account's count including it.
_BEGIN = """
local now, window = tonumber(ARGV[1]), tonumber(ARGV[2])
local limits = {tonumber(ARGV[3]), tonumber(ARGV[4])}
local wait, counts = 0, {}
for i = 1, 2 do
  redis.call('ZREMRANGEBYSCORE', KEYS[i], '-inf', now - window)
  local n = redis.call('ZCARD', KEYS[i])
  counts[i] = n
  if n >= limits[i] then
    -- locked until enough failures have left the window for the count to fall below the limit
    local oldest = redis.call('ZRANGE', KEYS[i], n - limits[i], n - limits[i], 'WITHSCORES')
    wait = math.max(wait, tonumber(oldest[2]) + window - now)
  end
end
if wait > 0 then return {-1, wait} end
redis.call('ZADD', KEYS[1], now, ARGV[5])
redis.call('PEXPIRE', KEYS[1], window)
return {counts[1] + 1, 0}
"""

# KEYS: the address's attempts. ARGV: now (ms), window (ms), this attempt's id. Returns the count with it.
_FAILED = """
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', tonumber(ARGV[1]) - tonumber(ARGV[2]))
redis.call('ZADD', KEYS[1], tonumber(ARGV[1]), ARGV[3])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
return redis.call('ZCARD', KEYS[1])
"""

_FAILURES_SQL = """
SELECT now() AS now,
       ARRAY(SELECT at FROM audit_log WHERE kind = 'login_failed' AND username = $1
             AND at > now() - make_interval(secs => $3) ORDER BY at DESC LIMIT $4) AS by_user,
       ARRAY(SELECT at FROM audit_log WHERE kind = 'login_failed' AND address = $2
             AND at > now() - make_interval(secs => $3) ORDER BY at DESC LIMIT $5) AS by_address
"""


class LoginThrottled(Exception):
    def __init__(self, retry_after_s: int) -> None:
        super().__init__(f"too many failed sign-ins; try again in {retry_after_s} s")
        self.retry_after_s = retry_after_s


@dataclass(frozen=True, slots=True)
class Attempt:
    """A sign-in under way: the account's failures so far with this attempt counted as one, the address's
    failures before it, and the attempt's Redis keys (None when counted in PostgreSQL)."""

    username: str
    address: str
    user_failures: int
    address_failures: int
    keys: tuple[str, str] | None = None
    member: str = ""


class LoginThrottle:
    def __init__(self, redis: aioredis.Redis, pool: asyncpg.Pool, namespace: str, *, max_per_user: int,
                 max_per_address: int, window_s: int) -> None:
        self._redis = redis
        self._pool = pool
        # One hash tag for both keys: the script touches two keys, which Redis Cluster wants in one slot.
        self._prefix = f"cityloop:{{{namespace}}}:login"
        self._begin = redis.register_script(_BEGIN)
        self._failed = redis.register_script(_FAILED)
        self.max_per_user = max_per_user
        self.max_per_address = max_per_address
        self.window_s = window_s

    async def begin(self, username: str, address: str) -> Attempt:
        """Reserve an attempt, or raise LoginThrottled when the account or the address is locked out."""
        keys = (f"{self._prefix}:user:{username}", f"{self._prefix}:addr:{address}")
        member = uuid.uuid4().hex
        try:
            answer = await self._begin(keys=list(keys), args=[
                _now_ms(), self.window_s * 1000, self.max_per_user, self.max_per_address, member])
        except (OSError, aioredis.RedisError) as exc:
            log.warning("sign-in throttle: Redis unreachable, counting failures in PostgreSQL",
                        extra={"error": repr(exc)})
            return await self._begin_in_postgres(username, address)
        first, second = int(answer[0]), int(answer[1])
        if first < 0:
            raise LoginThrottled(max(1, math.ceil(second / 1000)))
        return Attempt(username, address, first, 0, keys, member)

    async def _begin_in_postgres(self, username: str, address: str) -> Attempt:
        row = await self._pool.fetchrow(_FAILURES_SQL, username, address, float(self.window_s),
                                        self.max_per_user, self.max_per_address)
        assert row is not None  # one row of aggregates, whatever the table holds
        wait = 0.0
        for times, limit in ((row["by_user"], self.max_per_user), (row["by_address"], self.max_per_address)):
            if len(times) >= limit:
                # Newest first: the limit-th newest failure is the one whose leaving the window unlocks.
                wait = max(wait, (times[limit - 1] - row["now"]).total_seconds() + self.window_s)
        if wait > 0:
            raise LoginThrottled(max(1, math.ceil(wait)))
        return Attempt(username, address, len(row["by_user"]) + 1, len(row["by_address"]))

    async def succeeded(self, attempt: Attempt) -> None:
        """A correct password: the attempt is not a failure after all."""
        if attempt.keys is None:
            return
        try:
            await self._redis.zrem(attempt.keys[0], attempt.member)
        except (OSError, aioredis.RedisError) as exc:  # the reservation expires with the window
            log.warning("sign-in throttle: could not take a reservation back", extra={"error": repr(exc)})

    async def failed(self, attempt: Attempt) -> list[tuple[str, int]]:
        """Count a failed attempt against its address; the scopes ("account", "address") this failure has
        just locked, with their counts. One attempt reaches each limit, so a lock-out is recorded once."""
        address_failures = attempt.address_failures + 1
        if attempt.keys is not None:
            try:
                address_failures = int(await self._failed(
                    keys=[attempt.keys[1]], args=[_now_ms(), self.window_s * 1000, attempt.member]))
            except (OSError, aioredis.RedisError) as exc:  # PostgreSQL has the failure (the audit entry)
                log.warning("sign-in throttle: could not count a failure in Redis", extra={"error": repr(exc)})
        return [(scope, count) for scope, count, limit in (
            ("account", attempt.user_failures, self.max_per_user),
            ("address", address_failures, self.max_per_address)) if count == limit]


def _now_ms() -> int:
    return int(time.time() * 1000)
