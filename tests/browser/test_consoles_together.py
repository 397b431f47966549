"""The closed loop seen from both consoles at once: a ticket posted over HTTP appears live on the
operator's map and feed; a township handler on a 390x844 phone accepts and resolves it; the operator's
console follows without a reload. Screenshots of both are kept."""

from __future__ import annotations

from playwright.async_api import BrowserContext, expect

from tests.browser import test_command_centre as centre
from tests.browser import test_township_mobile as mobile
from tests.conftest import Hub
from tests.e2e.test_hotline_to_console import QINGXIU_SEAT


async def test_handler_on_the_phone_closes_the_loop_while_the_operator_watches(
        hub: Hub, desktop: BrowserContext, phone: BrowserContext) -> None:
    operator_console = await centre.sign_in(hub, desktop, "op-together", "city_operator", None)
    desk = operator_console.page
    operator = await hub.login("city_operator", None)
    township = await mobile.township_at(hub, operator, QINGXIU_SEAT)
    handler_phone = await mobile.open_phone(phone, hub, await mobile.handler(hub, township))
    hand = handler_phone.page

    case_id = await mobile.new_ticket(hub, await hub.hotline_key(), QINGXIU_SEAT, category=mobile.RUBBISH,
                                      content="青秀区某小区门口垃圾堆积，无人清运")
    # Live on the operator's map and feed, and in the handler's queue, without a reload.
    await centre.wait_on_map(desk, [case_id])
    await expect(centre.feed_item(desk, case_id, "case.dispatched")).to_have_count(1)
    await desk.evaluate("id => window.cityloop.openCase(id)", case_id)
    await expect(hand.locator(f'#queue [data-open="{case_id}"]')).to_be_visible()

    await mobile.open_case(hand, case_id)
    await hand.locator('[data-action="accept"]').tap()
    await expect(centre.feed_item(desk, case_id, "case.accepted")).to_have_count(1)

    await expect(hand.locator('[data-action="resolve"]')).to_be_visible()
    await hand.locator('[data-action="resolve"]').tap()
    await hand.locator('[data-form="resolve"] textarea[name=note]').fill("已清运完毕，现场已恢复整洁")
    await mobile.submit_form(hand, "resolve")
    await expect(centre.feed_item(desk, case_id, "case.resolved")).to_have_count(1)
    case = await centre.api_get(hub, operator, f"/api/v1/cases/{case_id}")
    assert case["state"] == "resolved"
    # The operator's open case panel follows: the state shown is the new one, and the callback is offered.
    await expect(desk.locator("#case-panel")).to_contain_text("已办结待回访")
    await expect(desk.locator('#case-panel [data-action="callback"]')).to_be_visible()
    # The loop closes on the phone's side too: the resolved case leaves the handler's queue.
    await expect(hand.locator(f'#queue [data-open="{case_id}"]')).to_have_count(0)

    await operator_console.screenshot("together-command-centre")
    await handler_phone.screenshot("together-mobile")
    operator_console.assert_clean()
    handler_phone.assert_clean()
