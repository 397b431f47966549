"""The township mobile console (/m/) on a 390×844 touch phone in Chromium: a handler's live queue sorted by
deadline, the case screen's actions (with a camera photo, a 409 and a return), a patrol report with GPS and a
photo, touch-target sizes, a slow link, and the English switch. Every page must end without script errors."""

from __future__ import annotations

import hashlib
import io
import random
import re
import uuid
from datetime import datetime
from typing import Any

import pytest
from PIL import Image, ImageDraw
from playwright.async_api import BrowserContext, FilePayload, Page, Route, expect

from hub.identity.auth import add_user
from hub.keys import POOL
from tests.browser.conftest import Watched, open_page
from tests.conftest import Hub
from tests.e2e.test_hotline_to_console import QINGXIU_SEAT, XINGNING_SEAT, push, ticket

PASSWORD = "correct horse battery"
GPS = (108.37, 22.82)  # the `phone` fixture's emulated position (建政街道, 青秀区)
RUBBISH = "exposed_rubbish"  # township-led (R-sanitation-township): the handler signs, returns, resolves
TRADING = "040201"  # 占道经营, also township-led; a different category, so it never merges with the rubbish
STREET_DIRT = "030201"  # 道路不洁, township-led sanitation as well
CONFLICT_ZH = "工单已被他人更新，已刷新，请确认后重试"


def photo(seed: int = 1) -> bytes:
    """A real JPEG (a gradient with a mark), as a phone camera would hand it to the file input."""
    rng = random.Random(seed)
    image = Image.new("RGB", (320, 240))
    draw = ImageDraw.Draw(image)
    base = (rng.randrange(40, 200), rng.randrange(40, 200), rng.randrange(40, 200))
    for y in range(240):
        draw.line([(0, y), (320, y)], fill=(base[0], (base[1] + y) % 256, base[2]))
    draw.rectangle([100, 70, 220, 170], outline=(255, 255, 255), width=6)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


def camera_file(data: bytes, name: str = "IMG_0001.jpg") -> list[FilePayload]:
    return [{"name": name, "mimeType": "image/jpeg", "buffer": data}]


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def api_get(hub: Hub, token: str, path: str, **params: Any) -> dict[str, Any]:
    async with hub.http.get(f"{hub.base}{path}", params=params, headers=bearer(token)) as resp:
        assert resp.status == 200, await resp.text()
        return dict(await resp.json())


async def township_at(hub: Hub, token: str, point: tuple[float, float]) -> str:
    routed = await api_get(hub, token, "/api/v1/route", lng=point[0], lat=point[1])
    return str(routed["areas"]["township"]["code"])


async def new_ticket(hub: Hub, key: str, point: tuple[float, float], **extra: Any) -> str:
    status, body = await push(hub, key, ticket(point, **extra))
    assert status == 202, body
    return str(body["case_id"])


async def handler(hub: Hub, township: str) -> str:
    """A township handler with a known password, for the sign-in form."""
    username = f"wang-{uuid.uuid4().hex[:6]}"
    await add_user(hub.app[POOL], username, PASSWORD, "township_handler", township)
    return username


async def sign_in(page: Page, username: str) -> None:
    await page.locator("#login [name=username]").fill(username)
    await page.locator("#login [name=password]").fill(PASSWORD)
    await page.locator("#login-submit").tap()
    await expect(page.locator("#conn")).to_have_attribute("data-status", "live", timeout=15000)
    await page.wait_for_function("() => window.cityloop.feed && window.cityloop.feed.stats.snapshots >= 1")


async def open_phone(phone: BrowserContext, hub: Hub, username: str) -> Watched:
    watched = await open_page(phone, f"{hub.base}/m/")
    await sign_in(watched.page, username)
    return watched


async def queue_ids(page: Page) -> list[str]:
    return list(await page.evaluate("() => window.cityloop.queueIds()"))


async def open_case(page: Page, case_id: str) -> None:
    await page.locator(f'#queue [data-open="{case_id}"]').tap()
    await expect(page.locator("#view-case .essentials")).to_be_visible()
    await expect(page.locator("#view-case .act-section")).to_be_visible()


async def settled(page: Page) -> None:
    """No finite animation running (new-card flashes, toasts): a stable screenshot."""
    await page.wait_for_function("""() => document.getAnimations().every(
        (a) => a.playState !== "running" || a.effect.getComputedTiming().iterations === Infinity)""")


async def submit_form(page: Page, action: str) -> None:
    form = page.locator(f'[data-form="{action}"]')
    await form.locator("button[type=submit]").tap()
    await expect(form).to_have_count(0, timeout=15000)  # the form closes once the hub has taken the action


async def test_the_queue_shows_my_townships_cases_live_sorted_by_deadline_with_countdowns(
        phone: BrowserContext, hub: Hub) -> None:
    key = await hub.hotline_key()
    operator = await hub.login("city_operator", None)
    township = await township_at(hub, operator, QINGXIU_SEAT)
    other = await township_at(hub, operator, GPS)
    assert other != township
    await phone.clock.install()  # the page's own clock (it runs on), so that 50 minutes can pass in a moment
    watched = await open_phone(phone, hub, await handler(hub, township))
    page = watched.page
    await expect(page.locator("#queue-status .empty")).to_be_visible()
    assert await queue_ids(page) == []

    # Others' cases first (another township of the county, another county), then three of mine, posted in
    # an order that is neither their deadline order nor its reverse: normal (2 working hours to sign),
    # critical (30 min), urgent (1 h). Different categories, so that none merges into another.
    foreign = [await new_ticket(hub, key, GPS, category=RUBBISH),
               await new_ticket(hub, key, XINGNING_SEAT, category=RUBBISH)]
    normal = await new_ticket(hub, key, QINGXIU_SEAT, category=RUBBISH)
    critical = await new_ticket(hub, key, QINGXIU_SEAT, category=TRADING, urgency="critical",
                                content="人行道上占道经营，行人只能走机动车道")
    urgent = await new_ticket(hub, key, QINGXIU_SEAT, category=STREET_DIRT, urgency="urgent",
                              content="路面大量泥浆，车辆打滑")
    mine = [normal, critical, urgent]
    for case_id in mine:
        await expect(page.locator(f'#queue [data-open="{case_id}"]')).to_be_visible()

    due = {}
    for case_id in mine:
        case = await api_get(hub, operator, f"/api/v1/cases/{case_id}")
        assert case["state"] == "dispatched" and case["units"]["lead"]["code"] == f"{township}-gov"
        due[case_id] = datetime.fromisoformat(case["sla"]["sign"]["due"])
    assert due[critical] < due[urgent] < due[normal], due
    assert await queue_ids(page) == [critical, urgent, normal]
    cards = page.locator("#queue li")
    await expect(cards).to_have_count(3)
    assert [await c.get_attribute("data-id") for c in await cards.all()] == [critical, urgent, normal]
    for case_id in mine:
        countdown = page.locator(f'[data-due-for="{case_id}"]')
        await expect(countdown).to_contain_text("签收时限")
        await expect(countdown).to_contain_text("剩余")
    await expect(page.locator('#counts [data-filter="dispatched"]')).to_have_attribute("data-count", "3")
    await expect(page.locator('#counts [data-filter="overdue"]')).to_have_attribute("data-count", "0")
    await expect(page.locator("#nav-badge")).to_have_text("3")
    for case_id in foreign:
        await expect(page.locator(f'[data-open="{case_id}"]')).to_have_count(0)
    assert not set(foreign) & set(await queue_ids(page))
    await settled(page)
    await watched.screenshot("mobile-queue")

    # 50 minutes later, without any event: the countdowns have moved and the colours followed.
    await page.clock.fast_forward("50:00")
    await expect(page.locator(f'[data-due-for="{critical}"]')).to_contain_text("超时")
    await expect(page.locator(f'#queue [data-open="{critical}"]')).to_have_class(re.compile(r"\bsla-overdue\b"))
    await expect(page.locator(f'#queue [data-open="{urgent}"]')).to_have_class(re.compile(r"\bsla-warning\b"))
    await expect(page.locator(f'[data-due-for="{urgent}"]')).to_contain_text("剩余")
    await expect(page.locator('#counts [data-filter="overdue"]')).to_have_attribute("data-count", "1")
    assert await queue_ids(page) == [critical, urgent, normal]  # overdue on top
    watched.assert_clean()


async def test_accept_progress_with_a_camera_photo_resolve_and_return_through_the_ui(
        phone: BrowserContext, hub: Hub) -> None:
    key = await hub.hotline_key()
    operator = await hub.login("city_operator", None)
    township = await township_at(hub, operator, QINGXIU_SEAT)
    rubbish = await new_ticket(hub, key, QINGXIU_SEAT, category=RUBBISH, content="小区门口垃圾堆积三天无人清运")
    trading = await new_ticket(hub, key, QINGXIU_SEAT, category=TRADING, content="路口水果摊占道")
    watched = await open_phone(phone, hub, await handler(hub, township))
    page = watched.page
    await expect(page.locator("#queue li")).to_have_count(2)

    await open_case(page, rubbish)
    await page.locator('[data-action="accept"]').tap()
    await expect(page.locator('[data-action="progress"]')).to_be_visible(timeout=15000)
    await expect(page.locator('[data-action="accept"]')).to_have_count(0)
    assert (await api_get(hub, operator, f"/api/v1/cases/{rubbish}"))["state"] == "accepted"

    picture = photo(7)
    await page.locator('[data-action="progress"]').tap()
    form = page.locator('[data-form="progress"]')
    await form.locator("textarea[name=note]").fill("已安排环卫工人清运，完成一半")
    camera = form.locator("input[type=file]")
    assert await camera.get_attribute("capture") == "environment"
    assert await camera.get_attribute("accept") == "image/*"
    await camera.set_input_files(files=camera_file(picture))
    await expect(form.locator(".thumb img")).to_have_count(1)
    await submit_form(page, "progress")
    case = await api_get(hub, operator, f"/api/v1/cases/{rubbish}")
    progressed = [e for e in case["timeline"] if e["type"] == "case.progressed"]
    assert len(progressed) == 1
    assert progressed[0]["data"]["photos"] == [hashlib.sha256(picture).hexdigest()]
    assert progressed[0]["data"]["note"] == "已安排环卫工人清运，完成一半"
    await expect(page.locator("#view-case .photo img")).to_have_count(1)  # fetched back with the token
    await page.evaluate("() => window.scrollTo(0, 0)")
    await expect(page.locator("#toast")).to_be_hidden()
    await settled(page)
    await watched.screenshot("mobile-case")

    # Ask for more time: a date before the current deadline is refused on the form, the default is accepted.
    resolve_by = case["deadlines"]["resolve_by"]
    await page.locator('[data-action="request_extension"]').tap()
    form = page.locator('[data-form="request_extension"]')
    until = form.locator("input[name=until]")
    assert await until.get_attribute("type") == "datetime-local"
    proposed = await until.input_value()
    await until.fill("2020-01-01T08:00")
    await form.locator("textarea").fill("需协调渣土车，周末无法清运")
    await form.locator("button[type=submit]").tap()
    await expect(form.locator('[data-err="until"]')).not_to_be_empty()
    await until.fill(proposed)
    await submit_form(page, "request_extension")
    case = await api_get(hub, operator, f"/api/v1/cases/{rubbish}")
    asked = [e for e in case["timeline"] if e["type"] == "case.extension_requested"]
    assert len(asked) == 1 and asked[0]["data"]["reason"] == "需协调渣土车，周末无法清运"
    assert datetime.fromisoformat(asked[0]["data"]["until"]) > datetime.fromisoformat(resolve_by)
    await expect(page.locator('[data-action="request_extension"]')).to_have_count(0)  # one pending at a time

    # The link drops while resolving: what was typed stays, and the retry goes through.
    dropped: list[str] = []

    async def drop_once(route: Route) -> None:
        if not dropped:
            dropped.append(route.request.url)
            await route.abort("internetdisconnected")
        else:
            await route.continue_()
    await page.route("**/api/v1/cases/*/actions", drop_once)
    await page.locator('[data-action="resolve"]').tap()
    note = page.locator('[data-form="resolve"] textarea[name=note]')
    await note.fill("垃圾已全部清运，现场已冲洗")
    await page.locator('[data-form="resolve"] button[type=submit]').tap()
    await expect(page.locator("#case-notice")).to_contain_text("网络不畅")
    await expect(note).to_have_value("垃圾已全部清运，现场已冲洗")
    await expect(page.locator('[data-form="resolve"] button[type=submit]')).to_have_text("重试")
    assert (await api_get(hub, operator, f"/api/v1/cases/{rubbish}"))["state"] == "accepted"
    await submit_form(page, "resolve")
    await page.unroute("**/api/v1/cases/*/actions")
    assert len(dropped) == 1
    # The dropped request was ours to drop: it is not an error of the page.
    watched.errors[:] = [e for e in watched.errors if "/actions" not in e and "ERR_INTERNET_DISCONNECTED" not in e]
    await expect(page.locator("#view-case .essentials .state")).to_have_text("已办结待回访")
    case = await api_get(hub, operator, f"/api/v1/cases/{rubbish}")
    assert case["state"] == "resolved" and case["resolution"]["note"] == "垃圾已全部清运，现场已冲洗"
    await page.locator("#view-case [data-act=back]").tap()
    await expect(page.locator("#queue li")).to_have_count(1)  # finished: it left my queue
    assert await queue_ids(page) == [trading]

    await open_case(page, trading)
    await page.locator('[data-action="return"]').tap()
    form = page.locator('[data-form="return"]')
    await form.locator("button[type=submit]").tap()  # nothing filled in: named on the form, nothing sent
    await expect(form.locator('[data-err="reason"]')).not_to_be_empty()
    await form.locator("select[name=reason]").select_option("wrong_area")
    await form.locator("textarea[name=note]").fill("该路口属于邻近街道")
    await submit_form(page, "return")
    case = await api_get(hub, operator, f"/api/v1/cases/{trading}")
    assert case["state"] == "return_requested"
    returned = [e for e in case["timeline"] if e["type"] == "case.return_requested"]
    assert returned and returned[-1]["data"]["reason"] == "wrong_area"
    watched.assert_clean()


async def test_a_conflicting_change_reloads_the_case_with_a_message_and_the_retry_succeeds(
        phone: BrowserContext, hub: Hub) -> None:
    key = await hub.hotline_key()
    operator = await hub.login("city_operator", None)
    township = await township_at(hub, operator, QINGXIU_SEAT)
    case_id = await new_ticket(hub, key, QINGXIU_SEAT, category=RUBBISH)
    watched = await open_phone(phone, hub, await handler(hub, township))
    page = watched.page
    await open_case(page, case_id)
    await expect(page.locator('[data-action="accept"]')).to_be_visible()

    # Someone else changes the case while the screen is open: the screen says so but keeps what it shows.
    seen = await api_get(hub, operator, f"/api/v1/cases/{case_id}")
    async with hub.http.post(f"{hub.base}/api/v1/cases/{case_id}/actions", headers=bearer(operator),
                             json={"action": "comment", "expected_version": seen["version"],
                                   "note": "请尽快处理"}) as resp:
        assert resp.status == 200, await resp.text()
    await expect(page.locator("#case-changed")).to_be_visible()

    await page.locator('[data-action="accept"]').tap()  # with the version the screen loaded: 409
    await expect(page.locator("#case-notice")).to_have_text(CONFLICT_ZH)
    await expect(page.locator("#case-changed")).to_be_hidden()
    await page.locator("#view-case .timeline summary").tap()
    await expect(page.locator("#view-case .timeline")).to_contain_text("请尽快处理")  # reloaded
    assert (await api_get(hub, operator, f"/api/v1/cases/{case_id}"))["state"] == "dispatched"

    await page.locator('[data-action="accept"]').tap()
    await expect(page.locator('[data-action="progress"]')).to_be_visible(timeout=15000)
    assert (await api_get(hub, operator, f"/api/v1/cases/{case_id}"))["state"] == "accepted"
    watched.assert_clean()


async def test_a_report_with_gps_and_a_camera_photo_becomes_a_case_at_that_township(
        phone: BrowserContext, hub: Hub) -> None:
    operator = await hub.login("city_operator", None)
    township = await township_at(hub, operator, GPS)
    watched = await open_phone(phone, hub, await handler(hub, township))
    page = watched.page
    await page.locator('#nav [data-nav="report"]').tap()
    gps = page.locator("#gps")
    await expect(gps).to_have_attribute("data-state", "ok")
    await expect(gps).to_contain_text("22.820000, 108.370000")
    await expect(gps).to_contain_text("建政街道")  # where it will go, asked of the router

    picture = photo(11)
    await page.locator("#report-category").select_option(RUBBISH)
    await page.locator("#report-content").fill("巡查发现绿化带内垃圾堆积")
    await page.locator("#report-photo").set_input_files(files=camera_file(picture, "IMG_0002.jpg"))
    await expect(page.locator("#report-thumbs img")).to_have_count(1)
    await watched.screenshot("mobile-report")
    await page.locator("#report-submit").tap()
    await expect(page.locator("#report-result")).to_be_visible(timeout=15000)
    case_id = (await page.locator("#report-case-id").text_content() or "").strip()
    assert case_id

    case = await api_get(hub, operator, f"/api/v1/cases/{case_id}")
    assert case["source"] == "grid" and case["areas"]["township"]["code"] == township
    assert case["location"] == pytest.approx({"lng": GPS[0], "lat": GPS[1]})
    assert case["report"]["photos"] == [hashlib.sha256(picture).hexdigest()]
    assert case["report"]["content"] == "巡查发现绿化带内垃圾堆积"
    assert case["units"]["lead"]["code"] == f"{township}-gov"
    # It is the handler's own township's: it arrives in the queue over the feed, and opens from the result.
    await expect(page.locator(f'#queue [data-open="{case_id}"]')).to_have_count(1)
    await page.locator(f'#report-result [data-open="{case_id}"]').tap()
    await expect(page.locator("#view-case .photo img")).to_have_count(1)
    watched.assert_clean()


async def test_touch_targets_are_large_and_a_slow_link_still_loads_and_acts(
        phone: BrowserContext, hub: Hub) -> None:
    key = await hub.hotline_key()
    operator = await hub.login("city_operator", None)
    township = await township_at(hub, operator, QINGXIU_SEAT)
    case_id = await new_ticket(hub, key, QINGXIU_SEAT, category=RUBBISH)
    username = await handler(hub, township)

    watched = await open_page(phone, "about:blank")
    page = watched.page
    cdp = await phone.new_cdp_session(page)
    await cdp.send("Network.enable")
    await cdp.send("Network.emulateNetworkConditions",
                   {"offline": False, "latency": 400, "downloadThroughput": 60000, "uploadThroughput": 30000})
    await page.goto(f"{hub.base}/m/")
    await sign_in(page, username)
    await expect(page.locator(f'#queue [data-open="{case_id}"]')).to_be_visible()
    await open_case(page, case_id)

    buttons = page.locator("#view-case button:visible, #nav button:visible, #queue button:visible")
    count = await buttons.count()
    assert count >= 6
    small = []
    for i in range(count):
        box = await buttons.nth(i).bounding_box()
        assert box is not None
        if box["height"] < 44 or box["width"] < 44:
            small.append((await buttons.nth(i).inner_text(), box))
    assert not small, f"touch targets under 44 px: {small}"
    body_size = await page.evaluate("() => parseFloat(getComputedStyle(document.body).fontSize)")
    assert body_size >= 16

    await page.locator('[data-action="accept"]').tap()
    await expect(page.locator('[data-action="progress"]')).to_be_visible(timeout=20000)
    assert (await api_get(hub, operator, f"/api/v1/cases/{case_id}"))["state"] == "accepted"
    watched.assert_clean()


async def test_english_switch_and_the_callers_phone_is_masked(phone: BrowserContext, hub: Hub) -> None:
    key = await hub.hotline_key()
    operator = await hub.login("city_operator", None)
    township = await township_at(hub, operator, QINGXIU_SEAT)
    case_id = await new_ticket(hub, key, QINGXIU_SEAT, category=RUBBISH)
    watched = await open_phone(phone, hub, await handler(hub, township))
    page = watched.page
    nav_queue = page.locator('#nav [data-nav="queue"]')
    await expect(nav_queue).to_contain_text("我的待办")
    await open_case(page, case_id)
    await expect(page.locator("#view-case .facts")).to_contain_text("张* 138****1234")
    assert "13812341234" not in await page.content()
    await expect(page.locator('[data-action="accept"]')).to_have_text("签收")

    await page.locator("#lang").tap()
    await expect(nav_queue).to_contain_text("My queue")
    await expect(page.locator('#nav [data-nav="report"]')).to_contain_text("Report")
    await expect(page.locator('[data-action="accept"]')).to_have_text("Sign off")
    await expect(page.locator('[data-action="return"]')).to_have_text("Return")
    await expect(page.locator("#view-case .facts")).to_contain_text("Caller")
    await expect(page.locator("#conn")).to_contain_text("Live")
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await page.locator("#view-case [data-act=back]").tap()
    await expect(page.locator(f'[data-due-for="{case_id}"]')).to_contain_text("Sign off by")
    await expect(page.locator(f'[data-due-for="{case_id}"]')).to_contain_text("left")

    await page.locator("#lang").tap()
    await expect(nav_queue).to_contain_text("我的待办")
    watched.assert_clean()
