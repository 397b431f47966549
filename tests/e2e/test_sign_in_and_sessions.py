"""Sign-in throttling, sign-out, disabled accounts and expiry (issue 12, items 4 and 5), over real HTTP and
websockets, on real PostgreSQL and Redis — including two hubs sharing them."""

from __future__ import annotations

import asyncio
import uuid
from ipaddress import ip_network
from typing import Any, Literal

import aiohttp
import asyncpg
import pytest
from argon2 import PasswordHasher

from hub.cli import cmd_users_disable
from hub.identity import auth as auth_module
from hub.identity.auth import add_user, disable_user
from hub.infra.settings import Settings
from hub.keys import POOL
from tests.conftest import Hub, running_hub

PASSWORD = "correct horse battery"
SESSION_ENDED = 4001


async def new_user(hub: Hub, role: str = "county_dispatcher", area: str | None = "450103") -> str:
    username = f"{role}-{uuid.uuid4().hex[:6]}"
    await add_user(hub.app[POOL], username, PASSWORD, role, area)
    return username


async def sign_in(hub: Hub, username: str, password: str, headers: dict[str, str] | None = None
                  ) -> tuple[int, dict[str, Any], Any]:
    async with hub.http.post(f"{hub.base}/api/v1/auth/login", json={"username": username, "password": password},
                             headers=headers) as resp:
        return resp.status, await resp.json(), resp.headers


async def token_of(hub: Hub, username: str) -> str:
    status, body, _ = await sign_in(hub, username, PASSWORD)
    assert status == 200, body
    return str(body["token"])


async def rest_status(hub: Hub, token: str) -> int:
    async with hub.http.get(f"{hub.base}/api/v1/console/config", headers={"Authorization": f"Bearer {token}"}) as r:
        return r.status


async def audit(hub: Hub, token: str, **params: str) -> tuple[int, dict[str, Any]]:
    async with hub.http.get(f"{hub.base}/api/v1/audit", params=params,
                            headers={"Authorization": f"Bearer {token}"}) as resp:
        return resp.status, await resp.json()


async def open_console(hub: Hub, token: str) -> aiohttp.ClientWebSocketResponse:
    ws = await hub.http.ws_connect(f"{hub.ws_base}/ws/console?token={token}")
    await ws.send_json({"type": "subscribe", "areas": [], "since": None})
    assert (await ws.receive_json(timeout=5))["type"] == "subscribed"
    return ws


async def closed_with(ws: aiohttp.ClientWebSocketResponse, within_s: float) -> int | None:
    """Read frames (snapshot, pings) until the hub closes the socket; the code of its close frame."""
    async with asyncio.timeout(within_s):
        while True:
            msg = await ws.receive()
            if msg.type == aiohttp.WSMsgType.CLOSE:
                return int(msg.data)
            if msg.type in (aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED, aiohttp.WSMsgType.ERROR):
                return None  # gone without a close frame


class CountingHasher(PasswordHasher):
    """The real argon2 hasher, counting the verifications (a refused attempt must cost none)."""

    def __init__(self) -> None:
        super().__init__()
        self.verified = 0

    def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:  # noqa: A002 — argon2's own name
        self.verified += 1
        return super().verify(hash, password)


# --- throttling -----------------------------------------------------------------------------------------------


async def test_eleventh_wrong_password_is_refused_unhashed_and_so_is_the_right_one(
        hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    admin = await hub.login("admin", None)
    handler = await hub.login("township_handler", "450103001")
    victim = await new_user(hub)
    hasher = CountingHasher()
    monkeypatch.setattr(auth_module, "_hasher", hasher)
    for _ in range(10):
        assert (await sign_in(hub, victim, "wrong guess"))[0] == 401
    assert hasher.verified == 10

    status, body, headers = await sign_in(hub, victim, "wrong guess")
    assert status == 429 and body["error"]["code"] == "too_many_attempts"
    assert 0 < int(headers["Retry-After"]) <= 15 * 60
    status, _, headers = await sign_in(hub, victim, PASSWORD)
    assert status == 429 and int(headers["Retry-After"]) > 0, "a lock-out refuses the right password too"
    assert hasher.verified == 10, "throttled attempts are refused before any argon2 hashing"

    status, failed = await audit(hub, admin, kind="login_failed", username=victim)
    assert status == 200 and len(failed["entries"]) == 10
    assert {e["address"] for e in failed["entries"]} == {"127.0.0.1"}
    assert {e["detail"]["reason"] for e in failed["entries"]} == {"wrong_password"}
    _, locked = await audit(hub, admin, kind="login_locked", username=victim)
    [lock] = locked["entries"]
    assert lock["detail"]["scope"] == "account" and lock["detail"]["failures"] == 10
    assert (await audit(hub, handler, kind="login_failed"))[0] == 403, "a township handler may not read the audit"


async def test_forty_concurrent_guesses_cost_ten_hashes(hub: Hub, monkeypatch: pytest.MonkeyPatch) -> None:
    victim = await new_user(hub)
    hasher = CountingHasher()
    monkeypatch.setattr(auth_module, "_hasher", hasher)
    answers = await asyncio.gather(*(sign_in(hub, victim, f"guess {i}") for i in range(40)))
    assert sorted(status for status, _, _ in answers) == [401] * 10 + [429] * 30
    assert hasher.verified == 10, "an attempt is counted from its start: a burst cannot slip past the check"


async def test_one_address_trying_many_accounts_is_limited_per_address(settings: Settings) -> None:
    strict = settings.model_copy(update={"login_max_failures": 3, "login_max_failures_per_address": 5})
    async with running_hub(strict) as hub:
        admin = await hub.login("admin", None)
        first, second, third = [await new_user(hub) for _ in range(3)]
        staff = [await new_user(hub) for _ in range(8)]
        answers = await asyncio.gather(*(sign_in(hub, name, PASSWORD) for name in staff))
        assert [status for status, _, _ in answers] == [200] * 8, "colleagues signing in at once are no failures"
        for _ in range(3):
            assert (await sign_in(hub, first, "guess"))[0] == 401
        assert (await sign_in(hub, first, "guess"))[0] == 429, "the account's own limit"
        for _ in range(2):
            assert (await sign_in(hub, second, "guess"))[0] == 401
        status, _, headers = await sign_in(hub, second, "guess")
        assert status == 429 and int(headers["Retry-After"]) > 0, "5 failures from this address: locked out"
        assert (await sign_in(hub, third, PASSWORD))[0] == 429, "every account, from this address"
        _, locked = await audit(hub, admin, kind="login_locked")
        assert sorted((e["username"], e["detail"]["scope"]) for e in locked["entries"]) == sorted(
            [(first, "account"), (second, "address")])


async def test_a_username_with_nul_is_refused_by_name(hub: Hub) -> None:
    status, body, _ = await sign_in(hub, "admin\x00", PASSWORD)
    assert status == 422 and [f["field"] for f in body["error"]["fields"]] == ["username"]


async def test_throttling_counts_in_postgresql_while_redis_is_away(settings: Settings) -> None:
    no_redis = settings.model_copy(update={"redis_url": "redis://127.0.0.1:1/0", "login_max_failures": 3})
    async with running_hub(no_redis) as hub:
        victim = await new_user(hub)
        for _ in range(3):
            assert (await sign_in(hub, victim, "guess"))[0] == 401
        status, _, headers = await sign_in(hub, victim, PASSWORD)
        assert status == 429 and int(headers["Retry-After"]) > 0, "no fail-open when Redis is down"


async def test_the_client_address_comes_from_forwarded_for_only_behind_a_trusted_proxy(settings: Settings) -> None:
    for trusted, expected in (([], "127.0.0.1"), ([ip_network("127.0.0.0/8")], "203.0.113.9")):
        async with running_hub(settings.model_copy(update={"trusted_proxies": trusted})) as hub:
            admin = await hub.login("admin", None)
            victim = await new_user(hub)
            # The left-most hop is the client's to invent; the one our proxy appended is believed.
            await sign_in(hub, victim, "guess", headers={"X-Forwarded-For": "198.51.100.1, 203.0.113.9"})
            _, failed = await audit(hub, admin, kind="login_failed", username=victim)
            assert [e["address"] for e in failed["entries"]] == [expected]


# --- sign-out, disabling, expiry ------------------------------------------------------------------------------


async def test_logout_ends_the_session_on_rest_and_closes_its_console(hub: Hub) -> None:
    admin = await hub.login("admin", None)
    user = await new_user(hub)
    token, other = await token_of(hub, user), await token_of(hub, user)
    ws = await open_console(hub, token)
    assert await rest_status(hub, token) == 200
    async with hub.http.post(f"{hub.base}/api/v1/auth/logout", headers={"Authorization": f"Bearer {token}"}) as r:
        assert r.status == 204
    assert await rest_status(hub, token) == 401
    assert await closed_with(ws, 2.0) == SESSION_ENDED
    assert await rest_status(hub, other) == 200, "only the caller's own session ends"
    async with hub.http.post(f"{hub.base}/api/v1/auth/logout", headers={"Authorization": f"Bearer {token}"}) as r:
        assert r.status == 401
    key = await hub.api_key("hotline")
    async with hub.http.post(f"{hub.base}/api/v1/auth/logout", headers={"X-API-Key": key}) as r:
        assert r.status == 403, "an API key is not a session"
    _, logouts = await audit(hub, admin, kind="logout", username=user)
    assert len(logouts["entries"]) == 1


async def test_logout_on_one_hub_ends_the_session_on_another(settings: Settings) -> None:
    # The periodic session check is pushed out of the test's reach: only the Redis revocation can close B's socket.
    slow_check = settings.model_copy(update={"session_check_s": 60.0})
    async with running_hub(slow_check) as a, running_hub(slow_check) as b:
        user = await new_user(a)
        token = await token_of(a, user)
        ws_b = await open_console(b, token)
        assert await rest_status(b, token) == 200
        async with a.http.post(f"{a.base}/api/v1/auth/logout", headers={"Authorization": f"Bearer {token}"}) as r:
            assert r.status == 204
        assert await rest_status(b, token) == 401, "hub B refuses the token at once"
        assert await closed_with(ws_b, 2.0) == SESSION_ENDED


async def test_disabling_a_user_ends_their_sessions_and_sign_ins(hub: Hub) -> None:
    admin = await hub.login("admin", None)
    user = await new_user(hub)
    token, other = await token_of(hub, user), await token_of(hub, user)
    ws = await open_console(hub, token)
    assert await disable_user(hub.app[POOL], user, by="cli:test") == 2
    assert await rest_status(hub, token) == 401 and await rest_status(hub, other) == 401
    assert await closed_with(ws, 2.0) == SESSION_ENDED
    status, body, _ = await sign_in(hub, user, PASSWORD)
    assert status == 403 and body["error"]["code"] == "account_disabled"
    _, disabled = await audit(hub, admin, kind="user_disabled", username=user)
    [entry] = disabled["entries"]
    assert entry["detail"] == {"by": "cli:test", "sessions_ended": 2} and entry["path"] == "cli"
    with pytest.raises(ValueError, match="no user"):
        await disable_user(hub.app[POOL], "nobody-" + uuid.uuid4().hex[:6], by="cli:test")


async def test_the_users_disable_command_ends_a_session(hub: Hub, settings: Settings) -> None:
    user = await new_user(hub)
    token = await token_of(hub, user)
    assert await asyncio.to_thread(cmd_users_disable, settings, user) == 0  # `cityloop users disable USER`
    assert await rest_status(hub, token) == 401
    _, disabled = await audit(hub, await hub.login("admin", None), kind="user_disabled", username=user)
    assert disabled["entries"][0]["detail"]["by"].startswith("cli:")


async def test_an_expired_session_is_refused_at_once_and_its_console_closed(hub: Hub) -> None:
    user = await new_user(hub)
    token = await token_of(hub, user)
    ws = await open_console(hub, token)
    assert await rest_status(hub, token) == 200  # the token has just been seen: nothing may keep it alive
    await hub.app[POOL].execute(
        "UPDATE sessions SET expires_at = now() - interval '1 second' WHERE username = $1", user)
    assert await rest_status(hub, token) == 401
    assert await closed_with(ws, 2.0) == SESSION_ENDED


async def test_the_new_routes_are_in_openapi(hub: Hub) -> None:
    async with hub.http.get(f"{hub.base}/openapi.json") as resp:
        paths = (await resp.json())["paths"]
    login = paths["/api/v1/auth/login"]["post"]["responses"]
    assert "Retry-After" in login["429"]["headers"]
    assert "204" in paths["/api/v1/auth/logout"]["post"]["responses"]
    params = {p["name"] for p in paths["/api/v1/audit"]["get"]["parameters"]}
    assert params == {"kind", "username", "case_id", "from", "to", "cursor", "limit"}


async def test_the_audit_log_refuses_update_delete_and_truncate(hub: Hub) -> None:
    await sign_in(hub, "nobody", "guess")  # one entry to try to change
    pool = hub.app[POOL]
    assert await pool.fetchval("SELECT count(*) FROM audit_log") == 1
    for sql in ("UPDATE audit_log SET username = 'someone else'", "DELETE FROM audit_log", "TRUNCATE audit_log"):
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="append-only"):
            await pool.execute(sql)
    assert await pool.fetchval("SELECT username FROM audit_log") == "nobody"


async def test_a_users_name_and_unit_reach_the_console_and_a_township_handler_defaults_to_its_government(
        hub: Hub) -> None:
    named = f"bureau-{uuid.uuid4().hex[:6]}"
    await add_user(hub.app[POOL], named, PASSWORD, "county_dispatcher", "450103",
                   display_name="李敏", unit="450103-cg")
    handler = await new_user(hub, "township_handler", "450103001")
    configs = []
    for username in (named, handler):
        async with hub.http.get(f"{hub.base}/api/v1/console/config",
                                headers={"Authorization": f"Bearer {await token_of(hub, username)}"}) as resp:
            configs.append((await resp.json())["user"])
    assert (configs[0]["display_name"], configs[0]["unit"]) == ("李敏", "450103-cg")
    assert (configs[1]["display_name"], configs[1]["unit"]) == (None, "450103001-gov")


@pytest.mark.parametrize(("display_name", "unit", "field"), [
    ("", None, "display name"), ("张" * 65, None, "display name"), ("a\x00b", None, "display name"),
    (None, "cg", "unit"), (None, "450103-CG; drop", "unit")])
async def test_a_bad_display_name_or_unit_is_refused_naming_the_field(
        hub: Hub, display_name: str | None, unit: str | None, field: str) -> None:
    with pytest.raises(ValueError, match=field):
        await add_user(hub.app[POOL], f"bad-{uuid.uuid4().hex[:6]}", PASSWORD, "township_handler", "450103001",
                       display_name=display_name, unit=unit)
