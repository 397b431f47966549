"""GET /api/v1/hotspots: where which problems come from (高频事项) — case counts by area and category over
recent days, for the command centre's heat map and the surge view."""

from __future__ import annotations

from datetime import timedelta

from aiohttp import web
from pydantic import ConfigDict, Field

from dispatch.inputs import AreaCode, InputModel
from hub.api.errors import json_response
from hub.api.identity import principal_of
from hub.api.schema import Route, errors, query
from hub.identity.access import USER_ROLES, clip_scopes
from hub.keys import CLOCK, READS


class HotspotQuery(InputModel):
    model_config = ConfigDict(extra="forbid")
    level: str = Field(default="township", pattern="^(county|township|community)$")
    days: int = Field(default=30, ge=1, le=366)
    category: str | None = Field(default=None, max_length=64)
    area: AreaCode | None = None
    limit: int = Field(default=2000, ge=1, le=10_000)


async def hotspots(request: web.Request) -> web.Response:
    principal = await principal_of(request, *USER_ROLES)
    query = HotspotQuery.model_validate(dict(request.query))
    scopes = clip_scopes(principal, [query.area] if query.area else [])
    if not scopes:
        return json_response({"level": query.level, "rows": []})
    since = request.app[CLOCK].now() - timedelta(days=query.days)
    rows = await request.app[READS].hotspots(scopes, query.level, since, query.category, query.limit)
    return json_response({"level": query.level, "days": query.days,
                          "rows": [{"code": r["code"], "name": r["name"], "category": r["category"],
                                    "category_name": r["category_name"], "cases": r["cases"]} for r in rows]})


ROUTES = [
    Route("GET", "/api/v1/hotspots", hotspots, {
        "operationId": "list_hotspots",
        "summary": "case counts by area and category over recent days (高频事项), clipped to the caller",
        "security": [{"bearer": []}], "parameters": query(HotspotQuery),
        "responses": {"200": {"description": "rows of {code, name, category, category_name, cases}"},
                      **errors(401, 403, 422)}}),
]
