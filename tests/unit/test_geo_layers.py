"""tools.demo_layers and the code helpers in geo.areas, on the real Nanning tables.

The layers are built once per session (about 3 s) and cached in the session's temp directory, which
test_geo_hierarchy.py reuses. Expected counts come from the CSV files themselves, not from the
generator's output.
"""

from __future__ import annotations

import csv
import json
from collections import Counter, defaultdict
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import shapely
from pyproj import Transformer

import geo
from geo.areas import (
    LEVELS,
    Township,
    Village,
    code_prefix,
    code_within,
    map_villages,
    read_townships,
    read_villages,
    short_forms,
)
from geo.features import AreaShape, CountyShape, parse_geojson_text
from tools import demo_layers
from tools.demo_layers import (
    build_demo_layers,
    from_geojson,
    generate_communities,
    generate_grids,
    generate_townships,
    load_or_build_demo_layers,
    to_geojson,
)

DATA = Path(geo.__file__).resolve().parent / "data"
REL = 1e-9  # the tiling tolerance, relative to the parent's area
Layers = dict[str, list[AreaShape]]


def csv_rows(name: str) -> list[dict[str, str]]:
    with (DATA / name).open(encoding="utf-8", newline="") as fh:
        return list(csv.DictReader(fh))


def counties() -> list[CountyShape]:
    return parse_geojson_text((DATA / "nanning_districts.geojson").read_text(encoding="utf-8"))


@pytest.fixture(scope="session")
def cache_dir(work_dir: Path) -> Path:
    # The cache the test databases' template is seeded from (tests/conftest.py): the layers are built once.
    return work_dir / "geo-cache"


@pytest.fixture(scope="session")
def layers(cache_dir: Path) -> Layers:
    return load_or_build_demo_layers(cache_dir)


def by_parent(shapes: Sequence[AreaShape]) -> dict[str | None, list[AreaShape]]:
    groups: dict[str | None, list[AreaShape]] = defaultdict(list)
    for s in shapes:
        groups[s.parent_code].append(s)
    return groups


def assert_tiles(parent: Any, children: Sequence[AreaShape], what: str) -> None:
    """Union == parent and no overlaps (sum of areas == union area), both within REL."""
    geoms = [c.geometry for c in children]
    union = shapely.union_all(geoms)
    area = parent.area
    assert abs(union.area - area) <= REL * area, f"{what}: union differs from parent"
    assert shapely.symmetric_difference(union, parent).area <= REL * area, f"{what}: union is not the parent"
    assert abs(sum(g.area for g in geoms) - union.area) <= REL * area, f"{what}: pieces overlap"


# ---- geo.areas --------------------------------------------------------------------------------


def test_levels_and_grid_codes() -> None:
    assert LEVELS == ("city", "county", "township", "community", "grid")
    assert code_prefix("450103001003007") == "450103001003007"
    assert code_within("450103001003007", "450103001003")
    assert code_within("450103001003007", "450100")
    assert not code_within("450103001003007", "450103002")
    with pytest.raises(ValueError):
        code_prefix("4501030010030")  # 13 digits


@pytest.mark.parametrize(("name", "level", "forms"), [
    ("新竹街道", "township", ("新竹",)),
    ("五塘镇", "township", ("五塘",)),
    ("古寨瑶族乡", "township", ("古寨乡", "古寨")),
    ("兴宁社区居委会", "community", ("兴宁社区", "兴宁")),
    ("白合华侨社区居民委员会", "community", ("白合华侨社区", "白合华侨")),
    ("那马村委会", "community", ("那马村", "那马")),
    ("里建农场生活区", "community", ("里建农场",)),
    ("青秀山虚拟社区", "community", ()),
    ("兴宁区", "county", ("兴宁",)),
    ("横州市", "district", ("横州",)),
    ("南宁市", "city", ("南宁",)),
    ("横县", "county", ()),  # a one-character stem would match far too much text
    ("兴宁社区居委会第1网格", "grid", ()),
])
def test_short_forms(name: str, level: str, forms: tuple[str, ...]) -> None:
    assert short_forms(name, level) == forms


def test_read_tables_match_csv() -> None:
    assert [t.code for t in read_townships()] == [r["code9"] for r in csv_rows("nanning_townships_mca_20251231.csv")]
    assert len(read_villages()) == len(csv_rows("nanning_villages_nbs2023.csv")) == 1856


def test_village_mapping_rules_and_counts() -> None:
    villages, townships = read_villages(), read_townships()
    mapping, rules = map_villages(villages, townships)
    mca = {t.code: t for t in townships}
    nbs = {r["code9"]: r for r in csv_rows("nanning_townships_nbs2023.csv")}
    same_code = sum(v.township_code in mca for v in villages)
    same_name = sum(v.township_code not in mca and any(
        t.name == v.township_name and t.county_code == v.county_code for t in townships) for v in villages)
    assert rules == Counter(same_code=1765, same_name=54, name_hint=3, fallback=34)
    assert (rules["same_code"], rules["same_name"]) == (same_code, same_name)
    assert all(mca[mapping[v.code]].county_code == v.county_code for v in villages)
    # Renumbered towns keep their villages: 兴宁区 五塘镇 102 -> 107, 横州市 马山镇 118 -> 116.
    assert {mapping[v.code] for v in villages if v.township_code == "450102102"} == {"450102107"}
    assert {mapping[v.code] for v in villages if v.township_code == "450181118"} == {"450181116"}
    # Statistics-only units: the name hint, else the county's first township.
    assert nbs["450181400"]["name"] == "南宁六景工业园区"
    assert mapping["450181400498"] == "450181108"  # 六景镇
    assert mapping["450110451503"] == "450110104"  # 宁武农场生活区 -> 宁武镇
    assert mapping["450103400001"] == "450103001"  # 仙葫经济开发区: fallback to 新竹街道


def test_village_in_county_without_townships_raises() -> None:
    with pytest.raises(ValueError):
        map_villages([Village("450199001001", "x村委会", "450199001", "x镇", "450199")], read_townships())


# ---- generated layers -------------------------------------------------------------------------


def test_counts_and_codes(layers: Layers) -> None:
    assert list(layers) == list(LEVELS)
    assert [len(layers[k]) for k in ("city", "county", "township", "community")] == [1, 12, 127, 1856]
    assert 15_000 <= len(layers["grid"]) <= 40_000
    mca = [r["code9"] for r in csv_rows("nanning_townships_mca_20251231.csv")]
    townships = [t.code for t in layers["township"]]
    assert sorted(townships) == sorted(mca) and len(set(townships)) == len(mca) == 127
    communities = sorted(c.code for c in layers["community"])
    assert communities == sorted(r["code12"] for r in csv_rows("nanning_villages_nbs2023.csv"))
    for level in LEVELS:
        codes = [s.code for s in layers[level]]
        assert len(codes) == len(set(codes)), level


def test_parents_and_grid_numbering(layers: Layers) -> None:
    for upper, lower in zip(LEVELS, LEVELS[1:], strict=False):
        known = {s.code for s in layers[upper]}
        assert all(s.parent_code in known for s in layers[lower]), lower
    townships = {t.code: t for t in layers["township"]}
    assert all(code_within(t.code, t.parent_code or "") for t in townships.values())
    for code, grids in by_parent(layers["grid"]).items():
        assert code is not None
        assert [g.code for g in grids] == [f"{code}{k:03d}" for k in range(1, len(grids) + 1)]


def test_synthetic_flags_and_names(layers: Layers) -> None:
    assert not layers["city"][0].synthetic and not any(c.synthetic for c in layers["county"])
    assert all(s.synthetic for level in ("township", "community", "grid") for s in layers[level])
    names = {r["code9"]: r["name"] for r in csv_rows("nanning_townships_mca_20251231.csv")}
    assert all(t.name == names[t.code] and t.short_names == short_forms(t.name, "township") for t in layers["township"])
    xinzhu = next(t for t in layers["township"] if t.code == "450103001")
    assert (xinzhu.name, xinzhu.short_names) == ("新竹街道", ("新竹",))


def test_townships_tile_every_county_exactly(layers: Layers) -> None:
    groups = by_parent(layers["township"])
    for county in counties():
        assert_tiles(county.geometry, groups[county.area.code], county.area.code)


def test_communities_tile_every_township_exactly(layers: Layers) -> None:
    groups = by_parent(layers["community"])
    for township in layers["township"]:
        assert_tiles(township.geometry, groups[township.code], township.code)


def test_grids_tile_every_community_exactly(layers: Layers) -> None:
    groups = by_parent(layers["grid"])
    for community in layers["community"]:
        assert_tiles(community.geometry, groups[community.code], community.code)


def test_city_is_union_of_counties(layers: Layers) -> None:
    assert_tiles(layers["city"][0].geometry, layers["county"], "city")


def test_geometries_valid_in_lonlat_and_metres(layers: Layers) -> None:
    # geo.validate measures in EPSG:4545: a polygon valid in degrees but self-intersecting once
    # projected (a hair-thin spike) would fail there.
    to_m = Transformer.from_crs("EPSG:4326", "EPSG:4545", always_xy=True)
    for level in ("township", "community", "grid"):
        geoms = np.array([s.geometry for s in layers[level]], dtype=object)
        assert shapely.is_valid(geoms).all() and not shapely.is_empty(geoms).any(), level
        metric = shapely.transform(geoms, lambda xy: np.column_stack(to_m.transform(xy[:, 0], xy[:, 1])))
        assert shapely.is_valid(metric).all(), level


def test_cache_round_trip_and_determinism(layers: Layers, cache_dir: Path) -> None:
    # `layers` is the session's first build, or what it cached (the template database may have come first).
    # A build now must give the same bytes as both.
    fresh = build_demo_layers()
    cached = load_or_build_demo_layers(cache_dir)
    assert len(list(cache_dir.glob("demo_layers_*.json"))) == 1
    for level in LEVELS:
        assert [s.code for s in fresh[level]] == [s.code for s in cached[level]] == [s.code for s in layers[level]]
        wkb = [shapely.to_wkb(np.array([s.geometry for s in x[level]], dtype=object)).tolist()
               for x in (layers, fresh, cached)]
        assert wkb[0] == wkb[1] == wkb[2], level
        assert [(s.name, s.parent_code, s.short_names, s.synthetic) for s in fresh[level]] == [
            (s.name, s.parent_code, s.short_names, s.synthetic) for s in cached[level]]
    meta = json.loads(next(cache_dir.glob("demo_layers_*.json")).read_text(encoding="utf-8"))
    assert "SYNTHETIC" in meta["note"] and meta["generated_by"].startswith("tools.demo_layers")


def test_damaged_cache_is_rebuilt(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    tiny = {"county": [AreaShape("450102", "兴宁区", "county", "450100", ("兴宁",), shapely.box(0, 0, 1, 1), False)]}
    monkeypatch.setattr(demo_layers, "build_demo_layers", lambda: tiny)
    (tmp_path / "demo_layers_0ld.json").write_text("{}", encoding="utf-8")  # another key: replaced
    first = load_or_build_demo_layers(tmp_path)
    (path,) = tmp_path.glob("demo_layers_*.json")
    path.write_text("{not json", encoding="utf-8")
    assert load_or_build_demo_layers(tmp_path) == first == tiny
    assert json.loads(path.read_text(encoding="utf-8"))["layers"]["county"]["code"] == ["450102"]
    blocker = tmp_path / "a-file"
    blocker.write_text("", encoding="utf-8")
    with pytest.warns(RuntimeWarning, match="not cached"):
        assert load_or_build_demo_layers(blocker / "cache") == tiny


def test_geojson_round_trip(layers: Layers) -> None:
    shapes = layers["county"][:2] + layers["township"][:5] + layers["community"][:5] + layers["grid"][:5]
    data = json.loads(json.dumps(to_geojson(shapes), ensure_ascii=False))
    assert "SYNTHETIC" in data["metadata"]["note"] and data["metadata"]["generated_by"]
    assert {f["properties"]["synthetic"] for f in data["features"]} == {False, True}
    back = from_geojson(data)
    assert [(s.code, s.name, s.level, s.parent_code, s.short_names, s.synthetic) for s in back] == [
        (s.code, s.name, s.level, s.parent_code, s.short_names, s.synthetic) for s in shapes]
    assert all(shapely.equals_exact(a.geometry, b.geometry, 0.0) for a, b in zip(back, shapes, strict=True))
    with pytest.raises(ValueError):
        from_geojson({"type": "FeatureCollection", "features": [
            {"type": "Feature", "geometry": {"type": "Point", "coordinates": [108, 22]},
             "properties": {"code": "1", "name": "x", "level": "grid"}}]})


def test_county_without_townships_and_township_without_villages() -> None:
    county = next(c for c in counties() if c.area.code == "450109")
    only = [Township("450102001", "民生街道", "450102")]  # none for 邕宁区
    (whole,) = generate_townships([county], only)
    assert (whole.code, whole.name, whole.parent_code, whole.synthetic) == ("450109000", "邕宁区", "450109", True)
    assert whole.geometry.equals(county.geometry)
    two = generate_townships([county], [Township("450109100", "蒲庙镇", "450109"),
                                        Township("450109101", "那楼镇", "450109")])
    assert_tiles(county.geometry, two, "two townships")
    villages = [Village("450109100001", "a社区居委会", "450109100", "蒲庙镇", "450109")]
    communities = generate_communities(two, villages)
    assert [c.code for c in communities] == ["450109100001", "450109101000"]
    assert communities[1].geometry.equals(two[1].geometry) and communities[1].short_names == ()
    grids = generate_grids(communities[:1])
    assert_tiles(communities[0].geometry, grids, "grids")
