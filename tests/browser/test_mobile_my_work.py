"""The township phone (/m/, 390×844) and the handling unit (issue 15, items 1 and 2): the lead township's handler
reads a 保密 case's content (never the caller); 我的待办 and its badge hold only what the handler's unit leads,
while the cases it assists (协办) or its area watches are in their own tab, each naming its lead unit, and say
why they offer comments only."""

from __future__ import annotations

from playwright.async_api import BrowserContext, expect

from tests.browser.test_township_mobile import (
    RUBBISH,
    api_get,
    handler,
    new_ticket,
    open_phone,
    settled,
    township_at,
)
from tests.conftest import Hub
from tests.e2e.test_hotline_to_console import QINGXIU_SEAT

HENGZHOU_SEAT = (109.25713, 22.68314)  # GeoNames 1808361, 横州 (450181): exposed rubbish is led by its bureau
SECRET = "隔壁饭店后门长期倾倒泔水，举报人要求保密"


async def test_the_lead_townships_handler_reads_a_confidential_case_but_not_the_caller(
        phone: BrowserContext, hub: Hub) -> None:
    key = await hub.hotline_key()
    operator = await hub.login("city_operator", None)
    township = await township_at(hub, operator, QINGXIU_SEAT)
    secret = await new_ticket(hub, key, QINGXIU_SEAT, category=RUBBISH, content=SECRET, confidential=True)
    case = await api_get(hub, operator, f"/api/v1/cases/{secret}")
    assert case["units"]["lead"]["code"] == f"{township}-gov"
    watched = await open_phone(phone, hub, await handler(hub, township))
    page = watched.page

    # The queue (the live feed) carries the content to the lead unit's staff, never the caller.
    card = page.locator(f'#queue [data-open="{secret}"]')
    await expect(card.locator(".card-content")).to_have_text(SECRET)
    await expect(card.locator(".card-conf")).to_have_text("保密")
    await settled(page)
    await watched.screenshot("mobile-confidential-queue")
    await card.tap()
    content = page.locator("#view-case .ess-content")
    await expect(content).to_have_text(SECRET)
    await expect(content).not_to_have_class("ess-content confidential")
    await expect(page.locator("#view-case .confidential-note")).to_contain_text("保密工单")
    await expect(page.locator('#view-case [data-action="accept"]')).to_be_visible()
    essentials = await page.locator("#view-case .essentials").inner_text()
    assert "13812341234" not in essentials and "张三" not in essentials and "138****1234" in essentials
    await settled(page)
    await watched.screenshot("mobile-confidential-case")
    watched.assert_clean()


async def test_my_queue_holds_what_my_unit_leads_the_other_tab_what_it_assists_or_watches(
        phone: BrowserContext, hub: Hub) -> None:
    key = await hub.hotline_key()
    operator = await hub.login("city_operator", None)
    township = await township_at(hub, operator, QINGXIU_SEAT)
    mine = await new_ticket(hub, key, QINGXIU_SEAT, category=RUBBISH, content="小区门口垃圾堆积")
    # Streetlights are led by the county's urban management bureau (R-lighting), in my township all the same.
    bureau = await new_ticket(hub, key, QINGXIU_SEAT, category="streetlight", content="路灯不亮")
    led = await api_get(hub, operator, f"/api/v1/cases/{bureau}")
    assert led["units"]["lead"]["name"] == "青秀区城市管理局"
    assert led["areas"]["township"]["code"] == township and led["state"] == "dispatched"

    watched = await open_phone(phone, hub, await handler(hub, township))
    page = watched.page
    await expect(page.locator(f'#queue [data-open="{mine}"]')).to_be_visible()
    assert await page.evaluate("() => window.cityloop.tabIds('mine')") == [mine]
    assert await page.evaluate("() => window.cityloop.tabIds('others')") == [bureau]
    await expect(page.locator(f'#queue [data-open="{bureau}"]')).to_have_count(0)
    await expect(page.locator("#nav-badge")).to_have_text("1")  # the bureau's case is not my work
    await expect(page.locator('#counts [data-filter="dispatched"]')).to_have_attribute("data-count", "1")
    await expect(page.locator('#queue-tabs [data-tab="mine"]')).to_have_attribute("data-count", "1")
    await expect(page.locator('#queue-tabs [data-tab="others"]')).to_have_attribute("data-count", "1")
    await settled(page)
    await watched.screenshot("mobile-queue-mine")

    await page.locator('#queue-tabs [data-tab="others"]').tap()
    other_card = page.locator(f'#queue [data-open="{bureau}"]')
    await expect(other_card.locator(".card-lead")).to_have_text("主办: 青秀区城市管理局")
    await expect(other_card.locator(".card-rel")).to_have_text("关注")
    await expect(page.locator(f'#queue [data-open="{mine}"]')).to_have_count(0)
    await expect(page.locator("#nav-badge")).to_have_text("1")  # the badge stays my unit's work
    await settled(page)
    await watched.screenshot("mobile-queue-others")

    await other_card.tap()
    why = page.locator("#view-case .why-comments")
    await expect(why).to_have_text("由青秀区城市管理局主办；本辖区关注，可添加备注")
    await expect(page.locator('#view-case [data-action="comment"]')).to_be_visible()
    await expect(page.locator('#view-case [data-action="accept"]')).to_have_count(0)
    await page.locator("#lang").tap()
    await expect(why).to_have_text("Led by 青秀区城市管理局; in your area: you can add comments")
    await page.locator("#lang").tap()
    await settled(page)
    await watched.screenshot("mobile-case-watched")
    watched.assert_clean()


async def test_a_case_my_unit_assists_is_in_the_other_tab_naming_its_lead(phone: BrowserContext, hub: Hub) -> None:
    key = await hub.hotline_key()
    operator = await hub.login("city_operator", None)
    # In 横州 the county's bureau leads exposed rubbish and the township assists (R-sanitation-hengzhou).
    assisted = await new_ticket(hub, key, HENGZHOU_SEAT, category=RUBBISH, content="镇区菜市场旁垃圾堆积")
    case = await api_get(hub, operator, f"/api/v1/cases/{assisted}")
    township = case["areas"]["township"]["code"]
    assert case["units"]["lead"]["code"] == "450181-cgj"
    assert [u["code"] for u in case["units"]["assist"]] == [f"{township}-gov"]

    watched = await open_phone(phone, hub, await handler(hub, township))
    page = watched.page
    await expect(page.locator('#queue-tabs [data-tab="others"]')).to_have_attribute("data-count", "1")
    assert await page.evaluate("() => window.cityloop.tabIds('mine')") == []
    await expect(page.locator("#nav-badge")).to_be_hidden()
    await page.locator('#queue-tabs [data-tab="others"]').tap()
    card = page.locator(f'#queue [data-open="{assisted}"]')
    await expect(card.locator(".card-rel")).to_have_text("协办")
    lead_name = case["units"]["lead"]["name"]
    await expect(card.locator(".card-lead")).to_have_text(f"主办: {lead_name}")
    await card.tap()
    await expect(page.locator("#view-case .why-comments")).to_have_text(f"由{lead_name}主办；本单位协办，可添加备注")
    watched.assert_clean()
