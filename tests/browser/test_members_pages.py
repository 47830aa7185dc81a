"""The members and policy pages in a real Chromium: quiet hours edited with the keyboard alone,
the week grid redrawn from the saved policy, and every page usable at 375 px."""

from __future__ import annotations

from playwright.async_api import Page, expect

from tests.browser.conftest import Dashboard, login, screenshot

PAGES = ("/members", "/members/mia", "/policies/school-night")
#: The most Tab presses it may take to get from a field to the form's button.
MOST_TABS = 40


async def tab_to_button(page: Page, name: str) -> None:
    for _ in range(MOST_TABS):
        await page.keyboard.press("Tab")
        focused = await page.evaluate(
            "() => [document.activeElement.tagName, document.activeElement.innerText || '']"
        )
        if focused[0] == "BUTTON" and focused[1].strip().startswith(name):
            return
    raise AssertionError(f"{MOST_TABS} presses of Tab did not reach the {name!r} button")


async def test_quiet_hours_are_edited_with_the_keyboard_and_the_grid_follows(
    dashboard: Dashboard, browser_page: Page, page_errors: list[str]
) -> None:
    page = browser_page
    await login(page, dashboard.base_url, dashboard.username, dashboard.password)

    await page.goto(dashboard.url("/members"))
    await expect(page.get_by_role("heading", name="Members", level=1)).to_be_visible()
    await expect(page.get_by_role("row", name="Mia")).to_contain_text("school-night")
    await screenshot(page, "members")

    await page.get_by_role("link", name="Mia", exact=True).click()
    await expect(page.get_by_label("Name", exact=True)).to_have_value("Mia")
    await expect(page.get_by_role("button", name="Send test to channel 1")).to_be_visible()
    await screenshot(page, "member-mia")

    await page.get_by_role("link", name="Edit the school-night policy").click()
    await page.wait_for_url(dashboard.url("/policies/school-night"))
    friday = page.locator(".week-list li[data-day=Fri]")
    await expect(friday).to_have_text("Fri 00:00–07:00")
    await expect(page.locator("rect.quiet[data-day=Fri]")).to_have_attribute(
        "data-span", "00:00–07:00"
    )

    end = page.locator("#quiet-0-end")
    await end.focus()
    await page.keyboard.press("ControlOrMeta+a")
    await page.keyboard.type("08:15")
    await tab_to_button(page, "Save policy")
    async with page.expect_navigation():
        await page.keyboard.press("Enter")

    await expect(page.get_by_role("status")).to_contain_text("Saved")
    await expect(page.locator("#quiet-0-end")).to_have_value("08:15")
    await expect(friday).to_have_text("Fri 00:00–08:15")
    await expect(page.locator("rect.quiet[data-day=Fri]")).to_have_attribute(
        "data-span", "00:00–08:15"
    )
    await screenshot(page, "policy-school-night")
    assert page_errors == []


async def test_an_invalid_time_is_shown_next_to_its_field(
    dashboard: Dashboard, browser_page: Page, page_errors: list[str]
) -> None:
    page = browser_page
    await login(page, dashboard.base_url, dashboard.username, dashboard.password)
    await page.goto(dashboard.url("/policies/school-night"))
    await page.locator("#quiet-0-start").fill("25:00")
    async with page.expect_navigation():
        await page.get_by_role("button", name="Save policy").click()

    start = page.locator("#quiet-0-start")
    await expect(start).to_have_value("25:00")
    await expect(start).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#quiet-0-start-error")).to_contain_text("not a time")
    await expect(page.get_by_role("alert")).to_contain_text("Not saved")
    await screenshot(page, "policy-invalid")
    # Chromium logs the 422 answer itself as a console error; nothing else may be there.
    assert [e for e in page_errors if "status of 422" not in e] == []


async def test_the_pages_fit_a_phone(
    dashboard: Dashboard, browser_page: Page, page_errors: list[str]
) -> None:
    page = browser_page
    await page.set_viewport_size({"width": 375, "height": 812})
    await login(page, dashboard.base_url, dashboard.username, dashboard.password)
    for path in PAGES:
        response = await page.goto(dashboard.url(path))
        assert response is not None and response.ok, path
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= 375, f"{path} is {width}px wide at 375px"
        await screenshot(page, "phone-" + path.strip("/").replace("/", "-"))
    assert page_errors == []


async def test_a_channel_that_would_write_the_servers_files_is_refused_with_its_reason(
    dashboard: Dashboard, browser_page: Page, page_errors: list[str]
) -> None:
    page = browser_page
    await login(page, dashboard.base_url, dashboard.username, dashboard.password)
    await page.goto(dashboard.url("/members/mia"))
    for url, reason in (
        (
            "console://?file=/home/guardian/.bashrc",
            "console:// writes only to var/deliveries.log",
        ),
        ("discord://123456/abcdefg?template=/etc/passwd", "template= names a file on the server"),
    ):
        if await page.locator("#add-url[open]").count() == 0:  # open after a refusal
            await page.locator("#add-url > summary").click()
        await page.get_by_label("Apprise URL").fill(url)
        async with page.expect_response(lambda r: r.request.method == "POST") as answer:
            await page.get_by_role("button", name="Add channel").click()
        assert (await answer.value).status == 422
        field = page.get_by_label("Apprise URL")
        await expect(field).to_have_attribute("aria-invalid", "true")
        await expect(page.locator("#url-error")).to_contain_text(reason)
        await expect(field).to_have_value("")  # a channel URL is a secret: never echoed back
    assert len(dashboard.service.household().members["mia"].channels) == 1
    await screenshot(page, "refused-channel")
    refused = [e for e in page_errors if "status of 422" not in e]
    assert refused == []
