"""The contacts and sources pages in a real Chromium: trust set with the keyboard alone, two
contacts merged, a source's secret rotated and shown once; both pages fit a 375 px screen."""

from __future__ import annotations

import json
import uuid
from typing import Any

from playwright.async_api import Page, expect

from guardian.models import Notification
from guardian.signatures import signed_headers
from tests.browser.conftest import Dashboard, login, screenshot
from tests.browser.test_flows import api
from tests.conftest import SECRET, TEST_SECRETS, message

PHONE = {"width": 375, "height": 812}
#: The most Tab presses it may take to get from a field to the form's button.
MOST_TABS = 20


def sent_by(sender: dict[str, str]) -> dict[str, Any]:
    return {"from": sender}


async def tab_to_button(page: Page, name: str) -> None:
    for _ in range(MOST_TABS):
        await page.keyboard.press("Tab")
        focused = await page.evaluate(
            "() => [document.activeElement.tagName, document.activeElement.innerText || '']"
        )
        if focused[0] == "BUTTON" and focused[1].strip().startswith(name):
            return
    raise AssertionError(f"{MOST_TABS} presses of Tab did not reach the {name!r} button")


async def fits_a_phone(page: Page) -> None:
    await page.set_viewport_size(PHONE)  # type: ignore[arg-type]
    await page.reload()
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


async def test_trust_with_the_keyboard_and_merging_two_contacts(
    dashboard: Dashboard, browser_page: Page, page_errors: list[str]
) -> None:
    page = browser_page
    await login(page, dashboard.base_url, dashboard.username, dashboard.password)
    await page.goto(dashboard.url("/contacts"))
    await expect(page.get_by_role("heading", name="Contacts", level=1)).to_be_visible()
    sophie = page.locator("#contact-sophie")
    await expect(sophie).to_contain_text("sms:+31612345678")
    # Mia's guardian_view is counts: who writes to her is not counted either.
    await expect(page.locator("#uncounted")).to_have_text(
        "Not counted below: messages to Mia. Who writes to them is private at their privacy level."
    )
    policy = await (await api(page, dashboard, "GET", "/policies/school-night")).json()
    spec = {**policy["spec"], "guardian_view": "senders"}
    assert (await api(page, dashboard, "PUT", "/policies/school-night", spec)).status == 200
    await page.reload()
    await expect(page.locator("#uncounted")).to_have_count(0)

    # Trust, with the keyboard alone: the select, an arrow key, Tab to Save, Enter.
    trust = page.get_by_label("Trust for Sophie")
    await expect(trust).to_have_value("normal")
    await trust.focus()
    await page.keyboard.press("ArrowUp")
    await expect(trust).to_have_value("trusted")
    await tab_to_button(page, "Save trust")
    async with page.expect_navigation():
        await page.keyboard.press("Enter")
    await expect(page.get_by_role("status")).to_have_text("Saved Sophie.")
    await expect(page.get_by_label("Trust for Sophie")).to_have_value("trusted")
    assert dashboard.service.household().contacts["sophie"].trust == "trusted"

    # A second contact, added with the form, then a message from it.
    await page.get_by_label("Short name", exact=True).fill("sophie-new")
    await page.get_by_label("Name", exact=True).fill("Sophie (new phone)")
    await page.locator("#new-addresses").fill("sms:+31 6 0000 0002")
    async with page.expect_navigation():
        await page.get_by_role("button", name="Add contact").click()
    await expect(page.get_by_role("status")).to_have_text("Added Sophie (new phone).")
    new_phone = {"id": "+31600000002", "name": "Sophie"}
    assert (await dashboard.running.post(message(1, **sent_by(new_phone)))).status == 202
    await screenshot(page, "contacts")

    # Nothing is chosen for a merge until the parent chooses; the merge asks first.
    await expect(page.get_by_label("Keep")).to_have_value("")
    await page.get_by_label("Keep").select_option("sophie")
    await page.get_by_label("Merge into it, then remove").select_option("sophie-new")
    await page.get_by_role("button", name="Merge", exact=True).click()
    dialog = page.get_by_role("dialog")
    await expect(dialog).to_contain_text("Merge Sophie (new phone) into Sophie?")
    await expect(dialog).to_contain_text("undo this on this page for 15 minutes")
    async with page.expect_navigation():
        await dialog.get_by_role("button", name="Yes, merge").click()
    await expect(page.get_by_role("status")).to_have_text("Merged Sophie (new phone) into Sophie.")
    await expect(page.locator("#contact-sophie-new")).to_have_count(0)
    await expect(sophie).to_contain_text("sms:+31600000002")
    await expect(sophie).to_contain_text("1 message received")
    row = await Notification.get(external_id="msg-1")
    assert row.sender_key == "contact:sophie"

    await fits_a_phone(page)
    await screenshot(page, "contacts-phone")
    assert page_errors == []


async def test_rotating_a_source_secret_shows_it_once(
    dashboard: Dashboard, browser_page: Page, page_errors: list[str]
) -> None:
    page = browser_page
    await login(page, dashboard.base_url, dashboard.username, dashboard.password)
    await page.goto(dashboard.url("/sources"))
    phone = page.locator("#source-mia-phone")
    await expect(phone).to_contain_text("webhook")
    port = dashboard.service.settings.server.port
    await expect(phone.get_by_label("Address to paste into it")).to_have_value(
        f"http://127.0.0.1:{port}/hooks/mia-phone"
    )
    await screenshot(page, "sources")
    content = await page.content()
    assert not any(secret in content for secret in TEST_SECRETS)

    # Keyboard: open the rotate form, keep the default secret, Tab to the button, Enter; the
    # dialog says what happens, and Enter on its button goes on.
    await phone.locator("summary", has_text="Make a new secret").focus()
    await page.keyboard.press("Enter")
    await expect(phone.get_by_label("Secret", exact=True)).to_have_value("secret")
    await phone.get_by_label("New value (optional)").focus()
    await tab_to_button(page, "Make a new secret")
    await page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog")
    await expect(dialog).to_contain_text("is cut off")
    await page.keyboard.press("Tab")  # from Cancel, which has the focus, back to the button
    await page.keyboard.press("Shift+Tab")
    await dialog.get_by_role("button", name="Yes, make a new secret").focus()
    async with page.expect_navigation():
        await page.keyboard.press("Enter")

    box = page.locator(".secret-once")
    await expect(box).to_contain_text("Paste it into the network now")
    new = await page.locator("#new-secret").input_value()
    assert new.startswith("whsec_") and new not in page.url
    await screenshot(page, "sources-rotated")

    raw = json.dumps(message("rotated")).encode()
    for secret, status in ((new, 202), (SECRET, 401)):
        headers = signed_headers(secret, f"wh-{uuid.uuid4()}", dashboard.clock.now(), raw)
        answer = await dashboard.running.client.post("/hooks/mia-phone", data=raw, headers=headers)
        assert answer.status == status

    async with page.expect_navigation():
        await page.get_by_role("link", name="Done: back to the sources").click()
    await expect(page.locator(".secret-once")).to_have_count(0)
    assert new not in await page.content()
    await expect(phone).to_contain_text("1 in the last 24 hours")

    await fits_a_phone(page)
    await screenshot(page, "sources-phone")
    assert page_errors == []
