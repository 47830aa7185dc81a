"""Who may log in, in a real Chromium: a login link cannot send anyone to another site, and
behind the reverse proxy one person's wrong passwords do not lock the whole household out."""

from __future__ import annotations

import re

from playwright.async_api import Browser, Page, expect

from tests.browser.conftest import Dashboard, collect_errors


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


async def test_behind_the_proxy_wrong_passwords_lock_out_only_their_sender(
    dashboard: Dashboard, browser: Browser, page_errors: list[str]
) -> None:
    # docs/deployment.md: nginx in front, on this machine, adding X-Forwarded-For. Each
    # browser context plays one person behind it.
    server = dashboard.service.settings.server.model_copy(update={"trusted_proxies": ["127.0.0.1"]})
    dashboard.service.settings = dashboard.service.settings.model_copy(update={"server": server})

    async def person(address: str) -> Page:
        context = await browser.new_context(extra_http_headers={"X-Forwarded-For": address})
        page = await context.new_page()
        collect_errors(page, page_errors)
        await page.goto(dashboard.url("/login"))
        return page

    intruder = await person("203.0.113.5")
    for n in range(5):
        assert await log_in_through_the_form(intruder, f"guess-{n}", "not it") == 401
    assert await log_in_through_the_form(intruder, "guess-5", "not it") == 429
    await expect(intruder.locator("[role=alert]")).to_contain_text("Too many failed attempts")

    parent = await person("198.51.100.7")
    assert await log_in_through_the_form(parent, dashboard.username, dashboard.password) == 303
    assert parent.url == dashboard.url("/")
    await expect(parent.locator("h1").first).to_have_text("Tonight")
    # Chromium reports every 401 and 429 answer on the console (and a new context's look for
    # a favicon); nothing else went wrong.
    refused = re.compile(r"status of (401|429) .*/login\)$|status of 404 .*/favicon\.ico\)$")
    assert [e for e in page_errors if not refused.search(e)] == []
