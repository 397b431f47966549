"""The command centre's case panel shows what intake recognised and the words it went by (issue 16 item 3):
"识别为 路灯（依据：路灯、不亮…）" for a ticket the hotline sent in its own words, in both languages."""

from __future__ import annotations

import re

from playwright.async_api import BrowserContext, expect

from tests.browser.test_command_centre import feed_item, sign_in
from tests.conftest import Hub
from tests.e2e.test_hotline_to_console import QINGXIU_SEAT, push, ticket


async def test_the_panel_says_what_the_case_was_recognised_as_and_why(hub: Hub, desktop: BrowserContext) -> None:
    key = await hub.hotline_key()
    page = (await sign_in(hub, desktop, "op1", "city_operator", None)).page
    worded = ticket(QINGXIU_SEAT, category="其他", content="一排路灯晚上全部不亮，走路很黑")
    status, answer = await push(hub, key, worded)
    assert status == 202
    await feed_item(page, answer["case_id"], "case.dispatched").click()
    recognised = page.locator('#case-panel [data-field="understanding"]')
    await expect(recognised).to_have_text(re.compile(r"^识别为 路灯（依据：.*路灯.*；置信度 \d+%）$"))
    await page.locator("#lang").click()
    english = r"^Recognised as Streetlight \(from: .*路灯.*; confidence \d+%\)$"
    await expect(recognised).to_have_text(re.compile(english))
    await page.locator("#lang").click()
