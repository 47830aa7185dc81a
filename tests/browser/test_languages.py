"""The language switch in the header, in a real Chromium on a phone: the Menu opens it, the
choice (a plain form) changes the page's words, dates and `<html lang>`, stays for the next
pages, and "automatic" goes back to the member's language. axe-core finds nothing serious in
either language."""

from __future__ import annotations

import re

from playwright.async_api import Page, expect

from guardian import i18n
from tests.browser.checks import PHONE, assert_accessible, assert_fits
from tests.browser.conftest import Dashboard, login, screenshot

ENGLISH = i18n.language("en")
DUTCH = i18n.language("nl")


async def _choose(page: Page, words: i18n.Language, value: str) -> None:
    """Open the phone's Menu, pick `value` in the language menu and send it."""
    await page.get_by_role("button", name=words.gettext("Menu")).click()
    menu = page.get_by_label(words.gettext("Language"), exact=True)
    await expect(menu).to_be_visible()
    await menu.select_option(value)
    async with page.expect_navigation():
        await page.get_by_role("button", name=words.pgettext("language menu", "Change")).click()


async def test_switching_the_language_on_a_phone(
    dashboard: Dashboard, browser_page: Page, page_errors: list[str]
) -> None:
    page = browser_page
    await page.set_viewport_size(PHONE)
    await login(page, dashboard.base_url, dashboard.username, dashboard.password)
    html = page.locator("html")
    await expect(html).to_have_attribute("lang", "en")
    await expect(page.locator("[data-as-of]")).to_have_text(re.compile(r"^Thursday \d\d:\d\d$"))
    await page.get_by_role("button", name="Menu").click()
    await expect(page.get_by_label("Language", exact=True)).to_have_value("")
    await screenshot(page, "language-menu-en-phone")
    await page.get_by_role("button", name="Menu").click()

    await _choose(page, ENGLISH, "nl")
    assert page.url == dashboard.url("/")  # back on the page it was chosen on
    await expect(html).to_have_attribute("lang", "nl")
    await expect(page.get_by_role("heading", level=1)).to_have_text(DUTCH.gettext("Tonight"))
    await expect(page.locator("[data-as-of]")).to_have_text(re.compile(r"^donderdag, \d\d:\d\d$"))
    await assert_fits(page, "Tonight in Dutch")
    await assert_accessible(page, "Tonight in Dutch")
    await screenshot(page, "tonight-nl-phone")
    await page.get_by_role("button", name=DUTCH.gettext("Menu")).click()
    await expect(page.get_by_label(DUTCH.gettext("Language"), exact=True)).to_have_value("nl")
    await assert_accessible(page, "the open menu in Dutch")
    await screenshot(page, "language-menu-nl-phone")

    # The choice is the login's: the next page is Dutch too.
    await page.goto(dashboard.url("/members"))
    await expect(html).to_have_attribute("lang", "nl")
    await expect(page.get_by_role("heading", level=1)).to_have_text(DUTCH.gettext("Members"))
    await assert_fits(page, "Members in Dutch")
    await screenshot(page, "members-nl-phone")

    # Automatic: Sam's language, which is the household's (English).
    await _choose(page, DUTCH, "")
    assert page.url == dashboard.url("/members")
    await expect(html).to_have_attribute("lang", "en")
    await expect(page.get_by_role("heading", level=1)).to_have_text("Members")
    assert page_errors == []
