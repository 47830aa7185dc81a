"""Every page of the navigation, in a real Chromium, as a guardian after Mia's busy evening
(tests/evening.py): each page reachable from the navigation, and Tonight as it updates live,
shows Mia's messages and deliveries only at her `guardian_view`. The admin API gets the same
walk in tests/test_privacy.py."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from urllib.parse import urlsplit

import pytest
from playwright.async_api import Page, expect

from guardian.accounts import add_user
from guardian.dashboard import NAV
from guardian.models import Delivery
from guardian.settings import Settings
from tests.browser.conftest import (
    GUARDIAN_MEMBER,
    PASSWORD,
    USERNAME,
    Dashboard,
    login,
    screenshot,
)
from tests.conftest import Receiver, Running
from tests.evening import (
    FRIDAY_NIGHT,
    SENDER_NAME,
    THURSDAY_AFTERNOON,
    busy_evening,
    from_them,
    leaks,
    secrets_at,
    with_mias_policy,
)

#: Enough for every page linked from the navigation and their details, not an endless crawl.
MOST_PAGES = 200
#: Links that are not pages to read: the stylesheets and scripts, the live stream.
NOT_PAGES = ("/static/", "/events", "/logout")


async def evening_dashboard(
    level: str,
    write_settings: Callable[..., Settings],
    start_guardian: Callable[[Settings, datetime], Awaitable[Running]],
    receiver: Receiver,
) -> Dashboard:
    settings = write_settings(
        mia_channels=[receiver.channel("mia")], sam_channels=[receiver.channel("sam")]
    )
    running = await start_guardian(
        with_mias_policy(settings, level), THURSDAY_AFTERNOON - timedelta(hours=1)
    )
    await add_user(
        settings.household.id, USERNAME, PASSWORD, running.clock.now(), member=GUARDIAN_MEMBER
    )
    await busy_evening(running, receiver)
    base_url = str(running.client.make_url("")).rstrip("/")
    return Dashboard(running=running, receiver=receiver, base_url=base_url)


async def shown(page: Page) -> str:
    """All a person can get from the page: its text, and its markup (titles, attributes)."""
    return f"{await page.locator('body').inner_text()}\n{await page.content()}"


async def same_site_links(page: Page, base_url: str) -> list[str]:
    hrefs: list[str] = await page.eval_on_selector_all("a[href]", "links => links.map(a => a.href)")
    paths = []
    for href in hrefs:
        if not href.startswith(base_url):
            continue
        parts = urlsplit(href)
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        if not path.startswith(NOT_PAGES):
            paths.append(path)
    return paths


@pytest.mark.parametrize("level", ["counts", "senders"])
async def test_every_page_shows_mia_at_her_guardian_view(
    level: str,
    write_settings: Callable[..., Settings],
    start_guardian: Callable[[Settings, datetime], Awaitable[Running]],
    receiver: Receiver,
    browser_page: Page,
    page_errors: list[str],
) -> None:
    dashboard = await evening_dashboard(level, write_settings, start_guardian, receiver)
    secrets = secrets_at(level)
    page = browser_page
    await login(page, dashboard.base_url, dashboard.username, dashboard.password)

    queue = [href for href, _ in NAV] + ["/members/mia/transparency", "/tonight/members"]
    seen: set[str] = set()
    everything = []
    while queue and len(seen) < MOST_PAGES:
        path = queue.pop(0)
        if path in seen:
            continue
        seen.add(path)
        response = await page.goto(dashboard.url(path))
        assert response is not None and response.status == 200, (path, response)
        text = await shown(page)
        leaked = leaks(text, secrets)
        assert not leaked, f"{path} shows {leaked}"
        everything.append(text)
        queue += [link for link in await same_site_links(page, dashboard.base_url)]
    assert len(seen) < MOST_PAGES, "the crawl did not end"
    delivery_pages = [p for p in seen if p.startswith("/deliveries/")]
    assert len(delivery_pages) >= 8, sorted(seen)  # every kind of the evening, in detail
    if level == "senders":  # the walk is not blind: at senders, who wrote does show
        assert any(SENDER_NAME in text for text in everything)
    await page.set_viewport_size({"width": 375, "height": 812})
    summary = await Delivery.filter(kind="summary").first()
    assert summary is not None
    await page.goto(dashboard.url(f"/deliveries/{summary.id}"))
    await expect(page.locator("#sent-heading")).to_have_text("As Mia’s guardians see it")
    await screenshot(page, f"summary-at-{level}")
    await page.goto(dashboard.url("/members/mia/transparency"))
    await screenshot(page, f"transparency-at-{level}")

    # Tonight updates live as more arrives; what it fetches follows the same rule.
    await page.goto(dashboard.url("/"))
    held = page.locator("section[data-member=mia] .held-count")
    before = int(await held.inner_text())
    for n in range(3):
        answer = await dashboard.running.post(from_them(f"live-{n}", "are you up", group=n == 1))
        assert answer.status == 202
    await expect(held).to_have_text(str(before + 3))
    assert dashboard.clock.now() >= FRIDAY_NIGHT
    leaked = leaks(await shown(page), secrets)
    assert not leaked, f"Tonight, updated live, shows {leaked}"
    assert page_errors == []
