"""Issue 16's flows in a real Chromium, at 1280 px and on a phone (375 and 320 px):

1. phone first: the header folds into a Menu, a table is a list of labelled cards;
2. what cannot be undone asks first, in a <dialog> (and without scripts through a checkbox,
   which the server insists on), and a merge can be undone for a while;
3. plain words: a channel is added with a small form per service, which builds its URL; the
   source page gives copy buttons and steps;
4. errors stand next to their field in plain words, with what was typed, scrolled to; a failed
   test send says why;
5. axe-core finds nothing serious in the states these flows open (dialogs, errors).
"""

from __future__ import annotations

import re
from datetime import timedelta

from playwright.async_api import Browser, Page, expect

from guardian.models import AuditEntry, Contact, Notification
from tests.browser.checks import DESKTOP, PHONE, SMALL, assert_accessible, assert_fits
from tests.browser.conftest import Dashboard, collect_errors, login, screenshot
from tests.browser.test_flows import api
from tests.conftest import message

#: Chromium logs a refused form's 422 answer as a console error itself.
REFUSED = "status of 422"


def real_errors(errors: list[str]) -> list[str]:
    return [e for e in errors if REFUSED not in e]


async def test_phone_menu_and_tables_as_cards(
    dashboard: Dashboard, browser_page: Page, page_errors: list[str]
) -> None:
    page = browser_page
    await page.set_viewport_size(SMALL)
    await login(page, dashboard.base_url, dashboard.username, dashboard.password)
    await page.goto(dashboard.url("/members"))
    menu = page.get_by_role("button", name="Menu")
    nav = page.get_by_role("navigation", name="Main")
    await expect(menu).to_have_attribute("aria-expanded", "false")
    await expect(nav).to_be_hidden()
    await screenshot(page, "menu-closed-320")
    await menu.click()
    await expect(nav).to_be_visible()
    await expect(menu).to_have_attribute("aria-expanded", "true")
    await screenshot(page, "menu-open-320")
    await page.keyboard.press("Escape")
    await expect(nav).to_be_hidden()
    await expect(menu).to_be_focused()

    # The members table: one card per member, each value under its column's name.
    mia = page.get_by_role("row", name="Mia")
    await expect(mia).to_have_css("display", "block")
    await expect(mia.locator("td[data-label=Role]")).to_be_visible()
    role_label = await mia.locator("td[data-label=Role]").evaluate(
        "e => getComputedStyle(e, '::before').content"
    )
    assert role_label == '"Role: "'
    await assert_fits(page, "/members")
    await screenshot(page, "members-cards-320")

    await page.set_viewport_size(DESKTOP)
    await expect(menu).to_be_hidden()
    await expect(nav).to_be_visible()
    await expect(mia).to_have_css("display", "table-row")
    assert page_errors == []


async def test_merge_asks_first_and_can_be_undone(
    dashboard: Dashboard, browser_page: Page, page_errors: list[str]
) -> None:
    page = browser_page
    await page.set_viewport_size(PHONE)
    await login(page, dashboard.base_url, dashboard.username, dashboard.password)
    await page.goto(dashboard.url("/contacts"))
    added = await api(
        page,
        dashboard,
        "POST",
        "/contacts",
        {"id": "noor", "name": "Noor", "addresses": ["sms:+31600000077"]},
    )
    assert added.status == 201
    noor = {"id": "+31600000077", "name": "Noor"}
    assert (await dashboard.running.post(message("n1", **{"from": noor}))).status == 202
    await page.reload()

    await page.get_by_label("Keep").select_option("sophie")
    await page.get_by_label("Merge into it, then remove").select_option("noor")
    await page.get_by_role("button", name="Merge", exact=True).click()
    dialog = page.get_by_role("dialog", name="Merge Noor into Sophie?")
    await expect(dialog).to_be_visible()
    await expect(dialog).to_contain_text("Noor's numbers, accounts and messages move to Sophie")
    await expect(dialog.get_by_role("button", name="Cancel")).to_be_focused()
    await assert_accessible(page, "/contacts (merge dialog)")
    await screenshot(page, "merge-dialog")

    # Cancel: nothing happens.
    await dialog.get_by_role("button", name="Cancel").click()
    await expect(dialog).to_be_hidden()
    assert "noor" in dashboard.service.household().contacts

    await page.get_by_role("button", name="Merge", exact=True).click()
    async with page.expect_navigation():
        await dialog.get_by_role("button", name="Yes, merge").click()
    await expect(page.get_by_role("status")).to_have_text("Merged Noor into Sophie.")
    assert "noor" not in dashboard.service.household().contacts
    row = await Notification.get(external_id="msg-n1")
    assert row.sender_key == "contact:sophie"
    undo = page.get_by_role("button", name="Undo the merge of Noor")
    await expect(undo).to_be_visible()
    await expect(page.locator(".undo-merge")).to_contain_text("You can undo this until 16:15")
    await assert_fits(page, "/contacts (undo)")
    await screenshot(page, "merge-undo-offered")

    async with page.expect_navigation():
        await undo.click()
    await expect(page.get_by_role("status")).to_have_text(
        "Undone: Noor is a contact of their own again."
    )
    household = dashboard.service.household()
    assert household.contacts["noor"].addresses == ("sms:+31600000077",)
    assert "sms:+31600000077" not in household.contacts["sophie"].addresses
    row = await Notification.get(external_id="msg-n1")
    assert row.sender_key == "contact:noor"
    assert row.contact_id == (await Contact.get(slug="noor")).id
    await expect(undo).to_have_count(0)
    actions = [e.action for e in await AuditEntry.all().order_by("id")]
    assert actions[-2:] == ["contact.merge", "contact.unmerge"]

    # A later merge can be undone only for 15 minutes.
    await page.get_by_label("Keep").select_option("sophie")
    await page.get_by_label("Merge into it, then remove").select_option("noor")
    await page.get_by_role("button", name="Merge", exact=True).click()
    async with page.expect_navigation():
        await dialog.get_by_role("button", name="Yes, merge").click()
    await dashboard.running.run_until(dashboard.clock.now() + timedelta(minutes=16))
    await page.reload()
    await expect(page.locator(".undo-merge")).to_have_count(0)
    assert page_errors == []


async def test_without_scripts_the_checkbox_confirms_and_the_server_insists(
    dashboard: Dashboard, browser: Browser
) -> None:
    context = await browser.new_context(viewport=PHONE, java_script_enabled=False)
    errors: list[str] = []
    try:
        page = await context.new_page()
        collect_errors(page, errors)
        await login(page, dashboard.base_url, dashboard.username, dashboard.password)

        # Merging: submitted without the box ticked, refused next to the box.
        await page.goto(dashboard.url("/contacts"))
        oma = {"id": "oma", "name": "Oma", "addresses": ["sms:+31600000088"]}
        assert (await api(page, dashboard, "POST", "/contacts", oma)).status == 201
        await page.reload()
        await page.get_by_label("Keep").select_option("sophie")
        await page.get_by_label("Merge into it, then remove").select_option("oma")
        async with page.expect_navigation():
            await page.get_by_role("button", name="Merge", exact=True).click()
        box = page.locator("#merge-confirm")
        await expect(box).to_have_attribute("aria-invalid", "true")
        await expect(box).to_be_focused()
        await expect(page.locator("#merge-confirm-error")).to_have_text(
            "Tick the box to confirm: this cannot be undone."
        )
        await expect(page.get_by_label("Keep")).to_have_value("sophie")  # what was chosen stays
        assert "oma" in dashboard.service.household().contacts
        await screenshot(page, "merge-unconfirmed-nojs")
        await box.check()
        async with page.expect_navigation():
            await page.get_by_role("button", name="Merge", exact=True).click()
        await expect(page.get_by_role("status")).to_have_text("Merged Oma into Sophie.")

        # Removing a channel: the box is required by the browser too.
        await page.goto(dashboard.url("/members/mia"))
        remove = page.get_by_role("button", name="Remove channel 1")
        await remove.click()  # refused by the required box: no request
        assert len(dashboard.service.household().members["mia"].channels) == 1
        await page.get_by_label("I understand: messages stop going here").check()
        async with page.expect_navigation():
            await remove.click()
        await expect(page.get_by_role("status")).to_have_text("Channel removed.")
        assert dashboard.service.household().members["mia"].channels == ()
        assert real_errors(errors) == []
    finally:
        await context.close()


async def test_deleting_a_contact_and_removing_a_channel_say_what_happens(
    dashboard: Dashboard, browser_page: Page, page_errors: list[str]
) -> None:
    page = browser_page
    await login(page, dashboard.base_url, dashboard.username, dashboard.password)
    await page.goto(dashboard.url("/contacts"))
    sophie = page.locator("#contact-sophie")
    await sophie.get_by_text("Edit or delete Sophie").click()
    await sophie.get_by_role("button", name="Delete Sophie").click()
    dialog = page.get_by_role("dialog", name="Delete Sophie?")
    await expect(dialog).to_contain_text("shown under their number or account instead")
    await expect(dialog).to_contain_text("This cannot be undone")
    await screenshot(page, "delete-dialog")
    await page.keyboard.press("Escape")  # a <dialog> closes with Escape: nothing happens
    await expect(dialog).to_be_hidden()
    assert "sophie" in dashboard.service.household().contacts
    await sophie.get_by_role("button", name="Delete Sophie").click()
    async with page.expect_navigation():
        await dialog.get_by_role("button", name="Yes, delete Sophie").click()
    await expect(page.get_by_role("status")).to_have_text("Deleted Sophie.")
    assert "sophie" not in dashboard.service.household().contacts

    await page.goto(dashboard.url("/members/mia"))
    await page.get_by_role("button", name="Remove channel 1").click()
    dialog = page.get_by_role("dialog", name="Remove this channel?")
    await expect(dialog).to_contain_text("It is Mia's only channel: nothing reaches Mia")
    await assert_accessible(page, "/members/mia (remove dialog)")
    await dialog.get_by_role("button", name="Cancel").click()
    assert len(dashboard.service.household().members["mia"].channels) == 1
    assert page_errors == []


async def test_a_channel_from_the_service_form_and_errors_next_to_their_field(
    dashboard: Dashboard, browser_page: Page, page_errors: list[str]
) -> None:
    page = browser_page
    await page.set_viewport_size(PHONE)
    await login(page, dashboard.base_url, dashboard.username, dashboard.password)
    await page.goto(dashboard.url("/members/mia"))

    # Telegram with a mistyped token: the field is marked and says why in plain words, the
    # chat number is kept, the token is not, and the page opens at the first error.
    telegram = page.locator("#add-telegram")
    await telegram.locator("summary").click()
    await telegram.get_by_label("Bot token").fill("not a token")
    await telegram.get_by_label("Chat number").fill("99887766")
    async with page.expect_navigation():
        await telegram.get_by_role("button", name="Add Telegram").click()
    token = telegram.get_by_label("Bot token")
    await expect(token).to_have_attribute("aria-invalid", "true")
    await expect(token).to_be_focused()
    await expect(token).to_be_in_viewport()
    await expect(token).to_have_value("")
    await expect(page.locator("#telegram-bot_token-error")).to_contain_text(
        "This is not a bot token: it looks like 123456789:AAH"
    )
    await expect(telegram.get_by_label("Chat number")).to_have_value("99887766")
    assert "not a token" not in await page.content()
    await assert_accessible(page, "/members/mia (channel error)")
    await assert_fits(page, "/members/mia (channel error)")
    await screenshot(page, "telegram-error")

    # ntfy: a topic is enough; Guardian builds the URL and names the channel in words.
    ntfy = page.locator("#add-ntfy")
    await ntfy.locator("summary").click()
    await ntfy.get_by_label("Topic").fill("mia-guardian-7f3k")
    async with page.expect_navigation():
        await ntfy.get_by_role("button", name="Add ntfy").click()
    await expect(page.get_by_role("status")).to_contain_text("Channel added")
    channels = dashboard.service.household().members["mia"].channels
    assert channels[-1] == "ntfys://ntfy.sh/mia-guardian-7f3k"
    await expect(page.locator("#channel-1")).to_contain_text("ntfy")
    await screenshot(page, "ntfy-added")
    assert real_errors(page_errors) == []


async def test_a_failed_test_send_says_why(
    dashboard: Dashboard, browser_page: Page, page_errors: list[str]
) -> None:
    page = browser_page
    await login(page, dashboard.base_url, dashboard.username, dashboard.password)
    await page.goto(dashboard.url("/members/mia"))
    await page.locator("#add-url > summary").click()
    await page.get_by_label("Apprise URL").fill("json://127.0.0.1:1/nobody-listens")
    async with page.expect_navigation():
        await page.get_by_role("button", name="Add channel").click()
    async with page.expect_navigation():
        await page.get_by_role("button", name="Send test to channel 2").click()
    result = page.locator("#channel-1 .test-result")
    await expect(result).to_contain_text("Test failed")
    await expect(result).to_contain_text("Guardian could not connect to the service")
    assert "FAILURE" not in await result.inner_text()
    await screenshot(page, "test-failed-reason")
    assert page_errors == []


async def test_the_source_page_copies_and_explains(
    dashboard: Dashboard, browser_page: Page, page_errors: list[str]
) -> None:
    page = browser_page
    await page.context.grant_permissions(["clipboard-read", "clipboard-write"])
    await page.set_viewport_size(PHONE)
    await login(page, dashboard.base_url, dashboard.username, dashboard.password)
    await page.goto(dashboard.url("/sources"))
    source = page.locator("#source-mia-phone")
    await expect(source).to_contain_text("A phone app or service that sends messages on")
    steps = source.locator("details.steps")
    await steps.locator("summary").click()
    await expect(steps.locator("ol.steps li")).to_have_count(4)
    await expect(steps).to_contain_text("/hooks/mia-phone")
    await source.get_by_role("button", name="Copy the address of mia-phone").click()
    copy = source.locator("button[data-copy=source-mia-phone-url]")
    await expect(copy).to_have_text("Copied")
    copied = await page.evaluate("navigator.clipboard.readText()")
    assert copied.endswith("/hooks/mia-phone")
    await assert_fits(page, "/sources")
    await screenshot(page, "sources-steps")
    assert page_errors == []


async def test_a_refused_contact_opens_at_its_first_error_in_plain_words(
    dashboard: Dashboard, browser_page: Page, page_errors: list[str]
) -> None:
    page = browser_page
    await page.set_viewport_size(PHONE)
    await login(page, dashboard.base_url, dashboard.username, dashboard.password)
    await page.goto(dashboard.url("/contacts"))
    await page.get_by_label("Name", exact=True).fill("Grandma")
    await page.get_by_label("Short name", exact=True).fill("Grandma Jo")
    await page.locator("#new-addresses").fill("+31 6 5555 1234")
    async with page.expect_navigation():
        await page.get_by_role("button", name="Add contact").click()

    short = page.get_by_label("Short name", exact=True)
    await expect(short).to_be_focused()
    await expect(short).to_be_in_viewport()
    await expect(short).to_have_attribute("aria-invalid", "true")
    await expect(short).to_have_value("Grandma Jo")
    await expect(page.locator("#new-id-error")).to_have_text(
        "Use only small letters (a–z), digits, - and _, starting with a letter or a digit, "
        "at most 64 characters: for example grandma or sophie-2."
    )
    await expect(page.locator("#new-addresses-error")).to_contain_text(
        "“+31 6 5555 1234” is not an address Guardian knows. Write the network, a colon, then "
        "the number or account, like sms:+31655551234."
    )
    await expect(page.get_by_label("Name", exact=True)).to_have_value("Grandma")
    assert "should match pattern" not in await page.content()
    await assert_accessible(page, "/contacts (refused)")
    await assert_fits(page, "/contacts (refused)")
    await screenshot(page, "contact-refused")
    assert real_errors(page_errors) == []


#: Guardian's internals, which a parent should not need to know (PRODUCT.md's words that stay,
#: burst, breakthrough and storm, must come with their explanation where they appear).
JARGON = re.compile(
    r"\bplugins?\b|\bmetadata\b|service\(s\)|whsec_|console://|\bIds?\b|Apprise URL|\bslug\b",
    re.IGNORECASE,
)
DOMAIN_WORDS = re.compile(r"\b(bursts?|breakthroughs?|storms?)\b", re.IGNORECASE)
#: The pages of this part of the dashboard: members, their channels and policies, contacts,
#: sources.
PLAIN_PAGES = ["/members", "/members/mia", "/policies/school-night", "/contacts", "/sources"]


async def test_the_pages_speak_plain_words(
    dashboard: Dashboard, browser_page: Page, page_errors: list[str]
) -> None:
    page = browser_page
    await login(page, dashboard.base_url, dashboard.username, dashboard.password)
    for path in PLAIN_PAGES:
        await page.goto(dashboard.url(path))
        # What a parent reads: the page without code, typed values and the advanced choice.
        text = await page.evaluate(
            """() => {
              const main = document.querySelector("main").cloneNode(true);
              main.querySelectorAll("code, #add-url, input, select, textarea, .token")
                .forEach(e => e.remove());
              return main.textContent.replace(/\\s+/g, " ");
            }"""
        )
        found = JARGON.findall(text)
        assert found == [], f"{path} says {found}"
        words = {w.lower().rstrip("s") for w in DOMAIN_WORDS.findall(text)}
        explained = {w.lower().rstrip("s") for w in await page.locator("dfn").all_inner_texts()}
        assert words <= explained, f"{path} uses {words - explained} without explaining them"
    assert page_errors == []
