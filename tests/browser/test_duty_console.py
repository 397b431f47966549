"""The duty roster (值班) in the command centre, in a real browser: the 今日值班 tab lists today's officers of every
county and township in the user's jurisdiction with the gaps as 未排班 and numbers to call, a county dispatcher's
list is its county's, and an urgent case's panel shows its lead unit's duty officer with a tel: link."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from playwright.async_api import BrowserContext, expect

from hub.services.duty import today
from tests.browser import test_township_mobile as mobile
from tests.browser.test_command_centre import api_token, sign_in
from tests.conftest import Hub
from tests.e2e.test_hotline_to_console import QINGXIU_SEAT, push, ticket

XINZHU = "450103001"


async def put_officer(hub: Hub, token: str, unit: str, name: str, phone: str, **extra: Any) -> None:
    body = {"date": today(datetime.now(UTC)).isoformat(), "name": name, "phone": phone, **extra}
    async with hub.http.put(f"{hub.base}/api/v1/duty/{unit}", json=body,
                            headers={"Authorization": f"Bearer {token}"}) as resp:
        assert resp.status == 200, await resp.text()


async def test_the_command_centre_lists_todays_officers_and_an_urgent_case_shows_its_own(
        hub: Hub, desktop: BrowserContext) -> None:
    watched = await sign_in(hub, desktop, "duty-op", "city_operator", None)
    page = watched.page
    token = await api_token(hub, "duty-op")
    await put_officer(hub, token, f"{XINZHU}-gov", "陆海燕", "13907710001")
    await put_officer(hub, token, "450103-gov", "黄志强", "0771-5551234", shift="夜班", starts="18:00", ends="08:00")

    await page.locator('.col-right .tab[data-tab="duty"]').click()
    duty = page.locator("#duty-panel")
    await expect(duty).to_be_visible()
    township = duty.locator(f'li[data-unit="{XINZHU}-gov"]')
    await expect(township).to_contain_text("新竹街道人民政府")
    await expect(township).to_contain_text("陆海燕")
    await expect(township.locator("a.duty-phone")).to_have_attribute("href", "tel:13907710001")
    county = duty.locator('li[data-unit="450103-gov"]')
    await expect(county).to_contain_text("夜班 18:00–08:00")
    await expect(county.locator("a.duty-phone")).to_have_attribute("href", "tel:07715551234")
    gaps = duty.locator("li.gap .duty-gap")
    assert await gaps.count() > 100, "every other county and township shows its gap"
    await expect(gaps.first).to_have_text("未排班")
    await expect(duty.locator('[data-field="duty-summary"]')).to_contain_text("已排班 2 /")
    await expect(duty.locator("h3").first).to_have_text("区县")

    # An urgent case: its panel names the lead unit's officer with the number to call.
    key = await hub.hotline_key()
    status, placed = await push(hub, key, ticket(QINGXIU_SEAT, urgency="urgent", category="manhole_cover"))
    assert status == 202, placed
    async with hub.http.get(f"{hub.base}/api/v1/cases/{placed['case_id']}",
                            headers={"Authorization": f"Bearer {token}"}) as resp:
        lead = (await resp.json())["units"]["lead"]
    await put_officer(hub, token, lead["code"], "梁建国", "13877112233")
    await page.evaluate("id => window.cityloop.openCase(id)", placed["case_id"])
    box = page.locator('#case-panel [data-field="duty-officer"]')
    await expect(box).to_contain_text(lead["name"])
    await expect(box).to_contain_text("梁建国")
    await expect(box.locator("a.duty-phone")).to_have_attribute("href", "tel:13877112233")
    await watched.screenshot("command-centre-duty-officer")

    # In English, the same list in English words.
    await page.locator("#lang").click()
    await page.locator('.col-right .tab[data-tab="duty"]').click()
    await expect(page.locator('.col-right .tab[data-tab="duty"]')).to_have_text("On duty today")
    await expect(duty.locator("li.gap .duty-gap").first).to_have_text("No one on duty")
    await expect(duty.locator(f'li[data-unit="{XINZHU}-gov"] .duty-shift')).to_have_text("All day")
    await watched.screenshot("command-centre-duty-list")
    watched.assert_clean()


async def test_a_county_dispatcher_lists_its_county_and_an_unscheduled_urgent_case_says_so(
        hub: Hub, desktop: BrowserContext) -> None:
    watched = await sign_in(hub, desktop, "duty-qx", "county_dispatcher", "450103")
    page = watched.page
    token = await api_token(hub, "duty-qx")
    key = await hub.hotline_key()
    status, placed = await push(hub, key, ticket(QINGXIU_SEAT, urgency="critical", category="drain_blocked"))
    assert status == 202, placed
    async with hub.http.get(f"{hub.base}/api/v1/cases/{placed['case_id']}",
                            headers={"Authorization": f"Bearer {token}"}) as resp:
        lead = (await resp.json())["units"]["lead"]["code"]
    listed = next(u for u in ("450103002-gov", "450103003-gov") if u != lead)  # anyone but the case's lead unit
    await put_officer(hub, token, listed, "陆海燕", "13907710001")

    await page.locator('.col-right .tab[data-tab="duty"]').click()
    duty = page.locator("#duty-panel")
    await expect(duty.locator(f'li[data-unit="{listed}"] a.duty-phone')).to_have_attribute("href", "tel:13907710001")
    codes = await duty.locator("li[data-unit]").evaluate_all("els => els.map((el) => el.dataset.unit)")
    assert codes and all(code.startswith("450103") for code in codes), codes
    assert "450102-gov" not in codes

    await page.evaluate("id => window.cityloop.openCase(id)", placed["case_id"])
    box = page.locator('#case-panel [data-field="duty-officer"]')
    await expect(box.locator(".duty-gap")).to_have_text("未排班")
    await expect(box).to_have_class("duty-box gap")
    watched.assert_clean()


async def test_the_phone_console_shows_the_lead_units_duty_officer_on_a_case(
        hub: Hub, phone: BrowserContext) -> None:
    operator = await hub.login("city_operator", None)
    township = await mobile.township_at(hub, operator, QINGXIU_SEAT)
    # Sanitation is township-led (R-sanitation-township): the handler's own government leads it.
    case_id = await mobile.new_ticket(hub, await hub.hotline_key(), QINGXIU_SEAT, category="exposed_rubbish")
    await put_officer(hub, operator, f"{township}-gov", "韦丽娟", "13907719999")
    watched = await mobile.open_phone(phone, hub, await mobile.handler(hub, township))
    await mobile.open_case(watched.page, case_id)
    row = watched.page.locator('#view-case [data-field="duty-officer"]')
    await expect(row).to_contain_text("值班人员")
    await expect(row).to_contain_text("韦丽娟")
    # Their own unit's officer: a colleague to hand over to, so the number is there to call.
    await expect(row.locator("a.duty-phone")).to_have_attribute("href", "tel:13907719999")
    watched.assert_clean()
