"""Signing out of a console ends the session on the hub, not only in the browser (issue 12, item 5)."""

from __future__ import annotations

from playwright.async_api import BrowserContext, expect

from tests.browser.test_command_centre import sign_in
from tests.conftest import Hub


async def test_the_console_sign_out_button_ends_the_session_on_the_hub(desktop: BrowserContext, hub: Hub) -> None:
    watched = await sign_in(hub, desktop, "op-signout", "city_operator", None)
    page = watched.page
    token = await page.evaluate("() => JSON.parse(sessionStorage.getItem('cityloop.console')).token")
    await page.locator("#logout").click()
    await expect(page.locator("#login input[name=username]")).to_be_visible()
    async with hub.http.get(f"{hub.base}/api/v1/console/config", headers={"Authorization": f"Bearer {token}"}) as r:
        assert r.status == 401, "a token copied before signing out must not outlive the sign-out"
    watched.assert_clean()
