"""What the consoles need to start: who signed in, the map's set-up, the category list and the case states."""

from __future__ import annotations

from aiohttp import web

from dispatch.states import FINISHED_STATES, OPEN_STATES, STATES
from geo.areas import NANNING
from hub.api.errors import json_response
from hub.api.identity import principal_of
from hub.api.schema import Route, errors
from hub.identity.access import CITY_CODE, USER_ROLES
from hub.keys import LOCATOR, POLICY, SETTINGS
from hub.store.reads import QUEUES

# Where the map starts when no boundary layer is loaded (nothing to fit): Nanning's centre (人民公园).
MAP_CENTRE = {"lng": 108.3275, "lat": 22.8170, "zoom": 10}


async def console_config(request: web.Request) -> web.Response:
    principal = await principal_of(request, *USER_ROLES)
    settings = request.app[SETTINGS]
    matrix = request.app[POLICY].matrix
    categories = [{"category": path[-1].channel_category, "code": path[-1].code,
                   "name": path[-1].name, "group": path[0].name} for path in (matrix.leaves() if matrix else [])]
    return json_response({
        "user": {"name": principal.name, "display_name": principal.display_name, "role": principal.role,
                 "area": principal.area, "unit": principal.unit, "view": principal.view},
        # Tiles are optional: without a (government) tile server the boundary layers alone make the map.
        # `bounds` ([[south, west], [north, east]]) is the user's own jurisdiction, which the map fits at
        # any screen size; null when no boundaries are loaded (then `centre`).
        "map": {"tile_url": settings.map_tile_url, "tile_attribution": settings.map_tile_attribution,
                "centre": MAP_CENTRE, "bounds": request.app[LOCATOR].bounds(principal.area)},
        "city": {"code": CITY_CODE, "name": NANNING.name},
        "categories": categories,
        "queues": sorted(QUEUES),
        # The domain's groups of states, so that no console keeps its own copy (in the domain's order).
        "states": {"all": list(STATES), "finished": [s for s in STATES if s in FINISHED_STATES],
                   "open": [s for s in STATES if s in OPEN_STATES]},
    })


ROUTES = [
    Route("GET", "/api/v1/console/config", console_config, {
        "summary": ("what a console needs to start: the user, the map set-up, the categories, the queues"
                    " and the case states"),
        "security": [{"bearer": []}], "responses": {"200": {"description": "configuration"}, **errors(401, 403)}}),
]
