"""Scripted surges, so that a demo visitor sees early warning work: now and then many people in one township call
12345 about one thing within a couple of minutes — a downpour floods the streets, a main bursts, a substation
trips — at different addresses, as neighbours do. A flood also sets off water-level sensors in the township.

Why scripted: the detector (dispatch.warning) expects of each category × area what the city's level predicts, so
the simulator's ordinary Poisson traffic, however busy, raises no alert (as it should). A surge is `size` hotline
tickets of one topic (content.SURGE_TOPICS, in turn) at points inside one township (a county without the hub's
community layer), spread over `spread_s`, a different township each time: a surge alert; a flood's
`SENSORS` water-level sensors, registered in the township and alarming together: an IoT area alarm (iot_cluster).
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections import deque
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

from tools.simulation import content
from tools.simulation.accounts import StaffRoom
from tools.simulation.channels import Device, DeviceFleet, HotlineSource, spaced_spots
from tools.simulation.config import CITY_TZ, OPERATOR
from tools.simulation.places import Places

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Surge:
    number: int  # 1, 2, … in the run
    area: str  # a township code (a county code without the community layer)
    name: str  # as the log says it: 青秀区新竹街道
    topic: content.Topic
    tickets: tuple[tuple[float, dict[str, Any]], ...]  # (seconds after the start, the ticket), in time order
    sensors: tuple[Device, ...] = ()  # water-level sensors in the area that alarm with a flood

    @property
    def spread_s(self) -> float:
        return self.tickets[-1][0] if self.tickets else 0.0


class SurgeScript:
    """Plans a surge (`plan`, pure but for the random draws) and plays it against the hub (`play`)."""

    AREAS: Final = 12  # the townships surges take turns in (Places.beats: where people live)
    SENSORS: Final = 3  # the policy's iot_devices: this many devices of one kind in one township alert
    SENSOR_SPACING_M: Final = 400.0  # far enough apart that their alarms are not one incident
    SENSOR_KIND: Final = "water_level"

    def __init__(self, hotline: HotlineSource, places: Places, rng: random.Random, *,
                 size: int = 15, spread_s: float = 120.0, fleet: DeviceFleet | None = None,
                 staff: StaffRoom | None = None) -> None:
        self._hotline = hotline
        self._places = places
        self._rng = rng
        self._size = max(1, size)
        self._spread = max(0.0, spread_s)
        self._fleet = fleet
        self._staff = staff
        self._areas = places.beats(rng, self.AREAS)
        self._recent: deque[str] = deque(maxlen=min(max(len(self._areas) - 1, 0), 5))  # areas not to take next
        self.played: list[Surge] = []  # what this run has started, for a test (and the log)
        self._count = 0

    def plan(self, start: datetime | None = None) -> Surge:
        """The next surge, starting at `start` (now): its area (not one of the last few), its topic (the next of
        content.SURGE_TOPICS), its tickets (one topic, each at its own point in the area, spread over about
        `spread_s`), and for a flood its sensors."""
        rng = self._rng
        self._count += 1
        if not self._areas:
            raise RuntimeError("no area to script a surge in")
        area = rng.choice([a for a in self._areas if a not in self._recent])
        self._recent.append(area)
        topic = content.TOPIC_BY_CATEGORY[content.SURGE_TOPICS[(self._count - 1) % len(content.SURGE_TOPICS)]]
        start = start or datetime.now(CITY_TZ).replace(microsecond=0)
        step = self._spread / self._size
        tickets = []
        for i in range(self._size):
            offset = round((i + rng.random()) * step, 1)  # evenly over the spread, each at a random moment of its
            # share; recorded as the call ends, a little before it reaches the hub
            reported = start + timedelta(seconds=offset - rng.randint(5, 40))
            tickets.append((offset, self._hotline.factory.ticket(reported, topic=topic, within=area)))
        probe = self._places.spot(rng, within=area)
        name = probe.place.county + (probe.place.township if probe.township_code == area else "")
        sensors: tuple[Device, ...] = ()
        if topic.category == "flooding" and self._fleet is not None:
            spots = spaced_spots(lambda: self._places.spot(rng, within=area), self.SENSORS, self.SENSOR_SPACING_M,
                                 tries=300)
            seq = time.time_ns() // 1_000_000  # above any earlier run's: a rerun's readings are not duplicates
            sensors = tuple(Device(f"SIM-WL-{area}-{k + 1}", self.SENSOR_KIND, s.lng, s.lat,
                                   content.device_name(self.SENSOR_KIND, rng), seq)
                            for k, s in enumerate(spots))
        return Surge(self._count, area, name, topic, tuple(tickets), sensors)

    async def play(self, surge: Surge) -> None:
        """Send the surge's tickets at their moments (and its sensors' alarms meanwhile); returns when all are
        sent. A slow hub delays the later ones rather than bunching them."""
        self.played.append(surge)
        log.info("simulator: scripted surge %d: %d %s (%s) tickets in %s (%s) over %.0f s%s", surge.number,
                 len(surge.tickets), surge.topic.title, surge.topic.code, surge.name, surge.area, surge.spread_s,
                 f", {len(surge.sensors)} water-level sensors alarming" if surge.sensors else "")
        sensors = await self._register(surge.sensors)
        await asyncio.gather(self._calls(surge), *(self._alarms(d) for d in sensors))

    async def _calls(self, surge: Surge) -> None:
        loop = asyncio.get_running_loop()
        began = loop.time()
        for offset, ticket in surge.tickets:
            await asyncio.sleep(max(0.0, began + offset - loop.time()))
            await self._hotline.send(ticket)

    async def _register(self, sensors: tuple[Device, ...]) -> list[Device]:
        if not sensors or self._fleet is None or self._staff is None:
            return []
        operator = await self._staff.token(*OPERATOR)
        if operator is None:
            return []
        return [d for d in sensors if await self._fleet.register(d, operator)]

    async def _alarms(self, device: Device) -> None:
        """An alarm episode as the fleet's: a few readings seconds apart, the water rising, then the clear."""
        assert self._fleet is not None
        rng = self._rng
        profile = content.SENSORS[device.kind]
        await asyncio.sleep(rng.uniform(0.0, self._spread * 0.4))
        for i in range(rng.randint(3, 5)):
            device.seq += 1
            await self._fleet.send(device, "alarm", content.sensor_value(profile, i, rng), profile.threshold)
            await asyncio.sleep(rng.uniform(3.0, 8.0))
        await asyncio.sleep(rng.uniform(0.3, 0.6) * self._spread)
        device.seq += 1
        await self._fleet.send(device, "clear", profile.normal, profile.threshold)
