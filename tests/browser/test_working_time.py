"""非工作时间，计时暂停: outside working hours (here a Saturday morning in Nanning, by the hub's clock) both consoles
say that working-time clocks are paused and when they resume; inside working hours they say nothing. The hub
decides from its working calendar (GET /api/v1/console/config "working_time")."""

from __future__ import annotations

from datetime import UTC, datetime

from playwright.async_api import BrowserContext, expect

from dispatch.policy import Policy
from dispatch.sla_policy import ClassLimits, SlaPolicy
from hub.infra.clock import FixedClock
from hub.infra.settings import Settings
from tests.browser.test_command_centre import sign_in
from tests.browser.test_township_mobile import handler, open_phone
from tests.conftest import Hub, running_hub

SATURDAY_10AM = datetime(2026, 11, 28, 2, 0, tzinfo=UTC)  # 10:00 in Nanning (UTC+8)
MONDAY_8AM = "2026-11-30T00:00:00+00:00"  # when working time resumes
MONDAY_9AM = datetime(2026, 11, 30, 1, 0, tzinfo=UTC)
MONDAY_NOON = "2026-11-30T04:00:00+00:00"  # the lunch break: working time pauses
XINZHU = "450103001"  # 新竹街道


async def config(hub: Hub, token: str) -> dict[str, object]:
    async with hub.http.get(f"{hub.base}/api/v1/console/config",
                            headers={"Authorization": f"Bearer {token}"}) as resp:
        assert resp.status == 200, await resp.text()
        return dict(await resp.json())


async def test_the_config_says_whether_working_time_clocks_count_now_and_when_that_changes(
        settings: Settings) -> None:
    clock = FixedClock(SATURDAY_10AM)
    async with running_hub(settings, clock) as hub:
        token = await hub.login("township_handler", XINZHU)
        assert (await config(hub, token))["working_time"] == {"running": False, "changes_at": MONDAY_8AM}
        clock.set(MONDAY_9AM)
        assert (await config(hub, token))["working_time"] == {"running": True, "changes_at": MONDAY_NOON}
    # A policy whose every limit runs on calendar time has nothing to pause: no indicator at all.
    calendar_only = Policy(sla=SlaPolicy(classes={"normal": ClassLimits(clock="calendar", sign="1h", resolve="1d")},
                                         categories={}))
    async with running_hub(settings, FixedClock(SATURDAY_10AM), calendar_only) as hub:
        assert (await config(hub, await hub.login("city_operator", None)))["working_time"] is None


async def test_both_consoles_say_clocks_are_paused_outside_working_hours_and_nothing_inside(
        settings: Settings, desktop: BrowserContext, phone: BrowserContext) -> None:
    clock = FixedClock(SATURDAY_10AM)
    async with running_hub(settings, clock) as hub:
        centre = await sign_in(hub, desktop, "duty-weekend", "city_operator", None)
        paused = centre.page.locator("#worktime")
        await expect(paused).to_be_visible()
        await expect(paused).to_contain_text("非工作时间，计时暂停")
        await expect(paused).to_contain_text("2026年11月30日 08:00")
        for width, height in ((1920, 1080), (1366, 768)):  # the wall screen and a small laptop: still in sight
            await centre.page.set_viewport_size({"width": width, "height": height})
            box = await paused.bounding_box()
            assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= width, (width, box)
            await centre.screenshot(f"working-time-paused-command-centre-{width}x{height}")
        mobile = await open_phone(phone, hub, await handler(hub, XINZHU))
        await expect(mobile.page.locator("#worktime")).to_be_visible()
        await expect(mobile.page.locator("#worktime")).to_contain_text("非工作时间，计时暂停")
        await mobile.page.locator("#lang").tap()
        await expect(mobile.page.locator("#worktime")).to_contain_text("Outside working hours: clocks paused")
        await mobile.screenshot("working-time-paused-phone")

        clock.set(MONDAY_9AM)  # the consoles read it when they (re)start: a reload, signed in still
        for watched in (centre, mobile):
            await watched.reload()
            await expect(watched.page.locator("#conn")).to_have_attribute("data-status", "live")
            await expect(watched.page.locator("#worktime")).to_have_attribute("data-state", "running")
            await expect(watched.page.locator("#worktime")).to_be_hidden()
            watched.assert_clean()
