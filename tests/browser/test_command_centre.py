"""The command-centre console (/console/) in a real browser against a running hub.

An operator signs in; tickets posted over HTTP afterwards appear live in the feed and on the map; the case
panel shows what the API says (rule, deadlines, exactly the allowed actions) and handles a version
conflict; the live feed survives a cut websocket with nothing missed or shown twice; jurisdiction and
privacy hold in the browser; the console switches to English; the KPI panel ranks townships.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any

from playwright.async_api import BrowserContext, Page, expect
from shapely.geometry import shape

from hub.identity.auth import add_user
from hub.infra.settings import Settings
from hub.keys import POOL, SOCKETS
from tests.browser.conftest import Watched, open_page
from tests.conftest import Hub, running_hub
from tests.e2e.test_hotline_to_console import QINGXIU_SEAT, XINGNING_SEAT, push, ticket

PASSWORD = "correct horse battery"
CONFLICT_ZH = "工单已被他人更新，已刷新，请确认后重试"
# Categories that the demo matrix routes (each dispatched to a unit), for tickets that must not merge.
CATEGORIES = ["streetlight", "noise", "exposed_rubbish", "road_damage", "illegal_parking", "drain_blocked",
              "manhole_cover"]

# --- helpers -------------------------------------------------------------------------------------------

async def sign_in(hub: Hub, context: BrowserContext, username: str, role: str, area: str | None) -> Watched:
    """A user with a known password signs in through the console's own form; returns once the feed is live."""
    await add_user(hub.app[POOL], username, PASSWORD, role, area)
    watched = await open_signed_in(hub, context, username)
    await watched.page.wait_for_function("() => window.cityloop && window.cityloop.snapshotPosition() !== null")
    return watched


async def open_signed_in(hub: Hub, context: BrowserContext, username: str) -> Watched:
    """An existing user signs in through the console's own form; returns once the feed is live."""
    watched = await open_page(context, f"{hub.base}/console/")
    page = watched.page
    await page.locator("#login input[name=username]").fill(username)
    await page.locator("#login input[name=password]").fill(PASSWORD)
    await page.locator("#login button[type=submit]").click()
    await expect(page.locator("#conn")).to_have_attribute("data-status", "live")
    return watched


async def api_token(hub: Hub, username: str) -> str:
    async with hub.http.post(f"{hub.base}/api/v1/auth/login",
                             json={"username": username, "password": PASSWORD}) as resp:
        assert resp.status == 200, await resp.text()
        return str((await resp.json())["token"])


async def api_get(hub: Hub, token: str, path: str, **params: Any) -> Any:
    async with hub.http.get(f"{hub.base}{path}", params=params,
                            headers={"Authorization": f"Bearer {token}"}) as resp:
        assert resp.status == 200, await resp.text()
        return await resp.json()


async def api_act(hub: Hub, token: str, case_id: str, action: str, version: int, **fields: Any) -> dict[str, Any]:
    async with hub.http.post(f"{hub.base}/api/v1/cases/{case_id}/actions",
                             json={"action": action, "expected_version": version, **fields},
                             headers={"Authorization": f"Bearer {token}"}) as resp:
        body = await resp.json()
        assert resp.status == 200, body
        return dict(body["case"])


async def township_points(hub: Hub, token: str, county: str, n: int) -> list[tuple[float, float]]:
    """A point inside each of the first `n` townships of `county` (WGS84), from the map's own shapes."""
    shapes = await api_get(hub, token, "/api/v1/areas.geojson", parent=county, simplify_m=0)
    points = []
    for feature in shapes["features"][:n]:
        p = shape(feature["geometry"]).representative_point()
        points.append((p.x, p.y))
    return points


async def post_tickets(hub: Hub, key: str, points: list[tuple[float, float]], **extra: Any) -> list[str]:
    ids = []
    for point in points:
        status, body = await push(hub, key, ticket(point, **extra))
        assert status == 202, body
        ids.append(body["case_id"])
    return ids


async def distinct_tickets(hub: Hub, key: str, points: list[tuple[float, float]], offset: int = 0) -> list[str]:
    """Tickets that are not duplicates of each other (another category each), so none is merged away."""
    ids = []
    for i, point in enumerate(points):
        ids += await post_tickets(hub, key, [point], category=CATEGORIES[offset + i])
    return ids


async def wait_on_map(page: Page, case_ids: list[str]) -> None:
    await page.wait_for_function("ids => ids.every((id) => window.cityloop.mapCaseIds().includes(id))", arg=case_ids)


def feed_item(page: Page, case_id: str, event_type: str | None = None) -> Any:
    selector = f'#feed li[data-case-id="{case_id}"]'
    if event_type:
        selector += f'[data-type="{event_type}"]'
    return page.locator(selector)


# --- a) live feed, map and case panel --------------------------------------------------------------------

async def test_ticket_posted_after_sign_in_appears_live_and_opens_in_the_panel(
        hub: Hub, desktop: BrowserContext) -> None:
    key = await hub.hotline_key()
    watched = await sign_in(hub, desktop, "op1", "city_operator", None)
    page = watched.page
    token = await api_token(hub, "op1")
    await expect(page.locator("#feed li.empty")).to_be_visible()

    body = ticket(QINGXIU_SEAT)
    status, answer = await push(hub, key, body)
    assert status == 202
    case_id = answer["case_id"]
    # Live, without a reload: in the feed (received and dispatched) and on the map.
    await expect(feed_item(page, case_id, "case.dispatched")).to_have_count(1)
    await expect(feed_item(page, case_id, "case.received")).to_have_count(1)
    await wait_on_map(page, [case_id])
    # More cases around the city for the picture: several townships of two counties.
    others = await post_tickets(hub, key, await township_points(hub, token, "450103", 6)
                                + await township_points(hub, token, "450102", 4), category="road_damage")
    await wait_on_map(page, others)
    # One the router cannot place goes to the triage queue (refreshed by the live feed), not the map.
    _, unplaced = await push(hub, key, ticket(None, address="不知道在哪里", category="noise"))
    triage = page.locator(f'#queue-list li[data-case-id="{unplaced["case_id"]}"]')
    await expect(triage).to_have_count(1)
    await expect(page.locator('#queue-tabs [data-queue="triage"] .count')).to_have_text("1")
    assert unplaced["case_id"] not in await page.evaluate("() => window.cityloop.mapCaseIds()")

    await feed_item(page, case_id, "case.dispatched").click()
    panel = page.locator("#case-panel")
    await expect(panel.locator(".ticket")).to_have_text(body["ticket_no"])
    case = await api_get(hub, token, f"/api/v1/cases/{case_id}")
    await expect(panel.locator('[data-field="rule"] code')).to_have_text(case["rule"])  # after what it covers
    await expect(panel.locator('[data-field="lead"]')).to_have_text(case["units"]["lead"]["name"])
    await expect(panel.locator('[data-field="reporter"]')).to_have_text("张三 13812341234")
    buttons = panel.locator('[data-field="actions"] button[data-action]')
    await expect(buttons).to_have_count(len(case["allowed_actions"]))
    assert [await b.get_attribute("data-action") for b in await buttons.all()] == case["allowed_actions"]
    timeline = panel.locator('[data-field="timeline"] li')
    await expect(timeline).to_have_count(len(case["timeline"]))
    await expect(timeline.first).to_contain_text("派单")

    # The active deadline counts down by itself: point it 90 s ahead and watch the ticker pick it up.
    countdown = panel.locator('[data-field="active-deadline"] .countdown')
    await expect(countdown).to_have_text(re.compile(r"^剩余\d+(天|小时|分)"))
    await countdown.evaluate("el => { el.dataset.countdown = new Date(Date.now() + 90500).toISOString(); }")
    await expect(countdown).to_have_text("剩余1分钟", timeout=3000)

    await expect(page.locator("#map .case-marker, #map .case-cluster").first).to_be_visible()
    await page.evaluate("id => window.cityloop.openCase(id)", case_id)
    await expect(panel.locator(".ticket")).to_have_text(body["ticket_no"])
    assert await page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    await page.locator("#feed").evaluate("el => { el.scrollTop = 0; }")
    await watched.screenshot("command-centre")

    # The wall screen: same console at 1920×1080, nothing scrolls sideways.
    await page.set_viewport_size({"width": 1920, "height": 1080})
    await expect(page.locator("#map")).to_be_visible()
    await page.wait_for_function("() => document.querySelector('#map').clientWidth > 900")
    assert await page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth")
    assert await page.evaluate("() => document.body.scrollWidth <= window.innerWidth")
    await watched.screenshot("command-centre-wall")
    watched.assert_clean()


# --- b) actions and a version conflict -------------------------------------------------------------------

async def test_action_from_the_panel_and_a_conflict_with_another_operator(hub: Hub, desktop: BrowserContext) -> None:
    key = await hub.hotline_key()
    watched = await sign_in(hub, desktop, "op1", "city_operator", None)
    page = watched.page
    other = await hub.login("city_operator", None)
    _, answer = await push(hub, key, ticket(QINGXIU_SEAT))
    case_id = answer["case_id"]
    await expect(feed_item(page, case_id, "case.dispatched")).to_have_count(1)
    await page.evaluate("id => window.cityloop.openCase(id)", case_id)
    panel = page.locator("#case-panel")
    await expect(panel.locator('[data-field="version"]')).to_have_text("2")

    # A plain action: a comment, then the panel shows the new version and the timeline entry.
    await panel.locator('button[data-action="comment"]').click()
    await panel.locator("form.action-form textarea[name=note]").fill("值班长已知悉")
    await panel.locator("form.action-form button[type=submit]").click()
    await expect(page.locator(".toast.ok", has_text="备注")).to_have_count(1)
    await expect(panel.locator('[data-field="version"]')).to_have_text("3")
    await expect(panel.locator('[data-field="timeline"]')).to_contain_text("值班长已知悉")

    # An invalid one: the server's message shows in the form and nothing changes.
    await panel.locator('button[data-action="supervise"]').click()
    await panel.locator("form.action-form button[type=submit]").click()
    await expect(panel.locator("form.action-form .form-error")).to_contain_text("note")
    await expect(panel.locator("form.action-form textarea[name=note]")).to_have_class(re.compile("bad"))

    # While the supervise form is being filled in, another operator changes the case.
    await panel.locator("form.action-form textarea[name=note]").fill("请加快处置")
    await api_act(hub, other, case_id, "comment", 3, note="另一位值班员的备注")
    await expect(panel.locator(".stale")).to_be_visible()
    await expect(panel.locator('[data-field="version"]')).to_have_text("3")  # not pulled away under the form

    await panel.locator("form.action-form button[type=submit]").click()
    await expect(page.locator(".toast.warn")).to_have_text(CONFLICT_ZH)
    await expect(panel.locator('[data-field="version"]')).to_have_text("4")
    await expect(panel.locator('[data-field="timeline"]')).to_contain_text("另一位值班员的备注")
    # The form is back with what was typed: the retry goes through.
    await expect(panel.locator("form.action-form textarea[name=note]")).to_have_value("请加快处置")
    await panel.locator("form.action-form button[type=submit]").click()
    await expect(page.locator(".toast.ok", has_text="督办")).to_have_count(1)
    await expect(panel.locator('[data-field="version"]')).to_have_text("5")
    await expect(panel.locator('[data-field="timeline"] li').first).to_contain_text("请加快处置")

    case = await api_get(hub, other, f"/api/v1/cases/{case_id}")
    assert [e["type"] for e in case["timeline"]][-3:] == ["case.commented", "case.commented", "case.supervised"]
    assert case["supervision_level"] >= 1

    # Worked to closure elsewhere: the open panel follows live, the marker leaves the map (unless asked for).
    await wait_on_map(page, [case_id])
    county = await hub.login("county_dispatcher", "450103")
    case = await api_act(hub, county, case_id, "accept", case["version"])
    case = await api_act(hub, county, case_id, "resolve", case["version"], note="已修复")
    await api_act(hub, other, case_id, "callback", case["version"],
                  contacted=True, solved=True, satisfaction="satisfied")
    await expect(panel.locator('[data-field="state"]')).to_have_text("已结案")
    await expect(panel.locator('[data-field="actions"] button[data-action]')).to_have_count(
        len((await api_get(hub, other, f"/api/v1/cases/{case_id}"))["allowed_actions"]))
    await page.wait_for_function("id => !window.cityloop.mapCaseIds().includes(id)", arg=case_id)
    await page.locator("#show-closed").check()
    await wait_on_map(page, [case_id])
    watched.assert_clean()


# --- c) the websocket is cut and restored ----------------------------------------------------------------

async def test_feed_resumes_after_the_socket_is_cut_with_every_event_exactly_once(
        hub: Hub, desktop: BrowserContext) -> None:
    key = await hub.hotline_key()
    watched = await sign_in(hub, desktop, "op1", "city_operator", None)
    page = watched.page
    first = await page.evaluate("() => window.cityloop.snapshotPosition()")
    before = await distinct_tickets(hub, key, [QINGXIU_SEAT, XINGNING_SEAT])
    for case_id in before:
        await expect(feed_item(page, case_id, "case.dispatched")).to_have_count(1)

    # Cut every console socket (as a restarting hub does) and post while the console is away.
    sockets = hub.app[SOCKETS]  # named first: inside list(...) mypy infers the key's type from list's
    for ws in list(sockets):
        await ws.close(code=1012)
    during = await distinct_tickets(hub, key, [QINGXIU_SEAT, XINGNING_SEAT, QINGXIU_SEAT], offset=2)
    await page.wait_for_function("() => window.cityloop.statusLog.includes('reconnecting')")
    await expect(page.locator("#conn")).to_have_attribute("data-status", "live")
    after = await distinct_tickets(hub, key, [XINGNING_SEAT], offset=5)
    for case_id in during + after:
        await expect(feed_item(page, case_id, "case.dispatched")).to_have_count(1)
    await wait_on_map(page, before + during + after)

    rows = await hub.app[POOL].fetch("SELECT position FROM events WHERE position > $1 ORDER BY position", first)
    stored = [r["position"] for r in rows]
    shown = await page.evaluate("() => window.cityloop.feedPositions()")
    assert len(shown) == len(set(shown)), "an event shows twice in the feed"
    assert sorted(shown) == stored, "the feed misses events or shows some the store does not hold"
    received = await page.evaluate("() => window.cityloop.feed.stats.received")
    assert len(received) == len(set(received)) and sorted(received) == stored
    assert await page.evaluate("() => window.cityloop.feed.stats.reconnects") >= 1
    assert await page.locator("#conn .conn-text").text_content() == "实时"
    watched.assert_clean()


# --- d) language, jurisdiction and privacy ---------------------------------------------------------------

async def test_english_and_a_county_dispatcher_sees_only_their_county_masked(
        hub: Hub, desktop: BrowserContext) -> None:
    key = await hub.hotline_key()
    county = await sign_in(hub, desktop, "qingxiu1", "county_dispatcher", "450103")
    page = county.page
    await expect(page.locator("#crumbs .crumb.current")).to_have_text("青秀区")
    elsewhere = (await post_tickets(hub, key, [XINGNING_SEAT]))[0]
    mine = (await post_tickets(hub, key, [QINGXIU_SEAT]))[0]
    await expect(feed_item(page, mine, "case.dispatched")).to_have_count(1)
    await wait_on_map(page, [mine])
    # The Xingning case was committed first: had it been sent, it would be here by now.
    await expect(feed_item(page, elsewhere)).to_have_count(0)
    assert elsewhere not in await page.evaluate("() => window.cityloop.mapCaseIds()")

    # Hotspots of the county's townships: their one case, in the township it was routed to.
    await page.locator("#heat-toggle").check()
    await expect(page.locator(".area-label b")).not_to_have_count(0)
    counts = [int(n) for n in await page.locator(".area-label b").all_text_contents()]
    assert sum(counts) == 1, counts
    await page.locator("#heat-toggle").uncheck()
    await expect(page.locator(".area-label b")).to_have_count(0)
    # Up to the city, into the neighbour county (nothing of theirs there), and back.
    await page.locator('#crumbs button.crumb[data-depth="0"]').click()
    await expect(page.locator("#crumbs .crumb.current")).to_have_text("南宁市")
    await page.locator(".area-label", has_text="兴宁区").click(force=True)
    await expect(page.locator("#crumbs .crumb.current")).to_have_text("兴宁区")
    await page.wait_for_function("() => window.cityloop.mapCaseIds().length === 0")
    await page.locator('#crumbs button.crumb[data-depth="0"]').click()
    await expect(page.locator("#crumbs .crumb.current")).to_have_text("南宁市")
    await page.locator(".area-label", has_text="青秀区").click(force=True)
    await expect(page.locator("#crumbs .crumb.current")).to_have_text("青秀区")
    await wait_on_map(page, [mine])

    await page.evaluate("id => window.cityloop.openCase(id)", mine)
    panel = page.locator("#case-panel")
    await expect(panel.locator('[data-field="reporter"]')).to_have_text("张* 138****1234")
    assert "13812341234" not in await page.content()

    # English: labels, names of states, events and actions change; Chinese comes back.
    await expect(page.locator("#top h1")).to_contain_text("城市运行管理中枢")
    await page.locator("#lang").click()
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await expect(page.locator("#top h1")).to_contain_text("City Operations Hub")
    await expect(page.locator('.col-right .tab[data-tab="kpi"]')).to_have_text("KPIs")
    await expect(page.locator("#conn .conn-text")).to_have_text("Live")
    await expect(feed_item(page, mine, "case.dispatched").locator(".ev")).to_have_text("Dispatched")
    await expect(panel.locator(".badges")).to_contain_text("Awaiting sign-off")
    await expect(panel).to_contain_text("Caller")
    await expect(page.locator('#queue-tabs [data-queue="returns"]')).to_contain_text("Returns to review")
    await expect(page.locator("#crumbs .crumb").first).to_have_text("Nanning")
    await page.locator("#lang").click()
    await expect(page.locator("#top h1")).to_contain_text("城市运行管理中枢")
    await expect(panel).to_contain_text("来电人")
    county.assert_clean()

    # A city operator in another tab of the same browser sees the full number and both cases.
    city = await sign_in(hub, desktop, "op1", "city_operator", None)
    await city.page.wait_for_function("ids => ids.every((id) => window.cityloop.store.get(id))", arg=[mine, elsewhere])
    await city.page.evaluate("id => window.cityloop.openCase(id)", mine)
    await expect(city.page.locator('#case-panel [data-field="reporter"]')).to_have_text("张三 13812341234")
    await wait_on_map(city.page, [mine, elsewhere])
    city.assert_clean()


# --- e) KPI panel ----------------------------------------------------------------------------------------

async def test_kpi_panel_ranks_townships_and_shows_the_hotspot_matrix(settings: Settings,
                                                                     desktop: BrowserContext) -> None:
    # One callback per township here: every township with one is ranked (the ranking's minimum sample is
    # tested in tests/browser/test_command_centre_figures.py).
    async with running_hub(settings.model_copy(update={"kpi_min_samples": 1})) as hub:
        await _kpi_panel_ranks_townships(hub, desktop)


async def _kpi_panel_ranks_townships(hub: Hub, desktop: BrowserContext) -> None:
    key = await hub.hotline_key()
    operator = await hub.login("city_operator", None)
    dispatchers = {"450103": await hub.login("county_dispatcher", "450103"),
                   "450102": await hub.login("county_dispatcher", "450102")}
    # Streetlights (led by the county 城管局) in several townships, worked to the citizen's callback.
    satisfaction = ["satisfied", "basically_satisfied", "dissatisfied", "satisfied", "unreachable", "satisfied"]
    work = []
    for county, n in (("450103", 4), ("450102", 3)):
        for point in await township_points(hub, operator, county, n):
            work.append((county, point))
    ids = await post_tickets(hub, key, [point for _, point in work])
    for i, ((county, _), case_id) in enumerate(zip(work, ids, strict=True)):
        token = dispatchers[county]
        case = await api_act(hub, token, case_id, "accept", 2)
        case = await api_act(hub, token, case_id, "resolve", case["version"], note="已修复")
        sat = satisfaction[i % len(satisfaction)]
        await api_act(hub, operator, case_id, "callback", case["version"], contacted=sat != "unreachable",
                      solved=sat in ("satisfied", "basically_satisfied"), satisfaction=sat)
    await post_tickets(hub, key, [QINGXIU_SEAT, XINGNING_SEAT], category="noise")

    async def ranked() -> list[dict[str, Any]]:
        rows = (await api_get(hub, operator, "/api/v1/kpis", level="township", period="month"))["rows"]
        latest = max(r["period"] for r in rows)
        return sorted((r for r in rows if r["period"] == latest and r["rank"] is not None),
                      key=lambda r: r["rank"])
    for _ in range(50):  # the KPI projection follows the store
        rows = await ranked()
        if len(rows) >= 5:
            break
        await asyncio.sleep(0.2)
    assert len(rows) >= 5, rows

    watched = await sign_in(hub, desktop, "op1", "city_operator", None)
    page = watched.page
    await page.locator('.col-right .tab[data-tab="kpi"]').click()
    await expect(page.locator("#kpi-ranking")).to_have_attribute("data-rows", str(len(rows)))
    await expect(page.locator("#kpi-ranking canvas")).to_have_count(1)
    hot = (await api_get(hub, operator, "/api/v1/hotspots", level="county", days=30))["rows"]
    await expect(page.locator("#kpi-heat")).to_have_attribute("data-cells", str(len(hot)))
    await expect(page.locator("#board-red li")).to_have_count(min(5, (len(rows) + 1) // 2))
    await expect(page.locator("#board-red li").first.locator(".name")).to_have_text(rows[0]["name"])
    await expect(page.locator("#board-black li").first.locator(".name")).to_have_text(rows[-1]["name"])
    cases = (await api_get(hub, operator, "/api/v1/cases", limit=100))["cases"]
    still_open = [c for c in cases if c["state"] not in ("closed", "rejected", "merged")]
    await expect(page.locator('#kpi-numbers [data-kpi="open"] b')).to_have_text(str(len(still_open)))
    await watched.screenshot("command-centre-kpi")
    watched.assert_clean()
