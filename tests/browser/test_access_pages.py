"""Who may log in, in a real Chromium: a login link cannot send anyone to another site, and
behind the reverse proxy one person's wrong passwords do not lock the whole household out."""

from __future__ import annotations

from playwright.async_api import Page

from tests.browser.conftest import Dashboard


async def log_in_through_the_form(page: Page, username: str, password: str) -> int:
    """Fill in the open login form and submit it; the status of the answer to the POST."""
    await page.locator("input[name=username]").fill(username)
    await page.locator("input[name=password]").fill(password)
    async with page.expect_response(lambda r: r.request.method == "POST") as answer:
        await page.locator("button[type=submit]").click()
    await page.wait_for_load_state()
    return (await answer.value).status


async def test_a_login_link_with_a_hidden_tab_stays_on_this_site(
    dashboard: Dashboard, browser_page: Page, page_errors: list[str]
) -> None:
    # `/%09/evil.example` passed the old check, and aiohttp's redirect dropped the tab:
    # `Location: //evil.example`, which the browser follows to another site.
    for crafted in ("/%09/evil.example", "/%0a/evil.example", "/%5cevil.example"):
        await browser_page.context.clear_cookies()
        await browser_page.goto(dashboard.url(f"/login?next={crafted}"))
        assert (
            await log_in_through_the_form(browser_page, dashboard.username, dashboard.password)
            == 303
        )
        assert browser_page.url == dashboard.url("/"), crafted
        assert await browser_page.locator("h1").first.inner_text() == "Tonight"
    # A real link back into the dashboard keeps working.
    await browser_page.context.clear_cookies()
    await browser_page.goto(dashboard.url("/deliveries?status=failed"))
    assert browser_page.url.startswith(dashboard.url("/login?next="))
    await log_in_through_the_form(browser_page, dashboard.username, dashboard.password)
    assert browser_page.url == dashboard.url("/deliveries?status=failed")
    assert page_errors == []
