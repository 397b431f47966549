"""Who the simulator acts as: the machine keys and staff logins it uses (created by tools.demo)."""

from __future__ import annotations

import asyncio
import logging
from typing import Protocol

from tools.simulation.http import Http, error_text

log = logging.getLogger(__name__)


class Accounts(Protocol):
    """Where the simulator's credentials come from (tools.demo.SimulatorAccounts); LookupError = not available."""

    async def api_key(self, role: str) -> str: ...

    async def user(self, role: str, area: str) -> tuple[str, str]: ...


class KeyOnly:
    """A hotline key and nothing else (`cityloop simulate --key`): hotline traffic without a database."""

    def __init__(self, key: str) -> None:
        self._key = key

    async def api_key(self, role: str) -> str:
        if role != "hotline":
            raise LookupError(f"no {role} key: give the simulator database access instead of --key")
        return self._key

    async def user(self, role: str, area: str) -> tuple[str, str]:
        raise LookupError("no staff logins without database access")


# ---- staff: logins created on first use ----------------------------------------------------------------


class StaffRoom:
    """Bearer tokens of the simulated staff, by (role, area); each user is created (tools.demo) and signed in
    the first time someone needs them."""

    def __init__(self, http: Http, accounts: Accounts) -> None:
        self._http = http
        self._accounts = accounts
        self._tokens: dict[tuple[str, str], str] = {}
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self.unavailable: set[tuple[str, str]] = set()

    async def token(self, role: str, area: str) -> str | None:
        who = (role, area)
        if who in self._tokens:
            return self._tokens[who]
        async with self._locks.setdefault(who, asyncio.Lock()):
            if who in self._tokens or who in self.unavailable:
                return self._tokens.get(who)
            try:
                username, password = await self._accounts.user(role, area)
            except LookupError as exc:  # --key: no database, so no staff (expected)
                log.info("simulator: no %s for %s: %s", role, area, exc)
                self.unavailable.add(who)
                return None
            except ValueError as exc:
                log.warning("simulator: no %s for %s: %s", role, area, exc)
                self.unavailable.add(who)
                return None
            answer = await self._http.call("setup", "POST", "/api/v1/auth/login",
                                           json={"username": username, "password": password})
            if answer is None or not answer.ok:
                log.warning("simulator: %s could not sign in: %s", username, error_text(answer))
                return None
            self._tokens[who] = str(answer.body["token"])
            return self._tokens[who]

    def forget(self, role: str, area: str) -> None:
        """After a 401 (the session expired): sign in again next time."""
        self._tokens.pop((role, area), None)
