"""The endpoints the consoles start from: configuration, hotspots, and the libraries served by the hub."""

from __future__ import annotations

from typing import Any

import pytest
import shapely
from shapely.geometry import shape

from dispatch.states import FINISHED_STATES, OPEN_STATES, STATES
from tests.conftest import Hub
from tests.e2e.test_hotline_to_console import QINGXIU_SEAT, XINGNING_SEAT, push, ticket


async def get(hub: Hub, token: str, path: str) -> tuple[int, dict[str, Any]]:
    async with hub.http.get(f"{hub.base}{path}", headers={"Authorization": f"Bearer {token}"}) as resp:
        return resp.status, await resp.json()


async def test_console_config_names_the_user_categories_and_map(hub: Hub) -> None:
    token = await hub.login("township_handler", "450103001")
    status, config = await get(hub, token, "/api/v1/console/config")
    assert status == 200
    assert config["user"]["role"] == "township_handler" and config["user"]["area"] == "450103001"
    assert config["user"]["view"] == "masked"
    by_name = {c["name"]: c for c in config["categories"]}
    assert by_name["路灯"]["category"] == "streetlight" and by_name["路灯"]["group"] == "公用设施"
    assert config["map"]["tile_url"] is None, "no tiles unless configured: the boundaries make the map"
    assert "triage" in config["queues"]


async def test_console_config_serves_the_domains_case_states(hub: Hub) -> None:
    # Both consoles read which states are finished from here instead of keeping their own copies.
    token = await hub.login("township_handler", "450103001")
    status, config = await get(hub, token, "/api/v1/console/config")
    assert status == 200
    states = config["states"]
    assert states["all"] == list(STATES)
    assert set(states["finished"]) == FINISHED_STATES and set(states["open"]) == OPEN_STATES
    assert sorted(states["finished"] + states["open"]) == sorted(STATES), "every state is finished or open, once"
    assert "resolved" in states["open"] and "merged" in states["finished"], "awaiting its callback is still open"


async def test_hotspots_count_by_area_and_category_within_the_callers_jurisdiction(hub: Hub) -> None:
    key = await hub.hotline_key()
    for point, category in ((QINGXIU_SEAT, "streetlight"), ((108.50, 22.80), "streetlight"),
                            (QINGXIU_SEAT, "noise"), (XINGNING_SEAT, "streetlight")):
        assert (await push(hub, key, ticket(point, category=category)))[0] == 202
    operator = await hub.login("city_operator", None)
    status, body = await get(hub, operator, "/api/v1/hotspots?level=county")
    assert status == 200
    counts = {(r["code"], r["category"]): r["cases"] for r in body["rows"]}
    assert sum(counts.values()) == 4
    assert counts[("450102", "010101")] == 1
    county = await hub.login("county_dispatcher", "450102")
    _, mine = await get(hub, county, "/api/v1/hotspots?level=county")
    assert {r["code"] for r in mine["rows"]} == {"450102"}, "only what the caller may see"
    _, lights = await get(hub, operator, "/api/v1/hotspots?level=county&category=streetlight")
    assert {r["category_name"] for r in lights["rows"]} == {"路灯"}
    assert (await get(hub, operator, "/api/v1/hotspots?level=planet"))[0] == 422


async def test_the_consoles_and_their_libraries_are_served_by_the_hub(hub: Hub) -> None:
    for path in ("/console/", "/m/", "/static/vendor/leaflet/leaflet.js", "/static/vendor/echarts/echarts.min.js",
                 "/static/vendor/markercluster/leaflet.markercluster.js", "/static/shared/feed.js"):
        async with hub.http.get(f"{hub.base}{path}") as resp:
            assert resp.status == 200, path
    async with hub.http.get(f"{hub.base}/static/vendor/leaflet/../package.json") as resp:
        assert resp.status in (403, 404), "only the libraries' dist folders are served"


async def test_console_config_gives_the_map_the_box_of_the_users_own_jurisdiction(hub: Hub) -> None:
    """The map fits these bounds ([[south, west], [north, east]]): the whole city for a city role, the county
    for its dispatcher, the township for its handler; each holds every area below it."""
    def box(features: list[dict[str, Any]]) -> tuple[float, float, float, float]:
        west, south, east, north = (float(v) for v in shapely.total_bounds([shape(f["geometry"]) for f in features]))
        return south, west, north, east

    def flat(bounds: list[list[float]]) -> list[float]:
        return [*bounds[0], *bounds[1]]

    def holds(bounds: list[list[float]], inner: tuple[float, float, float, float]) -> bool:
        (south, west), (north, east) = bounds
        eps = 1e-5
        return (south - eps <= inner[0] and west - eps <= inner[1]
                and north + eps >= inner[2] and east + eps >= inner[3])

    operator = await hub.login("city_operator", None)
    _, counties = await get(hub, operator, "/api/v1/areas.geojson?simplify_m=0")
    assert len(counties["features"]) == 12
    _, config = await get(hub, operator, "/api/v1/console/config")
    city = config["map"]["bounds"]
    assert holds(city, box(counties["features"])), "every county is inside the city operator's box"
    assert flat(city) == pytest.approx(box(counties["features"]), abs=1e-5)

    _, county = await get(hub, await hub.login("county_dispatcher", "450103"), "/api/v1/console/config")
    _, own = await get(hub, operator, "/api/v1/areas/450103")
    assert flat(county["map"]["bounds"]) == pytest.approx(box([own]), abs=1e-5)
    assert not holds(county["map"]["bounds"], box(counties["features"])), "a county's box is not the city's"

    _, townships = await get(hub, operator, "/api/v1/areas.geojson?parent=450103&simplify_m=0")
    first = townships["features"][0]
    code = first["properties"]["code"]
    _, township = await get(hub, await hub.login("township_handler", code), "/api/v1/console/config")
    assert flat(township["map"]["bounds"]) == pytest.approx(box([first]), abs=1e-5)
    assert holds(county["map"]["bounds"], box([first]))

    # A grid the layers do not have (a new grid worker's code): the community around it.
    _, communities = await get(hub, operator, f"/api/v1/areas.geojson?parent={code}&simplify_m=0")
    community = communities["features"][0]
    unknown = community["properties"]["code"] + "999"
    _, grid = await get(hub, await hub.login("grid_worker", unknown), "/api/v1/console/config")
    assert flat(grid["map"]["bounds"]) == pytest.approx(box([community]), abs=1e-5)
