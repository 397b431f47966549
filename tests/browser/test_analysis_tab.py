"""The 研判分析 tab in a real browser: it draws the server's numbers (volumes, funnel, repeats, trend with its
forecast band), drills from the city into a county by a click on its bar, lists a repeat complaint's cases, and
downloads the server's CSV and XLSX exports."""

from __future__ import annotations

import csv
import io
from datetime import UTC, datetime, timedelta
from pathlib import Path

import openpyxl
from playwright.async_api import BrowserContext, Page, expect

from hub.infra.settings import Settings
from tests.browser.test_command_centre import api_get, sign_in
from tests.conftest import running_hub
from tests.e2e.test_case_lifecycle import Console
from tests.e2e.test_console_figures import close_case, new_case, qingxiu_townships
from tests.e2e.test_hotline_to_console import XINGNING_SEAT, push, ticket

CHINA = timedelta(hours=8)


def local_day(days_back: int = 0) -> str:
    return (datetime.now(UTC) + CHINA - timedelta(days=days_back)).date().isoformat()


async def click_bar(page: Page, selector: str, index: int) -> None:
    """A real mouse click on bar `index` of the first series of the ECharts chart in `selector` (the middle of
    its category: the chart drills on a click anywhere in an area's column)."""
    x, y = await page.evaluate("""([selector, index]) => {
        const el = document.querySelector(selector);
        const chart = window.echarts.getInstanceByDom(el);
        const value = chart.getOption().series[0].data[index];
        const [x, y] = chart.convertToPixel({ seriesIndex: 0 }, [index, value / 2]);
        const box = el.getBoundingClientRect();
        return [box.left + x, box.top + y];
    }""", [selector, index])
    await page.mouse.click(x, y)


async def test_analysis_tab_draws_the_servers_numbers_drills_down_and_exports(
        settings: Settings, desktop: BrowserContext, tmp_path: Path) -> None:
    async with running_hub(settings) as hub:
        key = await hub.hotline_key()
        (busy, busy_places), (quiet, quiet_places) = qingxiu_townships(2, 9)
        operator = Console(hub, await hub.login("city_operator", None))
        await close_case(hub, key, operator, busy, busy_places[0])
        await close_case(hub, key, operator, busy, busy_places[1], "dissatisfied")
        await new_case(hub, key, busy, busy_places[2])
        await new_case(hub, key, busy, busy_places[2])  # the same problem again: a repeat complaint
        # A report a day over the last eight days (pushed now, counted when made): a series to forecast from.
        for days_back, place in enumerate(quiet_places[:8]):
            body = ticket(None, address=f"青秀区{quiet['name']}{place}门口", category="exposed_rubbish")
            body["reported_at"] = (datetime.now(UTC) - timedelta(days=days_back)).isoformat()
            assert (await push(hub, key, body))[0] == 202
        assert (await push(hub, key, ticket(XINGNING_SEAT, category="exposed_rubbish")))[0] == 202

        token = await hub.login("city_operator", None)
        span = {"from": local_day(29), "to": local_day(0)}
        city = await api_get(hub, token, "/api/v1/analysis/volumes", **span, period="day", by="area")
        county = await api_get(hub, token, "/api/v1/analysis/volumes", **span, period="day", by="area", area="450103")
        funnel = await api_get(hub, token, "/api/v1/analysis/funnel", **span)
        county_funnel = await api_get(hub, token, "/api/v1/analysis/funnel", **span, area="450103")
        assert city["total"]["count"] == 13 and county["total"]["count"] == 12
        townships = {busy["code"], quiet["code"]}
        assert county["level"] == "township" and {r["area_code"] for r in county["totals"]} == townships

        watched = await sign_in(hub, desktop, "op1", "city_operator", None)
        page = watched.page
        await page.locator('.col-right .tab[data-tab="analysis"]').click()
        panel = page.locator("#analysis-panel")
        volumes = panel.locator('[data-a="volumes"]')
        await expect(volumes).to_have_attribute("data-level", "county")
        await expect(volumes).to_have_attribute("data-total", str(city["total"]["count"]))
        await expect(volumes.locator("canvas")).to_have_count(1)
        await expect(panel.locator('[data-a="total"] [data-count]')).to_have_text("13")
        await expect(panel.locator('[data-a="funnel"]')).to_have_attribute(
            "data-received", str(funnel["stages"][0]["cases"]))
        await expect(panel.locator('[data-a="slowest"] tr[data-step="sign"]').first).to_be_visible()
        await expect(panel.locator('[data-a="returns"]')).to_have_attribute("data-rows", "1")  # one redo
        await expect(panel.locator('[data-a="trend"]')).to_have_attribute("data-forecast", "14")

        # A click on 青秀区's bar drills into its townships.
        index = [r["area_code"] for r in city["totals"] if r["area_code"]].index("450103")
        await click_bar(page, '#analysis-panel [data-a="volumes"]', index)
        await expect(volumes).to_have_attribute("data-level", "township")
        await expect(volumes).to_have_attribute("data-total", "12")
        await expect(panel.locator('[data-a="crumbs"] .crumb.current')).to_have_text("青秀区")

        # The repeat complaint lists its two reports; one opens in the case panel.
        repeats = panel.locator('[data-a="repeats"] li[data-index]')
        await expect(repeats).to_have_count(1)
        await expect(repeats).to_contain_text("2次")
        await repeats.click()
        cases = panel.locator('[data-a="repeatCases"] li[data-case-id]')
        await expect(cases).to_have_count(2)
        await cases.first.click()
        await expect(page.locator("#case-panel")).to_be_visible()

        # Exports: the drilled-down volumes as CSV, the funnel as XLSX — the server's files, as named.
        await page.locator('.col-right .tab[data-tab="analysis"]').click()
        async with page.expect_download() as info:
            await panel.locator('button[data-export="volumes"][data-format="csv"]').click()
        download = await info.value
        assert download.suggested_filename == "analysis-volumes.csv"
        saved = tmp_path / "volumes.csv"
        await download.save_as(saved)
        table = list(csv.DictReader(io.StringIO(saved.read_text(encoding="utf-8-sig"))))
        assert sum(int(r["数量"]) for r in table) == 12 and {r["区域编码"] for r in table} == townships
        async with page.expect_download() as info:
            await panel.locator('button[data-export="funnel"][data-format="xlsx"]').click()
        download = await info.value
        assert download.suggested_filename == "analysis-funnel.xlsx"
        await download.save_as(tmp_path / "funnel.xlsx")
        book = openpyxl.load_workbook(tmp_path / "funnel.xlsx")
        stages = book["环节漏斗"]
        assert stages["A2"].value == "受理" and stages["B2"].value == county_funnel["stages"][0]["cases"]
        await watched.screenshot("command-centre-analysis")
        watched.assert_clean()
