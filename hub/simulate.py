"""The live simulator: realistic mixed traffic on every channel, and a crew of staff who work the cases so that
the closed loop moves on the consoles (`cityloop simulate`, and `cityloop demo` in-process).

- `HotlineSource`  12345 tickets (about 55 % of events): Chinese texts per category, callers with mobile numbers,
                   GCJ-02 points from the app channels, WGS84 from the call-taker's map, ~10 % address only.
- `Open311Source`  GeoReport v2 requests (10 %), form-encoded, with each service's required attributes.
- `DeviceFleet`    IoT sensors (20 %): registered at start, each cycling idle → alarm episode → clear → idle,
                   over MQTT when a broker is given, else over the HTTP twin.
- `GridPatrol`     grid workers' patrol reports with 1–2 generated photos (15 %).
- `FollowUpCrew`   operators, county dispatchers, township handlers and grid workers acting on the cases after a
                   realistic delay (scaled by `speed`): dispatch or reject triage, accept or return, review
                   returns, progress, resolve, call back (回访) or verify on site (核查).
- `Simulator`      the driver: Poisson arrivals at `rate`, bounded concurrency, back-off, the summary.

Everything goes through the hub's public API (the crew included); the database is used only to create the
simulator's own keys and staff logins (hub.demo.SimulatorAccounts).
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
import random
import secrets
import time
import uuid
from collections import Counter, deque
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta, timezone
from typing import Any, Final, Protocol

import aiohttp
import gmqtt
import orjson
import shapely
from gmqtt.mqtt.constants import MQTTv50
from gmqtt.mqtt.handler import MQTTConnectError
from shapely.geometry import shape

from connectors.iot import alarm_payload
from dispatch.codes import unit_level
from dispatch.matrix import Matrix, demo_matrix, hints_of
from dispatch.responsibility import Unit, responsible_unit
from geo.areas import NANNING, read_townships, short_forms
from geo.crs import Crs, from_wgs84
from geo.router import CountyRouter
from hub import sim_content as content
from hub.services import mqtt_address

log = logging.getLogger(__name__)

CITY_TZ: Final = timezone(timedelta(hours=8))
CITY: Final = NANNING.code
OPERATOR: Final = ("city_operator", CITY)
DEFAULT_MIX: Final = (("hotline", 0.55), ("open311", 0.10), ("iot", 0.20), ("grid", 0.15))


@dataclass(frozen=True, slots=True)
class SimConfig:
    rate: float = 2.0  # events per second, all channels together
    duration: float | None = 60.0  # seconds; None = until cancelled (the demo)
    mqtt_url: str | None = None  # IoT readings over MQTT when given, else over the HTTP twin
    # How much faster than real staff the crew works: 60 turns "signed for after 10 minutes" into 10 seconds.
    speed: float = 60.0
    mix: tuple[tuple[str, float], ...] = DEFAULT_MIX
    max_in_flight: int = 24  # requests on the wire at once, all channels and the crew together
    poll_s: float = 3.0  # how often the crew looks at the open cases
    fleet_size: int = 24
    crew: bool = True
    callback_url: str | None = None  # put on ~30 % of tickets when something receives the status callbacks
    seed: int | None = None
    report_every_s: float | None = None  # log a one-line summary this often (the demo runs forever)


class Accounts(Protocol):
    """Where the simulator's credentials come from (hub.demo.SimulatorAccounts); LookupError = not available."""

    async def api_key(self, role: str) -> str: ...

    async def user(self, role: str, area: str) -> tuple[str, str]: ...


class KeyOnly:
    """A hotline key and nothing else (`cityloop simulate --key`): hotline traffic without a database."""

    def __init__(self, key: str) -> None:
        self._key = key

    async def api_key(self, role: str) -> str:
        if role != "hotline":
            raise LookupError(f"no {role} key: give the simulator database access instead of --key")
        return self._key

    async def user(self, role: str, area: str) -> tuple[str, str]:
        raise LookupError("no staff logins without database access")


# ---- counting -------------------------------------------------------------------------------------------


@dataclass(slots=True)
class ChannelStats:
    sent: int = 0
    accepted: int = 0
    failed: int = 0
    statuses: Counter[str] = field(default_factory=Counter)  # every answer, retries included


@dataclass(slots=True)
class Summary:
    rate: float
    transport: str = "http"  # of the IoT readings
    started: float = field(default_factory=time.monotonic)
    elapsed: float = 0.0
    channels: dict[str, ChannelStats] = field(default_factory=dict)
    actions: Counter[str] = field(default_factory=Counter)  # crew actions the hub accepted
    refused: Counter[str] = field(default_factory=Counter)  # "accept 403": crew actions the hub refused
    conflicts: int = 0  # 409: someone else moved the case first
    unexpected_5xx: int = 0  # any 5xx but 503: a bug in the hub, never expected
    errors: int = 0  # exceptions in the simulator itself (logged): a bug here, never expected

    def channel(self, name: str) -> ChannelStats:
        return self.channels.setdefault(name, ChannelStats())

    def render(self) -> str:
        iot = f"IoT over {self.transport}" if "iot" in self.channels else "no IoT"
        lines = [f"simulated {self.elapsed:.0f} s at {self.rate:g} events/s ({iot})",
                 f"  {'channel':<8} {'sent':>6} {'accepted':>9} {'failed':>7}  answers"]
        for name in ("hotline", "open311", "iot", "grid", "crew", "setup"):
            stats = self.channels.get(name)
            if stats is None or not stats.sent:
                continue
            answers = " ".join(f"{code}×{n}" for code, n in sorted(stats.statuses.items()))
            lines.append(f"  {name:<8} {stats.sent:>6} {stats.accepted:>9} {stats.failed:>7}  {answers}")
        acted = ", ".join(f"{a} {n}" for a, n in self.actions.most_common()) or "none"
        lines.append(f"  crew actions: {acted}")
        if self.refused:
            lines.append("  refused: " + ", ".join(f"{a} ×{n}" for a, n in self.refused.most_common()))
        lines.append(f"  version conflicts: {self.conflicts}; unexpected 5xx: {self.unexpected_5xx}; "
                     f"simulator errors: {self.errors}")
        return "\n".join(lines)

    def one_line(self) -> str:
        parts = [f"{n} {s.accepted}/{s.sent}" for n, s in self.channels.items() if n in DEFAULT_CHANNELS]
        return f"simulator: {', '.join(parts)}; actions {sum(self.actions.values())}; 5xx {self.unexpected_5xx}"


DEFAULT_CHANNELS: Final = frozenset(name for name, _ in DEFAULT_MIX)


# ---- HTTP with bounded concurrency and back-off ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Answer:
    status: int
    body: Any  # parsed JSON, or None

    @property
    def ok(self) -> bool:
        return 200 <= self.status < 300


Body = Callable[[], Any]  # a fresh request body per attempt: a multipart form can be sent only once


class Http:
    """Every request of the run: at most `max_in_flight` on the wire; 503/429 and connection errors pause all
    senders (the hub said it is overloaded) with exponential back-off, then the request is retried — every
    write the simulator makes is idempotent (ticket_no, Idempotency-Key, report_id, device seq, expected_version)."""

    RETRIES: Final = 3

    def __init__(self, session: aiohttp.ClientSession, summary: Summary, max_in_flight: int) -> None:
        self._session = session
        self._summary = summary
        self._slots = asyncio.Semaphore(max_in_flight)
        self._resume_at = 0.0
        self._delay = 0.5

    async def call(self, channel: str, method: str, path: str, *, token: str | None = None, key: str | None = None,
                   json: Any = None, body: Body | None = None, params: dict[str, Any] | None = None,
                   headers: dict[str, str] | None = None, benign: Iterable[int] = ()) -> Answer | None:
        """The final answer, or None when the hub could not be reached (after the retries). Answers in
        `benign` (e.g. 409 for an action) count neither as accepted nor as failed."""
        stats = self._summary.channel(channel)
        stats.sent += 1
        sent_headers = dict(headers or {})
        if token:
            sent_headers["Authorization"] = f"Bearer {token}"
        if key:
            sent_headers["X-API-Key"] = key
        for _attempt in range(self.RETRIES + 1):
            await self._wait_out_backoff()
            try:
                async with self._slots, self._session.request(
                        method, path, json=json, data=body() if body else None, params=params,
                        headers=sent_headers) as resp:
                    status = resp.status
                    retry_after = resp.headers.get("Retry-After")
                    payload = await _read_json(resp)
            except (aiohttp.ClientError, TimeoutError) as exc:
                stats.statuses["error"] += 1
                log.warning("simulator: %s %s failed: %s", method, path, exc or type(exc).__name__)
                self._back_off(None)
                continue
            stats.statuses[str(status)] += 1
            if status in (429, 503):
                self._back_off(retry_after)
                continue
            self._delay = 0.5
            if status >= 500:
                self._summary.unexpected_5xx += 1
                log.error("simulator: %s %s answered %s: %s", method, path, status, payload)
            if 200 <= status < 300:
                stats.accepted += 1
            elif status not in benign:
                stats.failed += 1
            return Answer(status, payload)
        stats.failed += 1
        return None

    def _back_off(self, retry_after: str | None) -> None:
        try:
            delay = min(float(retry_after), 10.0) if retry_after else self._delay
        except ValueError:
            delay = self._delay
        self._delay = min(self._delay * 2, 8.0)
        loop = asyncio.get_running_loop()
        self._resume_at = max(self._resume_at, loop.time() + delay * random.uniform(1.0, 1.3))

    async def _wait_out_backoff(self) -> None:
        loop = asyncio.get_running_loop()
        # A moment in time, not an event: another failure meanwhile may push it further.
        while (wait := self._resume_at - loop.time()) > 0:  # noqa: ASYNC110
            await asyncio.sleep(wait)


async def _read_json(resp: aiohttp.ClientResponse) -> Any:
    raw = await resp.read()
    if "json" not in (resp.content_type or ""):
        return raw.decode("utf-8", "replace") or None
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        return raw.decode("utf-8", "replace")


def _error_text(answer: Answer | None) -> str:
    if answer is None:
        return "no answer"
    body = answer.body
    if isinstance(body, dict) and isinstance(body.get("error"), dict):
        return f"{answer.status} {body['error'].get('message')}"
    return f"{answer.status} {str(body)[:200]}"


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
        cells = []
        for feature in answer.body.get("features", []):
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
    """Equirectangular approximation: metres between two nearby WGS84 points (enough to space devices)."""
    x = math.radians(b[0] - a[0]) * math.cos(math.radians((a[1] + b[1]) / 2))
    y = math.radians(b[1] - a[1])
    return 6_371_000 * math.hypot(x, y)


# ---- staff: logins created on first use ----------------------------------------------------------------


class StaffRoom:
    """Bearer tokens of the simulated staff, by (role, area); each user is created (hub.demo) and signed in
    the first time someone needs them."""

    def __init__(self, http: Http, accounts: Accounts) -> None:
        self._http = http
        self._accounts = accounts
        self._tokens: dict[tuple[str, str], str] = {}
        self._locks: dict[tuple[str, str], asyncio.Lock] = {}
        self.unavailable: set[tuple[str, str]] = set()

    async def token(self, role: str, area: str) -> str | None:
        who = (role, area)
        if who in self._tokens:
            return self._tokens[who]
        async with self._locks.setdefault(who, asyncio.Lock()):
            if who in self._tokens or who in self.unavailable:
                return self._tokens.get(who)
            try:
                username, password = await self._accounts.user(role, area)
            except LookupError as exc:  # --key: no database, so no staff (expected)
                log.info("simulator: no %s for %s: %s", role, area, exc)
                self.unavailable.add(who)
                return None
            except ValueError as exc:
                log.warning("simulator: no %s for %s: %s", role, area, exc)
                self.unavailable.add(who)
                return None
            answer = await self._http.call("setup", "POST", "/api/v1/auth/login",
                                           json={"username": username, "password": password})
            if answer is None or not answer.ok:
                log.warning("simulator: %s could not sign in: %s", username, _error_text(answer))
                return None
            self._tokens[who] = str(answer.body["token"])
            return self._tokens[who]

    def forget(self, role: str, area: str) -> None:
        """After a 401 (the session expired): sign in again next time."""
        self._tokens.pop((role, area), None)


# ---- the channels ---------------------------------------------------------------------------------------


def _now_local() -> datetime:
    return datetime.now(CITY_TZ).replace(microsecond=0)


class TicketFactory:
    """12345 tickets as the hotline system records them (also used by `cityloop bench`)."""

    ADDRESS_ONLY: Final = 0.10
    VAGUE: Final = 0.15  # of the address-only tickets: the operator has to triage them

    def __init__(self, router: CountyRouter | None = None, seed: int | None = None, *, places: Places | None = None,
                 callback_url: str | None = None, run_id: str | None = None) -> None:
        self._rng = random.Random(seed)
        self._places: Places = places or CountyPlaces(router or CountyRouter.nanning())
        self._callback_url = callback_url
        self._run = run_id or secrets.token_hex(3).upper()
        self._count = 0

    def ticket(self) -> dict[str, Any]:
        rng = self._rng
        self._count += 1
        topic = content.weighted_topic(rng, "hotline")
        reported = _now_local() - timedelta(seconds=rng.randint(5, 180))  # recorded once the call is over
        ticket: dict[str, Any] = {
            "ticket_no": f"12345-{reported:%Y%m%d}-{self._run}{self._count:06d}",
            "type": content.pick(rng, topic.types), "category": topic.category, "title": topic.title,
            "reported_at": reported.isoformat(), "urgency": content.pick(rng, topic.urgency),
        }
        if rng.random() < 0.95:
            ticket["reporter"] = {"name": content.person_name(rng), "phone": content.mobile(rng)}
        if rng.random() < 0.03:
            ticket["confidential"] = True
        if self._callback_url and rng.random() < 0.3:
            ticket["callback_url"] = self._callback_url
        if rng.random() < self.ADDRESS_ONLY:  # a caller who only says where: the gazetteer places it
            ticket["channel"] = "phone"
            if rng.random() < self.VAGUE:
                ticket["address"] = content.vague_address(rng)
            else:
                ticket["address"] = content.community_address(rng)[0]
            ticket["content"] = content.fill(rng.choice(topic.texts), rng)
            return ticket
        channel = content.pick(rng, content.CHANNELS)
        spot = self._places.spot(rng)
        # Map pickers in WeChat mini-programs and Chinese apps give GCJ-02; the call-taker's map is WGS84.
        crs = Crs.GCJ02 if channel in content.APP_CHANNELS else Crs.WGS84
        x, y = from_wgs84(spot.lng, spot.lat, crs)
        ticket |= {"channel": channel, "location": {"lng": round(x, 6), "lat": round(y, 6), "crs": crs.value},
                   "content": content.fill(rng.choice(topic.texts), rng, spot.place)}
        if spot.place.community and rng.random() < 0.7:
            ticket["address"] = (f"{spot.place.county}{spot.place.township}{spot.place.community}"
                                 f"{rng.choice(content.ESTATES)}")
        return ticket


class HotlineSource:
    def __init__(self, http: Http, key: str, factory: TicketFactory) -> None:
        self._http = http
        self._key = key
        self._factory = factory
        # The last tickets sent with a point (ticket_no → channel, location): what a test compares with the case.
        self.recent: deque[tuple[str, str, dict[str, Any]]] = deque(maxlen=500)

    async def emit(self) -> None:
        ticket = self._factory.ticket()
        answer = await self._http.call("hotline", "POST", "/api/v1/hotline/tickets", key=self._key, json=ticket)
        if answer is not None and answer.ok and "location" in ticket:
            self.recent.append((ticket["ticket_no"], ticket["channel"], ticket["location"]))
        elif answer is not None and not answer.ok:
            log.warning("simulator: ticket %s refused: %s", ticket["ticket_no"], _error_text(answer))


class Open311Source:
    """A citizen app speaking GeoReport v2: WGS84 by the spec, form-encoded, the service's attributes."""

    def __init__(self, http: Http, key: str, places: Places, rng: random.Random) -> None:
        self._http = http
        self._key = key
        self._places = places
        self._rng = rng

    def fields(self) -> list[tuple[str, str]]:
        rng = self._rng
        topic = content.weighted_topic(rng, "open311")
        urgent = content.pick(rng, topic.urgency) in ("urgent", "critical")
        fields = [("api_key", self._key), ("service_code", topic.code),
                  ("attribute[urgency]", "urgent" if urgent else "normal")]
        if rng.random() < 0.92:
            spot = self._places.spot(rng)
            fields += [("lat", f"{spot.lat:.6f}"), ("long", f"{spot.lng:.6f}")]
            fields.append(("description", content.fill(rng.choice(topic.texts), rng, spot.place)))
        else:
            fields.append(("address_string", content.community_address(rng)[0]))
            fields.append(("description", content.fill(rng.choice(topic.texts), rng)))
        if rng.random() < 0.4:
            fields.append(("attribute[detail]", content.fill(rng.choice(
                ("已经持续{days}天了", "{time}最明显", "在{landmark}旁边，很好找")), rng)))
        if topic.code.startswith("0102"):  # manhole covers: the service definition requires the state
            fields.append(("attribute[cover_state]", rng.choice(("missing", "broken", "loose"))))
        if topic.code.startswith("0101") and rng.random() < 0.5:
            fields.append(("attribute[pole_number]", f"QX{rng.randint(1000, 9999)}"))
        if rng.random() < 0.6:
            name = content.person_name(rng)
            fields += [("last_name", name[0]), ("first_name", name[1:]), ("phone", content.mobile(rng))]
        return fields

    async def emit(self) -> None:
        fields = self.fields()
        # The Idempotency-Key makes the retries after a 503 or a lost answer safe.
        answer = await self._http.call("open311", "POST", "/open311/v2/requests.json", body=lambda: fields,
                                       headers={"Idempotency-Key": uuid.uuid4().hex})
        if answer is not None and not answer.ok:
            log.warning("simulator: Open311 request refused: %s", _error_text(answer))


@dataclass(slots=True)
class Device:
    device_id: str
    kind: str
    lng: float
    lat: float
    name: str
    seq: int
    alarms: int = 0  # alarms sent in the current episode; 0 = idle
    episode: int = 0  # how many alarms this episode has before the clear
    next_at: float = 0.0  # loop time: nothing before it (the gap between readings, the rest after a clear)


KIND_PREFIX: Final = {"water_level": "WL", "manhole_cover": "MH", "gas": "GAS", "noise": "NS", "drain": "DR",
                      "streetlight": "SL", "tilt": "TL"}


class DeviceFleet:
    """Sensors registered through the REST API at distinct points ≥ 1 km apart (so no two share a case), each
    cycling idle → an alarm episode (several alarms a few seconds apart, values rising) → clear → idle.

    Each `step()` sends one reading: the next of a running episode when one is due, else the first alarm of a
    new episode on a rested device. Sequence numbers start from the clock in milliseconds, so a rerun's never
    collide with the last run's (a device sends far fewer than 1,000 readings a second)."""

    MIN_SPACING_M: Final = 1_000.0
    GAP_S: Final = (2.0, 5.0)  # between two readings of one episode
    REST_S: Final = (30.0, 90.0)  # after a clear

    def __init__(self, http: Http, key: str, summary: Summary, rng: random.Random, mqtt_url: str | None,
                 readings_per_s: float) -> None:
        self._http = http
        self._key = key
        self._summary = summary
        self._rng = rng
        self._mqtt_url = mqtt_url
        self._mqtt: gmqtt.Client | None = None
        self.devices: list[Device] = []
        # As many episodes at once as the reading rate keeps going with a reading every few seconds each
        # (0.4 readings/s in the demo: two; 1.6/s: eight), so that an episode's alarms stay seconds apart.
        self._max_episodes = max(1, math.ceil(readings_per_s * max(self.GAP_S) * 1.1))

    async def start(self, places: Places, operator: str, size: int) -> None:
        layout = random.Random(20261122)  # the same fleet at the same spots on every run
        base = time.time_ns() // 1_000_000
        spots: list[Spot] = []
        for _ in range(5_000):
            if len(spots) == size:
                break
            spot = places.spot(layout, urban=True)
            if all(distance_m((spot.lng, spot.lat), (s.lng, s.lat)) >= self.MIN_SPACING_M for s in spots):
                spots.append(spot)
        for i, spot in enumerate(spots):
            kind = content.FLEET_MIX[i % len(content.FLEET_MIX)]
            device = Device(f"SIM-{KIND_PREFIX[kind]}-{i + 1:03d}", kind, spot.lng, spot.lat,
                            content.device_name(kind, layout), base, next_at=0.0)
            answer = await self._http.call("setup", "POST", "/api/v1/devices", token=operator, json={
                "device_id": device.device_id, "kind": kind, "name": device.name,
                "location": {"lng": round(spot.lng, 6), "lat": round(spot.lat, 6), "crs": "wgs84"}})
            if answer is not None and answer.ok:
                self.devices.append(device)
            else:
                log.warning("simulator: device %s not registered: %s", device.device_id, _error_text(answer))
        if self._mqtt_url:
            await self._connect()
        self._summary.transport = "mqtt" if self._mqtt is not None else "http"

    async def _connect(self) -> None:
        assert self._mqtt_url is not None
        client = gmqtt.Client(f"cityloop-sim-{secrets.token_hex(4)}")
        try:
            host, port = mqtt_address(self._mqtt_url)
            async with asyncio.timeout(5):
                await client.connect(host, port, version=MQTTv50, keepalive=30)
        except (OSError, TimeoutError, ValueError, MQTTConnectError) as exc:
            log.warning("simulator: MQTT broker %s not reachable (%s): readings go over HTTP", self._mqtt_url, exc)
            with contextlib.suppress(Exception):
                await client.disconnect()
            return
        self._mqtt = client

    async def step(self) -> None:
        now = asyncio.get_running_loop().time()
        running = [d for d in self.devices if d.alarms > 0]
        due = [d for d in running if d.next_at <= now]
        if due:
            device = min(due, key=lambda d: d.next_at)
        elif len(running) < self._max_episodes:
            rested = [d for d in self.devices if d.alarms == 0 and d.next_at <= now]
            if not rested:
                return
            device = self._rng.choice(rested)
            device.episode = self._rng.randint(3, 6)
        else:
            return  # every episode is between two readings: nothing realistic to send now
        profile = content.SENSORS[device.kind]
        if device.alarms >= device.episode:
            state, value = "clear", profile.normal
            device.alarms = 0
            device.next_at = now + self._rng.uniform(*self.REST_S)
        else:
            state, value = "alarm", content.sensor_value(profile, device.alarms, self._rng)
            device.alarms += 1
            device.next_at = now + self._rng.uniform(*self.GAP_S)
        device.seq += 1
        await self._send(device, state, value, profile.threshold)

    async def _send(self, device: Device, state: str, value: float, threshold: float) -> None:
        payload = alarm_payload(device.device_id, device.seq, device.kind, state, value, threshold,
                                datetime.now(UTC))
        if self._mqtt is not None and self._mqtt.is_connected:
            stats = self._summary.channel("iot")
            stats.sent += 1
            stats.statuses["mqtt"] += 1
            self._mqtt.publish(f"cityloop/iot/{device.device_id}/alarm", payload, qos=1)
            stats.accepted += 1  # handed to the client; unacknowledged ones are counted as failed at close
            return
        answer = await self._http.call("iot", "POST", "/api/v1/iot/alarms", key=self._key, body=lambda: payload,
                                       headers={"Content-Type": "application/json"})
        if answer is not None and not answer.ok:
            log.warning("simulator: reading of %s refused: %s", device.device_id, _error_text(answer))

    async def close(self) -> None:
        client, self._mqtt = self._mqtt, None
        if client is None:
            return
        # gmqtt keeps QoS 1 messages until the broker's PUBACK; it has no public way to wait for them.
        storage = getattr(client, "_persistent_storage", None)
        with contextlib.suppress(Exception):
            if storage is not None:
                async with asyncio.timeout(3):
                    await storage.wait_empty()
        with contextlib.suppress(Exception):
            pending = len(storage.get_all()) if storage is not None else 0
            stats = self._summary.channel("iot")
            stats.accepted -= pending
            stats.failed += pending
        with contextlib.suppress(Exception):
            await client.disconnect()
        # gmqtt schedules a reconnect on every close, which returns at once for a disconnected client; let it,
        # or a loop that ends now (the demo's shutdown) cancels it and asyncio logs "reconnect failed".
        await asyncio.sleep(0.1)


class GridPatrol:
    """A patrol team of grid workers (网格员), each walking the beat of one township, reporting with phone GPS
    and photos. A fixed roster: the same dozen people report all run long, as a real team does."""

    ROSTER: Final = 12

    def __init__(self, http: Http, staff: StaffRoom, places: Places, rng: random.Random, run_id: str) -> None:
        self._http = http
        self._staff = staff
        self._places = places
        self._rng = rng
        self._run = run_id
        self._count = 0
        self._beats = places.beats(rng, self.ROSTER)

    async def emit(self) -> None:
        rng = self._rng
        if not self._beats:
            return
        beat = rng.choice(self._beats)
        topic = content.weighted_topic(rng, "grid")
        spot = self._places.spot(rng, within=beat)
        token = await self._staff.token("grid_worker", beat)
        if token is None:
            return
        self._count += 1
        photos = [content.make_photo(rng) for _ in range(rng.choice((1, 1, 2)))]
        fields = {"category": topic.category, "title": topic.title, "content": content.fill(
            rng.choice(topic.patrol), rng, spot.place), "lng": f"{spot.lng:.6f}", "lat": f"{spot.lat:.6f}",
            "crs": "wgs84", "report_id": f"SIM-{self._run}-{self._count:06d}"}
        taken = _now_local()

        def form() -> aiohttp.FormData:
            data = aiohttp.FormData(default_to_multipart=True)
            for name, value in fields.items():
                data.add_field(name, value)
            for i, photo in enumerate(photos):
                data.add_field("photo", photo, filename=f"IMG_{taken:%Y%m%d_%H%M%S}_{i + 1}.jpg",
                               content_type="image/jpeg")
            return data

        answer = await self._http.call("grid", "POST", "/api/v1/grid/reports", token=token, body=form)
        if answer is not None and answer.status == 401:
            self._staff.forget("grid_worker", beat)
        elif answer is not None and not answer.ok:
            log.warning("simulator: grid report refused: %s", _error_text(answer))


# ---- the crew: the staff who move the cases along ------------------------------------------------------


@dataclass(slots=True)
class Plan:
    version: int  # the case's version the plan was made for
    step: str  # what will be done: a key of DELAYS_MIN
    due: float  # loop time
    busy: bool = False


# Minutes a real person takes before acting, by the case's step (divided by `speed`): the quick end of real
# practice (sign-off is due within 2 working hours, simple street problems are fixed within the hour), so that
# at the demo's 60× a case typically closes in a minute or two.
DELAYS_MIN: Final[dict[str, tuple[float, float]]] = {
    "triage": (2, 10), "dispatched": (2, 15), "return_requested": (3, 15), "progress": (5, 20),
    "resolve": (15, 60), "sensor": (2, 8), "resolved": (5, 30),
}
SATISFACTION: Final = (("satisfied", 72), ("basically_satisfied", 14), ("dissatisfied", 7), ("unreachable", 7))
RETURN_SHARE: Final = 0.10
APPROVE_RETURN: Final = 0.65


def staff_of(case: dict[str, Any]) -> tuple[str, str] | None:
    """The role and area of the lead unit's own staff (dispatch.permissions.handles: only they act)."""
    lead = (case.get("units") or {}).get("lead")
    if not lead:
        return None
    level = unit_level(lead)
    area = str(lead["code"]).partition("-")[0]
    if level == "city":
        return OPERATOR
    if level == "county":
        return "county_dispatcher", area[:6]
    if level in ("township", "community", "grid") and len(area) >= 9:
        return "township_handler", area[:9]
    return None


class FollowUpCrew:
    """Every `poll_s` the operator lists the open cases; each case gets a plan due after a realistic delay, and
    when it is due the right person acts: the operator triages, reviews returns and calls citizens back; the
    lead unit's staff sign for (most), return (~10 %), report progress (sometimes with a photo) and resolve; a
    grid worker verifies the resolution of a grid report on site. IoT cases are resolved once the sensor has
    recovered, and then close on their own."""

    STATES: Final = ("triage", "dispatched", "return_requested", "accepted", "resolved")
    PAGE: Final = 200
    PAGES: Final = 3
    WORKERS: Final = 8

    def __init__(self, http: Http, staff: StaffRoom, summary: Summary, rng: random.Random, *, speed: float,
                 poll_s: float, matrix: Matrix | None = None) -> None:
        self._http = http
        self._staff = staff
        self._summary = summary
        self._rng = rng
        self._speed = speed
        self._poll_s = poll_s
        self._matrix = matrix if matrix is not None else demo_matrix()
        self._plans: dict[str, Plan] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._workers = asyncio.Semaphore(self.WORKERS)
        self._townships = {t.code: t.name for t in read_townships()}

    async def run(self) -> None:
        try:
            while True:
                try:
                    await self._round()
                except Exception:  # a bug in one round must not stop the crew
                    log.exception("simulator: crew round failed")
                    self._summary.errors += 1
                await asyncio.sleep(self._poll_s)
        finally:
            await _cancel_all(self._tasks)

    async def _round(self) -> None:
        operator = await self._staff.token(*OPERATOR)
        if operator is None:
            return
        loop = asyncio.get_running_loop()
        seen: set[str] = set()
        due: list[tuple[float, dict[str, Any], Plan]] = []
        for state in self.STATES:
            for case in await self._list(operator, state):
                seen.add(str(case["case_id"]))
                plan = self._plan(case, loop.time())
                if plan is not None and not plan.busy and plan.due <= loop.time():
                    due.append((plan.due, case, plan))
        # Longest waiting first, whatever the state: a crew that falls behind still closes cases, not only signs.
        due.sort(key=lambda item: item[0])
        for _due, case, plan in due[:max(0, 4 * self.WORKERS - len(self._tasks))]:
            plan.busy = True
            task = asyncio.create_task(self._work(case, plan))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        for case_id in list(self._plans):  # closed, merged or out of sight: forget
            if case_id not in seen and not self._plans[case_id].busy:
                del self._plans[case_id]

    async def _list(self, token: str, state: str) -> list[dict[str, Any]]:
        cases: list[dict[str, Any]] = []
        params: dict[str, Any] = {"state": state, "limit": self.PAGE}
        for _ in range(self.PAGES):
            answer = await self._http.call("crew", "GET", "/api/v1/cases", token=token, params=params)
            if answer is None or not answer.ok:
                if answer is not None and answer.status == 401:
                    self._staff.forget(*OPERATOR)
                break
            cases += answer.body["cases"]
            if not answer.body.get("next_cursor"):
                break
            params = {**params, "cursor": answer.body["next_cursor"]}
        return cases

    def _plan(self, case: dict[str, Any], now: float) -> Plan | None:
        """The case's plan: kept while the case stays at the same step (a repeated alarm or a timer changes
        its version, not what is to be done), new — with a fresh delay — when it moved on."""
        case_id = str(case["case_id"])
        plan = self._plans.get(case_id)
        if plan is not None and (plan.version == case["version"] or plan.busy):
            return plan
        step = self._step(case)
        if step is None:
            self._plans.pop(case_id, None)
            return None
        if plan is not None and plan.step == step and plan.due != math.inf:
            plan.version = case["version"]
            return plan
        low, high = DELAYS_MIN[step]
        plan = Plan(case["version"], step, now + self._rng.uniform(low, high) * 60.0 / self._speed)
        self._plans[case_id] = plan
        return plan

    def _step(self, case: dict[str, Any]) -> str | None:
        state = case["state"]
        if state == "accepted":
            if case.get("source") == "iot":
                # A machine-detected case is confirmed once the sensor says the problem is gone.
                return "sensor" if (case.get("sensor") or {}).get("state") == "recovered" else None
            # Two cases in five get a progress report first; decided by the case id, so that it stays decided.
            first_progress = int(str(case["case_id"])[-2:], 16) % 5 < 2
            return "progress" if first_progress and not case.get("progress_count") else "resolve"
        if state == "resolved" and case.get("source") == "iot":
            return None  # resolved before the recovery: it closes when the sensor recovers
        return state if state in DELAYS_MIN else None

    async def _work(self, case: dict[str, Any], plan: Plan) -> None:
        answer: Answer | None = None
        try:
            async with self._workers:
                answer = await self._act(case, plan.step)
        except Exception:
            log.exception("simulator: crew action on %s failed", case["case_id"])
            self._summary.errors += 1
            plan.due = math.inf  # a bug: once in the log is enough, not every round
        finally:
            plan.busy = False
            if answer is not None and answer.ok:
                self._plans.pop(str(case["case_id"]), None)  # done: the case's next step gets its own plan
            elif answer is not None and answer.status in (403, 404, 422):
                plan.due = math.inf  # refused at this step: leave it until the case moves on
            # else a version conflict or no answer: the plan stays due, and the next round acts on a fresh read

    async def _act(self, case: dict[str, Any], step: str) -> Answer | None:
        if step == "triage":
            return await self._triage(case)
        if step == "dispatched":
            return await self._sign_or_return(case)
        if step == "return_requested":
            approve = self._rng.random() < APPROVE_RETURN
            answer = await self._do(case, OPERATOR, "review_return", approve=approve)
            if approve and answer is not None and answer.status == 422:  # the system has no other unit to propose
                answer = await self._do(case, OPERATOR, "review_return", approve=False)
            return answer
        if step in ("progress", "resolve", "sensor"):
            return await self._handle(case, step)
        if step == "resolved":
            return await self._call_back(case)
        return None

    async def _do(self, case: dict[str, Any], who: tuple[str, str] | None, action: str,
                  **fields: Any) -> Answer | None:
        if who is None:
            return None
        token = await self._staff.token(*who)
        if token is None:
            return None
        answer = await self._http.call(
            "crew", "POST", f"/api/v1/cases/{case['case_id']}/actions", token=token, benign=(409,),
            json={"action": action, "expected_version": case["version"], **fields})
        if answer is None:
            return None
        if answer.ok:
            self._summary.actions[action] += 1
            case.update(answer.body["case"])  # the next action of this round starts from the new version
        elif answer.status == 409:
            # Someone (a timer, a merge, a repeated alarm) moved it first: the next round re-reads and replans.
            self._summary.conflicts += 1
        else:
            if answer.status == 401:
                self._staff.forget(*who)
            self._summary.refused[f"{action} {answer.status}"] += 1
            log.info("simulator: %s %s by %s refused: %s", action, case["case_id"], who[0], _error_text(answer))
        return answer

    async def _triage(self, case: dict[str, Any]) -> Answer | None:
        """The operator phones the caller back and places the case, or rejects what cannot be placed."""
        areas = self._target_areas(case)
        if areas is None:
            outside = case.get("triage_reason") == "outside_city"
            return await self._do(case, OPERATOR, "reject",
                                  reason=content.REJECT_OUTSIDE if outside else content.REJECT_UNPLACED)
        deepest = areas["township"] if "township" in areas else areas["county"]
        unit = self._unit_for(case, areas)
        return await self._do(case, OPERATOR, "dispatch", area=deepest["code"], unit=unit.code, unit_name=unit.name,
                              areas=areas)

    def _target_areas(self, case: dict[str, Any]) -> dict[str, dict[str, str]] | None:
        areas = case.get("areas") or {}
        if "county" in areas:
            return {lv: dict(areas[lv]) for lv in ("city", "county", "township") if lv in areas}
        candidates = [a for a in (case.get("routing") or {}).get("ambiguous") or [] if len(a.get("code", "")) >= 6]
        if not candidates:
            return None
        chosen = self._rng.choice(candidates)  # the caller confirmed which of the places they meant
        county = chosen["code"][:6]
        if county not in content.COUNTY_NAMES:
            return None
        out = {"city": {"code": CITY, "name": NANNING.name},
               "county": {"code": county, "name": content.COUNTY_NAMES[county]}}
        township = chosen["code"][:9]
        if len(chosen["code"]) >= 9 and township in self._townships:
            out["township"] = {"code": township, "name": self._townships[township]}
        return out

    def _unit_for(self, case: dict[str, Any], areas: dict[str, dict[str, str]]) -> Unit:
        """The unit the city's responsibility catalogue names for this category there (the operator looks it up)."""
        category = (case.get("report") or {}).get("category")
        if isinstance(category, str) and self._matrix.knows(category):
            return self._matrix.assign(category, areas, hints_of(case.get("report") or {})).lead
        return responsible_unit(areas)[0]

    async def _sign_or_return(self, case: dict[str, Any]) -> Answer | None:
        who = staff_of(case)
        # Machine-detected cases are not argued about; a case comes back at most once (then the unit signs).
        returnable = case.get("source") != "iot" and not case.get("return_count") and not case.get("arbitrated")
        if returnable and self._rng.random() < RETURN_SHARE:
            reason = "not_our_remit" if self._rng.random() < 0.8 else "wrong_area"
            return await self._do(case, who, "return", reason=reason, note=content.return_note(self._rng, reason))
        return await self._do(case, who, "accept")

    async def _handle(self, case: dict[str, Any], step: str) -> Answer | None:
        who = staff_of(case)
        if step == "sensor":
            return await self._do(case, who, "resolve", note=content.sensor_resolve_note(self._rng))
        if step == "progress":
            photos = await self._upload_photo(who) if self._rng.random() < 0.5 else []
            return await self._do(case, who, "progress", note=content.progress_note(self._rng), photos=photos)
        category = str((case.get("report") or {}).get("category") or "")
        return await self._do(case, who, "resolve", note=content.resolve_note(self._rng, category))

    async def _upload_photo(self, who: tuple[str, str] | None) -> list[str]:
        token = await self._staff.token(*who) if who else None
        if token is None:
            return []
        photo = content.make_photo(self._rng)

        def form() -> aiohttp.FormData:
            data = aiohttp.FormData(default_to_multipart=True)
            data.add_field("photo", photo, filename="progress.jpg", content_type="image/jpeg")
            return data

        answer = await self._http.call("crew", "POST", "/api/v1/photos", token=token, body=form)
        return [str(answer.body["photo_id"])] if answer is not None and answer.ok else []

    async def _call_back(self, case: dict[str, Any]) -> Answer | None:
        if case.get("source") == "grid":  # 核查: a grid worker of the township looks at the spot
            areas = case.get("areas") or {}
            area = (areas.get("township") or areas.get("county") or {}).get("code")
            if area:
                verdict = content.pick(self._rng, (("satisfied", 9), ("basically_satisfied", 1)))
                return await self._do(case, ("grid_worker", area), "callback", contacted=True, solved=True,
                                      satisfaction=verdict)
        tried = {c.get("satisfaction") for c in case.get("callbacks") or [] if isinstance(c, dict)}
        choices = [(s, w) for s, w in SATISFACTION
                   if not (s == "unreachable" and "unreachable" in tried)  # the second call gets through
                   and not (s == "dissatisfied" and case.get("redo_count"))]  # a redo mostly fixes it
        satisfaction = content.pick(self._rng, choices)
        solved = satisfaction in ("satisfied", "basically_satisfied")
        return await self._do(case, OPERATOR, "callback", contacted=satisfaction != "unreachable", solved=solved,
                       satisfaction=satisfaction)


async def _cancel_all(tasks: set[asyncio.Task[None]]) -> None:
    for task in list(tasks):
        task.cancel()
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)


# ---- the driver -----------------------------------------------------------------------------------------


class Simulator:
    """Owns the HTTP session, the MQTT client, the crew and every in-flight event; `run()` cleans all up,
    also when it is cancelled (the demo's shutdown)."""

    def __init__(self, base_url: str, accounts: Accounts, config: SimConfig) -> None:
        self.base_url = base_url.rstrip("/")
        self.accounts = accounts
        self.config = config
        self.summary = Summary(rate=config.rate)
        self.rng = random.Random(config.seed)
        self.run_id = secrets.token_hex(3).upper()
        self.hotline: HotlineSource | None = None
        self.fleet: DeviceFleet | None = None
        self._sources: dict[str, Callable[[], Awaitable[None]]] = {}
        self._events: set[asyncio.Task[None]] = set()
        self._stop = asyncio.Event()

    def stop(self) -> None:
        """End the run early (Ctrl-C in `cityloop simulate`): no new events; `run()` returns its summary."""
        self._stop.set()

    async def run(self) -> Summary:
        config = self.config
        timeout = aiohttp.ClientTimeout(total=20)
        connector = aiohttp.TCPConnector(limit=config.max_in_flight)
        crew_task: asyncio.Task[None] | None = None
        reporter: asyncio.Task[None] | None = None
        async with aiohttp.ClientSession(self.base_url, timeout=timeout, connector=connector) as session:
            http = Http(session, self.summary, config.max_in_flight)
            staff = StaffRoom(http, self.accounts)
            try:
                crew = await self._set_up(http, staff)
                if crew is not None:
                    crew_task = asyncio.create_task(crew.run())
                if config.report_every_s:
                    reporter = asyncio.create_task(self._report(config.report_every_s))
                await self._drive()
                await self._drain(10.0)
            finally:
                for task in (crew_task, reporter):
                    if task is not None:
                        task.cancel()
                        with contextlib.suppress(asyncio.CancelledError):
                            await task
                await _cancel_all(self._events)
                if self.fleet is not None:
                    await self.fleet.close()
                self.summary.elapsed = time.monotonic() - self.summary.started
        return self.summary

    async def _set_up(self, http: Http, staff: StaffRoom) -> FollowUpCrew | None:
        config = self.config
        began = time.monotonic()
        keys: dict[str, str] = {}
        for role in ("hotline", "open311", "iot"):
            try:
                keys[role] = await self.accounts.api_key(role)
            except LookupError as exc:
                log.info("simulator: %s", exc)
        operator = await staff.token(*OPERATOR)
        places: Places | None = None
        if operator is not None:
            places = await CommunityPlaces.load(http, operator)
            if places is None:
                log.warning("simulator: the community layer could not be read; using county centres")
        if places is None:
            places = await asyncio.to_thread(lambda: CountyPlaces(CountyRouter.nanning()))
        if "hotline" in keys:
            factory = TicketFactory(places=places, seed=self.rng.randrange(2**32), callback_url=config.callback_url,
                                    run_id=self.run_id)
            self.hotline = HotlineSource(http, keys["hotline"], factory)
            self._sources["hotline"] = self.hotline.emit
        if "open311" in keys:
            self._sources["open311"] = Open311Source(http, keys["open311"], places, self.rng).emit
        if "iot" in keys and operator is not None:
            weights = dict(config.mix)
            share = weights.get("iot", 0.0) / (sum(weights.values()) or 1.0)
            self.fleet = DeviceFleet(http, keys["iot"], self.summary, self.rng, config.mqtt_url, config.rate * share)
            await self.fleet.start(places, operator, config.fleet_size)
            if self.fleet.devices:
                self._sources["iot"] = self.fleet.step
        if operator is not None:
            self._sources["grid"] = GridPatrol(http, staff, places, self.rng, self.run_id).emit
        if not self._sources:
            raise RuntimeError("the simulator has no credentials for any channel")
        log.info("simulator: %s at %g events/s; IoT over %s; %d devices; ready in %.1f s", ", ".join(self._sources),
                 config.rate, self.summary.transport, len(self.fleet.devices) if self.fleet else 0,
                 time.monotonic() - began)
        if not config.crew or operator is None:
            return None
        return FollowUpCrew(http, staff, self.summary, self.rng, speed=config.speed, poll_s=config.poll_s)

    async def _drive(self) -> None:
        """Poisson arrivals: exponential gaps at `rate`, each event one channel drawn by the mix. At most
        2 × max_in_flight events are pending: a slow hub slows the simulator instead of piling up tasks."""
        config = self.config
        mix = [(name, weight) for name, weight in config.mix if name in self._sources and weight > 0]
        names, weights = [n for n, _ in mix], [w for _, w in mix]
        rate = max(config.rate, 1e-6)
        pending = asyncio.Semaphore(2 * config.max_in_flight)
        loop = asyncio.get_running_loop()
        deadline = None if config.duration is None else loop.time() + config.duration
        next_at = loop.time()
        while not self._stop.is_set() and (deadline is None or loop.time() < deadline):
            next_at += self.rng.expovariate(rate)
            if deadline is not None and next_at >= deadline:
                await self._pause(deadline - loop.time())
                break
            wait = next_at - loop.time()
            if wait > 0:
                await self._pause(wait)
            elif wait < -1.0:
                next_at = loop.time()  # fell behind (a slow hub): carry on at the rate, no catch-up burst
            if self._stop.is_set():
                break
            await pending.acquire()
            channel = self.rng.choices(names, weights=weights)[0]
            task = asyncio.create_task(self._event(channel))
            self._events.add(task)
            task.add_done_callback(self._events.discard)
            task.add_done_callback(lambda _t: pending.release())

    async def _pause(self, seconds: float) -> None:
        """Sleep, unless stop() is called meanwhile."""
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), max(seconds, 0.0))

    async def _event(self, channel: str) -> None:
        try:
            await self._sources[channel]()
        except asyncio.CancelledError:
            raise
        except Exception:  # never let one event's bug stop the run
            log.exception("simulator: a %s event failed", channel)
            self.summary.channel(channel).failed += 1
            self.summary.errors += 1

    async def _drain(self, timeout: float) -> None:
        if self._events:
            await asyncio.wait(set(self._events), timeout=timeout)

    async def _report(self, every: float) -> None:
        while True:
            await asyncio.sleep(every)
            log.info(self.summary.one_line())


async def run_simulation(base_url: str, accounts: Accounts, config: SimConfig) -> Summary:
    """Run until `config.duration` passes (forever when None, until cancelled); the summary of the run."""
    return await Simulator(base_url, accounts, config).run()
