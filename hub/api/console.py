"""What the consoles need to start: who signed in, the map's set-up, the category list and the case states."""

from __future__ import annotations

from aiohttp import web
from pydantic import ConfigDict

from dispatch.inputs import AreaCode, InputModel
from dispatch.matrix import Matrix
from dispatch.sla import working_time
from dispatch.states import FINISHED_STATES, OPEN_STATES, STATES
from geo.areas import NANNING
from hub.api.errors import json_response
from hub.api.identity import principal_of
from hub.api.schema import Route, errors, query
from hub.identity.access import CITY_CODE, USER_ROLES, clip_scopes
from hub.keys import CLOCK, HEADLINE, LOCATOR, POLICY, SETTINGS
from hub.services.actors import unit_ref
from hub.services.headline import FIGURES
from hub.store.reads import QUEUES

# Where the map starts when no boundary layer is loaded (nothing to fit): Nanning's centre (人民公园).
MAP_CENTRE = {"lng": 108.3275, "lat": 22.8170, "zoom": 10}


def category_names(matrix: Matrix) -> dict[str, dict[str, list[str]]]:
    """code or alias → {"zh": [root … node], "en": [...]} (English falls back to the Chinese name)."""
    out: dict[str, dict[str, list[str]]] = {}
    for key in matrix.category_keys():
        path = matrix.path(key)
        out[key] = {"zh": [n.name for n in path], "en": [n.name_en or n.name for n in path]}
    return out


async def console_config(request: web.Request) -> web.Response:
    principal = await principal_of(request, *USER_ROLES)
    settings = request.app[SETTINGS]
    policy = request.app[POLICY]
    matrix = policy.matrix
    categories = [{"category": path[-1].channel_category, "code": path[-1].code,
                   "name": path[-1].name, "name_en": path[-1].name_en or path[-1].name,
                   "group": path[0].name, "group_en": path[0].name_en or path[0].name}
                  for path in (matrix.leaves() if matrix else [])]
    return json_response({
        "user": {"name": principal.name, "display_name": principal.display_name, "role": principal.role,
                 "area": principal.area, "unit": principal.unit, "view": principal.view,
                 "unit_name": (unit_ref(matrix, request.app[LOCATOR].area_chain, principal.unit) or {}).get("name")},
        # Tiles are optional: without a (government) tile server the boundary layers alone make the map.
        # `bounds` ([[south, west], [north, east]]) is the user's own jurisdiction, which the map fits at
        # any screen size; null when no boundaries are loaded (then `centre`).
        "map": {"tile_url": settings.map_tile_url, "tile_attribution": settings.map_tile_attribution,
                "centre": MAP_CENTRE, "bounds": request.app[LOCATOR].bounds(principal.area)},
        "city": {"code": CITY_CODE, "name": NANNING.name},
        "categories": categories,
        # Every node of the tree, leaves and classes (a case may sit on a class), by code and by channel name,
        # with its path from the root: the consoles name a case's category in either language from it.
        "category_names": category_names(matrix) if matrix else {},
        "queues": sorted(QUEUES),
        # The domain's groups of states, so that no console keeps its own copy (in the domain's order).
        "states": {"all": list(STATES), "finished": [s for s in STATES if s in FINISHED_STATES],
                   "open": [s for s in STATES if s in OPEN_STATES]},
        # Whether working-time clocks count now (false at nights, weekends, holidays: the consoles say the
        # clocks are paused) and when that changes, when the consoles ask again; null without working-time clocks.
        "working_time": working_time(policy.sla, request.app[CLOCK].now()) if policy.sla is not None else None,
    })


class HeadlineQuery(InputModel):
    model_config = ConfigDict(extra="forbid")
    area: AreaCode | None = None  # within the caller's jurisdiction; none: all of it


async def console_headline(request: web.Request) -> web.Response:
    """The headline figures of the caller's jurisdiction (or the part `area` names), counted by the server
    so that every console of the jurisdiction shows the same (hub.services.headline)."""
    principal = await principal_of(request, *USER_ROLES)
    wanted = HeadlineQuery.model_validate(dict(request.query))
    scopes = clip_scopes(principal, [wanted.area] if wanted.area else [])
    if not scopes:  # outside the caller's jurisdiction: nothing of it to count
        return json_response({"as_of": request.app[CLOCK].now().isoformat(), "areas": [],
                              **dict.fromkeys(FIGURES, 0)})
    figures = await request.app[HEADLINE].figures(scopes, request.app[CLOCK].now())
    return json_response({"as_of": figures.as_of.isoformat(), "areas": sorted(scopes), **figures.counts})


ROUTES = [
    Route("GET", "/api/v1/console/config", console_config, {
        "operationId": "get_console_config",
        "summary": ("what a console needs to start: the user, the map set-up, the categories (with their names"
                    " in Chinese and English), the queues, the case states and whether working-time clocks"
                    " count now"),
        "security": [{"bearer": []}], "responses": {"200": {"description": "configuration"}, **errors(401, 403)}}),
    Route("GET", "/api/v1/console/headline", console_headline, {
        "operationId": "get_console_headline",
        "summary": ("the headline figures of the caller's jurisdiction, counted by the server: open (在办), overdue"
                    " (超时), warning (预警), triage (待研判), today (今日新增, since 00:00 China time)"),
        "security": [{"bearer": []}], "parameters": query(HeadlineQuery),
        "responses": {"200": {"description": "figures and as_of"}, **errors(401, 403, 422)}}),
]
