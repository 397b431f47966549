"""Sign-in and sign-out, the request's principal (Bearer token for people, API key for machines), and the
client's address."""

from __future__ import annotations

import ipaddress

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from dispatch.inputs import InputModel
from hub.api.errors import ApiError, error_response, json_response, read_json
from hub.api.schema import Error, Route, errors, json_body
from hub.identity.access import MACHINE_ROLES, Principal
from hub.identity.auth import AccountDisabled, AuthError, token_digest
from hub.identity.throttle import LoginThrottled
from hub.keys import AUTH, SESSIONS, SETTINGS


class LoginRequest(InputModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=64, pattern=r"^[^\x00]+$")
    password: str = Field(min_length=1, max_length=256)


class LoginResponse(BaseModel):
    token: str
    role: str
    area: str | None


def credential(request: web.Request) -> str | None:
    header = request.headers.get("Authorization", "")
    scheme, _, value = header.partition(" ")
    if scheme.lower() in ("bearer", "apikey") and value:
        return value.strip()
    return request.headers.get("X-API-Key")


async def principal_of(request: web.Request, *roles: str) -> Principal:
    """The caller, who must hold one of `roles` (any role when none is given)."""
    token = credential(request)
    if not token:
        raise ApiError(401, "unauthenticated", "send `Authorization: Bearer <token>` or `X-API-Key`")
    principal = await request.app[AUTH].from_token(token)
    if principal is None:
        raise ApiError(401, "unauthenticated", "the token or key is unknown, expired or revoked")
    if roles and principal.role not in roles:
        raise ApiError(403, "forbidden", f"role {principal.role} may not do this; needs {', '.join(roles)}")
    return principal


def client_address(request: web.Request) -> str:
    """The client's IP address: the peer's, unless the peer is one of `CITYLOOP_TRUSTED_PROXIES`; then the
    nearest X-Forwarded-For hop that is not a trusted proxy (hops further left are the client's to invent)."""
    remote = request.remote or "unknown"
    trusted = request.app[SETTINGS].trusted_proxies
    if not trusted or not _within(remote, trusted):
        return remote
    hops = [hop.strip() for value in request.headers.getall("X-Forwarded-For", []) for hop in value.split(",")]
    for hop in reversed(hops):
        if not _within(hop, trusted):
            return hop if _is_ip(hop) else remote
    return remote


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True


def _within(address: str, networks: list[ipaddress.IPv4Network | ipaddress.IPv6Network]) -> bool:
    try:
        ip = ipaddress.ip_address(address)
    except ValueError:
        return False
    return any(ip in network for network in networks)


async def login(request: web.Request) -> web.Response:
    body = LoginRequest.model_validate(await read_json(request))
    try:
        token, principal = await request.app[AUTH].login(body.username, body.password, client_address(request))
    except LoginThrottled as exc:
        return error_response(429, "too_many_attempts", str(exc), headers={"Retry-After": str(exc.retry_after_s)})
    except AccountDisabled as exc:
        raise ApiError(403, "account_disabled", str(exc)) from None
    except AuthError as exc:
        raise ApiError(401, "invalid_credentials", str(exc)) from None
    return json_response(LoginResponse(token=token, role=principal.role, area=principal.area).model_dump())


async def logout(request: web.Request) -> web.Response:
    """End the caller's own session: refused at once on REST in every hub, its consoles closed with 4001."""
    principal = await principal_of(request)
    if principal.role in MACHINE_ROLES:
        raise ApiError(403, "forbidden", "an API key is not a session; keys are revoked by an administrator")
    token = credential(request)
    assert token is not None  # principal_of found one
    await request.app[AUTH].logout(token, address=client_address(request))
    await request.app[SESSIONS].revoke(token_digest(token))
    return web.Response(status=204)


ROUTES = [
    Route("POST", "/api/v1/auth/login", login, {
        "operationId": "log_in",
        "summary": "sign in; after too many failures per account or per address in the window, 429 with "
                   "Retry-After (seconds) — also for a correct password — until the window lets it in",
        "requestBody": json_body(LoginRequest),
        "responses": {"200": {"description": "token", **json_body(LoginResponse)},
                      "429": {"description": "locked out: retry after `Retry-After` seconds",
                              "headers": {"Retry-After": {"schema": {"type": "integer"}}}, **json_body(Error)},
                      **errors(401, 403, 422)}}),
    Route("POST", "/api/v1/auth/logout", logout, {
        "operationId": "log_out",
        "summary": "sign out: the caller's session ends at once on REST in every hub, and its console "
                   "websockets are closed with 4001 (403 for an API key: keys are not sessions)",
        "security": [{"bearer": []}],
        "responses": {"204": {"description": "signed out"}, **errors(401, 403)}}),
]
