"""The simulator: its content (Chinese texts, categories the matrix knows, addresses the gazetteer places) and
a short run against a real hub with MQTT, checked in the database: every channel opened cases, a sensor's
alarms joined one case, the crew signed for, resolved and closed cases, app coordinates were GCJ-02, grid
reports carry photos, and the hub never answered with an unexpected 5xx. And a scripted surge (the demo's)
raises a surge alert and an IoT area alarm for its township amid the ordinary traffic."""

from __future__ import annotations

import asyncio
import contextlib
import random
import re
from typing import Any, cast

import asyncpg
import pytest

from connectors.grid import check_photo, parse_form
from connectors.hotline import HotlineTicket
from connectors.iot import DEVICE_KINDS
from connectors.open311 import parse_new_request
from geo.crs import Crs, from_wgs84
from geo.gazetteer import Gazetteer
from hub.infra.settings import Settings
from hub.keys import POOL
from tests.conftest import running_hub
from tools.demo import SimulatorAccounts
from tools.demo_matrix import demo_matrix
from tools.simulation import Http, Open311Source, SimConfig, Simulator, Spot, TicketFactory, content

HAN = re.compile(r"[\u4e00-\u9fff]")
MOBILE = re.compile(r"^1[3-9]\d{9}$")
CHANNELS = ("hotline", "open311", "iot", "grid")


def chinese(text: str) -> bool:
    return len(HAN.findall(text)) >= len(text) // 2


@pytest.fixture(scope="module")
def gazetteer() -> Gazetteer:
    return Gazetteer.from_data_dir()


def test_every_topic_is_a_category_the_matrix_knows() -> None:
    matrix = demo_matrix()
    for topic in content.TOPICS:
        assert matrix.knows(topic.category), topic.category
        assert matrix.path(topic.category)[-1].code == topic.code, topic.category  # the Open311 service
        assert topic.texts and all(chinese(content.fill(t, random.Random(1))) for t in topic.texts + topic.patrol)
        assert (topic.grid > 0) == bool(topic.patrol)
    assert set(content.SENSORS) == set(DEVICE_KINDS) and set(content.FLEET_MIX) <= set(DEVICE_KINDS)


def test_tickets_are_valid_chinese_and_use_the_right_coordinate_system() -> None:
    matrix = demo_matrix()
    factory = TicketFactory(seed=7)
    tickets = [factory.ticket() for _ in range(400)]
    for ticket in tickets:
        HotlineTicket.model_validate(ticket)  # the hub's own contract
        assert chinese(ticket["content"]) and matrix.knows(ticket["category"])
        if "reporter" in ticket:
            assert MOBILE.match(ticket["reporter"]["phone"]) and chinese(ticket["reporter"]["name"])
        if "location" in ticket:  # app map pickers give GCJ-02; the call-taker's map WGS84
            expected = "gcj02" if ticket["channel"] in content.APP_CHANNELS else "wgs84"
            assert ticket["location"]["crs"] == expected
    address_only = [t for t in tickets if "location" not in t]
    assert 0.05 < len(address_only) / len(tickets) < 0.16
    assert len({t["category"] for t in tickets}) >= 12 and len({t["type"] for t in tickets}) >= 5
    assert len({t["ticket_no"] for t in tickets}) == len(tickets)


def test_open311_requests_and_grid_reports_pass_the_hubs_checks() -> None:
    rng = random.Random(3)
    matrix = demo_matrix()
    source = Open311Source(cast(Http, None), "key", FixedPlaces(), rng)  # only builds the forms here
    for _ in range(200):
        request = parse_new_request(source.fields(), matrix, "nanning.gov.cn")  # raises on a bad form
        assert chinese(request.form.description or "")
    for _ in range(50):
        topic = content.weighted_topic(rng, "grid")
        form = parse_form({"category": topic.category, "content": content.fill(rng.choice(topic.patrol), rng),
                           "lng": "108.37", "lat": "22.82", "report_id": "SIM-1"})
        assert matrix.knows(form.category)
    photo = check_photo(content.make_photo(rng))
    assert (photo.content_type, photo.width, photo.height) == ("image/jpeg", 320, 240)
    assert content.make_photo(rng) != content.make_photo(rng)


class FixedPlaces:
    def spot(self, rng: random.Random, urban: bool = False, within: str | None = None) -> Spot:
        return Spot(108.37, 22.82, content.Place("青秀区", "新竹街道", "桃源社区"), "450103", "450103001")

    def beats(self, rng: random.Random, n: int) -> list[str]:
        return ["450103001"]


def test_addresses_from_real_communities_resolve_with_the_gazetteer(gazetteer: Gazetteer) -> None:
    rng = random.Random(11)
    assert len(content.communities()) > 1_700
    for _ in range(300):
        text, community = content.community_address(rng)
        match = gazetteer.match(text)
        assert match.confident, text
        assert match.areas["community"].code == community.code, text
    for _ in range(60):  # a shared community name alone, or another city: the hub must not guess
        text = content.vague_address(rng)
        assert not gazetteer.match(text).confident, text


async def test_a_run_drives_every_channel_and_the_closed_loop(mqtt_settings: Settings) -> None:
    assert mqtt_settings.mqtt_url is not None
    async with running_hub(mqtt_settings) as hub:
        pool = hub.app[POOL]
        # 1,500 × real speed: "signed for after 2–15 minutes" takes 0.1–0.6 s, a resolution 0.6–2.4 s.
        config = SimConfig(rate=8.0, duration=None, mqtt_url=mqtt_settings.mqtt_url, speed=1500.0, poll_s=0.5,
                           seed=5)
        simulator = Simulator(hub.base, SimulatorAccounts(pool), config)
        run = asyncio.create_task(simulator.run())
        # At least 10 s of traffic, then until the database shows all the test needs (the machine may be busy).
        await asyncio.sleep(10)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(15):
                while await _missing(pool) and not run.done():  # noqa: ASYNC110 - polling the database
                    await asyncio.sleep(0.5)
        simulator.stop()
        summary = await run
        print(summary.render())
        assert not await _missing(pool), await _missing(pool)

        assert summary.transport == "mqtt"
        assert summary.unexpected_5xx == 0 and summary.errors == 0
        for channel in CHANNELS:
            stats = summary.channels[channel]
            assert stats.accepted > 0 and stats.failed == 0, (channel, stats)
        assert summary.actions["accept"] > 0 and summary.actions["resolve"] > 0 and summary.actions["callback"] > 0

        # App tickets were sent in GCJ-02 and stored converted to WGS84 (about 500 m apart in Nanning).
        app_tickets = [t for t in simulator.hotline.recent if t[1] in content.APP_CHANNELS] if simulator.hotline else []
        assert app_tickets
        for ticket_no, _channel, sent in app_tickets[:10]:
            row = await pool.fetchrow("SELECT lng, lat FROM cases WHERE ticket_no = $1", ticket_no)
            assert row is not None and sent["crs"] == "gcj02"
            assert abs(row["lng"] - sent["lng"]) + abs(row["lat"] - sent["lat"]) > 0.002
            x, y = from_wgs84(row["lng"], row["lat"], Crs.GCJ02)
            assert abs(x - sent["lng"]) < 1e-5 and abs(y - sent["lat"]) < 1e-5

        photos = await pool.fetch("SELECT jsonb_array_length(doc->'report'->'photos') AS n FROM cases "
                                  "WHERE doc->>'source' = 'grid'")
        assert photos and all(1 <= r["n"] <= 2 for r in photos)


async def _missing(pool: asyncpg.Pool) -> list[str]:
    """What the run has not shown yet, read from the database."""
    missing = []
    sources = {r["s"] for r in await pool.fetch("SELECT DISTINCT doc->>'source' AS s FROM cases")}
    missing += [f"a {channel} case" for channel in CHANNELS if channel not in sources]
    alarms = await pool.fetchval(
        "SELECT max((doc->'sensor'->>'alarms')::int) FROM cases WHERE device_id IS NOT NULL")
    if not alarms or alarms < 2:
        missing.append("an IoT case with several alarms")  # an episode's alarms join the device's open case
    # The crew's own actions (its users are named sim-…), not the system's timers.
    by_crew = {r["type"] for r in await pool.fetch(
        "SELECT DISTINCT type FROM events WHERE metadata->>'actor' LIKE '%:sim-%'")}
    missing += [f"{event} by the crew" for event in ("case.accepted", "case.resolved", "case.closed")
                if event not in by_crew]
    called_back = await pool.fetchval(  # 回访: the operator phones a citizen back about a resolved case
        "SELECT count(*) FROM events e JOIN cases c ON c.case_id = e.stream_id WHERE e.type = "
        "'case.callback_recorded' AND e.metadata->>'actor' = 'city_operator:sim-operator' "
        "AND c.doc->>'source' IN ('hotline', 'open311')")
    if not called_back:
        missing.append("an operator's callback to a citizen")
    return missing


async def test_a_scripted_surge_raises_a_surge_alert_and_an_iot_area_alarm_for_its_township(
        settings: Settings) -> None:
    async with running_hub(settings) as hub:
        # Ordinary traffic at 1 event/s, and one flood scripted in: 8 tickets in 4 s, 3 water-level sensors.
        config = SimConfig(rate=1.0, duration=None, crew=False, fleet_size=6, seed=9, surge_every_s=3600.0,
                           surge_first_s=1.0, surge_size=8, surge_spread_s=4.0)
        simulator = Simulator(hub.base, SimulatorAccounts(hub.app[POOL]), config)
        run = asyncio.create_task(simulator.run())
        operator = await hub.login("city_operator", None)
        found: dict[str, Any] = {}
        try:
            async with asyncio.timeout(40):
                while len(found) < 2:
                    assert not run.done(), run
                    played = simulator.surges.played if simulator.surges else []
                    async with hub.http.get(f"{hub.base}/api/v1/alerts?state=all",
                                            headers={"Authorization": f"Bearer {operator}"}) as resp:
                        assert resp.status == 200, await resp.text()
                        alerts = (await resp.json())["alerts"]
                    found = {a["kind"]: a for a in alerts if played and a["area"]["code"] == played[0].area}
                    await asyncio.sleep(0.3)
        finally:
            simulator.stop()
            summary = await run
        surge = simulator.surges.played[0] if simulator.surges else None
        assert surge is not None and surge.topic.category == "flooding" and len(surge.sensors) == 3
        assert len(surge.tickets) == 8 and len({t["location"]["lng"] for _, t in surge.tickets}) == 8
        alert = found["surge"]
        assert alert["area"] == {"level": "township", "code": surge.area, "name": alert["area"]["name"]}
        assert alert["area"]["name"] in surge.name and alert["category"]["code"] == surge.topic.code  # 070101
        assert alert["observed"] >= 3 and alert["expected"] < 1.0 and alert["window"]["hours"] == 1.0
        alarm = found["iot_cluster"]
        assert alarm["sensor_kind"] == "water_level" and alarm["devices"] == sorted(d.device_id for d in surge.sensors)
        assert summary.unexpected_5xx == 0 and summary.errors == 0
