"""Every dashboard page, with hostile text in the household, at 1280, 375 and 320 px: nothing
runs, the text reads as text, nothing is wider than the screen and no word is broken inside its
letters, tables are cards on a phone, axe-core finds no serious or critical violation (at both
the desktop and the phone size), every control is named, the keyboard reaches the navigation
(through the Menu button on a phone), and the favicon is there."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import timedelta

import pytest
from playwright.async_api import Dialog, Page, expect

from tests.browser.checks import (
    PHONE,
    SIZES,
    SMALL,
    assert_accessible,
    assert_fits,
    axe_violations,
    broken_words,
)
from tests.browser.conftest import Dashboard, login, screenshot
from tests.browser.test_flows import THURSDAY_NIGHT, api, csrf_token, missing, tab_to
from tests.conftest import message

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
    Shown("/sources/new"),
    Shown("/sources/mia-phone/edit"),
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
        await page.get_by_role("button", name="Menu").click()  # the phone's folded header
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

    # At every size: nothing wider than the screen and no broken word, as the page opens and
    # with every <details> open; axe-core and the keyboard at the desktop and the phone size.
    for size_name, size in SIZES:
        await page.set_viewport_size(size)
        await page.goto(dashboard.url(path))
        await assert_fits(page, path)
        if size_name != "small":
            await assert_accessible(page, path)
        if path != "/login":
            await phone_header(page, size_name)
            if size_name != "small":
                await keyboard_reaches_the_navigation(page, phone=size_name == "phone")
        await screenshot(page, f"{slug(path)}-{size_name}")
        await page.evaluate("document.querySelectorAll('details').forEach(d => { d.open = true })")
        await assert_fits(page, path + " (all opened)")
        if size_name == "desktop":
            await assert_named(page, path)
        if size_name != "desktop" and await page.locator("table").count():
            display = await page.locator("table tbody tr").first.evaluate(
                "e => getComputedStyle(e).display"
            )
            assert display == "block", f"{path}: a table is not a list of cards on a phone"
    assert page_errors == []
    icon = await page.request.get(dashboard.url("/favicon.ico"))
    assert icon.status == 200 and icon.headers["content-type"].startswith("image/")


async def keyboard_reaches_the_navigation(page: Page, *, phone: bool) -> None:
    """The skip link comes first, then the navigation (wide screen), or the Menu button and
    through it the navigation (phone); the menu is closed again afterwards."""
    assert await csrf_token(page)
    await page.locator("body").focus()
    await page.keyboard.press("Tab")
    focused = await page.evaluate("document.activeElement.textContent.trim()")
    assert focused == "Skip to content"
    menu = page.get_by_role("button", name="Menu")
    if phone:
        await tab_to(page, "Menu")
        await page.keyboard.press("Enter")
        await expect(menu).to_have_attribute("aria-expanded", "true")
    await tab_to(page, "Tonight")
    assert await page.evaluate("document.activeElement.closest('nav') !== null")
    if phone:
        await page.keyboard.press("Escape")
        await expect(menu).to_have_attribute("aria-expanded", "false")


async def assert_named(page: Page, path: str) -> None:
    """Every control that a person can see has an accessible name."""
    controls = page.locator(CONTROLS)
    for index in range(await controls.count()):
        control = controls.nth(index)
        if not await control.is_visible():
            continue
        try:
            await expect(control).to_have_accessible_name(re.compile(r"\S"), timeout=200)
        except AssertionError:
            described = await control.evaluate("e => e.outerHTML.slice(0, 160)")
            raise AssertionError(f"{path}: a control without a name: {described}") from None


async def phone_header(page: Page, size_name: str) -> None:
    """On a phone the header is one short row: the name and a Menu button; on a wide screen the
    links themselves."""
    header = page.locator("header.top")
    menu = page.get_by_role("button", name="Menu")
    if size_name == "desktop":
        await expect(menu).to_be_hidden()
        await expect(page.get_by_role("navigation", name="Main")).to_be_visible()
        return
    await expect(menu).to_be_visible()
    await expect(page.get_by_role("navigation", name="Main")).to_be_hidden()
    box = await header.bounding_box()
    assert box is not None and box["height"] <= 60, f"the header is {box} on a phone"


async def test_the_checks_find_what_they_look_for(browser_page: Page) -> None:
    """The page checks are real: axe-core reports an unnamed image and button, and a word
    squeezed into a narrow cell counts as broken, while a long URL in <code> may break."""
    page = browser_page
    await page.set_viewport_size(SMALL)
    await page.set_content(
        '<html lang="en"><title>t</title><main><h1>t</h1><img src="data:,">'
        "<button></button>"
        '<table style="width:300px"><tr><td style="overflow-wrap:anywhere">breakthrough</td>'
        "<td>a fairly long sentence that fills the rest of this table's width nicely</td></tr>"
        "</table><p><code>https://example.org/a/very/long/address/that/must/wrap/somewhere</code>"
        "</p></main></html>"
    )
    found = {v["id"] for v in await axe_violations(page)}
    assert {"image-alt", "button-name"} <= found
    broken = await broken_words(page)
    assert any(word.startswith("breakthrough") for word in broken), broken
    assert not any("example" in word for word in broken)
