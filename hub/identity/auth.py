"""Identity: users with argon2id password hashes, opaque session tokens, hashed machine API keys.

Tokens and keys are 256-bit random strings; only their SHA-256 is stored, so a database leak does not
leak credentials. Sessions live in PostgreSQL so that every hub process accepts every token, and every
request looks its session up there (one primary-key read): a signed-out, expired or disabled session is
refused by the very next request in every process, with nothing to invalidate. Machine keys — the hot
path of a hotline push — are cached in-process for a short while.
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import re
import secrets
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import asyncpg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from connectors.callback_origins import parse_origins
from hub.identity import audit
from hub.identity.access import MACHINE_ROLES, ROLES, USER_ROLES, Principal, default_area
from hub.identity.throttle import Attempt, LoginThrottle
from hub.infra.db import Connection

_hasher = PasswordHasher()


@functools.cache
def dummy_hash() -> str:
    """A real hash to verify against when the user does not exist, so timing does not reveal usernames. Not made
    at import (argon2 cost ~0.12 s of every hub's start-up there): the hub makes it in a thread once it has started
    (hub.app), and the first sign-in of an unknown user would otherwise."""
    return _hasher.hash("cityloop-dummy-password")


def _check(stored: str | None, password: str) -> None:
    """argon2's verify of `password` against the user's hash, or the dummy one for an unknown user: the same work
    in the same thread hop either way."""
    _hasher.verify(stored if stored is not None else dummy_hash(), password)


class AuthError(Exception):
    pass


class AccountDisabled(AuthError):
    """The password was right but the account is disabled (`cityloop users disable`)."""


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def token_digest(token: str) -> bytes:
    """What identifies a session everywhere but in its owner's hands (the table key, revocation messages)."""
    return _digest(token)


def validate_role_area(role: str, area: str | None, *, machine: bool) -> None:
    allowed = MACHINE_ROLES if machine else USER_ROLES
    if role not in allowed:
        raise ValueError(f"role must be one of {', '.join(sorted(allowed))}")
    if not machine and default_area(role, area) is None:
        raise ValueError(f"role {role} needs --area (the code of its county, township or grid)")
    if area is not None and not (area.isdigit() and len(area) in (6, 9, 12, 15)):
        raise ValueError("area must be an administrative code of 6, 9, 12 or 15 digits")


_UNIT = re.compile(r"^\d{6,15}-[a-z0-9_]{1,32}$")
PROFILE_MAX = 64


def default_unit(role: str, area: str | None) -> str | None:
    """A township handler works for their township's government unless told otherwise; other roles handle no
    unit's cases unless given one (a county bureau's staff, say)."""
    return f"{area}-gov" if role == "township_handler" and area else None


def validate_profile(display_name: str | None, unit: str | None) -> None:
    if display_name is not None and (not display_name.strip() or len(display_name) > PROFILE_MAX
                                     or "\x00" in display_name):
        raise ValueError(f"display name must be 1 to {PROFILE_MAX} characters without NUL")
    if unit is not None and not _UNIT.match(unit):
        raise ValueError("unit must be a matrix unit code such as 450103001-gov or 450103-cg")


async def add_user(conn: Connection | asyncpg.Pool, username: str, password: str, role: str,
                   area: str | None, *, display_name: str | None = None, unit: str | None = None) -> None:
    if len(password) < 8:
        raise ValueError("password must have at least 8 characters")
    validate_role_area(role, area, machine=False)
    validate_profile(display_name, unit)
    # argon2 is deliberately slow: keep it off the event loop.
    await save_user(conn, username, await asyncio.to_thread(_hasher.hash, password), role, area,
                    display_name=display_name, unit=unit)


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


async def save_user(conn: Connection | asyncpg.Pool, username: str, password_hash: str, role: str,
                    area: str | None, *, display_name: str | None = None, unit: str | None = None) -> None:
    """Create or update a user with an argon2 hash made earlier (many users sharing one demo password
    need one hash, not one 0.2 s hash each)."""
    validate_role_area(role, area, machine=False)
    validate_profile(display_name, unit)
    area = default_area(role, area)
    await conn.execute(
        "INSERT INTO users (username, password_hash, role, area, display_name, unit) VALUES ($1, $2, $3, $4, $5, $6) "
        "ON CONFLICT (username) DO UPDATE SET password_hash = excluded.password_hash, "
        "role = excluded.role, area = excluded.area, display_name = excluded.display_name, unit = excluded.unit",
        username, password_hash, role, area, display_name, unit or default_unit(role, area),
    )


async def add_api_key(conn: Connection | asyncpg.Pool, name: str, role: str,
                      callback_origins: Sequence[str] = ()) -> str:
    """Create a key for a machine client and return it; it is never shown again. A hotline key's
    `callback_origins` are where its tickets' `callback_url`s may point (connectors.callback_origins)."""
    validate_role_area(role, None, machine=True)
    origins = _callback_origins(role, callback_origins)
    key = f"clk_{secrets.token_urlsafe(32)}"
    await conn.execute("INSERT INTO api_keys (key_hash, name, role, callback_origins) VALUES ($1, $2, $3, $4)",
                       _digest(key), name, role, list(origins))
    return key


def _callback_origins(role: str, origins: Sequence[str]) -> tuple[str, ...]:
    if origins and role != "hotline":
        raise ValueError("callback origins are for hotline keys only")
    return parse_origins(origins)


async def set_callback_origins(conn: Connection | asyncpg.Pool, name: str, add: Sequence[str] = (),
                               remove: Sequence[str] = ()) -> list[str]:
    """Add and remove a hotline key's callback origins; its origins afterwards. Hubs see the change within
    the key cache's lifetime (30 s) at intake and at once in the outbox."""
    added, removed = _callback_origins("hotline", add), _callback_origins("hotline", remove)
    origins: list[str] | None = await conn.fetchval(
        "UPDATE api_keys SET callback_origins = ARRAY(SELECT DISTINCT o FROM unnest(callback_origins || $2) o "
        "WHERE o <> ALL($3) ORDER BY o) WHERE name = $1 AND role = 'hotline' RETURNING callback_origins",
        name, list(added), list(removed))
    if origins is None:
        raise ValueError(f"no hotline key named {name!r}")
    return origins


class Authenticator:
    def __init__(self, pool: asyncpg.Pool, session_ttl_s: int, throttle: LoginThrottle,
                 cache_ttl_s: float = 30.0) -> None:
        self._pool = pool
        self._session_ttl = timedelta(seconds=session_ttl_s)
        self._throttle = throttle
        self._cache_ttl = cache_ttl_s  # machine keys only
        self._cache: dict[bytes, tuple[float, Principal | None]] = {}

    async def login(self, username: str, password: str, address: str) -> tuple[str, Principal]:
        """A new session, or AuthError; LoginThrottled (before any hashing) while the account or the address
        is locked out. Failures and lock-outs go to the audit log."""
        attempt = await self._throttle.begin(username, address)
        row = await self._pool.fetchrow(
            "SELECT password_hash, role, area, display_name, unit, disabled_at FROM users WHERE username = $1",
            username)
        try:
            await asyncio.to_thread(_check, row["password_hash"] if row else None, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            await self._failed(attempt, "wrong_password" if row else "unknown_user")
            raise AuthError("wrong username or password") from None
        if row is None:
            await self._failed(attempt, "unknown_user")
            raise AuthError("wrong username or password")
        if row["disabled_at"] is not None:
            await self._failed(attempt, "account_disabled")
            raise AccountDisabled("this account is disabled")
        await self._throttle.succeeded(attempt)
        token = secrets.token_urlsafe(32)
        expires = datetime.now(UTC) + self._session_ttl
        await self._pool.execute(
            "INSERT INTO sessions (token_hash, username, expires_at) VALUES ($1, $2, $3)",
            _digest(token), username, expires,
        )
        return token, _user(username, row)

    async def _failed(self, attempt: Attempt, reason: str) -> None:
        await audit.record(self._pool, "login_failed", username=attempt.username, address=attempt.address,
                           path="POST /api/v1/auth/login", detail={"reason": reason})
        for scope, failures in await self._throttle.failed(attempt):
            await audit.record(self._pool, "login_locked", username=attempt.username, address=attempt.address,
                               path="POST /api/v1/auth/login",
                               detail={"scope": scope, "failures": failures, "window_s": self._throttle.window_s})

    async def logout(self, token: str, *, address: str | None) -> str | None:
        """End the session of `token`; its owner's name, or None when it was no (longer a) session."""
        username: str | None = await self._pool.fetchval(
            "DELETE FROM sessions WHERE token_hash = $1 RETURNING username", _digest(token))
        if username is not None:
            await audit.record(self._pool, "logout", username=username, address=address,
                               path="POST /api/v1/auth/logout")
        return username

    async def from_token(self, token: str) -> Principal | None:
        """A user's bearer token or a machine's API key → who it is, or None."""
        digest = _digest(token)
        is_key = token.startswith("clk_")
        if not is_key:
            # Sessions are not cached, on purpose: expiry (to the second), sign-out and disabling then take
            # effect on the next request in every process, with no cache to invalidate.
            return await self._lookup(digest, is_key=False)
        now = time.monotonic()
        hit = self._cache.get(digest)
        if hit is not None and hit[0] > now:
            return hit[1]
        principal = await self._lookup(digest, is_key=True)
        if len(self._cache) > 10_000:
            self._cache.clear()
        self._cache[digest] = (now + self._cache_ttl, principal)
        return principal

    async def _lookup(self, digest: bytes, *, is_key: bool) -> Principal | None:
        if is_key:
            row = await self._pool.fetchrow(
                "SELECT name, role, callback_origins FROM api_keys WHERE key_hash = $1 AND revoked_at IS NULL",
                digest)
            return Principal(row["name"], row["role"], None, frozenset(row["callback_origins"])) if row else None
        row = await self._pool.fetchrow(
            "SELECT u.username, u.role, u.area, u.display_name, u.unit FROM sessions s JOIN users u USING (username) "
            "WHERE s.token_hash = $1 AND s.expires_at > now() AND u.disabled_at IS NULL", digest)
        return _user(row["username"], row) if row else None


def _user(username: str, row: asyncpg.Record) -> Principal:
    return Principal(username, row["role"], row["area"], display_name=row["display_name"], unit=row["unit"])


async def disable_user(pool: asyncpg.Pool, username: str, *, by: str) -> int:
    """Disable an account and end all its sessions (what `cityloop users disable` runs); the number of
    sessions ended. Open consoles of the user are closed by every hub's session check (hub.live.sessions)."""
    async with pool.acquire() as conn, conn.transaction():
        found = await conn.fetchval(
            "UPDATE users SET disabled_at = coalesce(disabled_at, now()) WHERE username = $1 RETURNING username",
            username)
        if found is None:
            raise ValueError(f"no user {username!r}")
        ended = await conn.fetchval(
            "WITH gone AS (DELETE FROM sessions WHERE username = $1 RETURNING 1) SELECT count(*) FROM gone",
            username)
        await audit.record(conn, "user_disabled", username=username, path="cli",
                           detail={"by": by, "sessions_ended": ended})
    return int(ended)


__all__ = ["AccountDisabled", "AuthError", "Authenticator", "ROLES", "add_api_key", "add_user", "disable_user",
           "set_callback_origins", "token_digest", "validate_role_area"]
