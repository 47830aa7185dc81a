"""In a real browser: retry a failed delivery from its page with the keyboard, read the activity
heatmap on a phone-sized screen, and open a child's transparency page from it."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from playwright.async_api import Page, expect

from guardian.models import Delivery, Policy
from tests.browser.conftest import Dashboard, login, screenshot
from tests.conftest import at, message
from tests.test_api_activity import SCHOOL_NIGHT

WEDNESDAY_EVENING = at("2026-11-25T20:10:00+01:00")
WEDNESDAY_NIGHT = at("2026-11-25T23:05:00+01:00")
THURSDAY_NOON = at("2026-11-26T12:00:00+01:00")
PHONE = {"width": 375, "height": 812}


@pytest.fixture
def dashboard_start() -> datetime:
    return WEDNESDAY_EVENING


async def an_evening_and_a_failure(dashboard: Dashboard) -> Delivery:
    """Two messages forwarded in the evening, five held at night and summarised in the morning,
    then a forward at noon that fails for real until Guardian gives up."""
    running = dashboard.running
    for n in (1, 2):
        assert (await running.post(message(n, f"evening {n}"))).status == 202
    await running.run_until(WEDNESDAY_NIGHT)
    for n in range(3, 8):
        assert (await running.post(message(n, "are you awake?"))).status == 202
    await running.run_until(THURSDAY_NOON)
    dashboard.receiver.fail_with = 500
    assert (await running.post(message(8, "lunch?"))).status == 202
    await running.run_until(THURSDAY_NOON + timedelta(minutes=10))
    failed = await Delivery.filter(kind="forward", status="failed").first()
    assert failed is not None
    dashboard.receiver.fail_with = None
    return failed


async def no_horizontal_overflow(page: Page) -> None:
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{page.url} is {width}px wide at {PHONE['width']}px"


async def test_retry_a_failed_delivery_with_the_keyboard(
    dashboard: Dashboard, browser_page: Page, page_errors: list[str]
) -> None:
    failed = await an_evening_and_a_failure(dashboard)
    page = browser_page
    await login(page, dashboard.base_url, dashboard.username, dashboard.password)

    await page.goto(dashboard.url("/deliveries"))
    assert await page.locator("table.deliveries tbody tr").count() >= 4
    await screenshot(page, "deliveries")
    await page.locator("#filter-status").select_option("failed")
    async with page.expect_navigation():
        await page.get_by_role("button", name="Show").click()
    assert "status=failed" in page.url
    await page.locator(f'a[href="/deliveries/{failed.id}"]').click()
    await page.wait_for_url(dashboard.url(f"/deliveries/{failed.id}"))
    assert "gave up after 3 attempts" in await page.locator("dl.facts").inner_text()
    # Mia's guardian_view is counts: her guardians see that a message came, not from whom.
    assert failed.title == "Sophie (sms)"
    await expect(page.locator("#sent-heading")).to_have_text("As Mia’s guardians see it")
    assert await page.locator("pre.sent").first.inner_text() == "New message"
    await screenshot(page, "delivery-failed")

    retry = page.get_by_role("button", name="Retry")
    for _ in range(60):  # Tab through the page to the button, as a keyboard user would
        await page.keyboard.press("Tab")
        if await retry.evaluate("button => button === document.activeElement"):
            break
    else:
        raise AssertionError("the Retry button cannot be reached with Tab")
    async with page.expect_navigation():
        await page.keyboard.press("Enter")
    assert page.url == dashboard.url(f"/deliveries/{failed.id}?retried=1")
    assert "Retry started" in await page.get_by_role("status").inner_text()

    received = await dashboard.receiver.wait_for(1)
    assert received[-1]["message"] == failed.body
    async with asyncio.timeout(10):
        while (await Delivery.get(id=failed.id)).status != "sent":
            await asyncio.sleep(0.05)
    await page.reload()
    assert "sent" in await page.locator("dl.facts").inner_text()
    assert await page.get_by_role("button", name="Retry").count() == 0
    await screenshot(page, "delivery-sent")
    assert page_errors == []


async def test_activity_on_a_phone_and_the_transparency_page(
    dashboard: Dashboard, browser_page: Page, page_errors: list[str]
) -> None:
    await an_evening_and_a_failure(dashboard)
    page = browser_page
    await login(page, dashboard.base_url, dashboard.username, dashboard.password)
    await page.set_viewport_size(PHONE)  # type: ignore[arg-type]

    await page.goto(dashboard.url("/activity"))
    charts = page.locator("svg.heatmap")
    assert await charts.count() == 2
    box = await charts.first.bounding_box()
    assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
    await no_horizontal_overflow(page)
    cell = page.locator("svg.heatmap g.cell title", has_text="Wed 23:00 – 5 notifications")
    assert await cell.count() == 1
    assert "quiet hours" in await cell.text_content()  # type: ignore[operator]
    await screenshot(page, "activity-phone")

    await page.goto(dashboard.url("/deliveries"))
    await no_horizontal_overflow(page)

    # A policy with every rule, so that the page has something to say about each.
    await Policy.filter(name="school-night").update(spec=SCHOOL_NIGHT)
    await dashboard.service.reload()
    await page.goto(dashboard.url("/activity"))
    link = page.get_by_role("link", name="What Mia’s guardians see, and when")
    await link.focus()
    async with page.expect_navigation():
        await page.keyboard.press("Enter")
    assert page.url == dashboard.url("/members/mia/transparency")
    heading = await page.get_by_role("heading", level=1).inner_text()
    assert heading == "What your guardians see about you, and when"
    assert "Sun–Thu 21:30–07:00" in await page.locator("main").inner_text()
    assert await page.locator("main form").count() == 0
    report, dashboard_example = await page.locator("pre.sent").all_inner_texts()
    assert report.startswith("Guardian report: Mia")
    assert dashboard_example == "New message\nYou have 1 new message."
    await no_horizontal_overflow(page)
    await screenshot(page, "transparency-phone")
    await page.set_viewport_size({"width": 1280, "height": 800})
    await screenshot(page, "transparency")
    await page.goto(dashboard.url("/activity"))
    await screenshot(page, "activity")
    assert page_errors == []
