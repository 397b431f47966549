"""The command centre's case panel says when a case was placed from the complaint's words (issue 16 item 6):
the flag in words, in both languages, and the words the place was read from."""

from __future__ import annotations

from playwright.async_api import BrowserContext, expect

from tests.browser.test_command_centre import feed_item, sign_in
from tests.conftest import Hub
from tests.e2e.test_hotline_to_console import push, ticket


async def test_the_panel_shows_a_case_located_from_its_content(hub: Hub, desktop: BrowserContext) -> None:
    key = await hub.hotline_key()
    page = (await sign_in(hub, desktop, "op1", "city_operator", None)).page
    status, answer = await push(hub, key, ticket(None, category="070101", content="我在双义村这边，道路积水"))
    assert status == 202
    await feed_item(page, answer["case_id"], "case.dispatched").click()
    panel = page.locator("#case-panel")
    await expect(panel.locator('[data-field="areas"]')).to_have_text("西乡塘区 › 金陵镇 › 双义村委会")
    await expect(panel.locator('[data-field="located-from-text"]')).to_have_text("由诉求内容定位")
    await expect(panel.locator('[data-field="place-evidence"]')).to_have_text("双义村")
    await page.locator("#lang").click()
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await expect(panel.locator('[data-field="located-from-text"]')).to_have_text("Located from the complaint text")
    await page.locator("#lang").click()

    # A case placed by its point carries no such flag.
    _, other = await push(hub, key, ticket((108.49214, 22.78884)))
    await feed_item(page, other["case_id"], "case.dispatched").click()
    await expect(panel.locator(".ticket")).to_be_visible()
    await expect(panel.locator('[data-field="areas"]')).to_contain_text("青秀区")
    await expect(panel.locator('[data-field="located-from-text"]')).to_have_count(0)
    await expect(panel.locator('[data-field="place-evidence"]')).to_have_count(0)
