"""The dashboard speaks its reader's language: the one their login chose with the switch in the
header, else their member's, else the household's; the transparency page speaks the child's.

The words come from the catalogs (whatever a translator wrote there, so these tests hold before
and after a translation changes); counts and dates are checked as they read in Dutch and German.
"""

from __future__ import annotations

import re
from typing import Any

from markupsafe import escape

from guardian import accounts, i18n
from guardian.api import activity
from guardian.models import User
from tests.admin import PASSWORD, AdminClient, _field, admin_client
from tests.conftest import Receiver, at, message

EVENING = at("2026-11-24T22:00:00+01:00")  # a Tuesday, in Mia's quiet hours


def _lang(html: str) -> str:
    found = re.search(r'<html lang="([a-z]+)">', html)
    assert found, "no <html lang>"
    return found.group(1)


def _h1(html: str) -> str:
    found = re.search(r"<h1>(.*?)</h1>", html, re.S)
    assert found
    return found.group(1).strip()


async def _household(write_settings: Any, start_guardian: Any, receiver: Receiver) -> Any:
    running = await start_guardian(write_settings(mia_channels=[receiver.channel()]), EVENING)
    admin = await admin_client(running)
    for n in (1, 2, 3):  # three messages wait for Mia's summary
        assert (await running.post(message(n, "hi"))).status == 202
    return running, admin


async def _login_as_sam(admin: AdminClient) -> str:
    """A login of the guardian member Sam (admin_client's `sam` belongs to no member)."""
    household = admin.running.service.household().id
    await accounts.add_user(household, "papa", PASSWORD, EVENING, member="sam")
    return await admin.login("papa")


async def test_a_login_whose_member_reads_dutch_sees_tonight_in_dutch(
    write_settings: Any, start_guardian: Any, receiver: Receiver
) -> None:
    running, admin = await _household(write_settings, start_guardian, receiver)
    assert (await admin.patch("/members/sam", {"language": "nl"})).status == 200
    await _login_as_sam(admin)
    page = await (await running.client.get("/")).text()
    dutch = i18n.language("nl")
    assert _lang(page) == "nl"
    assert _h1(page) == dutch.gettext("Tonight")
    assert "3 berichten" in page  # the catalog's plural, with the held count
    assert "dinsdag, 22:00" in page  # As of, in CLDR's Dutch (English: Tuesday 22:00)
    assert "Tuesday" not in page
    # The live part, fetched by the page's script, is Dutch too.
    live = await (await running.client.get("/tonight/members")).text()
    assert "dinsdag, 22:00" in live


async def test_a_login_of_no_member_reads_the_households_language(
    write_settings: Any, start_guardian: Any, receiver: Receiver
) -> None:
    running, admin = await _household(write_settings, start_guardian, receiver)
    assert (await admin.patch("/household", {"language": "de"})).status == 200
    await admin.login()
    page = await (await running.client.get("/")).text()
    assert _lang(page) == "de"
    assert "3 Nachrichten" in page and "Dienstag, 22:00" in page
    # The language menu offers every language, and "automatic" names the household's.
    assert 'value="" selected>' in page
    assert i18n.language("de").gettext("Automatic ({language})", language="Deutsch") in page
    for name in i18n.NAMES.values():
        assert f">{name}</option>" in page
    # The login page, before anyone logged in, is in the household's language too.
    await running.client.post("/logout", data={"csrf_token": _field(page, "csrf_token")})
    assert _lang(await (await running.client.get("/login")).text()) == "de"


async def test_the_switch_changes_the_language_and_keeps_it_for_the_login(
    write_settings: Any, start_guardian: Any, receiver: Receiver
) -> None:
    running, admin = await _household(write_settings, start_guardian, receiver)
    assert (await admin.patch("/members/sam", {"language": "nl"})).status == 200
    csrf = await _login_as_sam(admin)
    switched = await running.client.post(
        "/language",
        data={"csrf_token": csrf, "language": "fr", "back": "/members?x=1"},
        allow_redirects=False,
    )
    assert switched.status == 303 and switched.headers["Location"] == "/members?x=1"
    assert (await User.get(username="papa")).language == "fr"
    page = await (await running.client.get("/")).text()
    assert _lang(page) == "fr" and "3 messages" in page and "mardi, 22:00" in page
    assert '<option value="fr" lang="fr" selected>' in page
    # Another browser (a new session) finds the same choice.
    running.client.session.cookie_jar.clear()
    await admin.login("papa")
    assert _lang(await (await running.client.get("/")).text()) == "fr"
    # Automatic again: Sam's own language.
    csrf = _field(await (await running.client.get("/")).text(), "csrf_token")
    await running.client.post("/language", data={"csrf_token": csrf, "language": ""})
    assert (await User.get(username="papa")).language is None
    assert _lang(await (await running.client.get("/")).text()) == "nl"


async def test_the_switch_refuses_an_unknown_language_a_foreign_target_and_no_token(
    write_settings: Any, start_guardian: Any, receiver: Receiver
) -> None:
    running, admin = await _household(write_settings, start_guardian, receiver)
    csrf = await admin.login()
    unknown = await running.client.post("/language", data={"csrf_token": csrf, "language": "xx"})
    assert unknown.status == 422
    assert (await User.get(username="sam")).language is None
    elsewhere = await running.client.post(
        "/language",
        data={"csrf_token": csrf, "language": "de", "back": "//evil.example/"},
        allow_redirects=False,
    )
    assert elsewhere.headers["Location"] == "/"
    forged = await running.client.post("/language", data={"language": "nl"})
    assert forged.status == 403
    assert (await User.get(username="sam")).language == "de"


async def test_the_transparency_page_is_in_the_childs_language(
    write_settings: Any, start_guardian: Any, receiver: Receiver
) -> None:
    running, admin = await _household(write_settings, start_guardian, receiver)
    assert (await admin.patch("/members/mia", {"language": "de"})).status == 200
    assert (await admin.patch("/members/sam", {"language": "nl"})).status == 200
    policy = (await (await admin.get("/policies/school-night")).json())["spec"]
    reported = {**policy, "report": "07:30", "guardian_view": "senders"}
    assert (await admin.put("/policies/school-night", reported)).status == 200
    await _login_as_sam(admin)
    page = await (await running.client.get("/members/mia/transparency")).text()
    assert _lang(page) == "de"
    german = i18n.language("de")
    assert _h1(page) == german.gettext("What your guardians see about you, and when")
    # One line in the reader's language says so, with a link to the page in theirs.
    dutch = i18n.language("nl")
    shown = dutch.gettext("This page is in {name}’s language.", name="Mia")
    assert shown in page
    assert 'href="/members/mia/transparency?language=nl"' in page
    # The examples too: the made-up report and delivery, as Guardian would write them to her.
    view = running.service.view
    mia = view.members["mia"]
    for example in (activity.example_report, activity.dashboard_example):
        in_german = example(mia, view, german)
        assert in_german != example(mia, view, i18n.language("en"))
        assert str(escape(in_german)) in page
    theirs = await (await running.client.get("/members/mia/transparency?language=nl")).text()
    assert _lang(theirs) == "nl"
    assert _h1(theirs) == dutch.gettext("What your guardians see about you, and when")
    assert 'href="/members/mia/transparency"' in theirs  # and back to Mia's
    # Any other language asked for is Mia's.
    other = await (await running.client.get("/members/mia/transparency?language=xx")).text()
    assert _lang(other) == "de"


async def test_a_child_reads_their_own_page_in_their_language_and_may_switch(
    write_settings: Any, start_guardian: Any, receiver: Receiver
) -> None:
    running, admin = await _household(write_settings, start_guardian, receiver)
    assert (await admin.patch("/members/mia", {"language": "es"})).status == 200
    household = running.service.household().id
    await accounts.add_user(household, "mia", PASSWORD, EVENING, member="mia")
    csrf = await admin.login("mia")
    page = await (await running.client.get("/members/mia/transparency")).text()
    assert _lang(page) == "es"
    assert "This page is in" not in page and "?language=" not in page  # her own language
    switched = await running.client.post(
        "/language",
        data={"csrf_token": csrf, "language": "en", "back": "/members/mia/transparency"},
        allow_redirects=False,
    )
    assert switched.status == 303
    assert (await User.get(username="mia")).language == "en"
    # The page stays in Mia's language; the header and the line about it are in English.
    page = await (await running.client.get("/members/mia/transparency")).text()
    assert _lang(page) == "es"
    assert "This page is in Mia’s language." in page
