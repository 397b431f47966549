"""Locate a point in every jurisdiction level at once: city → county → township → community → grid.

Semantics: a point on an edge is covered by that area ("covers"), and where
several areas of one level cover it the lowest code wins. Levels are searched top-down: at each
level the children of the area found above are tried first (a handful of prepared point-in-polygon
tests), and only if none covers the point is the whole level searched. For nested layers this is
the same answer as searching every level whole, at a fraction of the cost.

Areas of one level are assumed not to overlap (``geo.validate`` checks that before a layer is
loaded); the neighbour shortcut below relies on it.
"""

from __future__ import annotations

import math
from array import array
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import cast

import numpy as np
import shapely
from numpy.typing import ArrayLike, NDArray
from pyproj import Transformer
from shapely.geometry.base import BaseGeometry

from geo.areas import LEVELS, Area
from geo.crs import check_lnglat
from geo.distance import NearestPolygon
from geo.features import AreaShape

__all__ = ["JurisdictionIndex", "Located"]

Floats = NDArray[np.float64]
Ints = NDArray[np.intp]
Geoms = NDArray[np.object_]
_EMPTY: Mapping[str, Area] = MappingProxyType({})
_SCAN_PARTS = 32
_CHUNK = 65_536
# Below this many points `locate_many` locates them one at a time: the vectorised path costs ~250 µs a call
# whatever its size (a few dozen small NumPy operations), `locate` ~15 µs a point — at an ordinary rate the hub's
# intake batches are one or two tickets (10 % of its CPU at 300 tickets/s). Measured on the demo boundaries
# (2026-12-07), per point: 1 → 264 vs 16 µs, 8 → 49 vs 22 µs, 16 → 29 vs 15 µs, 64 → 10 vs 14 µs.
_VECTORISE_FROM = 32
_MIN_CELLS, _MAX_CELLS = 250_000, 1_000_000
_MIXED = -2
_Entry = tuple[float, float, float, float, BaseGeometry, int]


def _intersects_xy(geom: BaseGeometry, x: float, y: float) -> bool:
    return bool(shapely.intersects_xy(geom, x, y))


# For a point, "intersects" is "covers". The public ufunc costs about 2 us a call; shapely's own
# scalar kernel behind it takes 0.1 us on a prepared polygon, which is most of our budget. It is not
# public API, hence the fallback.
_hit: Callable[[BaseGeometry, float, float], bool] = getattr(shapely.lib, "intersects_xy_scalar", _intersects_xy)


@dataclass(frozen=True, slots=True)
class Located:
    """Where a point falls, level by level.

    - Covered: inside=True, near_boundary=False, distance_m=0, ``areas`` has every level that covers it.
    - Outside the city but within ``near_boundary_m``: inside=True, near_boundary=True, ``areas`` is
      the chain of nearest areas, distance_m is metres outside.
    - Farther out: inside=False, areas empty, distance_m is metres to the city boundary.

    ``neighbours`` lists the other areas of the neighbour level (see ``JurisdictionIndex``) within
    ``near_boundary_m`` of the point, by code: a dispatcher's hint that the case may belong there.
    """

    inside: bool
    near_boundary: bool
    areas: Mapping[str, Area]
    neighbours: tuple[Area, ...] = ()
    distance_m: float = 0.0

    @property
    def deepest(self) -> Area | None:
        return list(self.areas.values())[-1] if self.areas else None


def _grouped(level: _Level, group_of_part: Ints, n_groups: int) -> list[list[_Entry]]:
    """The level's parts as (minx, miny, maxx, maxy, part, owner) tuples per group, in code order."""
    groups: list[list[_Entry]] = [[] for _ in range(n_groups)]
    boxes = shapely.bounds(level.parts).tolist()
    for box, part, owner, g in zip(boxes, level.parts.tolist(), level.owners.tolist(), group_of_part.tolist(),
                                   strict=True):
        if g >= 0:
            groups[g].append((*box, part, owner))
    return groups


@dataclass(eq=False)
class _Raster:
    """A square lattice over a level. A cell that no boundary touches lies inside one area or outside
    all of them, so a point in it needs no geometry test. That is most points at the upper levels.
    Cell values: the owner, -1 (no area) or _MIXED (a boundary crosses it: test the geometry)."""

    x0: float
    y0: float
    inv: float  # cells per degree
    nx: int
    ny: int
    cells: NDArray[np.int32]
    cell_list: array[int]  # the same cells; indexing it is 3x faster than indexing numpy

    @classmethod
    def build(cls, level: _Level) -> _Raster:
        x0, y0, x1, y1 = (float(v) for v in shapely.total_bounds(level.parts))
        # About 8 cells across a typical area; at least _MIN_CELLS cells (big areas still have long
        # borders) and at most _MAX_CELLS (memory: 4 bytes a cell, and build time).
        extent = max((x1 - x0) * (y1 - y0), 1e-12)
        typical = math.sqrt(float(np.median(shapely.area(level.parts)))) / 8.0
        side = max(min(typical, math.sqrt(extent / _MIN_CELLS)), math.sqrt(extent / _MAX_CELLS))
        inv = 1.0 / side
        # +2, with the very formula lookups use: the maximum coordinate must land in a real cell.
        r = cls(x0, y0, inv, int((x1 - x0) * inv) + 2, int((y1 - y0) * inv) + 2, np.empty(0, dtype=np.int32),
                array("i"))
        # Boundary samples at most half a cell apart: consecutive samples then lie in the same or
        # in adjacent cells, and every cell the boundary passes through holds a sample, except
        # on a diagonal step, where we mark both cells beside it.
        xy, ring = shapely.get_coordinates(shapely.segmentize(shapely.get_rings(level.parts), side / 2.0),
                                           return_index=True)
        fx, fy = (xy[:, 0] - x0) * r.inv, (xy[:, 1] - y0) * r.inv
        i, j = np.floor(fx).astype(np.intp), np.floor(fy).astype(np.intp)
        mixed = np.zeros((r.ny + 1, r.nx + 1), dtype=bool)
        mixed[j, i] = True
        # A sample on a cell line touches the cells on both sides of it.
        mixed[j - (fy == j), i - (fx == i)] = mixed[j, i - (fx == i)] = mixed[j - (fy == j), i] = True
        step = (ring[1:] == ring[:-1]) & (i[1:] != i[:-1]) & (j[1:] != j[:-1])
        mixed[j[:-1][step], i[1:][step]] = mixed[j[1:][step], i[:-1][step]] = True
        mixed = mixed[: r.ny, : r.nx]
        cells = np.full(r.ny * r.nx, _MIXED, dtype=np.int32)
        # Two pure cells side by side share an edge no boundary touches, so they have one owner: test
        # one cell per run of pure cells along a row.
        pure = np.flatnonzero(~mixed.ravel())
        run = np.cumsum(np.diff(pure, prepend=-2) != 1) - 1
        head = pure[np.flatnonzero(np.diff(run, prepend=-1))]
        cx = (x0 + ((head % r.nx) + 0.5) * side).astype(np.float64)
        cy = (y0 + ((head // r.nx) + 0.5) * side).astype(np.float64)
        cells[pure] = level.find_many(cx, cy, np.full(len(head), -1, dtype=np.intp), raster=False)[run]
        r.cells, r.cell_list = cells, array("i", cells.tobytes())
        return r

    def lookup(self, x: Floats, y: Floats) -> NDArray[np.int32]:
        fx, fy = np.floor((x - self.x0) * self.inv), np.floor((y - self.y0) * self.inv)
        inside = (fx >= 0) & (fx < self.nx) & (fy >= 0) & (fy < self.ny)
        out = np.full(len(x), -1, dtype=np.int32)
        out[inside] = self.cells[(fy[inside] * self.nx + fx[inside]).astype(np.intp)]
        return out


@dataclass(eq=False)
class _Level:
    name: str
    shapes: list[AreaShape]
    areas: list[Area]
    parts: Geoms
    owners: Ints
    tree: shapely.STRtree
    parent: Ints = field(default_factory=lambda: np.empty(0, dtype=np.intp))  # area -> area above, or -1
    # For the one-point path: parts grouped by their area's parent, and all parts of a small level.
    kids: list[list[_Entry]] = field(default_factory=list)
    scan: list[_Entry] | None = None
    raster: _Raster | None = None

    @classmethod
    def build(cls, name: str, shapes: Sequence[AreaShape]) -> _Level:
        ordered = sorted(shapes, key=lambda s: s.code)  # owner index order == code order
        if len({s.code for s in ordered}) != len(ordered):
            raise ValueError(f"duplicate code in level {name!r}")
        parts, owners = shapely.get_parts(np.array([s.geometry for s in ordered], dtype=object), return_index=True)
        shapely.prepare(parts)
        areas = [Area(s.code, s.name, name, s.parent_code) for s in ordered]
        level = cls(name, ordered, areas, parts, owners.astype(np.intp), shapely.STRtree(parts))
        if len(parts) <= _SCAN_PARTS:  # a tree query costs about 5 us: scanning a few parts is cheaper
            level.scan = _grouped(level, np.zeros(len(parts), dtype=np.intp), 1)[0]
        level.raster = _Raster.build(level)
        return level

    def link(self, above: _Level) -> None:
        index = {a.code: i for i, a in enumerate(above.areas)}
        self.parent = np.array([index.get(a.parent_code or "", -1) for a in self.areas], dtype=np.intp)
        self.kids = _grouped(self, self.parent[self.owners], len(above.areas))

    def find(self, x: float, y: float, up: int) -> int:
        """The owner covering (x, y): children of ``up`` first, else the whole level; -1 if none."""
        r = self.raster
        if r is not None:
            fx, fy = (x - r.x0) * r.inv, (y - r.y0) * r.inv
            if not (0.0 <= fx < r.nx and 0.0 <= fy < r.ny):
                return -1
            cell = r.cell_list[int(fy) * r.nx + int(fx)]  # int() is floor for values >= 0
            if cell != _MIXED:
                return cell
        groups = (self.kids[up] if up >= 0 and self.kids else (), self.scan or ())
        for entries in groups:
            for x0, y0, x1, y1, part, owner in entries:
                if x0 <= x <= x1 and y0 <= y <= y1 and _hit(part, x, y):
                    return owner
        if self.scan is not None:
            return -1
        candidates = self.tree.query(shapely.Point(x, y))
        hits = candidates[shapely.intersects_xy(self.parts[candidates], x, y)]
        return int(self.owners[hits].min()) if len(hits) else -1

    def find_many(self, x: Floats, y: Floats, up: Ints, raster: bool = True) -> Ints:
        """``find`` for every point, vectorised."""
        out = np.full(len(x), -1, dtype=np.intp)
        todo = np.arange(len(x))
        if raster and self.raster is not None:  # most points: no geometry at all
            out[:] = self.raster.lookup(x, y)
            todo = np.flatnonzero(out == _MIXED)
            out[todo] = -1
        if len(todo):
            inp, part = self.tree.query(shapely.points(x[todo], y[todo]))
            hit = shapely.intersects_xy(self.parts[part], x[todo][inp], y[todo][inp])
            inp, owner = inp[hit], self.owners[part[hit]]
            # As in find(): a child of the area above beats any other area, then the lowest code wins.
            n, above = len(self.areas), up[todo][inp]
            preferred = (above >= 0) & (self.parent[owner] == above) if len(self.parent) else np.ones(len(inp), bool)
            best = np.full(len(todo), 2 * n, dtype=np.intp)
            np.minimum.at(best, inp, np.where(preferred, owner, owner + n))
            out[todo] = np.where(best == 2 * n, -1, best % n)
        return out


class JurisdictionIndex:
    """Point location in several jurisdiction levels, built from ``{level: [AreaShape, ...]}``.

    Any subset of ``geo.areas.LEVELS`` may be given (e.g. only counties). The *neighbour level* is
    the deepest-but-one level, but at least the township level when there is one (grids are too
    fine to be worth naming); with a single level it is that level. Distances are in metres in
    ``projected_crs``. A built index is read-only and can be shared between threads.
    """

    def __init__(self, layers: Mapping[str, Sequence[AreaShape]], *, near_boundary_m: float = 200.0,
                 projected_crs: str = "EPSG:4545") -> None:
        unknown = set(layers) - set(LEVELS)
        if unknown:
            raise ValueError(f"unknown levels {sorted(unknown)}; expected some of {LEVELS}")
        if not (math.isfinite(near_boundary_m) and near_boundary_m >= 0.0):
            raise ValueError(f"near_boundary_m must be finite and >= 0, got {near_boundary_m!r}")
        self._levels = [_Level.build(n, layers[n]) for n in LEVELS if layers.get(n)]
        if not self._levels:
            raise ValueError("JurisdictionIndex needs at least one non-empty level")
        for above, below in zip(self._levels, self._levels[1:], strict=False):
            below.link(above)
        self._near_boundary_m = float(near_boundary_m)
        self._by_code = {s.code: (d, i) for d, lv in enumerate(self._levels) for i, s in enumerate(lv.shapes)}
        names = [lv.name for lv in self._levels]
        nb = len(names) - 2 if len(names) > 1 else 0
        if "township" in names and LEVELS.index(names[nb]) < LEVELS.index("township"):
            nb = len(names) - 1
        self._nb = nb
        self._to_m = Transformer.from_crs("EPSG:4490", projected_crs, always_xy=True)
        top = self._levels[0]
        self._nearest = NearestPolygon(top.parts, top.owners, projected_crs)
        self._metric = shapely.make_valid(self._project(np.array(
            [s.geometry for s in self._levels[nb].shapes], dtype=object)))
        self._metric_tree = shapely.STRtree(self._metric)
        # An area shrunk by near_boundary_m (+1 m for the lon/lat round trip): a point inside it has
        # no other area within near_boundary_m, so no metric query is needed. Most points are there.
        inner = self._project(shapely.buffer(self._metric, -(self._near_boundary_m + 1.0)), inverse=True)
        shapely.prepare(inner)
        self._inner: Geoms = inner
        self._ancestors = self._ancestor_table()
        # One shared, frozen answer per area for the common case (covered, no neighbours).
        chains: list[list[dict[str, Area]]] = []
        for lv in self._levels:
            upper = chains[-1] if chains else []
            chains.append([{**(upper[p] if p >= 0 else {}), lv.name: a}
                           for a, p in zip(lv.areas, lv.parent.tolist() or [-1] * len(lv.areas), strict=True)])
        plain = [Located(True, False, MappingProxyType(c)) for level_chains in chains for c in level_chains]
        self._plain_flat: Geoms = np.empty(len(plain), dtype=object)
        self._plain_flat[:] = plain
        self._offsets = np.cumsum([0] + [len(lv.areas) for lv in self._levels])[:-1]
        # GEOS builds a prepared polygon's point index on first use. Build them all now, so that
        # threads sharing the index never race to build one.
        for geoms in [lv.parts for lv in self._levels] + [self._inner]:
            box = shapely.bounds(geoms)
            shapely.intersects_xy(geoms, (box[:, 0] + box[:, 2]) / 2, (box[:, 1] + box[:, 3]) / 2)
        self.locate(0.0, 0.0)  # and the nearest-edge trees

    # ---- metadata -------------------------------------------------------------------------------

    @property
    def levels(self) -> tuple[str, ...]:
        return tuple(lv.name for lv in self._levels)

    @property
    def neighbour_level(self) -> str:
        return self._levels[self._nb].name

    @property
    def near_boundary_m(self) -> float:
        return self._near_boundary_m

    @property
    def bounds(self) -> tuple[float, float, float, float]:
        """(min_lng, min_lat, max_lng, max_lat) of the top level, WGS84."""
        x0, y0, x1, y1 = (float(v) for v in shapely.total_bounds(self._levels[0].parts))
        return x0, y0, x1, y1

    def area(self, code: str) -> AreaShape | None:
        found = self._by_code.get(code)
        return None if found is None else self._levels[found[0]].shapes[found[1]]

    def children(self, code: str | None, level: str) -> list[Area]:
        """Areas of ``level`` inside ``code`` (by the parent chain), or all of them for None; by code."""
        depth = next((d for d, lv in enumerate(self._levels) if lv.name == level), None)
        if depth is None:
            return []
        if code is None:
            return list(self._levels[depth].areas)
        found = self._by_code.get(code)
        if found is None or found[0] >= depth:
            return []
        rows = np.flatnonzero(self._ancestors[depth][:, found[0]] == found[1])
        return [self._levels[depth].areas[i] for i in rows.tolist()]

    # ---- lookup ---------------------------------------------------------------------------------

    def locate(self, lng: float, lat: float) -> Located:
        """Locate one WGS84 point (convert GCJ-02/BD-09 first). Raises ValueError for bad input."""
        check_lnglat(lng, lat)
        x, y = float(lng), float(lat)
        owners, up, deepest = [], -1, -1
        for d, lv in enumerate(self._levels):
            up = lv.find(x, y, up)
            owners.append(up)
            if up >= 0:
                deepest = d
        if deepest < 0:
            return self._outside(x, y)
        for d in range(deepest, 0, -1):  # see _locate_chunk
            if owners[d] >= 0 and owners[d - 1] < 0:
                owners[d - 1] = int(self._levels[d].parent[owners[d]])
        own_nb = owners[self._nb]
        if own_nb < 0 or _hit(self._inner[own_nb], x, y):
            neighbours: tuple[Area, ...] = ()
        else:
            neighbours = self._neighbours(x, y, own_nb)
        if owners[: deepest + 1] == self._canonical(deepest, owners[deepest]):
            plain = cast(Located, self._plain_flat[self._offsets[deepest] + owners[deepest]])
            return Located(True, False, plain.areas, neighbours) if neighbours else plain
        areas = {lv.name: lv.areas[o] for lv, o in zip(self._levels, owners, strict=True) if o >= 0}
        return Located(True, False, MappingProxyType(areas), neighbours)

    def locate_many(self, lngs: ArrayLike, lats: ArrayLike) -> list[Located]:
        """Locate many WGS84 points; the same answers as ``locate`` for each, vectorised."""
        x, y = np.asarray(lngs, dtype=np.float64), np.asarray(lats, dtype=np.float64)
        if x.ndim != 1 or x.shape != y.shape:
            raise ValueError(f"lngs and lats must be 1-D arrays of one length, got {x.shape} and {y.shape}")
        bad = ~(np.isfinite(x) & np.isfinite(y) & (np.abs(x) <= 180.0) & (np.abs(y) <= 90.0))
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            check_lnglat(float(x[i]), float(y[i]))
        if len(x) < _VECTORISE_FROM:
            return [self.locate(a, b) for a, b in zip(x.tolist(), y.tolist(), strict=True)]
        out: list[Located] = []
        # Chunks keep the (point, candidate) pair arrays small enough to stay in cache.
        for start in range(0, len(x), _CHUNK):
            out += self._locate_chunk(x[start : start + _CHUNK], y[start : start + _CHUNK])
        return out

    def _locate_chunk(self, x: Floats, y: Floats) -> list[Located]:
        n, up = len(x), np.full(len(x), -1, dtype=np.intp)
        rows = []
        for lv in self._levels:
            up = lv.find_many(x, y, up)
            rows.append(up)
        owners = np.stack(rows)
        found = owners >= 0
        covered = np.asarray(found.any(axis=0))
        deepest = len(self._levels) - 1 - np.argmax(found[::-1], axis=0)
        # Generated layers nest only up to floating-point noise: a point on a county's outer edge
        # can miss the county by 1e-16 degrees yet lie on its township's edge. A level missed
        # above a level found takes the found area's ancestor, so the chain stays whole.
        for d in range(len(self._levels) - 1, 0, -1):
            fill = (owners[d] >= 0) & (owners[d - 1] < 0)
            owners[d - 1][fill] = self._levels[d].parent[owners[d][fill]]
        canonical = covered.copy()
        for d in range(1, len(self._levels)):  # the chain must be the deepest area's canonical one
            own = owners[d]
            expected = np.where(own >= 0, self._levels[d].parent[own], -1)
            canonical &= (deepest < d) | (expected == owners[d - 1])
        own_nb = owners[self._nb]
        check = np.flatnonzero(covered & (own_nb >= 0))
        check = check[~shapely.intersects_xy(self._inner[own_nb[check]], x[check], y[check])]
        neighbours = dict(zip(check.tolist(), self._neighbours_many(x[check], y[check], own_nb[check]), strict=True))
        flat = self._offsets[np.where(canonical, deepest, 0)] + np.where(canonical, owners[deepest, np.arange(n)], 0)
        out: list[Located] = self._plain_flat[flat].tolist()
        for i, near in neighbours.items():
            if near and canonical[i]:
                out[i] = Located(True, False, out[i].areas, near)
        for i in np.flatnonzero(~canonical).tolist():
            if not covered[i]:
                out[i] = self._outside(float(x[i]), float(y[i]))
                continue
            areas = {lv.name: lv.areas[o] for lv, o in zip(self._levels, owners[:, i].tolist(), strict=True) if o >= 0}
            out[i] = Located(True, False, MappingProxyType(areas), neighbours.get(i, ()))
        return out

    # ---- helpers --------------------------------------------------------------------------------

    def _project(self, geoms: Geoms, inverse: bool = False) -> Geoms:
        def move(xy: Floats) -> Floats:
            px, py = self._to_m.transform(xy[:, 0], xy[:, 1], direction="INVERSE" if inverse else "FORWARD")
            return np.column_stack((px, py))

        return shapely.transform(geoms, move)

    def _neighbours(self, x: float, y: float, own: int) -> tuple[Area, ...]:
        near = self._metric_tree.query(shapely.Point(*self._to_m.transform(x, y)), predicate="dwithin",
                                       distance=self._near_boundary_m)
        areas = self._levels[self._nb].areas
        return tuple(areas[i] for i in sorted(set(near.tolist()) - {own}))

    def _neighbours_many(self, x: Floats, y: Floats, own: Ints) -> list[tuple[Area, ...]]:
        """Per point, the neighbour-level areas other than ``own`` within near_boundary_m, by code."""
        out: list[tuple[Area, ...]] = [()] * len(x)
        if not len(x):
            return out
        px, py = self._to_m.transform(x, y)
        inp, area = self._metric_tree.query(shapely.points(px, py), predicate="dwithin",
                                            distance=self._near_boundary_m)
        keep = area != own[inp]
        order = np.lexsort((area[keep], inp[keep]))
        inp, area = inp[keep][order], area[keep][order]
        areas = self._levels[self._nb].areas
        if not len(inp):
            return out
        starts = np.flatnonzero(np.diff(inp, prepend=-1))
        for a, b in zip(starts.tolist(), np.append(starts[1:], len(inp)).tolist(), strict=True):
            out[int(inp[a])] = tuple(areas[j] for j in area[a:b].tolist())
        return out

    def _outside(self, x: float, y: float) -> Located:
        owner, dist = self._nearest.nearest(np.array([x]), np.array([y]))
        distance_m = float(dist[0])
        if distance_m > self._near_boundary_m:
            return Located(False, False, _EMPTY, (), distance_m)
        # The chain of nearest areas: the nearest child of the nearest area above, ties to the lowest code.
        point = shapely.Point(*self._to_m.transform(x, y))
        chain, up = [int(owner[0])], int(owner[0])
        for lv in self._levels[1:]:
            kids = sorted({k[5] for k in lv.kids[up]}) if lv.kids else []
            if not kids:
                break
            geoms = self._project(np.array([lv.shapes[k].geometry for k in kids], dtype=object))
            up = kids[int(np.argmin(shapely.distance(point, geoms)))]
            chain.append(up)
        areas = {lv.name: lv.areas[o] for lv, o in zip(self._levels, chain, strict=False)}
        own_nb = chain[self._nb] if self._nb < len(chain) else -1
        neighbours = self._neighbours(x, y, own_nb)
        return Located(True, True, MappingProxyType(areas), neighbours, distance_m)

    def _ancestor_table(self) -> list[NDArray[np.intp]]:
        """Per level, an (areas x levels) table of ancestor indices by the parent chain (-1: none)."""
        tables: list[NDArray[np.intp]] = []
        for d, lv in enumerate(self._levels):
            table = np.full((len(lv.areas), len(self._levels)), -1, dtype=np.intp)
            table[:, d] = np.arange(len(lv.areas))
            if d:
                has = lv.parent >= 0
                table[has, :d] = tables[d - 1][lv.parent[has], :d]
            tables.append(table)
        return tables

    def _canonical(self, depth: int, owner: int) -> list[int]:
        return cast(list[int], self._ancestors[depth][owner, : depth + 1].tolist())

