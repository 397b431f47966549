"""GET and DELETE /api/v1/admin/learned-categories: what the hub learned from dispatchers' 研判 (admin only)."""

from __future__ import annotations

from aiohttp import web

from dispatch.learned import MAX_LEARNED_LEN
from hub.api.errors import ApiError, json_response
from hub.api.identity import principal_of
from hub.api.schema import Route, errors
from hub.keys import LEARNED


async def list_learned(request: web.Request) -> web.Response:
    await principal_of(request, "admin")
    return json_response({"learned": await request.app[LEARNED].entries()})


async def revoke_learned(request: web.Request) -> web.Response:
    principal = await principal_of(request, "admin")
    key = request.match_info["key"]
    if not key or len(key) > MAX_LEARNED_LEN or any(ord(ch) < 0x20 or ord(ch) == 0x7F for ch in key):
        raise ApiError(422, "validation_failed", "key: not a learned key",
                       [{"field": "key", "message": f"1 to {MAX_LEARNED_LEN} characters, no control characters"}])
    revoked = await request.app[LEARNED].revoke(key, f"{principal.role}:{principal.name}")
    if revoked is None:
        raise ApiError(404, "not_found", "nothing learned under this key is in force")
    return json_response({"revoked": revoked})


_ENTRY = {"type": "object", "properties": {
    "key": {"type": "string"}, "original": {"type": "string"}, "code": {"type": "string"},
    "learned_from": {"type": "string", "format": "uuid"}, "by": {"type": "string"},
    "at": {"type": "string", "format": "date-time"}, "revoked_by": {"type": ["string", "null"]},
    "revoked_at": {"type": ["string", "null"], "format": "date-time"}},
    "required": ["key", "original", "code", "learned_from", "by", "at", "revoked_by", "revoked_at"]}

ROUTES = [
    Route("GET", "/api/v1/admin/learned-categories", list_learned, {
        "operationId": "list_learned_categories",
        "summary": "what the hub learned from dispatchers' category choices: the hotline's wording (normalised "
                   "key and original), the leaf chosen, the case it was learned from, by whom, when; revoked "
                   "entries too (admin)",
        "security": [{"bearer": []}],
        "responses": {"200": {"description": "the learned entries, newest first", "content": {"application/json": {
            "schema": {"type": "object", "properties": {"learned": {"type": "array", "items": _ENTRY}},
                       "required": ["learned"]}}}},
            **errors(401, 403)}}),
    Route("DELETE", "/api/v1/admin/learned-categories/{key}", revoke_learned, {
        "operationId": "revoke_learned_category",
        "summary": "revoke a learned entry: tickets with this wording are understood as before; who revoked it and "
                   "when are kept (admin)",
        "security": [{"bearer": []}],
        "parameters": [{"name": "key", "in": "path", "required": True,
                        "schema": {"type": "string", "minLength": 1, "maxLength": MAX_LEARNED_LEN}}],
        "responses": {"200": {"description": "the entry, revoked", "content": {"application/json": {
            "schema": {"type": "object", "properties": {"revoked": _ENTRY}, "required": ["revoked"]}}}},
            **errors(401, 403, 404, 422)}}),
]
