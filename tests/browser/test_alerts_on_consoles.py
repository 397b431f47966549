"""预警 on both consoles (issue 17, item 3), with a real surge: twelve reports pushed over the hotline API in one
township raise an alert that reaches the command centre live (a banner over the map, the 预警 tab, the township
pulsing on the map, the linked cases one click away) and the phone of that township's handler, who acknowledges
it with a note; the command centre then shows 已确认 with who and when from its feed, without asking the API;
a handler of another township never sees it. Screenshots of the banner over the map (1366×768) and of the phone
(390×844) are kept in test-artifacts/screenshots/."""

from __future__ import annotations

import asyncio
import time

from playwright.async_api import Browser, BrowserContext, Request, expect

from hub.keys import SURGE
from tests.browser import test_command_centre as centre
from tests.browser import test_township_mobile as mobile
from tests.browser.test_console_layout import LAPTOP, PHONE, context_at
from tests.conftest import Hub
from tests.e2e.test_early_warning import SURGE_SIZE, history
from tests.e2e.test_hotline_to_console import QINGXIU_SEAT, XINGNING_SEAT

PULSING = "() => window.cityloop.map.pulsingAreas()"


async def test_a_surge_alert_reaches_both_consoles_and_is_acknowledged_on_the_phone(
        hub: Hub, browser: Browser, phone: BrowserContext) -> None:
    key = await hub.hotline_key()
    await history(hub, key)
    await hub.app[SURGE].refresh()  # the hourly baseline, learnt now from the history just pushed
    operator = await hub.login("city_operator", None)
    township = await mobile.township_at(hub, operator, QINGXIU_SEAT)
    other_township = await mobile.township_at(hub, operator, XINGNING_SEAT)

    laptop = await context_at(browser, LAPTOP)
    stranger_context = await context_at(browser, PHONE)
    try:
        desk_console = await centre.sign_in(hub, laptop, "op-alerts", "city_operator", None)
        desk = desk_console.page
        asked: list[str] = []  # the command centre's requests for alerts: none, the feed brings them

        def note_request(request: Request) -> None:
            if "/api/v1/alerts" in request.url:
                asked.append(f"{request.method} {request.url}")
        desk.on("request", note_request)
        handler_name = await mobile.handler(hub, township)
        hand_phone = await mobile.open_phone(phone, hub, handler_name)
        hand = hand_phone.page
        stranger_phone = await mobile.open_phone(stranger_context, hub, await mobile.handler(hub, other_township))
        await expect(desk.locator("#alert-banner")).to_be_hidden()
        await expect(hand.locator("#alerts [data-alert]")).to_have_count(0)

        case_ids = [await mobile.new_ticket(hub, key, QINGXIU_SEAT) for _ in range(SURGE_SIZE)]
        twelfth = time.monotonic()

        # The command centre: the banner over the map, within seconds, naming the township and the count.
        banner = desk.locator("#alert-banner")
        await expect(banner).to_be_visible(timeout=20_000)
        await expect(banner).to_contain_text(f"{SURGE_SIZE} 起", timeout=20_000)
        print(f"banner showing {SURGE_SIZE} reports {time.monotonic() - twelfth:.2f} s after the 12th was accepted")
        await expect(banner).to_contain_text("预警：")
        alert_id = await banner.get_attribute("data-alert-id")
        assert alert_id
        alert = await centre.api_get(hub, operator, f"/api/v1/alerts/{alert_id}")
        assert alert["area"]["code"] == township and set(alert["case_ids"]) == set(case_ids)
        await expect(banner).to_contain_text(alert["area"]["name"])
        # Whole on a laptop's map, the expectation included (cut to one line it ended in "（预期 …").
        text = banner.locator(".alert-text")
        await expect(text).to_contain_text("预期")
        assert await text.evaluate(
            "el => el.scrollHeight <= el.clientHeight + 1 && el.scrollWidth <= el.clientWidth + 1")
        await expect(desk.locator("#alert-count")).to_have_text("1")
        # The township pulses on the map while the alert is open.
        await desk.wait_for_function(f"() => ({PULSING})().includes({township!r})")
        assert await desk.locator("#map path.alert-pulse").count() >= 1
        animation = await desk.locator("#map path.alert-pulse").first.evaluate(
            "el => getComputedStyle(el).animationName")
        assert animation == "area-pulse"
        # The banner leaves the map usable: it covers a strip at its top, not the map.
        box, map_box = await banner.bounding_box(), await desk.locator("#map").bounding_box()
        assert box and map_box and box["height"] < 60 and box["width"] < map_box["width"]
        await mobile.settled(desk)
        await desk_console.screenshot("alert-banner-command-centre-1366x768")
        # The same console on a phone-sized window: the banner spans the map beside its zoom buttons, wrapped.
        await desk.set_viewport_size(PHONE)
        await desk.locator("#map").scroll_into_view_if_needed()
        narrow, narrow_map = await banner.bounding_box(), await desk.locator("#map").bounding_box()
        assert narrow and narrow_map and narrow["width"] < narrow_map["width"] and narrow["height"] < 80
        await desk_console.screenshot("alert-banner-command-centre-390x844")
        await desk.set_viewport_size(LAPTOP)

        # One click on the banner: the 预警 tab with the alert's evidence and its linked cases listed.
        await banner.locator(".alert-text").click()
        item = desk.locator(f'#alert-panel [data-alert-id="{alert_id}"]')
        await expect(item).to_be_visible()
        await expect(item).to_have_attribute("data-state", "open")
        await expect(item).to_contain_text("待确认")
        await expect(item).to_contain_text("数量激增")
        await expect(item).to_contain_text(" › ".join(alert["category"]["path"]))
        linked = item.locator("[data-linked] li[data-case-id]")
        await expect(linked).to_have_count(SURGE_SIZE)
        assert set(await linked.evaluate_all("els => els.map((el) => el.dataset.caseId)")) == set(case_ids)
        # Named, also the merged duplicates the feed no longer holds (fetched when the list opens).
        await expect(linked.filter(has_text=alert["category"]["path"][-1])).to_have_count(SURGE_SIZE)
        # ... and one more click opens a linked case in the panel.
        first = await linked.first.get_attribute("data-case-id")
        await linked.first.click()
        await desk.wait_for_function("id => window.cityloop.panel.caseId === id", arg=first)
        await expect(desk.locator('#case-panel [data-field="version"]')).to_be_visible()
        await desk.locator('.col-right .tab[data-tab="alerts"]').click()
        await expect(item).to_be_visible()

        # The phone of the township's handler: a card at the top of 我的待办, live.
        card = hand.locator(f'#alerts [data-alert="{alert_id}"]')
        await expect(card).to_be_visible()
        await expect(card).to_contain_text(f"{SURGE_SIZE} 起")
        await mobile.settled(hand)
        await hand_phone.screenshot("alert-mobile-390x844")
        await card.tap()
        detail = hand.locator("#view-alert .alert-detail")
        await expect(detail).to_have_attribute("data-state", "open")
        await expect(hand.locator("#view-alert .alert-cases [data-open]")).to_have_count(SURGE_SIZE)
        await hand.locator("#alert-note").fill("已派网格员到场核实停水范围")
        # One more report while the handler types: the alert grows live on both consoles, the note stays.
        await mobile.new_ticket(hub, key, QINGXIU_SEAT)
        await expect(detail).to_contain_text(f"{SURGE_SIZE + 1} 起")
        await expect(hand.locator("#view-alert .alert-cases [data-open]")).to_have_count(SURGE_SIZE + 1)
        await expect(hand.locator("#alert-note")).to_have_value("已派网格员到场核实停水范围")
        await expect(banner).to_contain_text(f"{SURGE_SIZE + 1} 起")
        await expect(item.locator("[data-linked] li[data-case-id]")).to_have_count(SURGE_SIZE + 1)
        await hand.locator("#alert-ack button[type=submit]").tap()
        await expect(detail).to_have_attribute("data-state", "acknowledged")
        await expect(hand.locator("#alert-ack")).to_have_count(0)  # nothing more for a handler to do
        await expect(detail).to_contain_text(handler_name)
        await expect(detail).to_contain_text("已派网格员到场核实停水范围")
        await hand_phone.screenshot("alert-mobile-acknowledged-390x844")

        # The command centre follows from its feed: 已确认, who and when, the pulse stops, the banner goes.
        await expect(item).to_have_attribute("data-state", "acknowledged")
        await expect(item).to_contain_text("已确认")
        await expect(item).to_contain_text(handler_name)
        await expect(item).to_contain_text("街镇承办人")
        await expect(item).to_contain_text("已派网格员到场核实停水范围")
        acked = await centre.api_get(hub, operator, f"/api/v1/alerts/{alert_id}")
        assert acked["state"] == "acknowledged" and acked["acknowledged_by"]["username"] == handler_name
        await expect(desk.locator("#alert-count")).to_have_text("")
        await desk.wait_for_function(f"() => !({PULSING})().length")
        await expect(banner).to_be_hidden()
        assert not asked, f"the command centre asked the API instead of following its feed: {asked}"
        await desk_console.screenshot("alert-tab-command-centre-1366x768")

        # The operator closes it with a note (the handler's phone offered no close); the phone's card goes.
        await item.locator('[data-do="close"]').click()
        await item.locator("textarea[name=note]").fill("供水已恢复")
        await item.locator("button[type=submit]").click()
        await expect(item).to_have_count(0)  # the 预警 tab shows the alerts not closed by default
        await hand.locator('[data-act="back"]').tap()
        await expect(hand.locator(f'#alerts [data-alert="{alert_id}"]')).to_have_count(0)

        # The handler of another township never saw it.
        await asyncio.sleep(0.5)
        assert await stranger_phone.page.evaluate("() => window.cityloop.alertIds()") == []
        await expect(stranger_phone.page.locator("#alerts [data-alert]")).to_have_count(0)

        desk_console.assert_clean()
        hand_phone.assert_clean()
        stranger_phone.assert_clean()
    finally:
        await laptop.close()
        await stranger_context.close()


async def test_who_may_act_on_an_alert_and_a_refusal_shows_the_apis_error(hub: Hub, desktop: BrowserContext) -> None:
    """An auditor reads the alert (in English) with no action offered; the county's dispatcher opens the
    acknowledge form, the township acknowledges meanwhile, and the dispatcher's late acknowledgement is refused
    with the API's error under the form; the dispatcher then closes it; another county's dispatcher never sees it."""
    key = await hub.hotline_key()
    await history(hub, key)
    await hub.app[SURGE].refresh()
    operator = await hub.login("city_operator", None)
    township = await mobile.township_at(hub, operator, QINGXIU_SEAT)
    auditor_console = await centre.sign_in(hub, desktop, "au-alerts", "auditor", None)
    dispatcher_console = await centre.sign_in(hub, desktop, "cd-alerts", "county_dispatcher", township[:6])
    elsewhere_console = await centre.sign_in(hub, desktop, "cd-alerts-xn", "county_dispatcher", "450102")
    auditor, dispatcher, elsewhere = auditor_console.page, dispatcher_console.page, elsewhere_console.page
    await auditor.locator("#lang").click()
    await expect(auditor.locator("html")).to_have_attribute("lang", "en")

    for _ in range(SURGE_SIZE):
        await mobile.new_ticket(hub, key, QINGXIU_SEAT)
    await expect(auditor.locator("#alert-banner")).to_contain_text(f"{SURGE_SIZE} in 1 h", timeout=20_000)
    await expect(auditor.locator("#alert-banner")).to_contain_text("Alert:")
    alert_id = await auditor.locator("#alert-banner").get_attribute("data-alert-id")
    await auditor.locator('.col-right .tab[data-tab="alerts"]').click()
    read_only = auditor.locator(f'#alert-panel [data-alert-id="{alert_id}"]')
    await expect(read_only).to_contain_text("Surge")
    await expect(read_only.locator('[data-do="cases"]')).to_be_visible()
    await expect(read_only.locator('[data-do="acknowledge"], [data-do="close"]')).to_have_count(0)

    await dispatcher.locator("#alert-banner .alert-text").click()
    item = dispatcher.locator(f'#alert-panel [data-alert-id="{alert_id}"]')
    await item.locator('[data-do="acknowledge"]').click()
    await item.locator("textarea[name=note]").fill("区里派人")
    handler = await hub.login("township_handler", township)
    async with hub.http.post(f"{hub.base}/api/v1/alerts/{alert_id}/acknowledge", json={"note": "街道已到场"},
                             headers=mobile.bearer(handler)) as resp:
        assert resp.status == 200, await resp.text()
    await expect(item).to_have_attribute("data-state", "acknowledged")  # live, from the dispatcher's feed
    await expect(read_only).to_contain_text("Acknowledged")  # and the auditor's
    await expect(item.locator('[data-do="acknowledge"]')).to_have_count(0)
    await expect(item.locator("textarea[name=note]")).to_have_value("区里派人")  # the live update kept the note
    await item.locator("form button[type=submit]").click()
    await expect(item.locator("form .error")).to_contain_text("cannot acknowledge")

    await item.locator('[data-do="close"]').click()
    await item.locator('form[data-action="close"] textarea[name=note]').fill("已处置完毕")
    await item.locator('form[data-action="close"] button[type=submit]').click()
    await expect(item).to_have_count(0)
    await dispatcher.locator('#alert-panel [data-filter="closed"]').click()
    await expect(item).to_have_attribute("data-state", "closed")
    await expect(item).to_contain_text("已处置完毕")
    await expect(item).to_contain_text("区县调度员")

    assert await elsewhere.evaluate("() => window.cityloop.alertBook.list().length") == 0
    await expect(elsewhere.locator("#alert-banner")).to_be_hidden()
    for watched in (auditor_console, dispatcher_console, elsewhere_console):
        watched.assert_clean()
