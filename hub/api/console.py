"""What the consoles need to start: who signed in, the map's set-up, the category list and the case states."""

from __future__ import annotations

from aiohttp import web

from dispatch.matrix import Matrix
from dispatch.states import FINISHED_STATES, OPEN_STATES, STATES
from geo.areas import NANNING
from hub.api.errors import json_response
from hub.api.identity import principal_of
from hub.api.schema import Route, errors
from hub.identity.access import CITY_CODE, USER_ROLES
from hub.keys import LOCATOR, POLICY, SETTINGS
from hub.services.actors import unit_ref
from hub.store.reads import QUEUES

# Nanning's centre (人民公园) and a zoom that shows the urban districts.
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
    matrix = request.app[POLICY].matrix
    categories = [{"category": path[-1].channel_category, "code": path[-1].code,
                   "name": path[-1].name, "name_en": path[-1].name_en or path[-1].name,
                   "group": path[0].name, "group_en": path[0].name_en or path[0].name}
                  for path in (matrix.leaves() if matrix else [])]
    return json_response({
        "user": {"name": principal.name, "display_name": principal.display_name, "role": principal.role,
                 "area": principal.area, "unit": principal.unit, "view": principal.view,
                 "unit_name": (unit_ref(matrix, request.app[LOCATOR].area_chain, principal.unit) or {}).get("name")},
        # Tiles are optional: without a (government) tile server the boundary layers alone make the map.
        "map": {"tile_url": settings.map_tile_url, "tile_attribution": settings.map_tile_attribution,
                "centre": MAP_CENTRE},
        "city": {"code": CITY_CODE, "name": NANNING.name},
        "categories": categories,
        # Every node of the tree, leaves and classes (a case may sit on a class), by code and by channel name,
        # with its path from the root: the consoles name a case's category in either language from it.
        "category_names": category_names(matrix) if matrix else {},
        "queues": sorted(QUEUES),
        # The domain's groups of states, so that no console keeps its own copy (in the domain's order).
        "states": {"all": list(STATES), "finished": [s for s in STATES if s in FINISHED_STATES],
                   "open": [s for s in STATES if s in OPEN_STATES]},
    })


ROUTES = [
    Route("GET", "/api/v1/console/config", console_config, {
        "summary": ("what a console needs to start: the user, the map set-up, the categories (with their names"
                    " in Chinese and English), the queues"
                    " and the case states"),
        "security": [{"bearer": []}], "responses": {"200": {"description": "configuration"}, **errors(401, 403)}}),
]
