"""Both consoles at the three screen sizes users have (a wall 1920×1080, a laptop 1366×768, a phone 390×844):
the wall map fits the user's own jurisdiction, deadlines already met read as met, the command centre's headline,
legend and right column are usable at each size, and screenshots of both consoles at each size are kept
(test-artifacts/screenshots/)."""

from __future__ import annotations

import contextlib
import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Browser, BrowserContext, Page, ViewportSize, expect
from playwright.async_api import TimeoutError as PlaywrightTimeout

from tests.browser import test_command_centre as centre
from tests.browser import test_township_mobile as mobile
from tests.browser.conftest import open_page
from tests.conftest import Hub
from tests.e2e.test_hotline_to_console import QINGXIU_SEAT

WALL: ViewportSize = {"width": 1920, "height": 1080}
LAPTOP: ViewportSize = {"width": 1366, "height": 768}
PHONE: ViewportSize = {"width": 390, "height": 844}
SIZES = {"1920x1080": WALL, "1366x768": LAPTOP, "390x844": PHONE}


async def context_at(browser: Browser, size: ViewportSize) -> BrowserContext:
    """A browser window of this size (with a touch screen, as the phone console's helpers tap); the phone size as
    a phone."""
    phone = size["width"] < 600
    return await browser.new_context(viewport=size, locale="zh-CN", timezone_id="Asia/Shanghai",
                                     device_scale_factor=2 if phone else 1, is_mobile=phone, has_touch=True)


# The areas drawn on the map whose box is not wholly inside the map's visible bounds, and how many are drawn.
OFF_SCREEN = """() => {
  const m = window.cityloop.map;
  const view = m.map.getBounds();
  const layers = m.areaLayer ? m.areaLayer.getLayers() : [];
  return { drawn: layers.length, level: m.current().level,
           off: layers.filter((l) => !view.contains(l.getBounds())).map((l) => l.feature.properties.name) };
}"""

# The map element's box inside the window (so that the map's visible bounds are what the user sees).
MAP_IN_WINDOW = """() => {
  const r = document.querySelector('#map').getBoundingClientRect();
  return r.width > 100 && r.height > 100 && r.left >= 0 && r.top >= 0
    && r.right <= window.innerWidth + 0.5 && r.bottom <= window.innerHeight + 0.5;
}"""

# Zoom the map in by 3 (animated, as a wheel turn or the + button) and resolve once the zoom has ended.
ZOOM_IN = """() => new Promise((done) => {
  const map = window.cityloop.map.map;
  map.once('zoomend', () => done());
  map.setZoom(map.getZoom() + 3);
})"""

# The same zoom, with 全市 clicked while it animates (Leaflet's zoom animation lasts a quarter second: at the
# user's speed a click can land in it; here it always does).
ZOOM_IN_AND_GO_HOME_MIDWAY = """() => new Promise((done) => {
  const map = window.cityloop.map.map;
  map.once('zoomanim', () => { document.querySelector('#crumbs button.crumb[data-depth="0"]').click(); done(); });
  map.setZoom(map.getZoom() + 3);
})"""


async def areas_on_screen(page: Page, level: str, count: int) -> None:
    """Every area of the level drawn (`count` of them) is inside the map's visible bounds (a resized map
    refits on its next frame: allow it a moment)."""
    await page.wait_for_function(f"() => {{ const m = window.cityloop.map; return m.current().level === '{level}'"
                                 f" && m.areaLayer && m.areaLayer.getLayers().length === {count}; }}")
    with contextlib.suppress(PlaywrightTimeout):
        await page.wait_for_function(f"() => ({OFF_SCREEN})().off.length === 0", timeout=3000)
    state = await page.evaluate(OFF_SCREEN)
    assert state["off"] == [], f"off-screen at {page.viewport_size}: {state}"
    assert await page.evaluate(MAP_IN_WINDOW), "the map itself is not wholly in the window"


async def area_count(hub: Hub, token: str, parent: str | None) -> int:
    params = {"parent": parent} if parent else {}
    return len((await centre.api_get(hub, token, "/api/v1/areas", **params))["areas"])


# --- 3. the map fits the user's jurisdiction ---------------------------------------------------------------

@pytest.mark.parametrize("size", list(SIZES), ids=list(SIZES))
async def test_the_map_shows_the_whole_jurisdiction_on_load_and_after_going_home(
        hub: Hub, browser: Browser, size: str) -> None:
    operator = await hub.login("city_operator", None)
    counties = await area_count(hub, operator, None)
    assert counties == 12
    township = await mobile.township_at(hub, operator, QINGXIU_SEAT)
    townships = await area_count(hub, operator, "450103")
    communities = await area_count(hub, operator, township)
    context = await context_at(browser, SIZES[size])
    try:
        # A city operator: all twelve counties (马山, 上林 and 横州 included), then after a drill and 全市.
        city = await centre.sign_in(hub, context, f"op-fit-{size}", "city_operator", None)
        page = city.page
        await areas_on_screen(page, "city", counties)
        await page.locator(".area-label", has_text="横州市").click(force=True)
        await expect(page.locator("#crumbs .crumb.current")).to_have_text("横州市")
        await page.locator('#crumbs button.crumb[data-depth="0"]').click()
        await areas_on_screen(page, "city", counties)
        # The window resized (a laptop's window, a rotated tablet): still the whole city.
        await page.set_viewport_size(LAPTOP if size == "1920x1080" else WALL)
        await areas_on_screen(page, "city", counties)
        await page.set_viewport_size(SIZES[size])
        await areas_on_screen(page, "city", counties)
        city.assert_clean()
        await page.close()

        # A county dispatcher: their county's townships, and again after a township and back to the county.
        county = await centre.sign_in(hub, context, f"qx-fit-{size}", "county_dispatcher", "450103")
        page = county.page
        await areas_on_screen(page, "county", townships)
        # Zoomed in (the zoom over), then 全市: the whole city.
        await page.evaluate(ZOOM_IN)
        await page.locator('#crumbs button.crumb[data-depth="0"]').click()
        await areas_on_screen(page, "city", counties)
        await page.locator(".area-label", has_text="青秀区").click(force=True)
        await areas_on_screen(page, "county", townships)
        # 全市 clicked while a zoom still animates (a wheel turn just before): the whole city all the same.
        await page.evaluate(ZOOM_IN_AND_GO_HOME_MIDWAY)
        await areas_on_screen(page, "city", counties)
        await page.locator(".area-label", has_text="青秀区").click(force=True)
        await areas_on_screen(page, "county", townships)
        county.assert_clean()
        await page.close()

        # A township user: their township's communities.
        handler = await centre.sign_in(hub, context, f"tw-fit-{size}", "township_handler", township)
        await areas_on_screen(handler.page, "township", communities)
        handler.assert_clean()
    finally:
        await context.close()


# --- 5. deadlines already met ---------------------------------------------------------------------------

def china_time(iso: str) -> str:
    """The consoles' formatTime (zh): 2026年12月6日 14:00, in China time."""
    at = datetime.fromisoformat(iso).astimezone(ZoneInfo("Asia/Shanghai"))
    return f"{at.year}年{at.month}月{at.day}日 {at:%H:%M}"


async def test_deadlines_already_met_show_as_met_with_their_time_not_a_countdown(
        hub: Hub, desktop: BrowserContext, phone: BrowserContext) -> None:
    seeded = await seed_cases(hub)
    signed, closed = seeded["signed"], seeded["closed"]
    assert closed["state"] == "closed" and signed["state"] == "accepted"
    watched = await centre.sign_in(hub, desktop, "op-deadlines", "city_operator", None)
    page = watched.page
    rows = page.locator("#case-panel .deadlines li")

    # Signed for: 签收时限 met at the sign-off time; 办结时限 still counts down.
    await page.evaluate("id => window.cityloop.openCase(id)", signed["case_id"])
    sign = rows.filter(has_text="签收时限")
    await expect(sign).to_contain_text(f"已签收 {china_time(signed['accepted_at'])}")
    await expect(sign.locator("[data-countdown]")).to_have_count(0)
    await expect(sign).not_to_contain_text("剩余")
    await expect(rows.filter(has_text="办结时限").locator("[data-countdown]")).to_have_text(
        re.compile(r"^剩余"))

    # Closed: every deadline met, each with its time; nothing counts down.
    await page.evaluate("id => window.cityloop.openCase(id)", closed["case_id"])
    await expect(page.locator('#case-panel [data-field="state"]')).to_have_text("已结案")
    await expect(rows.filter(has_text="签收时限")).to_contain_text(
        f"已签收 {china_time(closed['accepted_at'])}")
    await expect(rows.filter(has_text="办结时限")).to_contain_text(
        f"已办结 {china_time(closed['resolved_at'])}")
    await expect(rows.filter(has_text="回访时限")).to_contain_text(
        f"已回访结案 {china_time(closed['closed_at'])}")
    await expect(page.locator("#case-panel .deadlines [data-countdown]")).to_have_count(0)
    await expect(page.locator("#case-panel .deadlines")).not_to_contain_text("剩余")
    await page.locator("#case-panel .deadlines").scroll_into_view_if_needed()
    await watched.screenshot("command-centre-deadlines-met")
    # In English too.
    await page.locator("#lang").click()
    await expect(rows.filter(has_text="Sign off by")).to_contain_text("Signed for")
    watched.assert_clean()

    # The phone reads deadlines the same way (one shared rule): the signed case's 签收时限 is met.
    hand = await mobile.open_phone(phone, hub, await mobile.handler(hub, seeded["township"]))
    await mobile.open_case(hand.page, signed["case_id"])
    phone_sign = hand.page.locator("#view-case .deadlines li", has_text="签收时限")
    await expect(phone_sign).to_contain_text("已签收")
    await expect(phone_sign.locator("[data-countdown]")).to_have_count(0)
    hand.assert_clean()


# --- 9. layout: the headline, the legend and the right column ------------------------------------------------

# Each headline figure: its box (inside the window, overlapping neither another figure nor the title or the
# controls beside it), its text, and any part of it that is hidden or cut off.
HEADLINE = """() => {
  const rect = (el) => el.getBoundingClientRect();
  const overlap = (a, b) => a.left < b.right - 0.5 && b.left < a.right - 0.5
    && a.top < b.bottom - 0.5 && b.top < a.bottom - 0.5;
  const chips = [...document.querySelectorAll('#headline > *')];
  const fixed = [document.querySelector('#top h1'), document.querySelector('#top .top-right')].map(rect);
  return chips.map((chip, i) => {
    const r = rect(chip);
    const parts = [chip, ...chip.querySelectorAll('*')];
    return {
      text: chip.innerText.replace(/\\s+/g, ' ').trim(),
      inside: r.width > 0 && r.left >= 0 && r.top >= 0 && r.right <= innerWidth && r.bottom <= innerHeight,
      hidden: parts.filter((el) => {
        const s = getComputedStyle(el);
        return s.display === 'none' || s.visibility === 'hidden'
          || (el.textContent.trim() && !el.getClientRects().length);
      }).map((el) => el.outerHTML.slice(0, 80)),
      cut: parts.filter((el) => el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).display !== 'inline')
        .map((el) => el.outerHTML.slice(0, 80)),
      overlaps: chips.filter((other, j) => j !== i && overlap(r, rect(other))).length
        + fixed.filter((f) => overlap(r, f)).length,
    };
  });
}"""

# The legend's box against the map's centre (the map inset by a fifth on each side), where the cases of a
# fitted jurisdiction are; and the share of the map it covers.
LEGEND = """() => {
  const m = document.querySelector('#map').getBoundingClientRect();
  const l = document.querySelector('#map .legend').getBoundingClientRect();
  const c = { left: m.left + m.width / 5, right: m.right - m.width / 5,
              top: m.top + m.height / 5, bottom: m.bottom - m.height / 5 };
  return { centre: l.left < c.right && c.left < l.right && l.top < c.bottom && c.top < l.bottom,
           share: (l.width * l.height) / (m.width * m.height),
           items: document.querySelectorAll('#map .legend li').length };
}"""

# What the right column shows: the visible tab body, its size and whether it holds more than a placeholder.
RIGHT_COLUMN = """() => {
  const body = [...document.querySelectorAll('.col-right .tab-body')].find((b) => !b.hidden);
  const active = document.querySelector('.col-right .tab.active');
  if (!body) return null;
  const r = body.getBoundingClientRect();
  return { body: body.dataset.body, tab: active && active.dataset.tab, height: r.height,
           placeholder: Boolean(body.querySelector('.placeholder')) || !body.innerText.trim(),
           text: body.innerText.trim().slice(0, 60) };
}"""


async def headline_readable(page: Page) -> None:
    await expect(page.locator("#headline > *").first).to_be_visible()
    chips = await page.evaluate(HEADLINE)
    assert len(chips) >= 3, chips
    for chip in chips:
        assert chip["inside"] and not chip["hidden"] and not chip["cut"] and not chip["overlaps"], chip
        assert any(not ch.isdigit() and not ch.isspace() and ch not in ".%-" for ch in chip["text"]), (
            f"a figure without its label: {chip}")


async def test_the_command_centre_layout_on_a_laptop_and_on_a_wall(hub: Hub, browser: Browser) -> None:
    seeded = await seed_cases(hub)
    laptop = await context_at(browser, LAPTOP)
    try:
        watched = await centre.sign_in(hub, laptop, "op-laptop", "city_operator", None)
        page = watched.page
        await areas_on_screen(page, "city", 12)
        # Every headline figure keeps its label, whole, beside the title.
        await headline_readable(page)
        # The legend stays out of the map's centre: a one-line button that opens on demand, and closes again.
        legend = await page.evaluate(LEGEND)
        assert not legend["centre"] and legend["share"] < 0.02, legend
        await page.locator("#map .legend-toggle").click()
        opened = await page.evaluate(LEGEND)
        assert opened["items"] >= 8, opened
        await page.locator("#map .legend-toggle").click()
        assert await page.evaluate(LEGEND) == legend
        # In English too (longer labels).
        await page.locator("#lang").click()
        await expect(page.locator("html")).to_have_attribute("lang", "en")
        await headline_readable(page)
        watched.assert_clean()
    finally:
        await laptop.close()

    wall = await context_at(browser, WALL)
    try:
        watched = await centre.sign_in(hub, wall, "op-wall", "city_operator", None)
        page = watched.page
        await areas_on_screen(page, "city", 12)
        await headline_readable(page)
        assert not (await page.evaluate(LEGEND))["centre"], "the open legend covers the map's centre"
        # No case picked: the right column shows the KPI summary, not an empty panel.
        await expect(page.locator("#kpi-panel")).to_be_visible()
        right = await page.evaluate(RIGHT_COLUMN)
        assert right["body"] == right["tab"] == "kpi" and not right["placeholder"] and right["height"] > 400, right
        # A case picked: its details; the KPIs are a click away, and back; closed: the KPIs again.
        await page.evaluate("id => window.cityloop.openCase(id)", seeded["signed"]["case_id"])
        await expect(page.locator('#case-panel [data-field="version"]')).to_have_text(str(seeded["signed"]["version"]))
        assert (await page.evaluate(RIGHT_COLUMN))["body"] == "case"
        await page.locator('.col-right .tab[data-tab="kpi"]').click()
        await expect(page.locator("#kpi-panel")).to_be_visible()
        await page.locator('.col-right .tab[data-tab="case"]').click()
        await expect(page.locator('#case-panel [data-field="version"]')).to_be_visible()
        await page.locator('#case-panel [data-do="close"]').click()
        await expect(page.locator("#kpi-panel")).to_be_visible()
        assert (await page.evaluate(RIGHT_COLUMN))["tab"] == "kpi"
        watched.assert_clean()
    finally:
        await wall.close()


# The right column's tab row: each tab's box against the row's visible box, and the rows the tabs sit on.
TAB_ROW = """() => {
  const bar = document.querySelector('.col-right > .tabs').getBoundingClientRect();
  const tabs = [...document.querySelectorAll('.col-right > .tabs .tab')];
  return { rows: new Set(tabs.map((t) => Math.round(t.getBoundingClientRect().top))).size,
           tabs: tabs.map((t) => { const r = t.getBoundingClientRect();
             return { tab: t.dataset.tab, text: t.innerText.trim(), shown: r.width > 0 && r.left >= bar.left - 0.5
               && r.right <= bar.right + 0.5 && r.top >= bar.top - 0.5 && r.bottom <= bar.bottom + 0.5 }; }) };
}"""


@pytest.mark.parametrize("size", ["1920x1080", "1366x768"])
async def test_the_right_columns_seven_tabs_sit_on_one_row_each_whole_in_view(
        hub: Hub, browser: Browser, size: str) -> None:
    """Seven tabs (工单详情 … 应急事件) wrapped onto two rows at both sizes, the active one floating between them.
    In Chinese all fit on one row; in English (longer) the row scrolls and the chosen tab is scrolled into view."""
    context = await context_at(browser, SIZES[size])
    try:
        watched = await centre.sign_in(hub, context, f"op-tabs-{size}", "city_operator", None)
        page = watched.page
        row = await page.evaluate(TAB_ROW)
        assert len(row["tabs"]) == 7 and row["rows"] == 1, row
        assert all(t["shown"] and t["text"] for t in row["tabs"]), row
        await page.locator("#lang").click()
        await expect(page.locator("html")).to_have_attribute("lang", "en")
        for tab in [t["tab"] for t in row["tabs"]][::-1] + ["case"]:
            await page.locator(f'.col-right .tab[data-tab="{tab}"]').click()
            english = await page.evaluate(TAB_ROW)
            assert english["rows"] == 1, english
            assert next(t for t in english["tabs"] if t["tab"] == tab)["shown"], (tab, english)
        watched.assert_clean()
    finally:
        await context.close()


# --- screenshots of both consoles at the three sizes -------------------------------------------------------

async def seed_cases(hub: Hub) -> dict[str, Any]:
    """Cases around the city in every state a console shows: waiting to be signed for, in hand, resolved and
    closed; and the township-led ones of one township for its handler's phone."""
    key = await hub.hotline_key()
    operator = await hub.login("city_operator", None)
    points = [point for county, n in (("450103", 5), ("450102", 3), ("450181", 2))
              for point in await centre.township_points(hub, operator, county, n)]
    ids = await centre.distinct_tickets(hub, key, points[:7]) + await centre.post_tickets(
        hub, key, points[7:], category="road_damage")
    township = await mobile.township_at(hub, operator, QINGXIU_SEAT)
    mine = [await mobile.new_ticket(hub, key, QINGXIU_SEAT, category=category, content=content)
            for category, content in ((mobile.RUBBISH, "小区门口垃圾堆积，无人清运"),
                                      (mobile.TRADING, "人行道上占道经营，行人无法通行"),
                                      (mobile.STREET_DIRT, "路面有大量泥土，雨天湿滑"))]
    colleague = await hub.login("township_handler", township)
    signed = await centre.api_act(hub, colleague, mine[1], "accept", 2)
    county = await hub.login("county_dispatcher", "450103")
    case = await centre.api_act(hub, county, ids[0], "accept", 2)
    case = await centre.api_act(hub, county, ids[0], "resolve", case["version"], note="已修复")
    case = await centre.api_act(hub, county, ids[1], "accept", 2)
    case = await centre.api_act(hub, county, ids[1], "resolve", case["version"], note="已修复")
    closed = await centre.api_act(hub, operator, ids[1], "callback", case["version"], contacted=True, solved=True,
                                  satisfaction="satisfied")
    return {"ids": ids + mine, "township": township, "signed": signed, "closed": closed, "operator": operator}


async def regions_visible(page: Page, selectors: list[str]) -> None:
    """Each region is displayed with a real size and starts inside the window (a stacked narrow layout may
    continue below the fold; nothing may stick out sideways)."""
    for selector in selectors:
        box = await page.locator(selector).first.bounding_box()
        assert box is not None and box["width"] > 40 and box["height"] > 20, (selector, box)
        view = page.viewport_size
        assert view is not None
        assert box["x"] >= 0 and box["x"] + box["width"] <= view["width"] + 0.5, (selector, box, view)
    assert await page.evaluate("() => document.documentElement.scrollWidth <= window.innerWidth"), "scrolls sideways"


async def test_screenshots_of_both_consoles_at_the_three_sizes(hub: Hub, browser: Browser) -> None:
    seeded = await seed_cases(hub)
    username = await mobile.handler(hub, seeded["township"])
    for size, viewport in SIZES.items():
        context = await context_at(browser, viewport)
        try:
            desk = await centre.sign_in(hub, context, f"op-shot-{size}", "city_operator", None)
            page = desk.page
            await centre.wait_on_map(page, [i for i in seeded["ids"] if i != seeded["closed"]["case_id"]])
            await areas_on_screen(page, "city", 12)
            await regions_visible(page, ["#top", "#headline", "#map", ".col-right", ".col-left"])
            await desk.screenshot(f"layout-command-centre-{size}")
            await page.evaluate("id => window.cityloop.openCase(id)", seeded["signed"]["case_id"])
            await expect(page.locator('#case-panel [data-field="version"]')).to_have_text(
                str(seeded["signed"]["version"]))
            await desk.screenshot(f"layout-command-centre-case-{size}")
            desk.assert_clean()

            hand = await open_page(context, f"{hub.base}/m/")
            await mobile.sign_in(hand.page, username)
            await expect(hand.page.locator("#queue .card, #queue [data-open]").first).to_be_visible()
            await regions_visible(hand.page, [".top", "#view-queue", "#nav"])
            await mobile.settled(hand.page)
            await hand.screenshot(f"layout-mobile-{size}")
            await mobile.open_case(hand.page, seeded["signed"]["case_id"])
            await mobile.settled(hand.page)
            await hand.screenshot(f"layout-mobile-case-{size}")
            hand.assert_clean()
        finally:
            await context.close()
