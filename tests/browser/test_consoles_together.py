"""The closed loop seen from both consoles at once: a ticket posted over HTTP appears live on the
operator's map and feed; a township handler on a 390x844 phone accepts and resolves it; the operator's
console follows without a reload. Screenshots of both are kept."""

from __future__ import annotations

from playwright.async_api import BrowserContext, expect

from tests.browser import test_command_centre as centre
from tests.browser import test_township_mobile as mobile
from tests.conftest import Hub
from tests.e2e.test_hotline_to_console import QINGXIU_SEAT, push, ticket


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


async def test_a_case_accepted_elsewhere_changes_state_on_both_consoles_and_keeps_the_rest(
        hub: Hub, desktop: BrowserContext, phone: BrowserContext) -> None:
    """The accept reaches the consoles as a patch (state, sign-off time, clocks): each applies it to the case it
    holds, so the map, the feed and the phone's card show the new state and still know the rest of the case."""
    operator_console = await centre.sign_in(hub, desktop, "op-patch", "city_operator", None)
    desk = operator_console.page
    operator = await hub.login("city_operator", None)
    township = await mobile.township_at(hub, operator, QINGXIU_SEAT)
    handler_phone = await mobile.open_phone(phone, hub, await mobile.handler(hub, township))
    hand = handler_phone.page
    body = ticket(QINGXIU_SEAT, category=mobile.RUBBISH, content="青秀区某路口垃圾满溢")
    status, answer = await push(hub, await hub.hotline_key(), body)
    assert status == 202
    case_id = answer["case_id"]
    await centre.wait_on_map(desk, [case_id])
    card = hand.locator(f'#queue [data-open="{case_id}"]')
    await expect(card.locator(".state")).to_have_text("待签收")

    # A colleague signs for it on another device: the two consoles learn it only from the feed.
    colleague = await hub.login("township_handler", township)
    case = await centre.api_act(hub, colleague, case_id, "accept", 2)
    assert case["state"] == "accepted"
    item = centre.feed_item(desk, case_id, "case.accepted")
    await expect(item.locator(".state")).to_have_text("办理中")
    label = f'{case["category"]["path"][-1]} · {case["areas"]["township"]["name"]}'
    await expect(item.locator(".title")).to_have_text(label)
    held = await desk.evaluate("id => window.cityloop.store.get(id)", case_id)
    assert (held["state"], held["version"], held["accepted_at"]) == ("accepted", 3, case["accepted_at"])
    assert held["report"]["ticket_no"] == body["ticket_no"] and held["location"] == case["location"]
    await centre.wait_on_map(desk, [case_id])
    await expect(card.locator(".state")).to_have_text("办理中")
    await expect(card.locator(".card-meta")).to_contain_text(body["ticket_no"])
    await expect(card.locator(".card-content")).to_contain_text("垃圾满溢")
    operator_console.assert_clean()
    handler_phone.assert_clean()
