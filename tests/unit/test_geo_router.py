"""tools.router and geo.areas on the real Nanning boundary data.

The expected answers come from the fixture (GeoNames, hand-labelled) or are
derived from the boundary data in the test itself. None is hard-coded from
the router's own output.
"""

from __future__ import annotations

import csv
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely
from pyproj import Geod, Transformer
from shapely.geometry import Point, shape

import geo
from geo.areas import NANNING, code_prefix, code_within
from geo.crs import Crs, from_wgs84
from geo.features import parse_feature_collection
from tools.router import CountyRouter, Placement

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "nanning_geonames_points.csv"
DATA = Path(geo.__file__).resolve().parent / "data" / "nanning_districts.geojson"
ROUTER = CountyRouter.nanning()
# The test's own metric frame. The router uses the same CRS. The geodesic
# checks below keep both honest.
TO_M = Transformer.from_crs("EPSG:4490", "EPSG:4545", always_xy=True)
TO_DEG = Transformer.from_crs("EPSG:4545", "EPSG:4490", always_xy=True)
GEOD = Geod(ellps="GRS80")


def geonames_rows() -> list[dict[str, str]]:
    with FIXTURE.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def county_shape(code: str) -> Any:
    return shape(ROUTER.geometry_geojson(code))


def to_metric(geom: Any) -> Any:
    return shapely.transform(geom, lambda xy: np.column_stack(TO_M.transform(xy[:, 0], xy[:, 1])))


# ---- areas ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "prefix"),
    [("450100", "4501"), ("450000", "45"), ("450103", "450103"), ("451000", "4510"),
     ("450103001", "450103001"), ("450103001000", "450103001000")],
)
def test_code_prefix(code: str, prefix: str) -> None:
    assert code_prefix(code) == prefix


@pytest.mark.parametrize(
    ("code", "ancestor", "expected"),
    [("450103001", "450100", True), ("450102", "450103", False), ("450103", "450103", True),
     ("450103", "450000", True), ("450100", "450100", True), ("450103001002", "450103001", True),
     ("450103", "450103001", False), ("451002", "450100", False), ("450201", "450100", False)],
)
def test_code_within(code: str, ancestor: str, expected: bool) -> None:
    assert code_within(code, ancestor) is expected


@pytest.mark.parametrize("bad", ["", "4501", "45010", "4501000", "45010a", "４５０１００", "450100 "])
def test_invalid_codes_raise(bad: str) -> None:
    with pytest.raises(ValueError):
        code_prefix(bad)
    with pytest.raises(ValueError):
        code_within(bad, "450100")


def test_nanning_constant_and_counties() -> None:
    assert (NANNING.code, NANNING.name, NANNING.level, NANNING.parent_code) == ("450100", "南宁市", "city", "450000")
    counties = ROUTER.counties()
    assert len(counties) == 12
    assert [a.code for a in counties] == sorted(a.code for a in counties)
    assert all(code_within(a.code, NANNING.code) and a.parent_code == NANNING.code for a in counties)
    names = {code: getattr(ROUTER.county(code), "name", None) for code in ("450103", "450181", "999999")}
    assert names == {"450103": "青秀区", "450181": "横州市", "999999": None}


# ---- known points -------------------------------------------------------------


@pytest.mark.parametrize("crs", list(Crs))
@pytest.mark.parametrize("row", geonames_rows(), ids=lambda r: r["name"])
def test_geonames_points_route_to_expected_county(row: dict[str, str], crs: Crs) -> None:
    lng, lat = from_wgs84(float(row["lng"]), float(row["lat"]), crs)
    placement = ROUTER.locate(lng, lat, crs)
    assert placement.inside and not placement.near_boundary and placement.distance_m == 0.0
    assert placement.county is not None
    assert placement.county.code == row["expected_county_adcode"]


def test_fixture_has_all_counties_and_city_centre() -> None:
    rows = geonames_rows()
    assert len(rows) == 13
    assert {r["expected_county_adcode"] for r in rows} == {a.code for a in ROUTER.counties()}
    assert next(r for r in rows if r["name"] == "Nanning")["expected_county_adcode"] == "450102"


# ---- borders -------------------------------------------------------------------


def shared_vertex(code_a: str, code_b: str) -> tuple[float, float]:
    a = set(map(tuple, shapely.get_coordinates(county_shape(code_a)).tolist()))
    b = set(map(tuple, shapely.get_coordinates(county_shape(code_b)).tolist()))
    shared = sorted(a & b)
    assert shared, f"{code_a} and {code_b} share no vertex"
    return shared[len(shared) // 2]


def test_shared_border_vertex_is_covered_lowest_code_wins() -> None:
    lng, lat = shared_vertex("450103", "450102")
    point = Point(lng, lat)
    assert county_shape("450103").covers(point) and county_shape("450102").covers(point)
    placement = ROUTER.locate(lng, lat)
    assert placement == Placement(True, False, ROUTER.county("450102"), 0.0)
    # The tie-break must not depend on the order of the features in the file.
    shapes = parse_feature_collection(json.loads(DATA.read_text(encoding="utf-8")))
    assert CountyRouter(list(reversed(shapes))).locate(lng, lat) == placement


def outward_point(offset_m: float) -> tuple[float, float, float, str]:
    """Walk ``offset_m`` outward from the middle of the city's longest outer edge.

    Returns (lng, lat, true distance in metres to the city, nearest county code).
    Everything is derived from the data.
    """
    city_m = to_metric(shapely.union_all([county_shape(a.code) for a in ROUTER.counties()]))
    ring = np.asarray(max(shapely.get_parts(city_m), key=lambda p: p.area).exterior.coords)
    i = int(np.argmax(np.hypot(*np.diff(ring, axis=0).T)))
    (x0, y0), (x1, y1) = ring[i], ring[i + 1]
    mid = np.array([(x0 + x1) / 2, (y0 + y1) / 2])
    normal = np.array([y1 - y0, x0 - x1]) / math.hypot(x1 - x0, y1 - y0)
    if city_m.covers(Point(*(mid + normal))):
        normal = -normal
    px, py = mid + offset_m * normal
    true_m = city_m.distance(Point(px, py))
    by_county = {a.code: to_metric(county_shape(a.code)).distance(Point(px, py)) for a in ROUTER.counties()}
    lng, lat = TO_DEG.transform(px, py)
    # Independent of any projection: the geodesic length of the walk.
    mid_lng, mid_lat = TO_DEG.transform(*mid)
    assert GEOD.inv(lng, lat, mid_lng, mid_lat)[2] == pytest.approx(offset_m, rel=2e-3)
    return lng, lat, true_m, min(by_county, key=lambda c: (by_county[c], c))


def test_point_100m_outside_is_near_boundary() -> None:
    lng, lat, true_m, nearest = outward_point(100.0)
    assert 50.0 < true_m <= 100.0 + 1e-6
    placement = ROUTER.locate(lng, lat)
    assert placement.inside and placement.near_boundary
    assert placement.county == ROUTER.county(nearest)
    assert placement.distance_m == pytest.approx(true_m, rel=1e-6)


def test_point_5km_outside_is_outside() -> None:
    lng, lat, true_m, _ = outward_point(5000.0)
    assert true_m > 1000.0
    placement = ROUTER.locate(lng, lat)
    assert placement == Placement(False, False, None, placement.distance_m)
    assert placement.distance_m == pytest.approx(true_m, rel=1e-6)


def test_near_boundary_threshold_is_configurable() -> None:
    lng, lat, _, _ = outward_point(100.0)
    assert not CountyRouter.nanning(near_boundary_m=50.0).locate(lng, lat).inside


def test_far_away_point_has_geodesic_distance() -> None:
    # Beijing lies 1,800+ km away, beyond the Gauss-Kruger zone. The distance
    # must still be a geodesic of the right size, not a projection artefact.
    placement = ROUTER.locate(116.3975, 39.9087)
    x0, y0, x1, y1 = ROUTER.bounds
    corners = [GEOD.inv(116.3975, 39.9087, x, y)[2] for x in (x0, x1) for y in (y0, y1)]
    assert not placement.inside and placement.county is None
    assert min(corners) - 300_000 < placement.distance_m <= max(corners)


# ---- batch ------------------------------------------------------------------------


def random_points(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    x0, y0, x1, y1 = ROUTER.bounds
    rng = np.random.default_rng(seed)
    # A 0.05-degree (about 5 km) margin puts some points just outside, so the
    # near-boundary and outside paths are exercised too.
    return rng.uniform(x0 - 0.05, x1 + 0.05, n), rng.uniform(y0 - 0.05, y1 + 0.05, n)


def test_locate_many_agrees_with_locate() -> None:
    lngs, lats = random_points(3000, seed=20240611)
    batch = ROUTER.locate_many(lngs, lats)
    single = [ROUTER.locate(x, y) for x, y in zip(lngs.tolist(), lats.tolist(), strict=True)]
    assert batch == single
    kinds = {(p.inside, p.near_boundary) for p in batch}
    assert kinds == {(True, False), (True, True), (False, False)}


@pytest.mark.parametrize("crs", [Crs.GCJ02, Crs.BD09])
def test_locate_many_agrees_with_locate_in_other_crs(crs: Crs) -> None:
    lngs, lats = random_points(300, seed=7)
    converted = np.array([from_wgs84(x, y, crs) for x, y in zip(lngs.tolist(), lats.tolist(), strict=True)])
    batch = ROUTER.locate_many(converted[:, 0], converted[:, 1], crs)
    assert batch == [ROUTER.locate(x, y, crs) for x, y in converted.tolist()]
    # The datum round trip is exact only to about 1e-12 degrees, so distances may
    # differ in the last digits.
    direct = ROUTER.locate_many(lngs, lats)
    assert [(p.inside, p.near_boundary, p.county) for p in batch] == [
        (p.inside, p.near_boundary, p.county) for p in direct]
    assert [p.distance_m for p in batch] == pytest.approx([p.distance_m for p in direct], abs=1e-6)


def test_locate_many_empty_and_shapes() -> None:
    assert ROUTER.locate_many(np.array([]), np.array([])) == []
    with pytest.raises(ValueError):
        ROUTER.locate_many(np.array([108.3, 108.4]), np.array([22.8]))
    with pytest.raises(ValueError):
        ROUTER.locate_many(np.array([[108.3]]), np.array([[22.8]]))


# ---- validation and metadata --------------------------------------------------------


@pytest.mark.parametrize(("lng", "lat"), [(math.nan, 22.8), (108.3, math.inf), (181.0, 22.8), (108.3, -91.0)])
def test_invalid_coordinates_raise(lng: float, lat: float) -> None:
    with pytest.raises(ValueError):
        ROUTER.locate(lng, lat)
    with pytest.raises(ValueError):
        ROUTER.locate_many(np.array([108.3, lng]), np.array([22.8, lat]))


def test_constructor_validation() -> None:
    with pytest.raises(ValueError):
        CountyRouter([])
    with pytest.raises(ValueError):
        CountyRouter.nanning(near_boundary_m=-1.0)


def test_feature_parser_rejects_bad_input() -> None:
    square = {"type": "Polygon", "coordinates": [[[0, 0], [1, 0], [1, 1], [0, 1], [0, 0]]]}
    bowtie = {"type": "Polygon", "coordinates": [[[0, 0], [1, 1], [1, 0], [0, 1], [0, 0]]]}

    def fc(*geoms: dict[str, Any], crs: str | None = None, codes: tuple[str, ...] = ("450102", "450103")) -> Any:
        out: dict[str, Any] = {"type": "FeatureCollection", "features": [
            {"type": "Feature", "properties": {"adcode": c, "name": c}, "geometry": g}
            for c, g in zip(codes, geoms, strict=False)]}
        if crs:
            out["crs"] = {"type": "name", "properties": {"name": crs}}
        return out

    assert len(parse_feature_collection(fc(square, crs="urn:ogc:def:crs:EPSG::4490"))) == 1
    for bad in (fc(square, crs="urn:ogc:def:crs:EPSG::3857"), fc(bowtie), fc(square, square, codes=("450102",) * 2),
                fc(), fc({"type": "Point", "coordinates": [0, 0]}), fc(square, codes=("4501",)), {"type": "Feature"}):
        with pytest.raises(ValueError):
            parse_feature_collection(bad)


def test_geometry_geojson_is_rfc7946_and_matches_data() -> None:
    geometry = ROUTER.geometry_geojson("450103")
    assert geometry["type"] == "MultiPolygon"
    polygon = shape(geometry)
    assert all(p.exterior.is_ccw for p in shapely.get_parts(polygon))
    source = json.loads(DATA.read_text(encoding="utf-8"))["features"]
    assert polygon.equals(shape(next(f for f in source if f["properties"]["adcode"] == "450103")["geometry"]))
    with pytest.raises(KeyError):
        ROUTER.geometry_geojson("999999")


def test_from_geojson_matches_nanning() -> None:
    assert CountyRouter.from_geojson(DATA).counties() == ROUTER.counties()
    x0, y0, x1, y1 = ROUTER.bounds
    assert 107.0 < x0 < x1 < 110.0 and 22.0 < y0 < y1 < 24.5
