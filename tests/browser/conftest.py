"""Real-browser tests of the consoles: Playwright's async API driving Debian's Chromium.

Never `playwright install`: the browser is /usr/bin/chromium (`make install` installs it). Every page
records its script errors and failed requests; a test that ends with any fails. Screenshots go to
test-artifacts/screenshots/ (kept by CI as artefacts; not in git).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, Page, ViewportSize, async_playwright, expect

CHROMIUM = os.environ.get("CITYLOOP_CHROMIUM", "/usr/bin/chromium")
# Live updates cross a websocket, a group commit and a render: on a loaded 2-core CI box 5 s is too tight.
expect.set_options(timeout=10_000)
FLAGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-quic", "--no-first-run"]
SCREENSHOTS = Path(__file__).resolve().parents[2] / "test-artifacts" / "screenshots"
DESKTOP: ViewportSize = {"width": 1600, "height": 1000}
PHONE: ViewportSize = {"width": 390, "height": 844}
REFUSED = "Failed to load resource: the server responded with a status of 4"


@pytest.fixture(scope="session")
async def browser() -> AsyncIterator[Browser]:
    if not shutil.which(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: `make install` installs Debian's chromium")
    async with async_playwright() as pw:
        chromium = await pw.chromium.launch(executable_path=CHROMIUM, args=FLAGS)
        yield chromium
        await chromium.close()


@dataclass
class Watched:
    """A page and what went wrong on it."""

    page: Page
    errors: list[str] = field(default_factory=list)

    def assert_clean(self) -> None:
        assert not self.errors, "the page logged errors:\n" + "\n".join(self.errors)

    async def reload(self) -> None:
        """Reload the page. The old page's requests still in flight are cancelled by the navigation (Chromium
        reports them failed, net::ERR_ABORTED: a console polling its headline had one out now and then, and a
        clean run failed on it); those are the reload's doing, not the console's, and are not counted."""
        before = len(self.errors)
        await self.page.reload()
        self.errors[before:] = [e for e in self.errors[before:]
                                if not (e.startswith("request failed:") and e.endswith("net::ERR_ABORTED"))]

    async def screenshot(self, name: str) -> Path:
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        path = SCREENSHOTS / f"{name}.png"
        await self.page.screenshot(path=str(path), full_page=False)
        return path


async def open_page(context: BrowserContext, url: str) -> Watched:
    page = await context.new_page()
    watched = Watched(page)
    page.on("pageerror", lambda exc: watched.errors.append(f"script error: {exc}"))
    # An API refusal (409, 422) shows in Chrome's console as a failed resource: that is the console
    # handling it, not a script error. Everything else logged as an error counts.
    page.on("console", lambda msg: watched.errors.append(f"console.{msg.type}: {msg.text}")
            if msg.type == "error" and not msg.text.startswith(REFUSED) else None)
    page.on("requestfailed", lambda req: watched.errors.append(f"request failed: {req.url} {req.failure}")
            if "/ws/console" not in req.url else None)
    await page.goto(url)
    return watched


@pytest.fixture
async def desktop(browser: Browser) -> AsyncIterator[BrowserContext]:
    context = await browser.new_context(viewport=DESKTOP, locale="zh-CN", timezone_id="Asia/Shanghai")
    yield context
    await context.close()


@pytest.fixture
async def phone(browser: Browser) -> AsyncIterator[BrowserContext]:
    context = await browser.new_context(viewport=PHONE, device_scale_factor=2, is_mobile=True, has_touch=True,
                                        locale="zh-CN", timezone_id="Asia/Shanghai",
                                        geolocation={"longitude": 108.37, "latitude": 22.82},
                                        permissions=["geolocation"])
    yield context
    await context.close()
