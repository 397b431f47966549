"""Directives in the browsers: the city operator composes a directive to every township of a county on the command
centre's 指令 tab; township handlers sign for it on their phones (通知 tab, 签收) and the remaining ones answer;
the command centre's progress follows live to 100 %, and a report-mode directive is answered with text on a phone."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import aiohttp
from playwright.async_api import Browser, BrowserContext, Page, expect

from tests.browser import test_command_centre as centre
from tests.browser import test_township_mobile as mobile
from tests.browser.conftest import PHONE, Watched
from tests.conftest import Hub
from tests.e2e.test_directives import call, townships
from tests.unit.test_grid_report import png

COUNTY = "450103"


async def phone_of(browser: Browser, hub: Hub, township: str) -> tuple[BrowserContext, Watched]:
    """Each handler on a phone of their own (a context keeps one sign-in)."""
    context = await browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True,
                                        locale="zh-CN", timezone_id="Asia/Shanghai")
    return context, await mobile.open_phone(context, hub, await mobile.handler(hub, township))


async def command_centre(hub: Hub, desktop: BrowserContext, username: str) -> tuple[Watched, str, list[str]]:
    """A city operator on the command centre, an API token of the city, and the county's townships."""
    watched = await centre.sign_in(hub, desktop, username, "city_operator", None)
    operator = await hub.login("city_operator", None)
    return watched, operator, await townships(hub, operator, COUNTY)


async def open_notices(page: Page) -> None:
    await page.locator('#nav [data-nav="directives"]').tap()
    await expect(page.locator("#view-directives")).to_be_visible()


async def test_a_directive_to_every_township_reaches_100_percent_live_on_the_command_centre(
        hub: Hub, desktop: BrowserContext, browser: Browser) -> None:
    operator_console, operator, codes = await command_centre(hub, desktop, "op-directive")
    desk = operator_console.page
    assert len(codes) >= 3
    phones = [await phone_of(browser, hub, code) for code in codes[:2]]

    # Compose on the 指令 tab: every township government of 青秀区.
    await desk.locator('.col-right .tab[data-tab="directives"]').click()
    await desk.locator('#directive-panel [data-do="compose"]').click()
    form = desk.locator("#directive-panel .dir-form")
    await form.locator("[name=title]").fill("台风“摩羯”今夜登陆")
    await form.locator("[name=content]").fill("请各街道立即排查辖区易涝点、排水设施和户外广告牌，18时前签收")
    await form.locator("[name=level]").select_option("township")
    await form.locator("[name=parent]").select_option(COUNTY)
    await form.locator("button[type=submit]").click()
    item = desk.locator("#directive-panel .dir-item").first
    await expect(item.locator(".dir-count")).to_contain_text(f"0/{len(codes)}")
    await expect(item.locator(".dir-missing .chip")).to_have_count(min(len(codes), 12))
    directive_id = await item.get_attribute("data-directive")

    # Two handlers sign for it on their phones: the command centre counts them live.
    for n, (_, watched) in enumerate(phones, start=1):
        page = watched.page
        await open_notices(page)
        card = page.locator(f'#view-directives [data-directive="{directive_id}"]')
        await expect(card).to_contain_text("台风")
        await expect(card.locator(".due")).to_contain_text("剩余")
        await card.locator('[data-dir="ack"]').tap()
        await expect(card).to_have_attribute("data-state", "acknowledged")
        await expect(item.locator(".dir-count")).to_contain_text(f"{n}/{len(codes)}")
    # One click reminds the missing ones.
    await item.locator('[data-do="remind"]').click()
    await expect(desk.locator("#toasts")).to_contain_text(f"已催办 {len(codes) - 2} 个单位")
    status, doc = await call(hub, operator, "GET", f"/api/v1/directives/{directive_id}")
    assert status == 200 and doc["reminders"][-1]["units"] == [f"{c}-gov" for c in codes[2:]]
    # The rest answer (from their own devices, here over the API).
    for code in codes[2:]:
        status, _ = await call(hub, await hub.login("township_handler", code), "POST",
                               f"/api/v1/directives/{directive_id}/ack")
        assert status == 200
    await expect(item.locator(".dir-count")).to_contain_text(f"{len(codes)}/{len(codes)}（100%）")
    await expect(item).to_have_attribute("data-state", "completed")
    await expect(item.locator(".dir-missing")).to_have_count(0)
    await operator_console.screenshot("directive-command-centre")
    await phones[0][1].screenshot("directive-mobile")
    operator_console.assert_clean()
    for context, watched in phones:
        watched.assert_clean()
        await context.close()


async def test_a_report_is_sent_from_the_phone_and_shown_on_the_command_centre(
        hub: Hub, desktop: BrowserContext, phone: BrowserContext) -> None:
    operator_console, operator, codes = await command_centre(hub, desktop, "op-report")
    desk = operator_console.page
    due = (datetime.now(UTC) + timedelta(hours=3)).isoformat()
    form = aiohttp.FormData()
    form.add_field("photo", png(3), filename="map.png", content_type="image/png")
    async with hub.http.post(f"{hub.base}/api/v1/photos", data=form, headers=mobile.bearer(operator)) as resp:
        assert resp.status == 201
        attachment = (await resp.json())["photo_id"]
    status, created = await call(hub, operator, "POST", "/api/v1/directives", {
        "title": "汛情排查上报", "content": "请上报辖区积水点排查情况", "recipients": {"units": [f"{codes[0]}-gov"]},
        "due": due, "reply": "report", "attachments": [attachment]})
    assert status == 201
    await desk.locator('.col-right .tab[data-tab="directives"]').click()
    item = desk.locator(f'#directive-panel [data-directive="{created["directive_id"]}"]')
    await expect(item.locator(".dir-count")).to_contain_text("0/1")

    hand = (await mobile.open_phone(phone, hub, await mobile.handler(hub, codes[0]))).page
    await open_notices(hand)
    card = hand.locator(f'#view-directives [data-directive="{created["directive_id"]}"]')
    await card.locator(f'[data-dir-photo="{attachment}"]').tap()  # the attachment, fetched with the token
    await expect(card.locator(f'[data-dir-photo="{attachment}"] img')).to_be_visible()
    await card.locator("[data-reply-text]").fill("已排查 12 处积水点，清理 3 处")
    await card.locator('[data-dir="reply"]').tap()
    await expect(card).to_have_attribute("data-state", "replied")
    await expect(item.locator(".dir-count")).to_contain_text("1/1（100%）")
    await item.locator('[data-do="unfold"]').click()
    await expect(item.locator(".dir-recipients")).to_contain_text("已排查 12 处积水点")
    # In English, from the words tables.
    await desk.locator("#lang").click()
    await expect(item.locator(".dir-count")).to_have_text("Done 1/1 (100%)")
    await expect(item.locator(".badge")).to_have_text("Completed")
    await expect(item.locator(".dir-recipients")).to_contain_text("Reported")
    operator_console.assert_clean()
