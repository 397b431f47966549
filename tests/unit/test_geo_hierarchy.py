"""geo.hierarchy.JurisdictionIndex on the generated Nanning layers.

Expected answers come from the GeoNames fixture (hand-labelled counties), from CountyRouter, or from
brute-force shapely queries in the test itself, never from the index's own output.
"""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely
from pyproj import Transformer

from geo.areas import LEVELS, code_within
from geo.features import AreaShape
from geo.hierarchy import JurisdictionIndex, Located
from tools.demo_layers import load_or_build_demo_layers
from tools.router import CountyRouter

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "nanning_geonames_points.csv"
TO_M = Transformer.from_crs("EPSG:4490", "EPSG:4545", always_xy=True)
TO_DEG = Transformer.from_crs("EPSG:4545", "EPSG:4490", always_xy=True)
ROUTER = CountyRouter.nanning()
Layers = dict[str, list[AreaShape]]


@pytest.fixture(scope="session")
def layers(work_dir: Path) -> Layers:
    # The same cache directory as test_geo_layers.py and the template database: whichever runs first builds it.
    return load_or_build_demo_layers(work_dir / "geo-cache")


@pytest.fixture(scope="session")
def full(layers: Layers) -> JurisdictionIndex:
    return JurisdictionIndex(layers)


@pytest.fixture(scope="session")
def two_levels(layers: Layers) -> JurisdictionIndex:
    return JurisdictionIndex({"county": layers["county"], "township": layers["township"]})


def geonames_rows() -> list[dict[str, str]]:
    with FIXTURE.open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def to_metric(geom: Any) -> Any:
    return shapely.transform(geom, lambda xy: np.column_stack(TO_M.transform(xy[:, 0], xy[:, 1])))


def codes(located: Located) -> dict[str, str]:
    return {level: area.code for level, area in located.areas.items()}


def covering(layers: Layers, level: str, x: float, y: float) -> list[str]:
    point = shapely.Point(x, y)
    return sorted(s.code for s in layers[level] if s.geometry.covers(point))


def random_points(index: JurisdictionIndex, n: int, margin: float, seed: int) -> tuple[Any, Any]:
    x0, y0, x1, y1 = index.bounds
    rng = np.random.default_rng(seed)
    return rng.uniform(x0 - margin, x1 + margin, n), rng.uniform(y0 - margin, y1 + margin, n)


# ---- the GeoNames points --------------------------------------------------------------------------


@pytest.mark.parametrize("row", geonames_rows(), ids=lambda r: r["name"])
def test_geonames_points_reach_the_grid_in_their_county(full: JurisdictionIndex, row: dict[str, str]) -> None:
    located = full.locate(float(row["lng"]), float(row["lat"]))
    county = row["expected_county_adcode"]
    assert located.inside and not located.near_boundary and located.distance_m == 0.0
    assert tuple(located.areas) == LEVELS
    assert located.areas["county"].code == county
    assert located.areas["township"].code.startswith(county)
    assert located.deepest is not None and located.deepest.level == "grid"
    chain = list(located.areas.values())
    assert all(below.parent_code == above.code for above, below in zip(chain, chain[1:], strict=False))
    assert full.locate_many([float(row["lng"])], [float(row["lat"])]) == [located]


# ---- borders and neighbours -----------------------------------------------------------------------


def shared_border_point(layers: Layers, level: str) -> tuple[AreaShape, AreaShape, float, float]:
    """Two areas of ``level`` with a long shared border, and the midpoint of that border."""
    shapes = sorted(layers[level], key=lambda s: s.code)
    first = next(s for s in shapes if s.code.startswith("450103"))  # the first area in 青秀区
    for other in shapes:
        line = shapely.intersection(first.geometry.boundary, other.geometry.boundary)
        if other is not first and other.parent_code == first.parent_code and line.length > 0.01:
            longest = max(shapely.get_parts(shapely.line_merge(line)), key=lambda g: g.length)
            mid = shapely.line_interpolate_point(longest, 0.5, normalized=True)
            return first, other, mid.x, mid.y
    raise AssertionError("no shared border found")


def step_into(area: AreaShape, x: float, y: float, metres: float) -> tuple[float, float]:
    """A point ``metres`` from (x, y), inside ``area``, found by trying directions around the circle."""
    mx, my = TO_M.transform(x, y)
    inside = to_metric(area.geometry)
    for angle in np.linspace(0.0, 2 * np.pi, 72, endpoint=False):
        px, py = mx + metres * np.cos(angle), my + metres * np.sin(angle)
        if inside.contains(shapely.Point(px, py)) and inside.boundary.distance(shapely.Point(px, py)) > metres * 0.6:
            lng, lat = TO_DEG.transform(px, py)
            return float(lng), float(lat)
    raise AssertionError("no direction leads inside")


def test_point_near_internal_township_border_reports_neighbour(layers: Layers, two_levels: JurisdictionIndex,
                                                               full: JurisdictionIndex) -> None:
    a, b, x, y = shared_border_point(layers, "township")
    lng, lat = step_into(b, x, y, 80.0)  # 80 m inside b, so a is within 200 m
    located = two_levels.locate(lng, lat)
    assert two_levels.neighbour_level == "township"
    assert located.areas["township"].code == b.code
    assert a.code in [n.code for n in located.neighbours]
    assert all(n.level == "township" and n.code != b.code for n in located.neighbours)
    # With all five levels the neighbour level is the community: one of a's communities is near.
    deep = full.locate(lng, lat)
    assert full.neighbour_level == "community" and deep.areas["township"].code == b.code
    assert a.code in [n.parent_code for n in deep.neighbours]
    # Far from every border there is nobody to suggest.
    centre = shapely.maximum_inscribed_circle(b.geometry)
    inner = shapely.get_point(centre, 0)
    assert two_levels.locate(inner.x, inner.y).neighbours == ()


def test_point_on_shared_border_lowest_code_wins(layers: Layers, two_levels: JurisdictionIndex,
                                                 full: JurisdictionIndex) -> None:
    a, b, _, _ = shared_border_point(layers, "township")
    # A vertex both townships have: exactly on the border, whatever the rounding.
    va = set(map(tuple, shapely.get_coordinates(a.geometry).tolist()))
    vb = set(map(tuple, shapely.get_coordinates(b.geometry).tolist()))
    x, y = sorted(va & vb)[0]
    assert covering(layers, "township", x, y) == sorted([a.code, b.code])
    low, high = sorted([a.code, b.code])
    located = two_levels.locate(x, y)
    assert located.areas["township"].code == low and high in [n.code for n in located.neighbours]
    # Neighbours are exactly the other townships within 200 m, measured here by brute force.
    point = shapely.Point(TO_M.transform(x, y))
    near = sorted(t.code for t in layers["township"] if to_metric(t.geometry).distance(point) <= 200.0)
    assert [n.code for n in located.neighbours] == [c for c in near if c != low]
    assert full.locate(x, y).areas["township"].code == low


def test_located_chain_matches_brute_force(layers: Layers, full: JurisdictionIndex) -> None:
    lngs, lats = random_points(full, 300, 0.0, seed=11)
    for x, y in zip(lngs.tolist(), lats.tolist(), strict=True):
        located = full.locate(x, y)
        if not located.inside or located.near_boundary:
            continue
        for level in LEVELS:
            hits = covering(layers, level, x, y)
            assert codes(located).get(level) == (hits[0] if hits else None), (x, y, level)


# ---- outside the city -----------------------------------------------------------------------------


def outside_point(code: str, metres: float) -> tuple[float, float]:
    """A point about ``metres`` outside the city next to county ``code``: within 1 m of it when
    ``metres`` is small, at least a fifth of it for a long step (the border is not straight)."""
    city_m = to_metric(shapely.union_all([shapely.geometry.shape(ROUTER.geometry_geojson(c.code))
                                          for c in ROUTER.counties()]))
    county_m = to_metric(shapely.geometry.shape(ROUTER.geometry_geojson(code)))
    edge = shapely.intersection(county_m.boundary, city_m.boundary)
    for t in np.linspace(0.05, 0.95, 19):
        p = shapely.line_interpolate_point(edge, t, normalized=True)
        for angle in np.linspace(0.0, 2 * np.pi, 36, endpoint=False):
            q = shapely.Point(p.x + metres * np.cos(angle), p.y + metres * np.sin(angle))
            gap = city_m.distance(q)
            if abs(gap - metres) < 1.0 or (metres > 1_000.0 and gap > metres / 5):
                lng, lat = TO_DEG.transform(q.x, q.y)
                return float(lng), float(lat)
    raise AssertionError("no outside point found")


def test_outside_points_behave_like_county_router(full: JurisdictionIndex) -> None:
    lng, lat = outside_point("450124", 100.0)
    near, router = full.locate(lng, lat), ROUTER.locate(lng, lat)
    assert near.inside and near.near_boundary and router.near_boundary
    assert router.county is not None and near.areas["county"].code == router.county.code
    assert tuple(near.areas) == LEVELS and near.distance_m == pytest.approx(100.0, abs=1.0)
    chain = list(near.areas.values())
    assert all(below.parent_code == above.code for above, below in zip(chain, chain[1:], strict=False))
    lng, lat = outside_point("450124", 5_000.0)
    far = full.locate(lng, lat)
    assert (far.inside, far.near_boundary, dict(far.areas), far.neighbours) == (False, False, {}, ())
    assert far.distance_m == pytest.approx(ROUTER.locate(lng, lat).distance_m, rel=1e-9)
    beijing = full.locate(116.3975, 39.9087)
    assert not beijing.inside and beijing.distance_m == pytest.approx(ROUTER.locate(116.3975, 39.9087).distance_m)


def test_county_only_index_agrees_with_county_router(layers: Layers) -> None:
    index = JurisdictionIndex({"county": layers["county"]})
    assert index.levels == ("county",) and index.neighbour_level == "county"
    lngs, lats = random_points(index, 3_000, 0.05, seed=3)
    for got, want in zip(index.locate_many(lngs, lats), ROUTER.locate_many(lngs, lats), strict=True):
        assert (got.inside, got.near_boundary) == (want.inside, want.near_boundary)
        assert codes(got).get("county") == (None if want.county is None else want.county.code)
        assert got.distance_m == pytest.approx(want.distance_m, rel=1e-9, abs=1e-9)


# ---- batches and metadata -------------------------------------------------------------------------


def test_locate_many_equals_locate(full: JurisdictionIndex, two_levels: JurisdictionIndex) -> None:
    lngs, lats = random_points(full, 4_000, 0.02, seed=7)
    for index in (full, two_levels):
        batch = index.locate_many(lngs, lats)
        assert batch == [index.locate(x, y) for x, y in zip(lngs.tolist(), lats.tolist(), strict=True)]
    kinds = {(p.inside, p.near_boundary, bool(p.neighbours)) for p in full.locate_many(lngs, lats)}
    assert {(True, False, False), (True, False, True), (False, False, False)} <= kinds


def test_locate_many_input_checks(full: JurisdictionIndex) -> None:
    assert full.locate_many(np.array([]), np.array([])) == []
    with pytest.raises(ValueError):
        full.locate_many(np.array([108.3, 108.4]), np.array([22.8]))
    with pytest.raises(ValueError):
        full.locate_many(np.array([108.3, np.nan]), np.array([22.8, 22.8]))
    with pytest.raises(ValueError):
        full.locate(200.0, 22.8)


def test_children_area_and_bounds(layers: Layers, full: JurisdictionIndex) -> None:
    qingxiu = [a.code for a in full.children("450103", "township")]
    assert qingxiu == sorted(t.code for t in layers["township"] if t.parent_code == "450103") and len(qingxiu) == 9
    assert len(full.children(None, "county")) == 12 and len(full.children("450100", "township")) == 127
    communities = full.children("450103001", "community")
    assert communities and all(c.parent_code == "450103001" for c in communities)
    grids = full.children("450103", "grid")
    assert grids and all(code_within(g.parent_code or "", "450100") for g in grids)
    assert full.children("450103001", "county") == [] and full.children("nope", "grid") == []
    shape = full.area("450103001")
    assert shape is not None and shape.name == "新竹街道" and full.area("999999") is None
    assert full.bounds == pytest.approx(ROUTER.bounds)


def test_bad_layers_are_refused(layers: Layers) -> None:
    with pytest.raises(ValueError):
        JurisdictionIndex({})
    with pytest.raises(ValueError):
        JurisdictionIndex({"district": layers["county"]})
    with pytest.raises(ValueError):
        JurisdictionIndex({"county": layers["county"] + layers["county"][:1]})
    with pytest.raises(ValueError):
        JurisdictionIndex({"county": layers["county"]}, near_boundary_m=-1.0)
