"""Where problems happen: points in real communities (urban ones weighted), or around county seats."""

from __future__ import annotations

import itertools
import logging
import random
from collections import Counter
from dataclasses import dataclass
from typing import Any, Final, Protocol

import shapely
from shapely.geometry import shape

from dispatch.merge import haversine_m
from geo.areas import read_townships, short_forms
from tools.router import CountyRouter
from tools.simulation import content
from tools.simulation.http import Http

log = logging.getLogger(__name__)


# ---- places: where problems happen ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Spot:
    lng: float  # WGS84
    lat: float
    place: content.Place
    county_code: str
    township_code: str | None = None


class Places(Protocol):
    def spot(self, rng: random.Random, urban: bool = False, within: str | None = None) -> Spot:
        """A point where people report problems; `urban`: in a town or city community; `within`: inside this
        township (or county) code."""
        ...

    def beats(self, rng: random.Random, n: int) -> list[str]:
        """Up to `n` areas (township codes, else county codes) for a grid patrol team to cover."""
        ...


class CountyPlaces:
    """Without the hub's layers (or a login to read them): points scattered round each county's centre, the
    urban districts weighted up. Fast, for `TicketFactory` in the benchmark too."""

    URBAN: Final = frozenset({"450102", "450103", "450105", "450107", "450108"})

    def __init__(self, router: CountyRouter) -> None:
        self._counties = router.counties()
        self._shapes = {c.code: shape(router.geometry_geojson(c.code)) for c in self._counties}
        for geometry in self._shapes.values():
            shapely.prepare(geometry)  # contains_xy on a prepared polygon: a few µs (the benchmark makes 80,000)
        self._centres = {code: geometry.representative_point().coords[0] for code, geometry in self._shapes.items()}
        self._weights = list(itertools.accumulate(5 if c.code in self.URBAN else 1 for c in self._counties))
        self._townships: dict[str, list[str]] = {}
        for t in read_townships():
            self._townships.setdefault(t.county_code, []).append(t.name)

    def spot(self, rng: random.Random, urban: bool = False, within: str | None = None) -> Spot:
        county = next((c for c in self._counties if within and c.code == within[:6]), None)
        if county is None:
            county = rng.choices(self._counties, cum_weights=self._weights)[0]
        cx, cy = self._centres[county.code]
        lng, lat = cx, cy
        for _ in range(20):
            x, y = rng.gauss(cx, 0.03), rng.gauss(cy, 0.03)
            if shapely.contains_xy(self._shapes[county.code], x, y):
                lng, lat = x, y
                break
        town = rng.choice(self._townships.get(county.code) or [county.name])
        return Spot(lng, lat, content.Place(county.name, town), county.code)

    def beats(self, rng: random.Random, n: int) -> list[str]:
        return [c.code for c in self._counties][:n]


@dataclass(frozen=True, slots=True)
class _Cell:
    code: str
    name: str  # as people say it
    township_code: str
    county_code: str
    geometry: Any  # shapely polygon, prepared
    bounds: tuple[float, float, float, float]
    urban: bool


class CommunityPlaces:
    """Points inside the hub's own community layer (GET /api/v1/areas.geojson), urban communities (社区)
    weighted eight times villages (村): reports cluster where people live, not evenly over a mostly rural city."""

    URBAN_WEIGHT: Final = 8

    def __init__(self, cells: list[_Cell], townships: dict[str, str], counties: dict[str, str]) -> None:
        self._cells = cells
        self._urban = [c for c in cells if c.urban] or cells
        self._weights = list(itertools.accumulate(self.URBAN_WEIGHT if c.urban else 1 for c in cells))
        self._by_township: dict[str, list[_Cell]] = {}
        for cell in cells:
            self._by_township.setdefault(cell.township_code, []).append(cell)
        self._townships = townships
        self._counties = counties

    @classmethod
    async def load(cls, http: Http, token: str) -> CommunityPlaces | None:
        names: dict[str, dict[str, tuple[str, str | None]]] = {}
        for level in ("county", "township"):
            answer = await http.call("setup", "GET", "/api/v1/areas", token=token, params={"level": level})
            if answer is None or not answer.ok:
                return None
            names[level] = {a["code"]: (a["name"], a.get("parent_code")) for a in answer.body["areas"]}
        answer = await http.call("setup", "GET", "/api/v1/areas.geojson", token=token,
                                 params={"level": "community", "simplify_m": "50"})
        if answer is None or not answer.ok or not isinstance(answer.body, dict):
            return None
        return cls.from_layers(names, answer.body)

    @classmethod
    def from_locator(cls, locator: Any) -> CommunityPlaces | None:
        """The same places from a hub's own Locator, in process (the demo's history is placed as its live
        traffic is, so that the early-warning baseline learns where reports come from)."""
        names = {level: {a["code"]: (a["name"], a.get("parent_code")) for a in locator.children(None, level)}
                 for level in ("county", "township")}
        return cls.from_layers(names, locator.features(None, "community", 50 / 111_000))

    @classmethod
    def from_layers(cls, names: dict[str, dict[str, tuple[str, str | None]]],
                    collection: dict[str, Any]) -> CommunityPlaces | None:
        """`names`: level → code → (name, parent code) for counties and townships; `collection`: the community
        layer as GeoJSON (GET /api/v1/areas.geojson?level=community)."""
        cells = []
        for feature in collection.get("features", []):
            props = feature["properties"]
            township = names["township"].get(props.get("parent_code") or "")
            if township is None or not township[1]:
                continue
            geometry = shape(feature["geometry"])
            if geometry.is_empty:
                continue
            shapely.prepare(geometry)
            forms = short_forms(props["name"], "community")
            urban = any(k in props["name"] for k in ("社区", "居委会", "生活区"))
            cells.append(_Cell(props["code"], forms[0] if forms else props["name"], props["parent_code"],
                               str(township[1]), geometry, geometry.bounds, urban))
        if not cells:
            return None
        return cls(cells, {c: n for c, (n, _) in names["township"].items()},
                   {c: n for c, (n, _) in names["county"].items()})

    def spot(self, rng: random.Random, urban: bool = False, within: str | None = None) -> Spot:
        if within in self._by_township:
            local = self._by_township[within]
            cell = rng.choices(local, weights=[self.URBAN_WEIGHT if c.urban else 1 for c in local])[0]
        elif urban:
            cell = rng.choice(self._urban)
        else:
            cell = rng.choices(self._cells, cum_weights=self._weights)[0]
        x0, y0, x1, y1 = cell.bounds
        lng, lat = shapely.get_coordinates(cell.geometry.representative_point())[0]
        for _ in range(30):
            x, y = rng.uniform(x0, x1), rng.uniform(y0, y1)
            if shapely.contains_xy(cell.geometry, x, y):
                lng, lat = x, y
                break
        place = content.Place(self._counties.get(cell.county_code, ""), self._townships.get(cell.township_code, ""),
                              cell.name)
        return Spot(float(lng), float(lat), place, cell.county_code, cell.township_code)

    def beats(self, rng: random.Random, n: int) -> list[str]:
        """Townships with the most communities (社区) first come most often: patrols cover the towns."""
        urban = Counter(c.township_code for c in self._urban)
        codes = list(urban)
        chosen: list[str] = []
        while codes and len(chosen) < n:
            code = rng.choices(codes, weights=[urban[c] for c in codes])[0]
            chosen.append(code)
            codes.remove(code)
        return chosen


def distance_m(a: tuple[float, float], b: tuple[float, float]) -> float:
    """Metres between two WGS84 (lng, lat) points — the merge rules' own measure, so devices spaced by it
    never look like one incident."""
    return haversine_m(a[0], a[1], b[0], b[1])
