"""Areas with their boundaries, and a strict parser for a GeoJSON FeatureCollection of counties.

``AreaShape`` is an area of any level with its polygon: what boundary files are read into, what the
boundary store keeps and what ``geo.hierarchy`` indexes. ``CountyShape`` is what the county parser
gives. The parser is strict on purpose. A boundary file in the wrong datum (GCJ-02
shifts Nanning by about 500 m) or with an invalid ring gives wrong answers
with no error at all. We would rather fail when the file is read.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import shapely
from shapely.errors import ShapelyError
from shapely.geometry import MultiPolygon, Polygon, shape

from geo.areas import Area

__all__ = ["AreaShape", "CountyShape", "parse_feature_collection", "parse_geojson_text"]

# Names of lon/lat CRSs whose datum is WGS84 or CGCS2000 (equal to about 1 m).
# GeoJSON without a "crs" member is WGS84 by RFC 7946.
_ACCEPTED_CRS = frozenset(
    {
        "urn:ogc:def:crs:OGC:1.3:CRS84",
        "urn:ogc:def:crs:EPSG::4326",
        "urn:ogc:def:crs:EPSG::4490",
        "EPSG:4326",
        "EPSG:4490",
    }
)


@dataclass(frozen=True, slots=True)
class AreaShape:
    """One area of any level with its WGS84 lon/lat boundary."""

    code: str
    name: str
    level: str
    parent_code: str | None
    short_names: tuple[str, ...]
    geometry: Polygon | MultiPolygon
    synthetic: bool


@dataclass(frozen=True, slots=True)
class CountyShape:
    """One county and its boundary, in WGS84/CGCS2000 lon/lat."""

    area: Area
    geometry: Polygon | MultiPolygon


def _check_crs(data: Mapping[str, Any]) -> None:
    crs = data.get("crs")
    if crs is None:
        return
    name = crs.get("properties", {}).get("name") if isinstance(crs, Mapping) else None
    if name not in _ACCEPTED_CRS:
        raise ValueError(f"unsupported GeoJSON crs {name!r}: expected WGS84 or CGCS2000 lon/lat")


def _parent_code(props: Mapping[str, Any], code: str) -> str | None:
    # The Tianditu extract names both the city and the province. The nearest
    # ancestor that is not the feature itself is the parent.
    for key in ("parent_code", "city_adcode", "province_adcode"):
        value = props.get(key)
        if isinstance(value, str) and value and value != code:
            return value
    return None


def _parse_feature(feature: Mapping[str, Any]) -> CountyShape:
    props = feature.get("properties") or {}
    code, name = props.get("adcode"), props.get("name")
    if not (isinstance(code, str) and len(code) == 6 and code.isascii() and code.isdigit()):
        raise ValueError(f"feature without a 6-digit string 'adcode': {props!r}")
    if not (isinstance(name, str) and name):
        raise ValueError(f"feature {code} has no 'name'")
    level = props.get("level")
    area = Area(code, name, level if isinstance(level, str) else "district", _parent_code(props, code))
    geometry_data = feature.get("geometry")
    if not isinstance(geometry_data, Mapping):
        raise ValueError(f"feature {code} has no geometry")
    try:
        geometry = shape(dict(geometry_data))
    except (AttributeError, KeyError, TypeError, ValueError, ShapelyError) as exc:
        raise ValueError(f"feature {code} has a malformed geometry: {exc}") from exc
    if not isinstance(geometry, Polygon | MultiPolygon) or geometry.is_empty:
        raise ValueError(f"feature {code} is not a non-empty (Multi)Polygon")
    if not shapely.is_valid(geometry):
        # Do not call make_valid silently: a repaired bow-tie may drop area.
        raise ValueError(f"feature {code}: {shapely.is_valid_reason(geometry)}")
    return CountyShape(area, geometry)


def parse_feature_collection(data: Mapping[str, Any]) -> list[CountyShape]:
    """Parse an already-decoded FeatureCollection. Raises ValueError."""
    if data.get("type") != "FeatureCollection":
        raise ValueError("expected a GeoJSON FeatureCollection")
    _check_crs(data)
    shapes = [_parse_feature(f) for f in data.get("features", [])]
    codes = [s.area.code for s in shapes]
    if len(set(codes)) != len(codes):
        raise ValueError("duplicate adcode in FeatureCollection")
    if not shapes:
        raise ValueError("FeatureCollection has no features")
    return shapes


def parse_geojson_text(text: str) -> list[CountyShape]:
    """Parse GeoJSON text. Raises ValueError (json.JSONDecodeError is one)."""
    data = json.loads(text)
    if not isinstance(data, Mapping):
        raise ValueError("GeoJSON root is not an object")
    return parse_feature_collection(data)
