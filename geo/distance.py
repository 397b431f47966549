"""Metric distance from points to a set of lon/lat polygons.

Degrees are not a distance. At Nanning (23 N) one degree of longitude is
about 102 km and one of latitude about 111 km. So we project the polygons once
into a metric CRS and measure there. The default is EPSG:4545, CGCS2000 /
3-degree Gauss-Kruger CM 108E. Nanning spans about 107.3-109.6 E, so its scale
error is below 0.05 % over the whole city. Far from the central meridian a
transverse Mercator projection distorts a lot, and beyond about 90 degrees it
is meaningless. So points farther than ``_PROJECTED_TRUST_M`` fall back to a
geodesic distance on the ellipsoid.
"""

from __future__ import annotations

from typing import cast

import numpy as np
import shapely
from numpy.typing import NDArray
from pyproj import Geod, Transformer

__all__ = ["NearestPolygon"]

# Inside this range of the polygons, the Gauss-Kruger distance is within
# about 0.1 % of the true one. Beyond it we pay for the geodesic.
_PROJECTED_TRUST_M = 100_000.0
_NO_OWNER = np.iinfo(np.intp).max

Floats = NDArray[np.float64]
Ints = NDArray[np.intp]
Geoms = NDArray[np.object_]


class NearestPolygon:
    """For points outside every polygon: the nearest polygon's owner and the distance in metres.

    ``parts`` are lon/lat polygons. ``owners[i]`` is the owner index of
    ``parts[i]``. Where several owners are equally near, the lowest index wins,
    so results are deterministic.
    """

    def __init__(self, parts: Geoms, owners: Ints, projected_crs: str = "EPSG:4545") -> None:
        # always_xy: our arrays are (lng, lat) / (easting, northing) whatever
        # axis order the EPSG definition declares.
        self._to_metric = Transformer.from_crs("EPSG:4490", projected_crs, always_xy=True)
        # CGCS2000's ellipsoid differs from GRS80 by 0.1 mm in the semi-minor axis.
        self._geod = Geod(ellps="GRS80")
        self._parts = parts
        self._owners = owners
        self._segments, self._segment_owners = self._boundary_segments(shapely.transform(parts, self._project_xy))
        # An R-tree over single edges makes nearest-edge search logarithmic. An
        # R-tree over whole polygons would still scan every vertex of the
        # candidate polygon, which was about 10x slower here. For a point outside
        # a polygon, the distance to the polygon is the distance to its
        # boundary. So the nearest edge gives the same answer.
        self._tree_metric = shapely.STRtree(self._segments)
        self._tree_degrees = shapely.STRtree(parts)

    def _boundary_segments(self, metric_parts: Geoms) -> tuple[Geoms, Ints]:
        rings, ring_part = shapely.get_rings(metric_parts, return_index=True)
        coords, coord_ring = shapely.get_coordinates(rings, return_index=True)
        # Consecutive vertices of one ring form an edge. Rings are closed, so
        # no edge is lost, and no edge joins two rings.
        same_ring = coord_ring[:-1] == coord_ring[1:]
        starts, ends = coords[:-1][same_ring], coords[1:][same_ring]
        segments = cast(Geoms, shapely.linestrings(np.stack((starts, ends), axis=1)))
        return segments, self._owners[ring_part[coord_ring[:-1][same_ring]]]

    def _project(self, x: Floats, y: Floats) -> tuple[Floats, Floats]:
        px, py = self._to_metric.transform(x, y)
        return np.asarray(px, dtype=np.float64), np.asarray(py, dtype=np.float64)

    def _project_xy(self, xy: Floats) -> Floats:
        # shapely.transform hands over all vertices as one (N, 2) array.
        px, py = self._project(xy[:, 0], xy[:, 1])
        return np.column_stack((px, py))

    def nearest(self, lngs: Floats, lats: Floats) -> tuple[Ints, Floats]:
        """Return (owner index, distance in metres) for every (lng, lat).

        Only meaningful for points that no polygon covers: for a covered point
        the distance is to the nearest edge, not 0.
        """
        n = len(lngs)
        owner = np.full(n, _NO_OWNER, dtype=np.intp)
        dist = np.full(n, np.inf, dtype=np.float64)
        if n == 0:
            return owner, dist
        points = shapely.points(*self._project(lngs, lats))
        pairs, d = self._tree_metric.query_nearest(points, return_distance=True, all_matches=True)
        # all_matches returns every equally-near edge. An edge shared by two
        # counties appears once for each, and the lowest owner wins.
        np.minimum.at(owner, pairs[0], self._segment_owners[pairs[1]])
        np.minimum.at(dist, pairs[0], d)
        far = ~(dist <= _PROJECTED_TRUST_M)  # written this way to catch NaN too
        if far.any():
            owner[far], dist[far] = self._geodesic(lngs[far], lats[far])
        return owner, dist

    def _geodesic(self, lngs: Floats, lats: Floats) -> tuple[Ints, Floats]:
        # The polygon nearest in degree space may not be the geodesically nearest
        # one. For a point over 100 km from a city, the two differ by a fraction
        # of a percent of the distance. That is good enough for a number that
        # only says "far away".
        points = shapely.points(lngs, lats)
        pairs = self._tree_degrees.query_nearest(points, all_matches=False)
        part_idx = np.empty(len(lngs), dtype=np.intp)
        part_idx[pairs[0]] = pairs[1]
        lines = shapely.shortest_line(points, self._parts[part_idx])
        ends = shapely.get_coordinates(shapely.get_point(lines, 1))
        _, _, d = self._geod.inv(lngs, lats, ends[:, 0], ends[:, 1])
        return self._owners[part_idx], np.asarray(d, dtype=np.float64)
