"""Every dashboard page, on a phone-sized screen, with hostile text in the household: nothing
runs, the text reads as text, nothing is wider than the screen, every control is named, and
the keyboard reaches the navigation."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

import pytest
from playwright.async_api import Dialog, Page, ViewportSize, expect

from tests.browser.conftest import Dashboard, login, screenshot
from tests.browser.test_flows import THURSDAY_NIGHT, api, csrf_token, missing, tab_to
from tests.conftest import message

PHONE: ViewportSize = {"width": 375, "height": 812}
#: A sender's display name and a message text that would run script if pasted as HTML.
NAME = "<script>alert(1)</script>"
TEXT = '"><img src=x onerror=alert(1)>'
SENDER = "+31600000666"
#: Form controls that a person uses (hidden fields carry no name to a person).
CONTROLS = "input:not([type=hidden]), select, textarea, button"


@dataclass(frozen=True)
class Shown:
    """A page, and which of the hostile strings it must show as text."""

    path: str
    name: bool = False
    text: bool = False


PAGES = [
    Shown("/", name=True),
    Shown("/members"),
    Shown("/members/mia"),
    Shown("/policies/school-night"),
    Shown("/contacts", name=True),
    Shown("/sources"),
    Shown("/deliveries", name=True),
    Shown("/deliveries/{delivery}", name=True, text=True),
    Shown("/activity"),
    Shown("/members/mia/transparency"),
    Shown("/people", name=True),
    Shown("/access"),
    Shown("/audit", name=True),
    Shown("/login"),
]


async def hostile_household(page: Page, dashboard: Dashboard) -> int:
    """The hostile strings everywhere they can go: a contact's name, a policy keyword, a
    forwarded message and a held one; the guardians' view at `preview`. Returns the id of the
    forward's delivery."""
    contact = await api(
        page,
        dashboard,
        "POST",
        "/contacts",
        {"id": "hostile", "name": NAME, "addresses": [f"sms:{SENDER}"]},
    )
    assert contact.status == 201, await contact.text()
    policy = await (await api(page, dashboard, "GET", "/policies/school-night")).json()
    spec = policy["spec"]
    spec["guardian_view"] = spec["content"] = "preview"
    spec["breakthrough"]["keywords"] = [*spec["breakthrough"]["keywords"], NAME]
    saved = await api(page, dashboard, "PUT", "/policies/school-night", spec)
    assert saved.status == 200, await saved.text()

    sender = {"id": SENDER, "name": NAME}
    forwarded = await dashboard.running.post(message("h1", TEXT, **{"from": sender}))
    assert forwarded.status == 202
    await dashboard.running.run_until(dashboard.clock.now() + timedelta(seconds=1))
    await dashboard.running.run_until(THURSDAY_NIGHT)
    held = await dashboard.running.post(message("h2", TEXT, **{"from": sender}))
    assert held.status == 202
    deliveries = await (await api(page, dashboard, "GET", "/deliveries?kind=forward")).json()
    assert deliveries["items"], "the first message was not forwarded"
    return int(deliveries["items"][0]["id"])


def slug(path: str) -> str:
    return path.strip("/").replace("/", "-") or "tonight"


async def assert_fits(page: Page, path: str) -> None:
    width = await page.evaluate("document.documentElement.scrollWidth")
    assert width <= PHONE["width"], f"{path} is {width} px wide at {PHONE['width']} px"


@pytest.mark.parametrize("shown", PAGES, ids=[p.path for p in PAGES])
async def test_every_page_on_a_phone_with_hostile_text(
    shown: Shown, dashboard: Dashboard, browser_page: Page, page_errors: list[str]
) -> None:
    page = browser_page
    dialogs: list[str] = []

    async def refuse(dialog: Dialog) -> None:
        dialogs.append(f"{dialog.type}: {dialog.message}")
        await dialog.dismiss()

    page.on("dialog", refuse)
    await page.set_viewport_size(PHONE)
    await login(page, dashboard.base_url, dashboard.username, dashboard.password)
    # Away from Tonight, whose live refresh would race the setup (and the log-out below).
    await page.goto(dashboard.url("/audit"))
    delivery = await hostile_household(page, dashboard)
    path = shown.path.format(delivery=delivery)
    if path == "/login":
        await page.get_by_role("button", name=re.compile("^Log out")).click()
        await page.wait_for_url(dashboard.url("/login*"))
        await page.get_by_label("Username").fill(NAME + TEXT)
        await page.get_by_label("Password").fill("wrong")
        await page.get_by_role("button", name="Log in").click()
        await expect(page.get_by_role("alert")).to_be_visible()
        await expect(page.get_by_label("Username")).to_have_value(NAME + TEXT)
    else:
        response = await page.goto(dashboard.url(path))
        assert response is not None
        if response.status == 404:
            missing(path)
        assert response.status == 200, f"{path} answered {response.status}"
        if path == "/":  # and once more through the live refresh, which sets innerHTML
            await expect(page.locator("[data-live][data-connected=yes]")).to_have_count(1)
            sender = {"id": SENDER, "name": NAME}
            await dashboard.running.post(message("h3", TEXT, **{"from": sender}))
            counter = page.locator("section[data-member=mia] .held-count")
            await expect(counter).to_have_text("2")

    # Nothing ran: no dialog, no error, no element that the strings would have made.
    assert dialogs == []
    if path == "/login":  # a refused login answers 401, which Chromium logs
        page_errors[:] = [e for e in page_errors if "status of 401" not in e]
    assert page_errors == []
    assert not await page.evaluate(
        "[...document.scripts].some(s => s.text.includes('alert'))"
        " || document.querySelector('[onerror], img[src=x]') !== null"
    )
    # The strings read as text where the page shows them.
    if shown.name:
        await expect(page.get_by_text(NAME).first).to_be_visible()
    if shown.text:
        await expect(page.get_by_text(TEXT).first).to_be_visible()
    if path.startswith("/policies/"):
        await expect(page.locator("#keywords")).to_have_value(re.compile(re.escape(NAME)))

    # Nothing wider than the phone, as the page opens and with every <details> open.
    await assert_fits(page, path)
    await screenshot(page, slug(path))
    await page.evaluate("document.querySelectorAll('details').forEach(d => { d.open = true })")
    await assert_fits(page, path)

    # Every control has an accessible name.
    controls = page.locator(CONTROLS)
    for index in range(await controls.count()):
        control = controls.nth(index)
        try:
            await expect(control).to_have_accessible_name(re.compile(r"\S"), timeout=200)
        except AssertionError:
            described = await control.evaluate("e => e.outerHTML.slice(0, 160)")
            raise AssertionError(f"{path}: a control without a name: {described}") from None

    # The keyboard reaches the skip link first, then the navigation.
    if path != "/login":
        assert await csrf_token(page)
        await page.locator("body").focus()
        await page.keyboard.press("Tab")
        focused = await page.evaluate("document.activeElement.textContent.trim()")
        assert focused == "Skip to content"
        await tab_to(page, "Tonight")
        assert await page.evaluate("document.activeElement.closest('nav') !== null")
