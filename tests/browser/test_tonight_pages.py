"""Issue 16's Tonight flows in a real Chromium, at 1280x800 and 375x812: what Tonight answers,
the quick controls, the calm it brings (Tonight and Activity), and what Deliveries say about a
test send. The app, the webhook, the scheduler, Apprise and the receiver are all real."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta

import pytest
from playwright.async_api import Browser, Page, ViewportSize, expect

from guardian.models import Delivery, Member, Policy
from tests.browser.conftest import TIMEOUT_MS, Dashboard, collect_errors, login, screenshot
from tests.conftest import at, free_port, message

THURSDAY_EVENING = at("2026-11-26T20:00:00+01:00")
THURSDAY_NIGHT = at("2026-11-26T22:00:00+01:00")
PHONE: ViewportSize = {"width": 375, "height": 812}
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
#: Mia's policy with every rule: a storm, an emergency word; guardians see who wrote.
SPEC = {
    "quiet": [{"days": "mon-thu,sun", "start": "21:30", "end": "07:00"}],
    "burst": {"limit": 3, "per": "10m", "notice_every": "15m"},
    "breakthrough": {"keywords": ["emergency"]},
    "content": "senders",
    "guardian_view": "senders",
    "report": "07:30",
    "storm": {"count": 20, "within": "30m", "alert_guardians": True},
}
NOOR = {"id": "+31687654321", "name": "Noor"}
LARS = {"id": "+31600000001", "name": "Lars"}


@pytest.fixture
def dashboard_start() -> datetime:
    return THURSDAY_EVENING


async def an_evening(dashboard: Dashboard) -> None:
    """Three messages passed on in the evening; at night a storm from Sophie (22 messages,
    22:00-22:42), an EMERGENCY from Noor that breaks through, and one from Lars, held."""
    await Policy.filter(name="school-night").update(spec=SPEC)
    await dashboard.service.reload()
    running = dashboard.running
    for n in range(3):
        await running.clock.set(THURSDAY_EVENING + timedelta(minutes=20 * n))
        assert (await running.post(message(f"evening-{n}", f"evening {n}"))).status == 202
    await running.run_until(THURSDAY_NIGHT)
    for n in range(22):
        await running.clock.set(THURSDAY_NIGHT + timedelta(minutes=n))
        assert (await running.post(message(f"storm-{n}", "are you awake?"))).status == 202
    await running.clock.set(at("2026-11-26T22:44:00+01:00"))
    body = message("noor", "EMERGENCY please call me", **{"from": NOOR})
    assert (await running.post(body)).status == 202
    assert (await running.post(message("lars", "u up?", **{"from": LARS}))).status == 202
    await running.run_until(at("2026-11-26T22:45:00+01:00"))


async def no_horizontal_overflow(page: Page, width: int) -> None:
    scroll = await page.evaluate("document.documentElement.scrollWidth")
    assert scroll <= width, f"{page.url} is {scroll}px wide at {width}px"


def card(page: Page, member: str = "mia") -> object:
    return page.locator(f"section[data-member={member}]")


# --- 1. Tonight answers the parent's questions ------------------------------------------------


async def test_tonight_says_who_got_through_and_why_what_waits_and_the_storm(
    dashboard: Dashboard, browser_page: Page, page_errors: list[str]
) -> None:
    await an_evening(dashboard)
    page = browser_page
    await login(page, dashboard.base_url, dashboard.username, dashboard.password)
    mia = page.locator("section[data-member=mia]")
    await expect(mia.locator(".quiet-state")).to_contain_text("until Fri 07:00")
    through = mia.locator("ul.through")
    await expect(through).to_contain_text("Noor — urgent: keyword “emergency”")
    waiting = await mia.inner_text()
    assert "23 messages from 2 people wait for one summary at Fri 07:00" in waiting
    assert "Sophie: 22" in waiting and "Lars: 1" in waiting
    storm = mia.locator("ul.episodes li")
    await expect(storm).to_contain_text(
        "Sophie sent 22 messages between 22:00 and 22:21 on Thu, during quiet hours."
    )
    await expect(mia.locator("[data-calm=tonight]")).to_have_text("24 messages, 1 interruption")
    await expect(mia.locator("[data-calm=week]")).to_have_text(
        "This week: 27 messages, 4 interruptions"
    )
    # Every card leads to its detail.
    links = {await a.get_attribute("href") for a in await mia.get_by_role("link").all()}
    assert {"/members/mia", "/deliveries?member=mia&kind=breakthrough", "/activity"} <= links
    await screenshot(page, "tonight")

    # "As of" follows the live updates.
    as_of = page.locator("[data-as-of]")
    await expect(as_of).to_have_text("Thursday 22:45")
    await expect(page.locator("[data-live][data-connected=yes]")).to_have_count(1)
    await dashboard.clock.set(at("2026-11-26T22:52:00+01:00"))
    assert (await dashboard.running.post(message("late", "still up?"))).status == 202
    await expect(as_of).to_have_text("Thursday 22:52")
    await expect(mia.locator(".held-count")).to_have_text("24")

    await page.set_viewport_size(PHONE)
    await no_horizontal_overflow(page, PHONE["width"])
    await screenshot(page, "tonight-phone")
    async with page.expect_navigation():
        await mia.get_by_role("link", name="Mia").click()
    assert page.url == dashboard.url("/members/mia")
    assert page_errors == []


# --- 2. Quick controls ---------------------------------------------------------------------


async def test_quick_controls_apply_at_once_and_undo(
    dashboard: Dashboard, browser_page: Page, page_errors: list[str]
) -> None:
    await an_evening(dashboard)
    page = browser_page
    await page.set_viewport_size(PHONE)
    await login(page, dashboard.base_url, dashboard.username, dashboard.password)
    mia = page.locator("section[data-member=mia]")

    # One more hour, on Tonight, on a phone.
    async with page.expect_navigation():
        await mia.get_by_role("button", name="One more hour (until 08:00)").click()
    await expect(page.get_by_role("status")).to_contain_text(
        "Done: Mia is in quiet hours until Fri 08:00"
    )
    await expect(mia.locator(".quiet-state")).to_contain_text("until Fri 08:00")
    await expect(mia.locator("ul.changes")).to_contain_text("One more hour of quiet")
    await no_horizontal_overflow(page, PHONE["width"])
    await screenshot(page, "one-more-hour-phone")
    # Undone with the keyboard alone.
    undo = mia.get_by_role("button", name="Undo this change for Mia")
    await undo.focus()
    async with page.expect_navigation():
        await page.keyboard.press("Enter")
    await expect(mia.locator(".quiet-state")).to_contain_text("until Fri 07:00")
    await expect(mia.locator("ul.changes")).to_have_count(0)

    # Quiet until 06:30, from Mia's own page, at 1280x800.
    await page.set_viewport_size(DESKTOP)
    await page.goto(dashboard.url("/members/mia"))
    quiet = page.locator("#quiet")
    await quiet.get_by_label("Quiet now until").fill("06:30")
    async with page.expect_navigation():
        await quiet.get_by_role("button", name="Quiet now").click()
    assert page.url.startswith(dashboard.url("/members/mia?quiet=changed"))
    await expect(quiet.get_by_role("status")).to_contain_text("quiet until Fri 06:30")
    await screenshot(page, "quiet-until-member-page")

    # Pause tonight: what is held leaves now, in one summary; the next message passes on.
    async with page.expect_navigation():
        await quiet.get_by_role("button", name="Pause quiet hours tonight").click()
    await expect(quiet.get_by_role("status")).to_contain_text("no quiet hours tonight")
    await dashboard.running.tick_at(dashboard.clock.now())
    async with asyncio.timeout(10):
        while not await Delivery.filter(kind="summary", status="sent").exists():
            await asyncio.sleep(0.05)
    await page.goto(dashboard.url("/"))
    await expect(mia.locator(".held-count")).to_have_text("0")
    await expect(mia.locator(".quiet-state")).to_contain_text("No quiet hours tonight")
    await screenshot(page, "paused-tonight")
    assert page_errors == []


# --- 3. The calm it brings, shown ------------------------------------------------------------


async def test_activity_shows_the_calm_and_its_cells_read_by_keyboard_and_touch(
    dashboard: Dashboard, browser: Browser, browser_page: Page, page_errors: list[str]
) -> None:
    await an_evening(dashboard)
    page = browser_page
    await login(page, dashboard.base_url, dashboard.username, dashboard.password)
    await page.goto(dashboard.url("/activity"))
    mia = page.locator("section[aria-labelledby=activity-mia]")
    await expect(mia.locator(".calm-line")).to_contain_text("27 messages, 4 interruptions")
    await expect(mia.locator("svg.calm")).to_be_visible()
    # The heatmap fills its width.
    chart = await mia.locator("svg.heatmap").bounding_box()
    section = await mia.bounding_box()
    assert chart is not None and section is not None
    assert chart["width"] >= section["width"] * 0.85, (chart, section)

    # Keyboard: one Tab stop per chart, then the arrow keys.
    await page.locator("svg.heatmap g.cell").first.focus()
    readout = mia.locator(".readout")
    await expect(readout).to_contain_text(", 00:00 – ")
    await page.keyboard.press("ArrowRight")
    await expect(readout).to_contain_text(", 01:00 – ")
    await page.keyboard.press("End")
    await expect(readout).to_contain_text(", 23:00 – ")
    await page.keyboard.press("ArrowDown")
    focused = await page.evaluate("document.activeElement.getAttribute('aria-label')")
    assert focused is not None and ", 23:00 – " in focused
    await screenshot(page, "activity-calm")

    # Touch, on a phone: a tap reads the hour out.
    context = await browser.new_context(viewport=PHONE, has_touch=True, is_mobile=True)
    context.set_default_timeout(TIMEOUT_MS)
    phone = await context.new_page()
    phone_errors: list[str] = []
    collect_errors(phone, phone_errors)
    try:
        await login(phone, dashboard.base_url, dashboard.username, dashboard.password)
        await phone.goto(dashboard.url("/activity"))
        cell = phone.locator("section[aria-labelledby=activity-mia] g.cell[data-col='22']").last
        await cell.tap()
        label = await cell.get_attribute("aria-label")
        assert label and "22:00" in label
        await expect(phone.locator("#readout-mia")).to_have_text(label)
        await no_horizontal_overflow(phone, PHONE["width"])
        await screenshot(phone, "activity-calm-phone")
        await phone.goto(dashboard.url("/"))
        await expect(phone.locator("section[data-member=mia] [data-calm=tonight]")).to_have_text(
            "24 messages, 1 interruption"
        )
    finally:
        await context.close()
    # A mobile Chromium asks for /favicon.ico, which another branch adds (issue 16's navigation).
    assert [e for e in phone_errors if "favicon.ico" not in e] == []
    assert page_errors == []


# --- 4. Deliveries say what happened ---------------------------------------------------------


async def test_a_failed_test_says_so_and_its_retry_goes_to_its_channel_only(
    dashboard: Dashboard, browser_page: Page, page_errors: list[str]
) -> None:
    await an_evening(dashboard)
    refused = f"json://127.0.0.1:{free_port()}/nobody-listens"
    working = dashboard.receiver.channel("mia")
    await Member.filter(slug="mia").update(channels=[working, refused])
    await dashboard.service.reload()
    arrived = len(dashboard.receiver.received)
    page = browser_page
    await login(page, dashboard.base_url, dashboard.username, dashboard.password)
    await page.goto(dashboard.url("/members/mia"))
    async with page.expect_navigation():
        await page.get_by_role("button", name="Send test to channel 2").click()
    await expect(page.locator("#channel-1 .test-result")).to_contain_text("Test failed")

    await page.goto(dashboard.url("/deliveries?kind=test"))
    async with page.expect_navigation():
        await page.get_by_role("link", name="Guardian test").first.click()
    main = page.locator("main")
    await expect(main.locator("#test-outcome")).to_contain_text("This test did not arrive")
    assert "This channel works." not in await main.inner_text()
    await expect(main.locator("[data-status]")).to_have_text("failed")
    assert await main.get_by_text("Tries").count() == 0
    await expect(main.locator("[data-attempts]")).to_have_text("1")
    assert await main.locator("#channels-heading ~ div tbody tr").count() == 1
    await screenshot(page, "failed-test")

    async with page.expect_navigation():
        await page.get_by_role("button", name="Retry").click()
    await expect(page.get_by_role("status")).to_contain_text("to the channel it tests only")
    await dashboard.running.tick_at(dashboard.clock.now())
    await asyncio.sleep(0.2)
    assert len(dashboard.receiver.received) == arrived  # the working channel got nothing
    # Time passes: a failed test is not retried by itself.
    await dashboard.running.run_until(dashboard.clock.now() + timedelta(hours=1))
    test = await Delivery.filter(kind="test").first()
    assert test is not None and test.status == "failed" and test.attempts == 1
    assert len(dashboard.receiver.received) == arrived

    # A sent urgent message: a green "sent", "Marked urgent" in words, not a dark badge.
    urgent = await Delivery.get(kind="breakthrough")
    await page.set_viewport_size(PHONE)
    await page.goto(dashboard.url(f"/deliveries/{urgent.id}"))
    badge = page.locator("[data-status]")
    await expect(badge).to_have_text("sent")
    colour = await badge.evaluate("e => getComputedStyle(e).backgroundColor")
    assert colour == "rgb(46, 112, 66)", colour  # --ok
    await expect(page.locator("main")).to_contain_text("Marked urgent")
    await no_horizontal_overflow(page, PHONE["width"])
    await screenshot(page, "sent-urgent-phone")
    await page.goto(dashboard.url("/deliveries"))
    await screenshot(page, "deliveries-phone")
    assert page_errors == []


async def test_a_live_update_waits_while_a_time_is_being_typed(
    dashboard: Dashboard, browser_page: Page, page_errors: list[str]
) -> None:
    await an_evening(dashboard)
    page = browser_page
    await login(page, dashboard.base_url, dashboard.username, dashboard.password)
    await expect(page.locator("[data-live][data-connected=yes]")).to_have_count(1)
    held = page.locator("section[data-member=mia] .held-count")
    await expect(held).to_have_text("23")
    field = page.locator("#until-mia")
    await field.focus()
    assert (await dashboard.running.post(message("while-typing", "hey"))).status == 202
    await page.wait_for_timeout(1000)
    await expect(held).to_have_text("23")  # not swapped under the parent's fingers
    assert await page.evaluate("document.activeElement.id") == "until-mia"
    await page.locator("h1").click()  # leaves the field
    await expect(held).to_have_text("24")
    assert page_errors == []
