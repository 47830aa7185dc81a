"""Adding, changing and removing a source on the dashboard, in a real Chromium on a phone: a
parent adds their child's mailbox (the real Dovecot), mail arrives and is held, the source is
changed without retyping its password, and removed only once the parent confirms."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

import pytest
from playwright.async_api import Page, expect

from guardian.models import AuditEntry, Notification, PullState, Source
from tests.browser.conftest import Dashboard, login, screenshot
from tests.dovecot import Dovecot
from tests.plugins.test_imap import mail

PHONE = {"width": 375, "height": 812}


@pytest.fixture(autouse=True)
def trust_the_test_ca(imap_server: Dovecot, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SSL_CERT_FILE", str(imap_server.ca_file))


async def until(condition: object, what: str, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():  # type: ignore[operator]
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


async def fits(page: Page) -> None:
    assert await page.evaluate("document.documentElement.scrollWidth") <= PHONE["width"]


async def test_a_parent_adds_changes_and_removes_a_mailbox_on_a_phone(
    dashboard: Dashboard, browser_page: Page, page_errors: list[str], imap_server: Dovecot
) -> None:
    page = browser_page
    await page.set_viewport_size(PHONE)  # type: ignore[arg-type]
    mailbox = f"forms{datetime.now(UTC).strftime('%H%M%S%f')}"
    imap_server.create(mailbox)
    await login(page, dashboard.base_url, dashboard.username, dashboard.password)

    await page.goto(dashboard.url("/sources/new"))
    await expect(page.get_by_role("heading", name="Add a source", level=1)).to_be_visible()
    # Each connection by what it is in a parent's words, its plugin's name beside it.
    await page.get_by_label("E-mail (a mailbox)", exact=True).check()
    await fits(page)
    async with page.expect_navigation():
        await page.get_by_role("button", name="Next").click()

    # A mistake first: no password. The field says so, what was typed stays.
    await page.get_by_label("Name of this source").fill("mia-mail")
    await page.get_by_label("Whose messages").select_option("mia")
    await page.get_by_label("Host").fill("127.0.0.1")
    await page.get_by_label("Port (optional)").fill(str(imap_server.tls_port))
    await page.get_by_label("Username").fill(imap_server.user.name)
    await page.get_by_label("Mailboxes (optional)").fill(mailbox)
    async with page.expect_navigation():
        await page.get_by_role("button", name="Add the source").click()
    password = page.get_by_label("Password")
    await expect(password).to_have_attribute("aria-invalid", "true")
    await expect(page.locator("#s-password-error")).to_be_visible()
    await expect(page.get_by_label("Host")).to_have_value("127.0.0.1")
    await fits(page)
    await screenshot(page, "source-form-error")

    await password.fill(imap_server.user.password)
    async with page.expect_navigation():
        await page.get_by_role("button", name="Add the source").click()
    assert page.url.startswith(dashboard.url("/sources"))
    await expect(page.locator("#source-mia-mail")).to_be_visible()

    # It runs at once: from now, so new mail is read and held or forwarded.
    async def started() -> bool:
        state = await PullState.get_or_none(source__slug="mia-mail")
        return state is not None and state.cursor is not None

    await until(started, "the new source reading the mailbox")
    await asyncio.to_thread(imap_server.deliver, mail(subject="from the form"), mailbox=mailbox)

    async def arrived() -> bool:
        return await Notification.filter(source__slug="mia-mail").exists()

    await until(arrived, "the mail stored")

    # Changed without retyping the password (never shown again).
    await page.goto(dashboard.url("/sources/mia-mail/edit"))
    await expect(page.get_by_label("Password")).to_have_value("")
    assert imap_server.user.password not in await page.content()
    await page.get_by_label("Whose messages").select_option("sam")
    async with page.expect_navigation():
        await page.get_by_role("button", name="Save").click()
    stored = await Source.get(slug="mia-mail").prefetch_related("member")
    assert stored.member.slug == "sam"
    assert stored.settings["password"] == imap_server.user.password
    await fits(page)

    # Removing asks first, in the dialog the other irreversible actions use, saying what
    # happens; Cancel keeps the source, and the focus goes back to the button.
    await page.goto(dashboard.url("/sources/mia-mail/edit"))
    remove = page.get_by_role("button", name="Remove mia-mail")
    await expect(page.get_by_label("I understand")).to_be_hidden()  # the dialog asks instead
    await remove.click()
    dialog = page.get_by_role("dialog")
    await expect(dialog).to_contain_text("Remove mia-mail?")
    await expect(dialog).to_contain_text("no longer reach Guardian")
    await expect(dialog).to_contain_text("cannot be undone")
    await screenshot(page, "source-remove")
    await dialog.get_by_role("button", name="Cancel").click()
    await expect(dialog).to_be_hidden()
    await expect(remove).to_be_focused()
    assert await Source.filter(slug="mia-mail").exists()
    await remove.click()
    async with page.expect_navigation():
        await dialog.get_by_role("button", name="Yes, remove mia-mail").click()
    assert not await Source.filter(slug="mia-mail").exists()
    actions = (
        await AuditEntry.filter(target="mia-mail").order_by("id").values_list("action", flat=True)
    )
    assert actions == ["source.add", "source.update", "source.remove"]
    # The one error the browser logs is a refused form's 422, as answered on purpose.
    assert [e for e in page_errors if "status of 422" not in e] == []
