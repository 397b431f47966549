"""Every word a console shows comes from its words tables, in both languages (issue 15, item 8): the routing
explanation (派单说明), channels, the authors of timeline events (by name and unit, never "role:username"), and
category names (English in English). Both consoles open the same case, with a timeline, in each language."""

from __future__ import annotations

import re

from playwright.async_api import BrowserContext, Locator, Page, expect

from hub.identity.auth import add_user
from hub.keys import POOL
from tests.browser import test_command_centre as centre
from tests.browser import test_township_mobile as mobile
from tests.conftest import Hub
from tests.e2e.test_hotline_to_console import QINGXIU_SEAT

PASSWORD = "correct horse battery"
RAW_ACTOR = re.compile(r"\b[a-z]+_[a-z_]+:")  # county_dispatcher:sim-county-450107
RAW_CHANNEL = re.compile(r"\b(phone|wechat|hotline|grid|iot|open311)\b")  # a code, not a word
# Words of the English sentence the matrix writes (dispatch.matrix): a Chinese console must not show them.
ENGLISH_TEMPLATE = re.compile(r"rule for|every (county|township)|→ (alternative )?lead|assist |属地兜底 → lead|"
                              r"fallback:|manual:")
CHINESE_CATEGORY = ("市容环境", "环卫设施", "暴露垃圾")
ENGLISH_CATEGORY = ("City appearance", "Sanitation facilities", "Exposed rubbish")


def assert_no_raw_words(text: str, where: str, *, chinese: bool) -> None:
    assert not RAW_ACTOR.search(text), f"{where}: a raw role:username in {text!r}"
    if chinese:
        assert not RAW_CHANNEL.search(text), f"{where}: a raw channel code in {text!r}"
        assert not ENGLISH_TEMPLATE.search(text), f"{where}: the English routing template in {text!r}"


async def visible_text(locator: Locator) -> str:
    return str(await locator.inner_text())


async def person(hub: Hub, username: str, role: str, area: str | None, display_name: str,
                 unit: str | None = None) -> str:
    await add_user(hub.app[POOL], username, PASSWORD, role, area, display_name=display_name, unit=unit)
    return await centre.api_token(hub, username)


async def set_language(page: Page, language: str) -> None:
    if await page.evaluate("() => document.documentElement.lang") != ("en" if language == "en" else "zh-CN"):
        await page.locator("#lang").click()
    await expect(page.locator("html")).to_have_attribute("lang", "en" if language == "en" else "zh-CN")


async def test_both_consoles_show_words_not_codes_in_either_language(
        hub: Hub, desktop: BrowserContext, phone: BrowserContext) -> None:
    operator = await person(hub, "op-words", "city_operator", None, "周晓梅", "450100-zhzx")
    township = await mobile.township_at(hub, operator, QINGXIU_SEAT)
    handler = await person(hub, "hd-words", "township_handler", township, "陆海燕")
    key = await hub.hotline_key()
    # Sanitation is township-led (R-sanitation-township): the township leads, the county's 城管 assists.
    case_id = await mobile.new_ticket(hub, key, QINGXIU_SEAT, category="exposed_rubbish", channel="phone",
                                      content="小区门口垃圾堆积")
    case = await centre.api_act(hub, handler, case_id, "accept", 2)
    case = await centre.api_act(hub, operator, case_id, "comment", case["version"], note="已电话联系来电人")
    township_name = case["areas"]["township"]["name"]
    place = [case["areas"][lv]["name"] for lv in ("county", "township", "community") if lv in case["areas"]]
    handler_seen = f"陆海燕（{township_name}人民政府）"
    operator_seen = "周晓梅（南宁市城市运行管理指挥中心）"

    # A second case the township returns: the return names the unit by code in its event.
    returned_id = await mobile.new_ticket(hub, key, QINGXIU_SEAT, category=mobile.TRADING, content="路边占道经营")
    await centre.api_act(hub, handler, returned_id, "return", 2, reason="not_our_remit", note="应由城管处理")

    desk = await centre.open_signed_in(hub, desktop, "op-words")
    page = desk.page
    await page.evaluate("id => window.cityloop.openCase(id)", case_id)
    panel = page.locator("#case-panel")
    await expect(panel.locator('[data-field="version"]')).to_have_text(str(case["version"]))
    await expect(page.locator("#who")).to_contain_text("周晓梅")

    await set_language(page, "zh")
    await expect(panel.locator('[data-field="explanation"]')).to_have_text(
        f"暴露垃圾 · {''.join(place)}：按规则「市容环境 各街镇」→ 主办 {township_name}人民政府，协办 青秀区城市管理局")
    await expect(panel.locator('[data-field="channel"]')).to_have_text("12345热线电话")
    await expect(panel.locator('[data-field="rule"]')).to_have_text("市容环境 各街镇 R-sanitation-township")
    timeline = panel.locator('[data-field="timeline"]')
    await expect(timeline).to_contain_text(handler_seen)
    await expect(timeline).to_contain_text(operator_seen)
    await expect(timeline).to_contain_text("12345热线接口")
    assert_no_raw_words(await visible_text(panel), "command centre, 中文", chinese=True)

    await page.evaluate("id => window.cityloop.openCase(id)", returned_id)
    await expect(timeline).to_contain_text(f"职能不符 · 应由城管处理 · {township_name}人民政府")
    assert not re.search(r"\d{6,}-gov", await visible_text(timeline)), "a unit named by its code"
    await page.evaluate("id => window.cityloop.openCase(id)", case_id)
    await expect(panel.locator('[data-field="version"]')).to_have_text(str(case["version"]))

    await set_language(page, "en")
    await expect(panel).to_contain_text(" › ".join(ENGLISH_CATEGORY))
    await expect(panel.locator('[data-field="explanation"]')).to_contain_text(
        f"Exposed rubbish · {' '.join(place)}: rule “City appearance, every township” → lead")
    await expect(panel.locator('[data-field="channel"]')).to_have_text("12345 phone call")
    await expect(timeline).to_contain_text(f"陆海燕 ({township_name}人民政府)")
    await expect(timeline).to_contain_text("12345 hotline interface")
    english = await visible_text(panel)
    assert_no_raw_words(english, "command centre, English", chinese=False)
    assert not any(name in english for name in CHINESE_CATEGORY), english
    await desk.screenshot("words-command-centre-en")
    await set_language(page, "zh")
    # A case dispatched before the facts were recorded shows its stored sentence; an event without `by` (from
    # the live feed) still names the role in words.
    old = await page.evaluate("""async () => {
        const words = await import("/static/shared/i18n.js");
        return [words.explanationText(null, "R-lighting: stored"),
                words.actorText({ actor: "county_dispatcher:sim-county-450107" }),
                words.actorText({ actor: "system" }), words.ruleName("fallback:township_government")];
    }""")
    assert old == ["R-lighting: stored", "sim-county-450107（区县调度员）", "系统", "属地兜底（街镇政府）"]
    await desk.screenshot("words-command-centre-zh")
    desk.assert_clean()

    hand = await mobile.open_phone(phone, hub, "hd-words")
    view = hand.page.locator("#view-case")
    await mobile.open_case(hand.page, case_id)
    await view.locator(".timeline summary").tap()
    await set_language(hand.page, "zh")
    await expect(view.locator(".ess-cat")).to_contain_text("暴露垃圾")
    await expect(view.locator(".timeline")).to_contain_text(operator_seen)
    await expect(view).to_contain_text(f"按规则「市容环境 各街镇」→ 主办 {township_name}人民政府")
    assert_no_raw_words(await visible_text(view), "phone, 中文", chinese=True)
    await hand.screenshot("words-mobile-zh")

    await set_language(hand.page, "en")
    await expect(view.locator(".ess-cat")).to_contain_text("Exposed rubbish")
    await expect(view.locator(".timeline")).to_contain_text("周晓梅 (南宁市城市运行管理指挥中心)")
    await expect(view).to_contain_text("rule “City appearance, every township”")
    english = await visible_text(view)
    assert_no_raw_words(english, "phone, English", chinese=False)
    assert not any(name in english for name in CHINESE_CATEGORY), english
    await hand.screenshot("words-mobile-en")
    # The report form's category picker too.
    await hand.page.locator('#nav [data-nav="report"]').tap()
    picker = hand.page.locator("#report-category")
    await expect(picker.locator('option[value="exposed_rubbish"]')).to_have_text("Exposed rubbish")
    await expect(picker.locator('optgroup[label="City appearance"]')).to_have_count(1)
    await set_language(hand.page, "zh")
    await expect(picker.locator('option[value="exposed_rubbish"]')).to_have_text("暴露垃圾")
    hand.assert_clean()
