"""What the consoles need to start: who signed in, the map's set-up, the category list and the case states."""

from __future__ import annotations

from aiohttp import web

from dispatch.sla import working_time
from dispatch.states import FINISHED_STATES, OPEN_STATES, STATES
from geo.areas import NANNING
from hub.api.errors import json_response
from hub.api.identity import principal_of
from hub.api.schema import Route, errors
from hub.identity.access import CITY_CODE, USER_ROLES
from hub.keys import CLOCK, POLICY, SETTINGS
from hub.store.reads import QUEUES

# Nanning's centre (人民公园) and a zoom that shows the urban districts.
MAP_CENTRE = {"lng": 108.3275, "lat": 22.8170, "zoom": 10}


async def console_config(request: web.Request) -> web.Response:
    principal = await principal_of(request, *USER_ROLES)
    settings = request.app[SETTINGS]
    policy = request.app[POLICY]
    matrix = policy.matrix
    categories = [{"category": path[-1].channel_category, "code": path[-1].code,
                   "name": path[-1].name, "group": path[0].name} for path in (matrix.leaves() if matrix else [])]
    return json_response({
        "user": {"name": principal.name, "display_name": principal.display_name, "role": principal.role,
                 "area": principal.area, "unit": principal.unit, "view": principal.view},
        # Tiles are optional: without a (government) tile server the boundary layers alone make the map.
        "map": {"tile_url": settings.map_tile_url, "tile_attribution": settings.map_tile_attribution,
                "centre": MAP_CENTRE},
        "city": {"code": CITY_CODE, "name": NANNING.name},
        "categories": categories,
        "queues": sorted(QUEUES),
        # The domain's groups of states, so that no console keeps its own copy (in the domain's order).
        "states": {"all": list(STATES), "finished": [s for s in STATES if s in FINISHED_STATES],
                   "open": [s for s in STATES if s in OPEN_STATES]},
        # Whether working-time clocks count now (false at nights, weekends, holidays: the consoles say the
        # clocks are paused) and when that changes, when the consoles ask again; null without working-time clocks.
        "working_time": working_time(policy.sla, request.app[CLOCK].now()) if policy.sla is not None else None,
    })


ROUTES = [
    Route("GET", "/api/v1/console/config", console_config, {
        "summary": ("what a console needs to start: the user, the map set-up, the categories, the queues,"
                    " the case states and whether working-time clocks count now"),
        "security": [{"bearer": []}], "responses": {"200": {"description": "configuration"}, **errors(401, 403)}}),
]
