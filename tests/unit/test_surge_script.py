"""The simulator's scripted surges (tools.simulation.surge), planned without a hub: one area and one topic per
surge, `size` valid hotline tickets at different points inside that area spread over `spread_s`, a different
area and the next topic each time, and for a flood water-level sensors spaced apart inside the area."""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from functools import cache
from typing import cast

from connectors.hotline import HotlineTicket
from geo.crs import Crs
from tools.router import CountyRouter
from tools.simulation import Http, Summary, TicketFactory, content
from tools.simulation.channels import DeviceFleet, HotlineSource
from tools.simulation.config import CITY_TZ
from tools.simulation.places import CountyPlaces, distance_m
from tools.simulation.surge import SurgeScript

START = datetime(2026, 12, 7, 10, 0, tzinfo=CITY_TZ)


@cache
def router() -> CountyRouter:
    return CountyRouter.nanning()


def script(seed: int, *, size: int = 15, spread_s: float = 120.0, fleet: bool = False) -> SurgeScript:
    places = CountyPlaces(router())
    http = cast(Http, None)  # plan() only builds; nothing is sent here
    hotline = HotlineSource(http, "key", TicketFactory(places=places, seed=seed))
    devices = DeviceFleet(http, "key", Summary(rate=1.0), random.Random(seed), None, 0.4) if fleet else None
    return SurgeScript(hotline, places, random.Random(seed), size=size, spread_s=spread_s, fleet=devices)


def test_a_surge_is_one_topic_at_many_points_of_one_area_spread_over_the_period() -> None:
    for seed in range(5):
        surge = script(seed).plan(START)
        tickets = [t for _, t in surge.tickets]
        assert len(tickets) == 15
        assert {t["category"] for t in tickets} == {surge.topic.category} == {content.SURGE_TOPICS[0]}
        assert {t["title"] for t in tickets} == {surge.topic.title}
        for ticket in tickets:
            HotlineTicket.model_validate(ticket)  # the hub's own contract
            loc = ticket["location"]  # every ticket has a point (none is address-only) …
            placed = router().locate(loc["lng"], loc["lat"], Crs(loc["crs"]))
            assert placed.county is not None and placed.county.code == surge.area, (ticket, surge.area)  # … in it
        points = {(t["location"]["lng"], t["location"]["lat"]) for t in tickets}
        assert len(points) == len(tickets)  # different places, not one address repeated
        assert len({t["content"] for t in tickets}) >= 8 and len({t["ticket_no"] for t in tickets}) == 15
        assert surge.name and surge.name in content.county_names().values()

        # Spacing: in time order, one call in each 8 s share of the two minutes, never all at once.
        offsets = [offset for offset, _ in surge.tickets]
        step = 120.0 / 15
        assert offsets == sorted(offsets) and 0 <= offsets[0] < step and 120 - step <= offsets[-1] <= 120
        assert all(0 < b - a < 2 * step for a, b in zip(offsets, offsets[1:], strict=False))
        for offset, ticket in surge.tickets:  # recorded as the call ended: seconds before it is sent
            reported = datetime.fromisoformat(ticket["reported_at"])
            assert START + timedelta(seconds=offset - 41) < reported <= START + timedelta(seconds=offset)


def test_each_surge_takes_another_area_and_the_next_topic() -> None:
    surges = script(3, size=4, spread_s=10.0)
    plans = [surges.plan(START) for _ in range(9)]
    assert [p.topic.category for p in plans] == list(content.SURGE_TOPICS) * 3
    assert [p.number for p in plans] == list(range(1, 10))
    assert all(a.area != b.area for a, b in zip(plans, plans[1:], strict=False))
    assert len({p.area for p in plans}) >= 5
    assert len({t["ticket_no"] for p in plans for _, t in p.tickets}) == 36  # one factory: unique numbers
    assert all(p.spread_s <= 10.0 and len(p.tickets) == 4 for p in plans)


def test_a_flood_brings_water_level_sensors_spaced_apart_in_its_area_and_other_surges_none() -> None:
    surges = script(11, fleet=True)
    flood, outage = surges.plan(START), surges.plan(START)
    assert flood.topic.category == "flooding" and outage.topic.category == "water_outage"
    assert outage.sensors == ()
    assert len(flood.sensors) == SurgeScript.SENSORS
    assert {d.kind for d in flood.sensors} == {"water_level"} and len({d.device_id for d in flood.sensors}) == 3
    for device in flood.sensors:
        placed = router().locate(device.lng, device.lat)
        assert placed.county is not None and placed.county.code == flood.area
    for i, a in enumerate(flood.sensors):
        for b in flood.sensors[i + 1:]:
            assert distance_m((a.lng, a.lat), (b.lng, b.lat)) >= SurgeScript.SENSOR_SPACING_M
    assert script(11).plan(START).sensors == ()  # no fleet (a --key run): tickets only
