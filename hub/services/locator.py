"""Where a case belongs: the adapter between the pure geo packages and the domain's `Routing`.

A point is converted to WGS84 and placed in the active jurisdiction layers; text without a usable
point goes through the address gazetteer, which must be confident (and unambiguous) to route. A report with
neither a point nor an address is looked for in its own words (the complaint's content, read as prose by
the same gazetteer): routed the same way when confident, marked `located_from_text` with the words it was
read from, else unplaced (`no_location`) as before. With no
layer active (a new hub nobody has loaded boundaries into) a point is not placed (`no_boundaries`), the
area tree is empty, and the gazetteer, which does not depend on the layers, still reads addresses.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from dispatch.case import Routing
from geo.areas import LEVELS, NANNING, Area
from geo.crs import Crs, to_wgs84
from geo.gazetteer import AddressMatch, Gazetteer
from geo.hierarchy import JurisdictionIndex, Located
from hub.services.boundaries import Boundaries


def _ref(area: Area) -> dict[str, str]:
    return {"code": area.code, "name": area.name}


@dataclass(frozen=True, slots=True)
class Placed:
    inside: bool
    near_boundary: bool = False
    areas: dict[str, dict[str, str]] = field(default_factory=dict)
    neighbours: list[dict[str, str]] = field(default_factory=list)
    distance_m: float = 0.0
    confidence: float = 0.0
    method: str | None = None  # "point" | "address" | "text" (the complaint's content)
    ambiguous: list[dict[str, str]] = field(default_factory=list)
    boundary_versions: dict[str, int] = field(default_factory=dict)
    wgs84: dict[str, float] | None = None
    reason: str | None = None  # why it could not be placed
    evidence: dict[str, str] = field(default_factory=dict)  # method "text": {level: the words naming it}

    def routing(self) -> Routing:
        details: dict[str, Any] = {"method": self.method, "confidence": self.confidence}
        if self.method == "text" and self.inside:
            details |= {"located_from_text": True, "evidence": self.evidence}
        if self.neighbours:
            details["neighbours"] = self.neighbours
        if self.ambiguous:
            details["ambiguous"] = self.ambiguous
        if self.boundary_versions:
            details["boundary_versions"] = self.boundary_versions
        if self.method == "point" and not self.inside:
            details["distance_m"] = round(self.distance_m, 1)
        return Routing(inside=self.inside, near_boundary=self.near_boundary, areas=self.areas,
                       reason=self.reason, details=details)


def area_chain(index: JurisdictionIndex | None, code: str) -> dict[str, dict[str, str]]:
    """`Locator.area_chain` on an index of its own (a command-line tool has boundaries but no locator)."""
    chain: dict[str, dict[str, str]] = {}
    if index is None:
        return chain
    shape = index.area(code)
    while shape is not None:
        chain[shape.level] = {"code": shape.code, "name": shape.name}
        shape = index.area(shape.parent_code) if shape.parent_code else None
    if chain:
        chain["city"] = _ref(NANNING)
    return chain


class Locator:
    def __init__(self, boundaries: Boundaries, gazetteer: Gazetteer) -> None:
        self._boundaries = boundaries
        self._gazetteer = gazetteer
        self._collections: dict[tuple[Any, ...], dict[str, Any]] = {}

    def locate_point(self, lng: float, lat: float, crs: Crs) -> Placed:
        wlng, wlat = to_wgs84(lng, lat, crs)
        index = self._boundaries.index
        if index is None:
            return Placed(inside=False, method="point", wgs84={"lng": wlng, "lat": wlat}, reason="no_boundaries")
        located = index.locate(wlng, wlat)
        return self._from_located(located, {"lng": wlng, "lat": wlat})

    def _from_located(self, located: Located, wgs84: dict[str, float]) -> Placed:
        versions = dict(self._boundaries.versions)
        if not located.inside:
            return Placed(inside=False, distance_m=located.distance_m, method="point", wgs84=wgs84,
                          boundary_versions=versions, reason="outside_city")
        areas = {"city": _ref(NANNING)} | {lvl: _ref(a) for lvl, a in located.areas.items() if lvl != "city"}
        return Placed(
            inside=True, near_boundary=located.near_boundary, areas=areas,
            neighbours=[{"code": a.code, "name": a.name, "level": a.level} for a in located.neighbours],
            distance_m=located.distance_m, confidence=0.9 if located.near_boundary else 1.0, method="point",
            boundary_versions=versions, wgs84=wgs84)

    def locate_address(self, text: str) -> Placed:
        match: AddressMatch = self._gazetteer.match(text)
        ambiguous = _refs(match)
        if not match.confident:
            reason = "outside_city" if match.outside else ("address_ambiguous" if ambiguous else "address_unmatched")
            return Placed(inside=False, confidence=match.confidence, method="address", ambiguous=ambiguous,
                          reason=reason)
        return Placed(inside=True, areas=_areas_of(match), confidence=match.confidence, method="address",
                      ambiguous=ambiguous)

    def locate_text(self, content: str) -> Placed:
        """A place the complaint names in its own words ("我在双义村这边，道路积水"). Unconfident, ambiguous or
        in another city, it is no location (`no_location`): prose mentions places in passing ("从柳州来"), so
        what it names is a clue for the operator (kept in `ambiguous`), never a reason of its own."""
        match = self._gazetteer.find_in_text(content)
        ambiguous = _refs(match)
        if not match.confident:
            return Placed(inside=False, confidence=match.confidence, method="text", ambiguous=ambiguous,
                          reason="no_location")
        return Placed(inside=True, areas=_areas_of(match), confidence=match.confidence, method="text",
                      ambiguous=ambiguous, evidence=dict(match.matched))

    def place(self, point: tuple[float, float, Crs] | None, address: str | None, content: str | None = None) -> Placed:
        """A point inside the city wins; otherwise the address text is tried; with neither, the complaint's
        content; otherwise triage."""
        return self._settle(self.locate_point(*point) if point is not None else None, address, content)

    def _settle(self, placed: Placed | None, address: str | None, content: str | None) -> Placed:
        """The answer for a point's placement (None: no point), the report's address text and its content."""
        if placed is not None and placed.inside:
            return placed
        if address:
            by_text = self.locate_address(address)
            if by_text.inside or placed is None:
                return by_text if placed is None else _with_point(by_text, placed)
        if placed is None and not address and content:
            return self.locate_text(content)
        return placed if placed is not None else Placed(inside=False, reason="no_location")

    def place_many(self, items: Sequence[tuple[tuple[float, float, Crs] | None, str | None]],
                   contents: Sequence[str | None] | None = None) -> list[Placed]:
        """`place` for a batch (intake's): the points are located together (vectorised), the rest one by one.
        `contents[i]`: item i's complaint text (none when omitted). The same answers as `place` for each item;
        a bad point raises ValueError as `place` would."""
        if contents is not None and len(contents) != len(items):
            raise TypeError(f"{len(contents)} contents for {len(items)} items")
        points = {i: to_wgs84(*point) for i, (point, _) in enumerate(items) if point is not None}
        index = self._boundaries.index
        by_point: dict[int, Placed] = {}
        if points and index is None:
            by_point = {i: Placed(inside=False, method="point", wgs84={"lng": lng, "lat": lat}, reason="no_boundaries")
                        for i, (lng, lat) in points.items()}
        elif points and index is not None:
            found = index.locate_many([lng for lng, _ in points.values()], [lat for _, lat in points.values()])
            by_point = {i: self._from_located(one, {"lng": lng, "lat": lat})
                        for (i, (lng, lat)), one in zip(points.items(), found, strict=True)}
        return [self._settle(by_point.get(i), address, contents[i] if contents is not None else None)
                for i, (_, address) in enumerate(items)]

    def children(self, parent: str | None, level: str | None) -> list[dict[str, Any]]:
        index = self._boundaries.index
        if index is None:
            return []
        level = level or _child_level(parent)
        out = []
        for a in index.children(parent, level):
            shape = index.area(a.code)
            out.append({"code": a.code, "name": a.name, "level": a.level, "parent_code": a.parent_code,
                        "synthetic": shape.synthetic if shape is not None else False})
        return out

    def area_chain(self, code: str) -> dict[str, dict[str, str]]:
        """The named areas from the city down to `code` ({level: {code, name}}), from the active layers;
        empty when the code is not an area there."""
        return area_chain(self._boundaries.index, code)

    def bounds(self, code: str | None) -> list[list[float]] | None:
        """The box around `code` (the whole city for None or the city's code) as [[south, west], [north, east]]
        in WGS84, the way a map fits it; None with no layer active. A code the layers lack (a grid nobody
        drew) falls back to its nearest enclosing area, then to the city."""
        index = self._boundaries.index
        if index is None:
            return None
        shape = None
        while code and code != NANNING.code and shape is None:
            shape = index.area(code)
            code = _parent_of(code)
        west, south, east, north = shape.geometry.bounds if shape is not None else index.bounds
        return [[round(south, 6), round(west, 6)], [round(north, 6), round(east, 6)]]

    def features(self, parent: str | None, level: str | None, tolerance_deg: float) -> dict[str, Any]:
        """The children of `parent` as a GeoJSON FeatureCollection, simplified for drawing on a map
        (`tolerance_deg` ≈ metres / 111,000; 0 keeps every vertex). Cached per boundary version."""
        key = (parent, level or _child_level(parent), tolerance_deg, tuple(sorted(self._boundaries.versions.items())))
        cached = self._collections.get(key)
        if cached is None:
            features = [f for a in self.children(parent, level)
                        if (f := self.feature(a["code"], tolerance_deg)) is not None]
            cached = {"type": "FeatureCollection", "features": features}
            if len(self._collections) > 256:
                self._collections.clear()
            self._collections[key] = cached
        return cached

    def feature(self, code: str, tolerance_deg: float = 0.0) -> dict[str, Any] | None:
        index = self._boundaries.index
        shape = index.area(code) if index is not None else None
        if shape is None:
            return None
        import shapely

        geometry = shape.geometry
        if tolerance_deg > 0:
            geometry = shapely.simplify(geometry, tolerance_deg, preserve_topology=True)
        return {
            "type": "Feature",
            "geometry": shapely.geometry.mapping(shapely.normalize(geometry)),
            "properties": {"code": shape.code, "name": shape.name, "level": shape.level,
                           "parent_code": shape.parent_code, "short_names": list(shape.short_names),
                           "synthetic": shape.synthetic,
                           "boundary_version": self._boundaries.versions.get(shape.level)},
        }


def _refs(match: AddressMatch) -> list[dict[str, str]]:
    return [{"code": a.code, "name": a.name, "level": a.level} for a in match.ambiguous]


def _areas_of(match: AddressMatch) -> dict[str, dict[str, str]]:
    areas = {"city": _ref(NANNING)}
    for level in LEVELS:
        area = match.areas.get(level)
        if area is not None and level != "city":
            areas[level] = _ref(area)
    return areas


def _with_point(by_text: Placed, by_point: Placed) -> Placed:
    """Keep the (outside) point's facts beside the text's answer, for the operator."""
    return Placed(inside=by_text.inside, areas=by_text.areas, confidence=by_text.confidence,
                  method=by_text.method, ambiguous=by_text.ambiguous, reason=by_text.reason or by_point.reason,
                  distance_m=by_point.distance_m, wgs84=by_point.wgs84)


def _child_level(parent: str | None) -> str:
    """The level below `parent` (by code length: county 6, township 9, community 12, grid 15)."""
    if parent is None or (len(parent) == 6 and parent.endswith("00")):
        return "county"
    return {6: "township", 9: "community", 12: "grid"}.get(len(parent), "county")


def _parent_of(code: str) -> str | None:
    """The enclosing area's code by prefix (grid 15 → community 12 → township 9 → county 6), None above a county."""
    return code[:-3] if len(code) in (9, 12, 15) else None
