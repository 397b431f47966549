"""Identity: users with argon2id password hashes, opaque session tokens, hashed machine API keys.

Tokens and keys are 256-bit random strings; only their SHA-256 is stored, so a database leak does not
leak credentials. Sessions live in PostgreSQL so that every hub process accepts every token; a short
in-process cache keeps the hot path (a hotline push) off the database.
"""

from __future__ import annotations

import asyncio
import hashlib
import secrets
import time
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import asyncpg
from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError, VerifyMismatchError

from connectors.callback_origins import parse_origins
from hub.access import MACHINE_ROLES, ROLES, USER_ROLES, Principal, default_area

_hasher = PasswordHasher()
# A real hash to verify against when the user does not exist, so timing does not reveal usernames.
_DUMMY_HASH = _hasher.hash("cityloop-dummy-password")


class AuthError(Exception):
    pass


def _digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def validate_role_area(role: str, area: str | None, *, machine: bool) -> None:
    allowed = MACHINE_ROLES if machine else USER_ROLES
    if role not in allowed:
        raise ValueError(f"role must be one of {', '.join(sorted(allowed))}")
    if not machine and default_area(role, area) is None:
        raise ValueError(f"role {role} needs --area (the code of its county, township or grid)")
    if area is not None and not (area.isdigit() and len(area) in (6, 9, 12, 15)):
        raise ValueError("area must be an administrative code of 6, 9, 12 or 15 digits")


async def add_user(conn: asyncpg.Connection | asyncpg.Pool, username: str, password: str, role: str,
                   area: str | None) -> None:
    if len(password) < 8:
        raise ValueError("password must have at least 8 characters")
    validate_role_area(role, area, machine=False)
    # argon2 is deliberately slow: keep it off the event loop.
    await save_user(conn, username, await asyncio.to_thread(_hasher.hash, password), role, area)


async def hash_password(password: str) -> str:
    return await asyncio.to_thread(_hasher.hash, password)


async def save_user(conn: asyncpg.Connection | asyncpg.Pool, username: str, password_hash: str, role: str,
                    area: str | None) -> None:
    """Create or update a user with an argon2 hash made earlier (many users sharing one demo password
    need one hash, not one 0.2 s hash each)."""
    validate_role_area(role, area, machine=False)
    await conn.execute(
        "INSERT INTO users (username, password_hash, role, area) VALUES ($1, $2, $3, $4) "
        "ON CONFLICT (username) DO UPDATE SET password_hash = excluded.password_hash, "
        "role = excluded.role, area = excluded.area",
        username, password_hash, role, default_area(role, area),
    )


async def add_api_key(conn: asyncpg.Connection | asyncpg.Pool, name: str, role: str,
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


async def set_callback_origins(conn: asyncpg.Connection | asyncpg.Pool, name: str, add: Sequence[str] = (),
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
    def __init__(self, pool: asyncpg.Pool, session_ttl_s: int, cache_ttl_s: float = 30.0) -> None:
        self._pool = pool
        self._session_ttl = timedelta(seconds=session_ttl_s)
        self._cache_ttl = cache_ttl_s
        self._cache: dict[bytes, tuple[float, Principal | None]] = {}

    async def login(self, username: str, password: str) -> tuple[str, Principal]:
        row = await self._pool.fetchrow("SELECT password_hash, role, area FROM users WHERE username = $1", username)
        stored = row["password_hash"] if row else _DUMMY_HASH
        try:
            await asyncio.to_thread(_hasher.verify, stored, password)
        except (VerifyMismatchError, VerificationError, InvalidHashError):
            raise AuthError("wrong username or password") from None
        if row is None:
            raise AuthError("wrong username or password")
        token = secrets.token_urlsafe(32)
        expires = datetime.now(UTC) + self._session_ttl
        await self._pool.execute(
            "INSERT INTO sessions (token_hash, username, expires_at) VALUES ($1, $2, $3)",
            _digest(token), username, expires,
        )
        return token, Principal(username, row["role"], row["area"])

    async def from_token(self, token: str) -> Principal | None:
        """A user's bearer token or a machine's API key → who it is, or None."""
        digest = _digest(token)
        now = time.monotonic()
        hit = self._cache.get(digest)
        if hit is not None and hit[0] > now:
            return hit[1]
        principal = await self._lookup(digest, is_key=token.startswith("clk_"))
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
            "SELECT u.username, u.role, u.area FROM sessions s JOIN users u USING (username) "
            "WHERE s.token_hash = $1 AND s.expires_at > now()", digest)
        return Principal(row["username"], row["role"], row["area"]) if row else None


__all__ = ["AuthError", "Authenticator", "ROLES", "add_api_key", "add_user", "set_callback_origins",
           "validate_role_area"]
