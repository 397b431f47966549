"""Deterministic demo layers below the county: townships, communities/villages and unit grids.

No public township, community or grid polygons exist for Nanning, so the demo makes them up: one
Voronoi cell per real township inside its real county, one per NBS community inside its township,
and a square lattice of grids inside each community. Codes and names are real; every generated
geometry has ``synthetic=True`` and every file we write says so in its metadata.

Exact tiling: cells are built in a metric CRS (EPSG:4545) where Voronoi/lattice shapes make sense,
moved back to lon/lat vertex by vertex, and only then clipped against the parent's *original*
lon/lat polygon. Neighbouring cells share their vertices exactly, so the clipped pieces union back
to the parent. Detached bits and slivers are merged into the neighbour with the longest shared edge.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sys
import tempfile
import warnings
from collections import defaultdict
from collections.abc import Mapping, Sequence
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np
import shapely
from numpy.typing import NDArray
from pyproj import Transformer
from shapely.geometry import MultiPolygon, Polygon, mapping, shape
from shapely.geometry.base import BaseGeometry

from geo.areas import LEVELS, NANNING, Township, Village, map_villages, read_townships, read_villages, short_forms
from geo.features import AreaShape, CountyShape, parse_geojson_text

__all__ = [
    "GENERATOR_VERSION", "build_demo_layers", "from_geojson", "generate_communities",
    "generate_grids", "generate_townships", "load_or_build_demo_layers", "to_geojson",
]

GENERATOR_VERSION = "1"
NOTE = ("Township, community and grid polygons are SYNTHETIC demo data (Voronoi cells and lattice grids "
        "around generated seed points), not official boundaries. Codes and names are real (MCA 2025, NBS "
        "2023). Features with synthetic=false come from the source boundary data.")
# GeoNames 1799869 "Nanning" (CC-BY 4.0): urban streets (街道) cluster towards it.
CITY_CENTRE = (108.31667, 22.81667)
_INPUTS = ("nanning_districts.geojson", "nanning_townships_mca_20251231.csv", "nanning_villages_nbs2023.csv")
_CORE_SHARE = 0.25  # a clustered (core) cell gets about this share of an average cell's area
_LLOYD_ROUNDS = 8  # enough for even-looking cells; each round is one Voronoi per parent
_GOLDEN = math.pi * (3.0 - math.sqrt(5.0))
_MIN_WIDTH = 1e-9  # degrees, about 0.1 mm: a leftover sliver narrower than this on average is noise

Geoms = NDArray[np.object_]
Floats = NDArray[np.float64]


# ---- metric helpers ---------------------------------------------------------------------------


def _data_bytes(name: str) -> bytes:
    """One input file from ``geo/data``."""
    return (resources.files("geo") / "data" / name).read_bytes()


@cache
def _transformer(inverse: bool) -> Transformer:
    # Built on first use, not at import: pyproj reads its database here.
    crs = ("EPSG:4545", "EPSG:4490") if inverse else ("EPSG:4490", "EPSG:4545")
    return Transformer.from_crs(*crs, always_xy=True)


def _project(geoms: Any, inverse: bool = False) -> Any:
    t = _transformer(inverse)
    return shapely.transform(geoms, lambda xy: np.column_stack(t.transform(xy[:, 0], xy[:, 1])))


def _polygonal(geom: BaseGeometry) -> list[Polygon]:
    return [p for p in shapely.get_parts(geom).tolist() if isinstance(p, Polygon) and p.area > 0.0]


def _as_area_geometry(geom: BaseGeometry) -> Polygon | MultiPolygon:
    parts = _polygonal(geom)
    return parts[0] if len(parts) == 1 else MultiPolygon(parts)


def _halton(start: int, n: int) -> Floats:
    """Points n of the 2-D Halton sequence from ``start``: even coverage, no RNG version drift."""
    out = np.zeros((n, 2))
    for col, base in enumerate((2, 3)):
        idx = np.arange(start + 1, start + n + 1, dtype=np.int64)
        f = 1.0
        while idx.any():
            f /= base
            out[:, col] += f * (idx % base)
            idx //= base
    return out


# ---- seeds and tiling -------------------------------------------------------------------------


def _anchor(container_m: BaseGeometry, toward_m: tuple[float, float] | None) -> tuple[float, float]:
    """Where clustered seeds go: the part of the container nearest ``toward`` (the city centre for
    urban streets), else the centre of its largest inscribed circle (a town seat stand-in)."""
    if toward_m is not None:
        target = shapely.Point(toward_m)
        zone = container_m.intersection(target.buffer(container_m.distance(target) + 2_000.0))
        if not zone.is_empty:
            p = zone.point_on_surface()
            return p.x, p.y
    largest = max(_polygonal(container_m), key=lambda g: g.area)
    centre = shapely.get_point(shapely.maximum_inscribed_circle(largest, 10.0), 0)
    return float(shapely.get_x(centre)), float(shapely.get_y(centre))


def _voronoi(seeds: Floats, container_m: BaseGeometry) -> Geoms:
    x0, y0, x1, y1 = container_m.bounds
    # 5 km of margin: the cells must still cover the container after the trip back to lon/lat.
    extent = shapely.box(x0 - 5_000.0, y0 - 5_000.0, x1 + 5_000.0, y1 + 5_000.0)
    cells = shapely.get_parts(shapely.voronoi_polygons(shapely.multipoints(seeds), extend_to=extent, ordered=True))
    if len(cells) != len(seeds):  # two seeds at one spot: cannot happen with distinct Halton points
        raise RuntimeError(f"Voronoi gave {len(cells)} cells for {len(seeds)} seeds")
    return cells


def _seeds(container_m: BaseGeometry, n_core: int, n_spread: int, anchor: tuple[float, float] | None,
           salt: int) -> Floats:
    """Core seeds on a sunflower spiral round the anchor, spread seeds Lloyd-relaxed around them."""
    x0, y0, x1, y1 = container_m.bounds
    core: list[tuple[float, float]] = []
    if anchor is not None and n_core:
        spacing = math.sqrt(_CORE_SHARE * container_m.area / (n_core + n_spread))
        for k in range(200 * n_core):
            r, th = spacing * math.sqrt((k + 0.5) / math.pi), k * _GOLDEN + salt
            x, y = anchor[0] + r * math.cos(th), anchor[1] + r * math.sin(th)
            if shapely.contains_xy(container_m, x, y):
                core.append((x, y))
                if len(core) == n_core:
                    break
    n_free = n_core + n_spread - len(core)
    spread = np.empty((0, 2))
    start = salt % 9_973  # different containers start at different points of the sequence
    while len(spread) < n_free:
        batch = _halton(start, 256) * [x1 - x0, y1 - y0] + [x0, y0]
        start += 256
        spread = np.vstack((spread, batch[shapely.contains_xy(container_m, batch[:, 0], batch[:, 1])]))
    fixed = np.array(core).reshape(-1, 2)
    spread = spread[:n_free]
    for _ in range(_LLOYD_ROUNDS if n_free and len(fixed) + n_free > 1 else 0):
        cells = shapely.intersection(_voronoi(np.vstack((fixed, spread)), container_m)[len(fixed):], container_m)
        moved = shapely.get_coordinates(shapely.centroid(cells))
        # A centroid of a bent cell can fall outside: then stay on the cell itself.
        outside = ~shapely.contains_xy(container_m, moved[:, 0], moved[:, 1])
        moved[outside] = shapely.get_coordinates(shapely.point_on_surface(cells[outside]))
        spread = moved
    return np.vstack((fixed, spread))


def _merge_orphans(pieces: list[BaseGeometry | None], orphans: list[Polygon]) -> None:
    """Give each orphan to the live piece sharing the longest edge with it (lowest index on ties)."""
    pending = sorted(orphans, key=lambda g: -g.area)
    while pending:
        left: list[Polygon] = []
        for orphan in pending:
            live = [i for i, p in enumerate(pieces) if p is not None]
            shared = shapely.length(shapely.intersection(orphan.boundary, [pieces[i] for i in live]))
            if shared.max(initial=0.0) > 0.0:
                best = live[int(np.argmax(shared))]
                pieces[best] = shapely.union(pieces[best], orphan)
            else:
                left.append(orphan)
        if len(left) == len(pending):  # islands touching nobody: the nearest piece takes them
            for orphan in left:
                live = [i for i, p in enumerate(pieces) if p is not None]
                best = live[int(np.argmin(shapely.distance(orphan, [pieces[i] for i in live])))]
                pieces[best] = shapely.union(pieces[best], orphan)
            return
        pending = left


def _settle(cells_ll: Geoms, container: BaseGeometry, seeds_ll: Floats | None,
            min_fraction: float = 0.0) -> list[Polygon | MultiPolygon | None]:
    """Clip cells to the container; keep one connected piece per cell (the one holding its seed, else
    the largest), drop pieces under ``min_fraction`` of their cell, and merge all the rest away."""
    clipped = shapely.intersection(cells_ll, container)
    pieces: list[BaseGeometry | None] = []
    orphans: list[Polygon] = []
    for i, piece in enumerate(clipped.tolist()):
        parts = _polygonal(piece)
        if not parts:
            pieces.append(None)
            continue
        main = max(parts, key=lambda g: g.area)
        if seeds_ll is not None:
            main = next((p for p in parts if shapely.intersects_xy(p, *seeds_ll[i])), main)
        orphans += [p for p in parts if p is not main]
        pieces.append(main)
    if min_fraction > 0.0:
        largest = max(range(len(pieces)), key=lambda i: 0.0 if pieces[i] is None else shapely.area(pieces[i]))
        for i, piece in enumerate(pieces):
            if piece is not None and i != largest and piece.area < min_fraction * cells_ll[i].area:
                orphans += _polygonal(piece)
                pieces[i] = None
    # Leftovers between the pieces. Floating-point overlay leaves hair-thin ones (about 1e-15 degrees
    # wide): they carry no area worth keeping, and merging them grows zero-width spikes that turn
    # into self-intersections once projected to metres. So only real leftovers are merged.
    gaps = _polygonal(shapely.difference(container, shapely.union_all(clipped)))
    orphans += [g for g in gaps if g.area > _MIN_WIDTH * g.length]
    _merge_orphans(pieces, orphans)
    return [None if p is None else _as_area_geometry(p) for p in pieces]


def _tile(container: Polygon | MultiPolygon, n_core: int, n_spread: int, salt: int,
          toward: tuple[float, float] | None = None) -> list[Polygon | MultiPolygon]:
    """Split a lon/lat polygon into n_core + n_spread pieces, in seed order (core first)."""
    if n_core + n_spread == 1:
        return [container]
    # Only seeds come from the metric copy, so repairing it (if the projection bent a narrow neck
    # into a self-intersection) cannot break the tiling.
    container_m = shapely.make_valid(_project(container))
    toward_m = None if toward is None else _transformer(False).transform(*toward)
    anchor = _anchor(container_m, toward_m) if n_core else None
    seeds = _seeds(container_m, n_core, n_spread, anchor, salt)
    seeds_ll = np.column_stack(_transformer(True).transform(seeds[:, 0], seeds[:, 1]))
    pieces = _settle(_project(_voronoi(seeds, container_m), inverse=True), container, seeds_ll)
    # Every seed lies inside the container, so its own cell always keeps a piece.
    return [p for p in pieces if p is not None]


# ---- the three generated levels ---------------------------------------------------------------


def generate_townships(counties: Sequence[CountyShape], townships: Sequence[Township] | None = None,
                       *, centre: tuple[float, float] = CITY_CENTRE) -> list[AreaShape]:
    """One cell per township (default: the 127 MCA 2025 codes) tiling its county exactly.

    Streets (codes ...001-099) cluster at the part of the county nearest ``centre``; towns and
    townships spread evenly. A county without township records gets one township-level area
    ``<county code>000`` covering all of it.
    """
    records = read_townships() if townships is None else townships
    by_county: dict[str, list[Township]] = defaultdict(list)
    for t in sorted(records, key=lambda t: t.code):
        by_county[t.county_code].append(t)
    out: list[AreaShape] = []
    for county in sorted(counties, key=lambda c: c.area.code):
        code, members = county.area.code, by_county.get(county.area.code, [])
        if not members:
            out.append(AreaShape(code + "000", county.area.name, "township", code,
                                 short_forms(county.area.name, "county"), county.geometry, True))
            continue
        streets = [t for t in members if t.code[6] == "0"]
        core = streets if 0 < len(streets) < len(members) else []
        ordered = core + [t for t in members if t not in core]
        pieces = _tile(county.geometry, len(core), len(members) - len(core), int(code), centre)
        out += [AreaShape(t.code, t.name, "township", code, short_forms(t.name, "township"), g, True)
                for t, g in zip(ordered, pieces, strict=True)]
    return sorted(out, key=lambda a: a.code)


def _is_urban(name: str) -> bool:
    return any(k in name for k in ("社区", "居委会", "居民委员会", "生活区"))


def generate_communities(townships: Sequence[AreaShape], villages: Sequence[Village] | None = None) -> list[AreaShape]:
    """One cell per NBS 2023 community/village tiling the township it maps to (``map_villages``).

    Communities (社区/居委会) cluster round the township's centre, villages (村委会) spread out. A
    township left without any gets one community ``<township code>000`` covering it.
    """
    records = read_villages() if villages is None else villages
    assignment, _ = map_villages(records, [Township(t.code, t.name, t.parent_code or "") for t in townships])
    members: dict[str, list[Village]] = defaultdict(list)
    for v in sorted(records, key=lambda v: v.code):
        members[assignment[v.code]].append(v)
    out: list[AreaShape] = []
    for town in sorted(townships, key=lambda t: t.code):
        group = members.get(town.code, [])
        if not group:
            out.append(AreaShape(town.code + "000", town.name, "community", town.code, (), town.geometry, True))
            continue
        urban = [v for v in group if _is_urban(v.name)]
        core = urban if 0 < len(urban) < len(group) else []
        ordered = core + [v for v in group if v not in core]
        pieces = _tile(town.geometry, len(core), len(group) - len(core), int(town.code))
        out += [AreaShape(v.code, v.name, "community", town.code, short_forms(v.name, "community"), g, True)
                for v, g in zip(ordered, pieces, strict=True)]
    return sorted(out, key=lambda a: a.code)


def generate_grids(communities: Sequence[AreaShape], cell_m: float = 1_500.0, *, per_community: int = 10,
                   min_cell_m: float = 150.0, sliver: float = 0.3) -> list[AreaShape]:
    """Unit grids: a square lattice per community, clipped to it, numbered row by row from the north-west.

    The cell side aims at ``per_community`` grids per community, between ``min_cell_m`` and ``cell_m``
    metres, so a dense urban community still gets several grids and a large village is not cut into
    hundreds. Clipped cells under ``sliver`` of a full cell join a neighbour. Code: community + 001...
    """
    out: list[AreaShape] = []
    for com in sorted(communities, key=lambda c: c.code):
        geom_m = _project(com.geometry)
        # 3-digit numbering: stay well below 999 cells even for a huge community.
        size = max(min(math.sqrt(geom_m.area / per_community), cell_m), min_cell_m, math.sqrt(geom_m.area / 600))
        x0, y0, x1, y1 = geom_m.bounds
        # A margin of at least 1 m: the lattice must still cover the bounds after the round trip.
        nx, ny = math.ceil((x1 - x0 + 2.0) / size), math.ceil((y1 - y0 + 2.0) / size)
        ox, oy = (x0 + x1 - nx * size) / 2.0, (y0 + y1 + ny * size) / 2.0
        rows, cols = np.divmod(np.arange(nx * ny), nx)
        boxes = shapely.box(ox + cols * size, oy - (rows + 1) * size, ox + (cols + 1) * size, oy - rows * size)
        pieces = [p for p in _settle(_project(boxes, inverse=True), com.geometry, None, sliver) if p is not None]
        if len(pieces) > 999:
            raise ValueError(f"community {com.code}: {len(pieces)} grids do not fit 3-digit numbers")
        label = (com.short_names or (com.name,))[0]
        out += [AreaShape(f"{com.code}{k:03d}", f"{label}第{k}网格", "grid", com.code, (), g, True)
                for k, g in enumerate(pieces, start=1)]
    return out


def build_demo_layers() -> dict[str, list[AreaShape]]:
    """All five levels for Nanning from the files in ``geo/data`` (reads them; takes seconds)."""
    counties = parse_geojson_text(_data_bytes(_INPUTS[0]).decode("utf-8"))
    county_shapes = [AreaShape(c.area.code, c.area.name, "county", c.area.parent_code,
                               short_forms(c.area.name, "county"), c.geometry, False)
                     for c in sorted(counties, key=lambda c: c.area.code)]
    city = _as_area_geometry(shapely.union_all([c.geometry for c in counties]))
    townships = generate_townships(counties)
    communities = generate_communities(townships)
    return {
        "city": [AreaShape(NANNING.code, NANNING.name, "city", NANNING.parent_code,
                           short_forms(NANNING.name, "city"), city, False)],
        "county": county_shapes,
        "township": townships,
        "community": communities,
        "grid": generate_grids(communities),
    }


# ---- GeoJSON and the cache --------------------------------------------------------------------


def to_geojson(shapes: Sequence[AreaShape]) -> dict[str, Any]:
    """A GeoJSON FeatureCollection (WGS84) whose metadata says the generated parts are synthetic."""
    features = [{"type": "Feature", "geometry": mapping(s.geometry), "properties": {
        "code": s.code, "name": s.name, "level": s.level, "parent_code": s.parent_code,
        "short_names": list(s.short_names), "synthetic": s.synthetic}} for s in shapes]
    return {"type": "FeatureCollection", "metadata": _metadata(), "features": features}


def from_geojson(data: Mapping[str, Any]) -> list[AreaShape]:
    """Inverse of ``to_geojson``. Raises ValueError for anything it did not write."""
    if data.get("type") != "FeatureCollection":
        raise ValueError("expected a GeoJSON FeatureCollection")
    out: list[AreaShape] = []
    for feature in data.get("features", []):
        p = feature.get("properties") or {}
        geometry = shape(feature.get("geometry") or {})
        if p.get("level") not in LEVELS or not isinstance(geometry, Polygon | MultiPolygon):
            raise ValueError(f"not an area feature: {p!r}")
        out.append(AreaShape(str(p["code"]), str(p["name"]), p["level"], p.get("parent_code"),
                             tuple(p.get("short_names") or ()), geometry, bool(p.get("synthetic", True))))
    return out


def _metadata() -> dict[str, str]:
    return {"generated_by": f"tools.demo_layers {GENERATOR_VERSION}", "note": NOTE}


def cache_key() -> str:
    """Hash of the input files, the generator (version and source: an edit cannot leave a stale
    cache behind) and the GEOS/PROJ versions, whose arithmetic shapes the output."""
    import pyproj  # only for its version string

    from geo import areas  # short names and the village mapping live there

    h = hashlib.sha256(f"{GENERATOR_VERSION}|{shapely.geos_version_string}|{pyproj.proj_version_str}".encode())
    for name, data in [(n, _data_bytes(n)) for n in _INPUTS] + [
            (m.__name__, Path(str(m.__file__)).read_bytes()) for m in (sys.modules[__name__], areas)]:
        h.update(name.encode() + b"\0" + data)
    return h.hexdigest()


def load_or_build_demo_layers(cache_dir: Path) -> dict[str, list[AreaShape]]:
    """The demo layers from ``cache_dir`` if a cache for the current inputs is there, else build and
    store them (replacing caches of other keys). A damaged cache is rebuilt. If the directory is not
    writable the layers are still returned, with a warning. Two processes may race: writes are atomic."""
    key = cache_key()
    path = Path(cache_dir) / f"demo_layers_{key[:24]}.json"
    try:
        return _read_cache(path, key)
    except (OSError, ValueError, KeyError, TypeError, shapely.errors.ShapelyError):
        pass
    layers = build_demo_layers()
    try:
        _write_cache(path, key, layers)
    except OSError as exc:
        warnings.warn(f"demo layers not cached in {path.parent}: {exc}", RuntimeWarning, stacklevel=2)
    return layers


def _write_cache(path: Path, key: str, layers: Mapping[str, Sequence[AreaShape]]) -> None:
    columns = {level: {
        "code": [s.code for s in shapes], "name": [s.name for s in shapes],
        "parent_code": [s.parent_code for s in shapes], "short_names": [list(s.short_names) for s in shapes],
        "synthetic": [s.synthetic for s in shapes],
        # WKB keeps every bit of every coordinate: a cached build equals a fresh one exactly.
        "wkb": shapely.to_wkb(np.array([s.geometry for s in shapes], dtype=object), hex=True).tolist(),
    } for level, shapes in layers.items()}
    text = json.dumps({"key": key, **_metadata(), "layers": columns}, ensure_ascii=False)
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", encoding="utf-8", dir=path.parent, suffix=".tmp", delete=False) as fh:
        tmp = Path(fh.name)
        try:
            fh.write(text)
        except OSError:
            fh.close()
            tmp.unlink(missing_ok=True)
            raise
    os.replace(tmp, path)
    for old in path.parent.glob("demo_layers_*.json"):
        if old != path:
            old.unlink(missing_ok=True)  # a cache of an older generator or older inputs


def _read_cache(path: Path, key: str) -> dict[str, list[AreaShape]]:
    data = json.loads(path.read_text(encoding="utf-8"))
    if data.get("key") != key:
        raise ValueError("stale cache")
    layers: dict[str, list[AreaShape]] = {}
    for level, col in data["layers"].items():
        geoms = shapely.from_wkb(col["wkb"]).tolist()
        if level not in LEVELS or not all(isinstance(g, Polygon | MultiPolygon) for g in geoms):
            raise ValueError("bad cache content")
        layers[level] = [AreaShape(c, n, level, p, tuple(s), g, bool(y)) for c, n, p, s, y, g in zip(
            col["code"], col["name"], col["parent_code"], col["short_names"], col["synthetic"], geoms, strict=True)]
    return layers
