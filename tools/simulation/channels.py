"""The four channels as traffic sources: hotline tickets, Open311 requests, IoT devices, grid patrols."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import random
import secrets
import time
import uuid
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import aiohttp
import gmqtt
from gmqtt.mqtt.constants import MQTTv50
from gmqtt.mqtt.handler import MQTTConnectError

from connectors.iot import alarm_payload
from geo.crs import Crs, from_wgs84
from hub.infra.embedded import mqtt_target
from tools.router import CountyRouter
from tools.simulation import content
from tools.simulation.accounts import StaffRoom
from tools.simulation.config import CITY_TZ
from tools.simulation.http import Http, error_text
from tools.simulation.places import CountyPlaces, Places, Spot, distance_m
from tools.simulation.report import Summary

log = logging.getLogger(__name__)


# ---- the channels ---------------------------------------------------------------------------------------


def _now_local() -> datetime:
    return datetime.now(CITY_TZ).replace(microsecond=0)


class TicketFactory:
    """12345 tickets as the hotline system records them (also used by `cityloop bench`)."""

    ADDRESS_ONLY: Final = 0.10
    VAGUE: Final = 0.15  # of the address-only tickets: the operator has to triage them

    def __init__(self, router: CountyRouter | None = None, seed: int | None = None, *, places: Places | None = None,
                 callback_url: str | None = None, run_id: str | None = None, vague: float = VAGUE) -> None:
        self._rng = random.Random(seed)
        self._vague = vague
        self._places: Places = places or CountyPlaces(router or CountyRouter.nanning())
        self._callback_url = callback_url
        self._run = run_id or secrets.token_hex(3).upper()
        self._count = 0

    def ticket(self, reported: datetime | None = None, *, topic: content.Topic | None = None,
               within: str | None = None) -> dict[str, Any]:
        """A ticket reported now (a few minutes ago: recorded once the call is over), or at `reported`; about
        `topic` (else one drawn by the hotline's weights) and at a point inside the area `within` (a township or
        county code; such a ticket always has a point)."""
        rng = self._rng
        self._count += 1
        if topic is None:
            topic = content.weighted_topic(rng, "hotline")
        if reported is None:
            reported = _now_local() - timedelta(seconds=rng.randint(5, 180))
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
        # A caller who only says where (the gazetteer places it); never in a scripted surge, which needs its area.
        if within is None and rng.random() < self.ADDRESS_ONLY:
            ticket["channel"] = "phone"
            if rng.random() < self._vague:
                ticket["address"] = content.vague_address(rng)
            else:
                ticket["address"] = content.community_address(rng)[0]
            ticket["content"] = content.fill(rng.choice(topic.texts), rng)
            return ticket
        channel = content.pick(rng, content.CHANNELS)
        spot = self._places.spot(rng, within=within)
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
        self.factory = factory  # a scripted surge draws its tickets from it too (unique ticket numbers)
        # The last tickets sent with a point (ticket_no → channel, location): what a test compares with the case.
        self.recent: deque[tuple[str, str, dict[str, Any]]] = deque(maxlen=500)

    async def emit(self) -> None:
        await self.send(self.factory.ticket())

    async def send(self, ticket: dict[str, Any]) -> None:
        answer = await self._http.call("hotline", "POST", "/api/v1/hotline/tickets", key=self._key, json=ticket)
        if answer is not None and answer.ok and "location" in ticket:
            self.recent.append((ticket["ticket_no"], ticket["channel"], ticket["location"]))
        elif answer is not None and not answer.ok:
            log.warning("simulator: ticket %s refused: %s", ticket["ticket_no"], error_text(answer))


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
            log.warning("simulator: Open311 request refused: %s", error_text(answer))


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
        spots = spaced_spots(lambda: places.spot(layout, urban=True), size, self.MIN_SPACING_M)
        for i, spot in enumerate(spots):
            kind = content.FLEET_MIX[i % len(content.FLEET_MIX)]
            device = Device(f"SIM-{KIND_PREFIX[kind]}-{i + 1:03d}", kind, spot.lng, spot.lat,
                            content.device_name(kind, layout), base, next_at=0.0)
            if await self.register(device, operator):
                self.devices.append(device)
        if self._mqtt_url:
            await self._connect()
        self._summary.transport = "mqtt" if self._mqtt is not None else "http"

    async def register(self, device: Device, operator: str) -> bool:
        """Register (or move: registration is an upsert) `device` through the REST API, as its owner would."""
        answer = await self._http.call("setup", "POST", "/api/v1/devices", token=operator, json={
            "device_id": device.device_id, "kind": device.kind, "name": device.name,
            "location": {"lng": round(device.lng, 6), "lat": round(device.lat, 6), "crs": "wgs84"}})
        if answer is not None and answer.ok:
            return True
        log.warning("simulator: device %s not registered: %s", device.device_id, error_text(answer))
        return False

    async def _connect(self) -> None:
        assert self._mqtt_url is not None
        client = gmqtt.Client(f"cityloop-sim-{secrets.token_hex(4)}")
        where = "MQTT_URL"  # not the URL itself in the log: it may hold a password
        try:
            target = mqtt_target(self._mqtt_url)
            where = f"{target.host}:{target.port}"
            if target.username is not None:
                client.set_auth_credentials(target.username, target.password)
            async with asyncio.timeout(5):
                await client.connect(target.host, target.port, ssl=target.tls, version=MQTTv50, keepalive=30)
        except (OSError, TimeoutError, ValueError, MQTTConnectError) as exc:
            log.warning("simulator: MQTT broker %s not reachable (%s): readings go over HTTP", where, exc)
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
        await self.send(device, state, value, profile.threshold)

    async def send(self, device: Device, state: str, value: float, threshold: float) -> None:
        """One reading of `device` (any device, the fleet's or a scripted surge's), over MQTT or HTTP."""
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
            log.warning("simulator: reading of %s refused: %s", device.device_id, error_text(answer))

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


def spaced_spots(draw: Callable[[], Spot], n: int, min_spacing_m: float, tries: int = 5_000) -> list[Spot]:
    """Up to `n` spots from `draw`, each at least `min_spacing_m` from the others (fewer if `tries` draws do
    not find them)."""
    spots: list[Spot] = []
    for _ in range(tries):
        if len(spots) == n:
            break
        spot = draw()
        if all(distance_m((spot.lng, spot.lat), (s.lng, s.lat)) >= min_spacing_m for s in spots):
            spots.append(spot)
    return spots


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
            log.warning("simulator: grid report refused: %s", error_text(answer))
