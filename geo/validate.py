"""Checks a boundary layer before it may become a version: report problems, never silently fix them.

A wrong boundary sends cases to the wrong township with no error anywhere, so loading refuses a layer
with invalid geometry, duplicate or malformed codes, areas outside their parent, or overlaps within
the level beyond a tolerance. Areas are measured in metres (EPSG:4545, CGCS2000 Gauss-Krüger 108°E).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import shapely
from numpy.typing import NDArray
from pyproj import Transformer
from shapely.geometry.base import BaseGeometry

__all__ = ["CODE_LENGTHS", "LayerReport", "ShapeLike", "validate_layer"]

CODE_LENGTHS = {"city": 6, "county": 6, "township": 9, "community": 12, "grid": 15}
PARENT_LEVEL = {"county": "city", "township": "county", "community": "township", "grid": "community"}


class ShapeLike(Protocol):
    @property
    def code(self) -> str: ...
    @property
    def name(self) -> str: ...
    @property
    def parent_code(self) -> str | None: ...
    @property
    def geometry(self) -> BaseGeometry: ...


@dataclass
class LayerReport:
    errors: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.errors


def _metric(geoms: Sequence[BaseGeometry]) -> list[BaseGeometry]:
    to_m = Transformer.from_crs("EPSG:4326", "EPSG:4545", always_xy=True)

    def project(xy: NDArray[np.float64]) -> NDArray[np.float64]:
        x, y = to_m.transform(xy[:, 0], xy[:, 1])
        return np.column_stack([x, y])

    return list(shapely.transform(np.asarray(geoms, dtype=object), project))


def validate_layer(
    shapes: Sequence[ShapeLike],
    level: str,
    parents: Sequence[ShapeLike] | None = None,
    *,
    outside_parent_ratio: float = 0.01,
    overlap_m2: float = 1_000.0,
) -> LayerReport:
    """Check one level. `parents` are the active areas of the level above (None: skip containment)."""
    report = LayerReport()
    if level not in CODE_LENGTHS:
        report.errors.append(f"unknown level {level!r}; one of {', '.join(CODE_LENGTHS)}")
        return report
    if not shapes:
        report.errors.append("the file has no areas")
        return report
    seen: set[str] = set()
    for s in shapes:
        if not (s.code.isascii() and s.code.isdigit() and len(s.code) == CODE_LENGTHS[level]):
            report.errors.append(f"{s.code!r} ({s.name}): a {level} code has {CODE_LENGTHS[level]} digits")
        if s.code in seen:
            report.errors.append(f"{s.code}: duplicate code")
        seen.add(s.code)
        if not s.name.strip():
            report.errors.append(f"{s.code}: empty name")
        if s.geometry.is_empty or s.geometry.geom_type not in ("Polygon", "MultiPolygon"):
            report.errors.append(f"{s.code} ({s.name}): geometry must be a non-empty (multi)polygon")
        elif not s.geometry.is_valid:
            report.errors.append(f"{s.code} ({s.name}): invalid geometry: {shapely.is_valid_reason(s.geometry)}")
    if report.errors:
        return report
    metric = _metric([s.geometry for s in shapes])
    _check_overlaps(shapes, metric, overlap_m2, report)
    if parents is not None:
        _check_parents(shapes, metric, parents, outside_parent_ratio, report)
    return report


def _check_overlaps(shapes: Sequence[ShapeLike], metric: list[BaseGeometry], overlap_m2: float,
                    report: LayerReport) -> None:
    tree = shapely.STRtree(metric)
    left, right = tree.query(metric, predicate="intersects")
    for i, j in zip(left.tolist(), right.tolist(), strict=True):
        if i >= j:
            continue
        overlap = metric[i].intersection(metric[j]).area
        if overlap > overlap_m2:
            report.errors.append(
                f"{shapes[i].code} ({shapes[i].name}) and {shapes[j].code} ({shapes[j].name}) overlap by "
                f"{overlap:,.0f} m² (tolerance {overlap_m2:,.0f} m²)")


def _check_parents(shapes: Sequence[ShapeLike], metric: list[BaseGeometry], parents: Sequence[ShapeLike],
                   ratio: float, report: LayerReport) -> None:
    by_code = {p.code: g for p, g in zip(parents, _metric([p.geometry for p in parents]), strict=True)}
    for s, geom in zip(shapes, metric, strict=True):
        parent_code = s.parent_code
        if parent_code is None or parent_code not in by_code:
            report.errors.append(
                f"{s.code} ({s.name}): parent {parent_code!r} is not an active area of the level above")
            continue
        outside = geom.difference(by_code[parent_code]).area
        if outside > ratio * geom.area:
            report.errors.append(
                f"{s.code} ({s.name}): {outside / geom.area:.1%} of it lies outside its parent {parent_code}")
        elif outside > 0:
            report.warnings.append(f"{s.code} ({s.name}): {outside:,.0f} m² outside its parent (within tolerance)")
