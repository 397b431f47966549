"""Routing and area APIs over real HTTP, and boundary versions loaded with the real CLI."""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import shapely
from shapely.geometry import mapping, shape

from geo.crs import Crs, from_wgs84
from hub.keys import BOUNDARIES
from tests.conftest import Hub
from tests.e2e.test_hotline_to_console import QINGXIU_SEAT, push, ticket

FIXTURES = Path(__file__).parent.parent / "fixtures"
COUNTIES = Path(__file__).parent.parent.parent / "geo" / "data" / "nanning_districts.geojson"


def seats() -> list[dict[str, str]]:
    with (FIXTURES / "nanning_geonames_points.csv").open(encoding="utf-8") as f:
        return list(csv.DictReader(f))


async def get_json(hub: Hub, token: str, path: str, **params: Any) -> tuple[int, Any]:
    async with hub.http.get(f"{hub.base}{path}", params=params, headers={"Authorization": f"Bearer {token}"}) as r:
        return r.status, await r.json(content_type=None)


@pytest.mark.parametrize("crs", list(Crs))
async def test_every_county_seat_routes_to_its_county_down_to_a_grid(hub: Hub, crs: Crs) -> None:
    token = await hub.login("county_dispatcher", "450103")
    for seat in seats():
        lng, lat = from_wgs84(float(seat["lng"]), float(seat["lat"]), crs)
        status, body = await get_json(hub, token, "/api/v1/route", lng=str(lng), lat=str(lat), crs=crs.value)
        assert status == 200, body
        expected = seat["expected_county_adcode"]
        assert body["inside"] and body["areas"]["county"]["code"] == expected, seat["name"]
        assert body["areas"]["township"]["code"].startswith(expected)
        assert set(body["areas"]) == {"city", "county", "township", "community", "grid"}
        assert body["wgs84"]["lng"] == pytest.approx(float(seat["lng"]), abs=1e-7)


async def test_route_outside_the_city_and_bad_input(hub: Hub) -> None:
    token = await hub.login("city_operator", None)
    status, body = await get_json(hub, token, "/api/v1/route", lng="106.0", lat="25.0")
    assert status == 200 and body["inside"] is False and body["distance_m"] > 10_000
    status, body = await get_json(hub, token, "/api/v1/route", lng="108.3", lat="99", crs="mercator")
    assert status == 422
    assert {f["field"] for f in body["error"]["fields"]} == {"lat", "crs"}
    async with hub.http.get(f"{hub.base}/api/v1/route", params={"lng": "108.3", "lat": "22.8"}) as resp:
        assert resp.status == 401


async def test_post_route_by_address_and_by_location(hub: Hub) -> None:
    token = await hub.login("city_operator", None)
    headers = {"Authorization": f"Bearer {token}"}
    async with hub.http.post(f"{hub.base}/api/v1/route", json={"address": "兴宁区朝阳街道"}, headers=headers) as r:
        body = await r.json()
    assert body["inside"] and body["method"] == "address" and body["confidence"] >= 0.8
    assert body["areas"]["township"] == {"code": "450102002", "name": "朝阳街道"}
    lng, lat = from_wgs84(*QINGXIU_SEAT, Crs.BD09)
    async with hub.http.post(f"{hub.base}/api/v1/route", json={"location": {"lng": lng, "lat": lat, "crs": "bd09"}},
                             headers=headers) as r:
        body = await r.json()
    assert body["method"] == "point" and body["areas"]["county"]["code"] == "450103"
    async with hub.http.post(f"{hub.base}/api/v1/route", json={}, headers=headers) as r:
        assert r.status == 422


async def test_area_tree_and_one_area_as_geojson(hub: Hub) -> None:
    token = await hub.login("auditor", None)
    status, body = await get_json(hub, token, "/api/v1/areas", level="county")
    assert status == 200 and len(body["areas"]) == 12
    assert not any(a["synthetic"] for a in body["areas"]), "the counties are real boundaries"
    status, body = await get_json(hub, token, "/api/v1/areas", parent="450103")
    townships = body["areas"]
    assert townships and all(a["level"] == "township" and a["parent_code"] == "450103" for a in townships)
    assert all(a["synthetic"] for a in townships), "generated township polygons say so"
    status, feature = await get_json(hub, token, "/api/v1/areas/450103")
    assert feature["type"] == "Feature" and feature["properties"]["name"] == "青秀区"
    county = json.loads(COUNTIES.read_text(encoding="utf-8"))
    real = next(shape(f["geometry"]) for f in county["features"] if f["properties"]["adcode"] == "450103")
    assert shape(feature["geometry"]).symmetric_difference(real).area < 1e-12
    assert (await get_json(hub, token, "/api/v1/areas/999999"))[0] == 404

    # The map draws a level at a time: the children of an area as one simplified FeatureCollection.
    status, collection = await get_json(hub, token, "/api/v1/areas.geojson", parent="450103", simplify_m="50")
    assert status == 200 and collection["type"] == "FeatureCollection"
    assert sorted(f["properties"]["code"] for f in collection["features"]) == sorted(a["code"] for a in townships)
    status, counties = await get_json(hub, token, "/api/v1/areas.geojson", simplify_m="500")
    simplified = next(shape(f["geometry"]) for f in counties["features"] if f["properties"]["code"] == "450103")
    assert len(counties["features"]) == 12
    assert shapely.get_num_coordinates(simplified) < shapely.get_num_coordinates(real), "fewer vertices to draw"
    assert simplified.symmetric_difference(real).area < 0.02 * real.area, "yet the same area"
    assert (await get_json(hub, token, "/api/v1/areas.geojson", simplify_m="-1"))[0] == 422


def _renamed_counties(tmp_path: Path, suffix: str) -> Path:
    data = json.loads(COUNTIES.read_text(encoding="utf-8"))
    for feature in data["features"]:
        feature["properties"]["name"] += suffix
    path = tmp_path / "counties.geojson"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    return path


def _cli(database_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "DATABASE_URL": database_url, "CITYLOOP_LOG_LEVEL": "WARNING"}
    return subprocess.run([sys.executable, "-m", "hub.cli", "geo", *args], env=env, capture_output=True,
                          text=True, timeout=120)


async def test_a_new_boundary_version_routes_new_cases_and_leaves_old_ones_alone(
        hub: Hub, database_url: str, tmp_path: Path) -> None:
    key = await hub.hotline_key()
    operator = await hub.login("city_operator", None)
    _, before = await push(hub, key, ticket(QINGXIU_SEAT))

    loaded = _cli(database_url, "load", str(_renamed_counties(tmp_path, "（新）")), "--level", "county")
    assert loaded.returncode == 0, loaded.stderr
    assert "inactive" in loaded.stdout
    boundaries = hub.app[BOUNDARIES]
    assert not await boundaries.refresh(), "loading alone changes nothing"
    version = int(loaded.stdout.split()[2].rstrip(":"))
    activated = _cli(database_url, "activate", str(version))
    assert activated.returncode == 0, activated.stderr
    assert await boundaries.refresh()

    _, after = await push(hub, key, ticket(QINGXIU_SEAT))
    _, old_case = await get_json(hub, operator, f"/api/v1/cases/{before['case_id']}")
    _, new_case = await get_json(hub, operator, f"/api/v1/cases/{after['case_id']}")
    assert old_case["areas"]["county"]["name"] == "青秀区"
    assert new_case["areas"]["county"]["name"] == "青秀区（新）"
    listed = _cli(database_url, "versions")
    assert f"{version:>4} county" in listed.stdout


async def test_an_overlapping_layer_is_refused_with_the_codes_named(database_url: str, tmp_path: Path) -> None:
    data = json.loads(COUNTIES.read_text(encoding="utf-8"))
    grown = data["features"][0]
    grown["geometry"] = mapping(shapely.buffer(shape(grown["geometry"]), 0.05))
    path = tmp_path / "bad.geojson"
    path.write_text(json.dumps(data, ensure_ascii=False), encoding="utf-8")
    result = _cli(database_url, "load", str(path), "--level", "county", "--activate")
    assert result.returncode == 2
    assert "overlap" in result.stderr and grown["properties"]["adcode"] in result.stderr
    assert "nothing was loaded" in result.stderr
