"""The command centre's figures in a real browser: the headline shows the server's counts (not what the
console's snapshot happens to hold) and follows new cases live; the KPI tab shows n beside every rate, leaves
under-sampled townships out of the ranking, and lists a township's cases when it is clicked."""

from __future__ import annotations

import re

from playwright.async_api import BrowserContext, expect

from hub.infra.settings import Settings
from tests.browser.test_command_centre import api_get, sign_in
from tests.conftest import Hub, running_hub
from tests.e2e.test_case_lifecycle import Console
from tests.e2e.test_console_figures import new_case, qingxiu_townships

FIGURES = ("open", "overdue", "warning", "triage", "today")


async def close_case(hub: Hub, key: str, operator: Console, township: dict[str, str], community: str,
                     satisfaction: str = "satisfied") -> str:
    """A new case in the township, worked to its callback (closed unless the caller is dissatisfied)."""
    handler = Console(hub, await hub.login("township_handler", township["code"]))
    case_id = await new_case(hub, key, township, community)
    case = await handler.ok(case_id, "accept", (await operator.case(case_id))["version"])
    case = await handler.ok(case_id, "resolve", case["version"], note="已处理")
    await operator.ok(case_id, "callback", case["version"], contacted=True,
                      solved=satisfaction != "dissatisfied", satisfaction=satisfaction)
    return case_id


async def test_headline_shows_the_servers_figures_and_follows_new_cases(
        settings: Settings, desktop: BrowserContext) -> None:
    # A snapshot of two cases: the console holds fewer cases than its jurisdiction has.
    async with running_hub(settings.model_copy(update={"console_snapshot_limit": 2})) as hub:
        key = await hub.hotline_key()
        [(township, places)] = qingxiu_townships(1, 6)
        operator = Console(hub, await hub.login("city_operator", None))
        await close_case(hub, key, operator, township, places[0])  # new today, closed: in no snapshot
        for place in places[1:4]:
            await new_case(hub, key, township, place)
        expected = {"open": 3, "overdue": 0, "warning": 0, "triage": 0, "today": 4}
        token = await hub.login("city_operator", None)
        server = await api_get(hub, token, "/api/v1/console/headline")
        assert {name: server[name] for name in FIGURES} == expected

        first = await sign_in(hub, desktop, "op1", "city_operator", None)
        second = await sign_in(hub, desktop, "op2", "city_operator", None)
        assert await first.page.evaluate("window.cityloop.store.cases.size") == 2
        for watched in (first, second):
            for name in FIGURES:
                await expect(watched.page.locator(f'#headline [data-kpi="{name}"] b')).to_have_text(str(expected[name]))

        # A new case reaches both consoles' figures without a reload.
        await new_case(hub, key, township, places[4])
        for watched in (first, second):
            await expect(watched.page.locator('#headline [data-kpi="open"] b')).to_have_text("4")
            await expect(watched.page.locator('#headline [data-kpi="today"] b')).to_have_text("5")
        await first.screenshot("command-centre-headline")
        first.assert_clean()
        second.assert_clean()


async def test_kpi_tab_shows_n_ranks_only_sampled_townships_and_opens_a_townships_cases(
        settings: Settings, desktop: BrowserContext) -> None:
    async with running_hub(settings.model_copy(update={"kpi_min_samples": 2})) as hub:
        key = await hub.hotline_key()
        (busy, busy_places), (quiet, quiet_places) = qingxiu_townships(2, 3)
        operator = Console(hub, await hub.login("city_operator", None))
        busy_ids = [await close_case(hub, key, operator, busy, busy_places[0]),
                    await close_case(hub, key, operator, busy, busy_places[1], "dissatisfied"),
                    await new_case(hub, key, busy, busy_places[2])]
        await close_case(hub, key, operator, quiet, quiet_places[0])  # 100 on one callback: not ranked

        watched = await sign_in(hub, desktop, "op1", "city_operator", None)
        page = watched.page
        await page.locator('.col-right .tab[data-tab="kpi"]').click()
        # Only the township with enough callbacks is ranked; the other is listed with its n.
        await expect(page.locator("#kpi-ranking")).to_have_attribute("data-rows", "1")
        await expect(page.locator("#kpi-rank-note")).to_contain_text("n<2")
        await expect(page.locator("#board-red li")).to_have_count(1)
        await expect(page.locator("#board-red li .name")).to_have_text(busy["name"])
        await expect(page.locator("#board-red li .n")).to_have_text("n=2")
        await expect(page.locator(f'#kpi-unranked li[data-code="{quiet["code"]}"]')).to_contain_text("n=1")
        # The city's rates this month, each with its n: three valid callbacks; three signed for (the open one's
        # sign-off deadline has not passed: not judged yet).
        await expect(page.locator('#kpi-rates [data-rate="satisfaction_rate"] small')).to_have_text("n=3")
        await expect(page.locator('#kpi-rates [data-rate="on_time_sign_rate"] small')).to_have_text("n=3")
        await expect(page.locator("#kpi-trend")).to_have_attribute("data-days", "1")
        await expect(page.locator("#kpi-trend canvas")).to_have_count(1)

        # A click on the township lists its cases; a click on one opens it.
        await page.locator("#board-red li").first.click()
        listed = page.locator("#kpi-unit-cases li[data-case-id]")
        await expect(listed).to_have_count(3)
        assert sorted(await listed.evaluate_all("els => els.map((el) => el.dataset.caseId)")) == sorted(busy_ids)
        await watched.screenshot("command-centre-kpi-township")
        await listed.first.click()
        await expect(page.locator('.col-right .tab[data-tab="case"]')).to_have_class(re.compile(r"\bactive\b"))
        watched.assert_clean()
