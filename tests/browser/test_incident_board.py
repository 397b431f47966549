"""The incident board in a real Chromium (平急转换): an operator declares a flood through the command centre's form;
a new report in its area and categories appears on the board live and its case panel shows the incident and a
resolution deadline hours earlier than an ordinary case's; open cases are linked on request; the directives
section tolerates a hub without directives; closing produces the review report, downloaded from the board."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from openpyxl import load_workbook
from playwright.async_api import BrowserContext, expect

from hub.infra.settings import Settings
from tests.browser.test_command_centre import api_token, sign_in
from tests.browser.test_township_mobile import handler, open_case, open_phone
from tests.conftest import running_hub
from tests.e2e.test_early_warning import get
from tests.e2e.test_hotline_to_console import QINGXIU_SEAT, push, ticket


async def test_an_incident_switches_limits_for_new_cases_and_its_review_is_produced(
        settings: Settings, desktop: BrowserContext, phone: BrowserContext, tmp_path: Path) -> None:
    async with running_hub(settings) as hub:
        key = await hub.hotline_key()
        centre = await sign_in(hub, desktop, "duty-flood", "city_operator", None)
        token = await api_token(hub, "duty-flood")
        page = centre.page
        status, ordinary = await push(hub, key, ticket((QINGXIU_SEAT[0] - 0.0035, QINGXIU_SEAT[1]),
                                                       category="drain_blocked", content="下水道堵塞"))
        assert status == 202

        # Declare through the form.
        await page.locator('.tab[data-tab="incidents"]').click()
        panel = page.locator("#incident-panel")
        await expect(panel).to_contain_text("当前无应急事件")
        await panel.locator('[data-do="declare"]').click()
        form = panel.locator('form[data-form="declare"]')
        await form.locator('input[name="title"]').fill("邕江沿岸内涝")
        await form.locator('select[name="kind"]').select_option("flood")
        await form.locator('select[name="level"]').select_option("II")
        await form.locator('input[name="areas"]').fill("450103")
        await form.locator('select[name="categories"]').select_option(["01", "03"])
        await form.locator('button[type="submit"]').click()
        board = panel.locator(".incident-board")
        await expect(board).to_contain_text("邕江沿岸内涝")
        await expect(board).to_contain_text("Ⅱ级（重大）")
        await expect(page.locator("#incident-count")).to_have_text("1")
        await expect(board.locator('[data-field="directives-none"]')).to_be_visible()  # no directive under it yet

        # A new report in its area and categories joins the board live, on emergency limits.
        status, fresh = await push(hub, key, ticket(QINGXIU_SEAT, category="drain_blocked", content="积水"))
        assert status == 202
        row = board.locator(f'.incident-cases li[data-case="{fresh["case_id"]}"]')
        await expect(row).to_be_visible(timeout=10_000)
        await expect(row).to_contain_text("自动关联")
        _, emergency_case = await get(hub, token, f"/api/v1/cases/{fresh['case_id']}")
        _, ordinary_case = await get(hub, token, f"/api/v1/cases/{ordinary['case_id']}")
        emergency_due = datetime.fromisoformat(emergency_case["deadlines"]["resolve_by"])
        ordinary_due = datetime.fromisoformat(ordinary_case["deadlines"]["resolve_by"])
        assert (ordinary_due - emergency_due).total_seconds() > 8 * 3600

        async def shown_due(case_id: str) -> str:
            await page.evaluate("(id) => window.cityloop.openCase(id)", case_id)
            item = page.locator('#case-panel li[data-deadline="resolve_by"] span').nth(1)
            await expect(item).not_to_be_empty()
            return str(await item.text_content())

        formatted: Any = await page.evaluate(
            "(iso) => import('/static/shared/i18n.js').then((m) => m.formatTime(iso))",
            emergency_case["deadlines"]["resolve_by"])
        await row.locator('[data-do="case"]').click()
        await expect(page.locator('#case-panel [data-field="incident"]')).to_contain_text("邕江沿岸内涝")
        assert await shown_due(fresh["case_id"]) == formatted
        assert await shown_due(ordinary["case_id"]) != formatted
        await expect(page.locator('#case-panel [data-field="incident"]')).to_have_count(0)
        await centre.screenshot("incident-case-panel")

        # The township's phone shows the incident on its own case (exposed rubbish: the township leads it).
        status, rubbish = await push(hub, key, ticket((QINGXIU_SEAT[0] + 0.0035, QINGXIU_SEAT[1]),
                                                      category="exposed_rubbish", content="垃圾堆积"))
        assert status == 202
        _, rubbish_case = await get(hub, token, f"/api/v1/cases/{rubbish['case_id']}")
        assert rubbish_case["incident"] is not None
        township = rubbish_case["areas"]["township"]["code"]
        mobile = await open_phone(phone, hub, await handler(hub, township))
        await expect(mobile.page.locator(f'#queue [data-open="{rubbish["case_id"]}"] [data-field="incident"]')
                     ).to_be_visible(timeout=10_000)
        await open_case(mobile.page, rubbish["case_id"])
        await expect(mobile.page.locator('#view-case [data-field="incident"]')).to_contain_text("邕江沿岸内涝")
        await mobile.screenshot("incident-phone-case")
        mobile.assert_clean()

        # A directive sent under the incident is listed on its board with its progress.
        _, listed = await get(hub, token, "/api/v1/incidents?state=active")
        incident_id = listed["incidents"][0]["incident_id"]
        async with hub.http.post(f"{hub.base}/api/v1/directives", headers={"Authorization": f"Bearer {token}"},
                                 json={"title": "沿江低洼处转移群众", "content": "请各街道立即组织转移", "reply": "ack",
                                       "recipients": {"level": "township", "parent": "450103"},
                                       "due": (datetime.now(UTC) + timedelta(hours=1)).isoformat(),
                                       "incident_id": incident_id}) as resp:
            assert resp.status == 201, await resp.text()
        await page.locator('.tab[data-tab="incidents"]').click()
        await panel.locator(f'[data-do="open"][data-id="{incident_id}"]').click()
        await expect(board).to_contain_text("沿江低洼处转移群众")

        # Link the open ordinary case on request, then close with a summary and download the review.
        await board.locator('[data-do="link-open"]').click()
        linked = board.locator(f'.incident-cases li[data-case="{ordinary["case_id"]}"]')
        await expect(linked).to_contain_text("人工关联")
        await expect(board.locator(".incident-units tbody tr")).not_to_have_count(0)
        await centre.screenshot("incident-board")
        await board.locator('form[data-form="close"] input[name="summary"]').fill("雨停水退")
        await board.locator('form[data-form="close"] button[type="submit"]').click()
        await expect(board.locator('[data-field="incident-state"]')).to_have_text("已结束")
        async with page.expect_download() as download_info:
            await board.locator('[data-do="review"]').click()
        target = tmp_path / "review.xlsx"
        await (await download_info.value).save_as(target)
        summary = {row[0]: row[1] for row in load_workbook(target)["概况 Summary"].iter_rows(values_only=True)}
        assert summary["事件 Incident"] == "邕江沿岸内涝" and summary["工单数 Cases"] == 3
        assert summary["总结 Summary"] == "雨停水退"
        await expect(page.locator("#incident-count")).to_be_hidden()
        centre.assert_clean()
