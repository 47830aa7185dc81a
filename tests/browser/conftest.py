"""Real-browser fixtures: Debian's Chromium through Playwright's async API, in the test's own
event loop, so one test can drive the in-process app (tick the scheduler, post webhooks) and
the browser. Playwright never downloads a browser here: it launches /usr/bin/chromium."""

from __future__ import annotations

import os
import re
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pytest
from playwright.async_api import (
    Browser,
    ConsoleMessage,
    Error,
    Page,
    Route,
    ViewportSize,
    async_playwright,
)

from guardian.accounts import add_user
from guardian.clock import VirtualClock
from guardian.core import Service
from guardian.settings import Settings
from tests.conftest import Receiver, Running, at

CHROMIUM = Path("/usr/bin/chromium")
# Without the background-networking flags Chromium keeps calling Google's services, which on a
# closed network means a flood of failing requests and slow start-up. Even with them it still
# looks up accounts.google.com at every launch: the resolver rule answers every name but this
# machine's with "not found", without asking DNS.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE localhost, EXCLUDE 127.0.0.1",
]
VIEWPORT: ViewportSize = {"width": 1280, "height": 800}
#: Every wait of a page (navigation, a selector) gives up after this: a local app answers in
#: milliseconds, and a broken page should fail in seconds, not Playwright's default 30.
TIMEOUT_MS = 10_000
REPO = Path(__file__).resolve().parents[2]

USERNAME = "parent"
PASSWORD = "correct horse battery"
#: The guardian member that the test login belongs to (tests/conftest.py's household).
GUARDIAN_MEMBER = "sam"
#: Outside quiet hours; a module can override the `dashboard_start` fixture.
THURSDAY_AFTERNOON = at("2026-11-26T16:00:00+01:00")

# Requests that may leave the machine: none. A page that loads a font or script from a CDN
# would break offline, so such a request is aborted and reported as an error.
_EXTERNAL = re.compile(r"^(https?|wss?)://(?!(127\.0\.0\.1|localhost|\[::1\])(:\d+)?(/|$))")


@pytest.fixture(scope="session")
def chromium() -> Path:
    """Debian's Chromium; missing, the browser tests skip, except in CI, where they fail."""
    if not os.access(CHROMIUM, os.X_OK):
        reason = f"{CHROMIUM} is missing: apt-get install chromium"
        if os.environ.get("CI") == "true":
            pytest.fail(reason)
        pytest.skip(reason)
    return CHROMIUM


@pytest.fixture
async def browser(chromium: Path) -> AsyncIterator[Browser]:
    """A headless Chromium per test (about a second), for tests that need a second context."""
    async with async_playwright() as playwright:
        launched = await playwright.chromium.launch(
            executable_path=chromium, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            await launched.close()


@pytest.fixture
def page_errors() -> list[str]:
    """What went wrong in the page: uncaught exceptions, console errors, external requests."""
    return []


def collect_errors(page: Page, errors: list[str]) -> None:
    """Record `page`'s uncaught exceptions and console errors in `errors`."""

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            where = message.location.get("url", "")
            errors.append(f"console.error: {message.text} ({where})")

    def on_pageerror(error: Error) -> None:
        errors.append(f"pageerror: {error.message}")

    page.on("console", on_console)
    page.on("pageerror", on_pageerror)


@pytest.fixture
async def browser_page(browser: Browser, page_errors: list[str]) -> AsyncIterator[Page]:
    """A page in a fresh context (no cookies), 1280x800, its errors collected in `page_errors`;
    requests to anything but this machine are aborted. Change the size with
    `await page.set_viewport_size({"width": 375, "height": 812})`."""
    context = await browser.new_context(viewport=VIEWPORT)
    context.set_default_timeout(TIMEOUT_MS)
    context.set_default_navigation_timeout(TIMEOUT_MS)

    async def block(route: Route) -> None:
        page_errors.append(f"external request blocked: {route.request.url}")
        await route.abort("blockedbyclient")

    await context.route(_EXTERNAL, block)
    try:
        page = await context.new_page()
        collect_errors(page, page_errors)
        yield page
    finally:
        await context.close()


@dataclass
class Dashboard:
    """The real app on a real localhost port, on a virtual clock, with a guardian's login."""

    running: Running
    receiver: Receiver
    base_url: str
    username: str = USERNAME
    password: str = PASSWORD

    @property
    def service(self) -> Service:
        """The app's state: `app[guardian.core.CORE]`."""
        return self.running.service

    @property
    def clock(self) -> VirtualClock:
        return self.running.clock

    @property
    def household_id(self) -> str:
        return self.service.settings.household.id

    def url(self, path: str = "/") -> str:
        return f"{self.base_url}{path}"


@pytest.fixture
def dashboard_start() -> datetime:
    """The virtual clock's first instant; override it in a module for another moment."""
    return THURSDAY_AFTERNOON


@pytest.fixture
async def dashboard(
    write_settings: Callable[..., Settings],
    start_guardian: Callable[[Settings, datetime], Awaitable[Running]],
    receiver: Receiver,
    dashboard_start: datetime,
) -> Dashboard:
    """tests/conftest.py's household with a fresh SQLite file in tmp_path, Mia and Sam
    delivering to the local json:// receiver, and the login `parent` for Sam."""
    settings = write_settings(
        mia_channels=[receiver.channel("mia")], sam_channels=[receiver.channel("sam")]
    )
    running = await start_guardian(settings, dashboard_start)
    await add_user(
        settings.household.id,
        USERNAME,
        PASSWORD,
        running.clock.now(),
        member=GUARDIAN_MEMBER,
    )
    base_url = str(running.client.make_url("")).rstrip("/")
    return Dashboard(running=running, receiver=receiver, base_url=base_url)


async def login(page: Page, base_url: str, username: str, password: str) -> None:
    """Log in through the login form (POST /login: username, password, csrf_token) and wait
    for the dashboard at `/`; a refused login fails at once, with the page's alert."""
    await page.goto(f"{base_url}/login")
    await page.locator("input[name=username]").fill(username)
    await page.locator("input[name=password]").fill(password)
    async with page.expect_navigation():  # the POST's answer, after any redirect
        await page.locator("button[type=submit]").click()
    if page.url != f"{base_url}/":
        alerts = await page.locator("[role=alert]").all_inner_texts()
        raise AssertionError(f"the login stopped at {page.url}, not {base_url}/: {alerts}")


async def screenshot(page: Page, name: str) -> Path:
    """A full-page PNG at test-artifacts/screenshots/<test>-<name>.png (or under
    $GUARDIAN_ARTIFACTS), for a person to look at; returns its path."""
    current = os.environ.get("PYTEST_CURRENT_TEST", "unknown").split(" ")[0]
    stem = re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{current.split('::')[-1]}-{name}")
    root = Path(os.environ.get("GUARDIAN_ARTIFACTS") or REPO / "test-artifacts")
    path = root / "screenshots" / f"{stem}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    await page.screenshot(path=path, full_page=True)
    return path
