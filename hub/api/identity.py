"""Login and the request's principal (Bearer token for people, API key for machines)."""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field

from dispatch.inputs import InputModel
from hub.access import Principal
from hub.api.errors import ApiError, json_response, read_json
from hub.auth import AuthError
from hub.keys import AUTH


class LoginRequest(InputModel):
    model_config = ConfigDict(extra="forbid")
    username: str = Field(min_length=1, max_length=64)
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


async def login(request: web.Request) -> web.Response:
    body = LoginRequest.model_validate(await read_json(request))
    try:
        token, principal = await request.app[AUTH].login(body.username, body.password)
    except AuthError as exc:
        raise ApiError(401, "invalid_credentials", str(exc)) from None
    return json_response(LoginResponse(token=token, role=principal.role, area=principal.area).model_dump())
