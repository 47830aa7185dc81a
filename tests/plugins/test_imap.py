"""The `imap` pull plugin against a real Dovecot (tests/dovecot.py), mail delivered by APPEND.

Protocol facts from RFC 3501 (UIDVALIDITY, BODY.PEEK, EXAMINE) and RFC 2177 (IDLE, 29 minutes);
Dovecot's behaviour is the server's own, not a fake's.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import Any

import pytest

from guardian.clock import VirtualClock
from guardian.plugin import PluginRegistry
from guardian.testing import (
    CONFORMANCE_NOW,
    PullCase,
    plugin_instance,
    pull_conformance_tests,
)
from plugins.imap import IDLE_RENEW, POLL_EVERY, ImapError, ImapPlugin, ImapSettings
from tests.dovecot import Dovecot, User
from tests.pull import Reader, TcpProxy

WAIT = 10


@pytest.fixture(autouse=True)
def trust_the_test_ca(imap_server: Dovecot, monkeypatch: pytest.MonkeyPatch) -> None:
    """The plugin verifies certificates against the system's CAs; here that is the test CA."""
    monkeypatch.setenv("SSL_CERT_FILE", str(imap_server.ca_file))


@pytest.fixture(autouse=True)
def passwords_stay_out_of_logs(
    imap_server: Dovecot, caplog: pytest.LogCaptureFixture
) -> Iterator[None]:
    """Every record at any level (imaplib's wire log included) is free of the passwords."""
    caplog.set_level(logging.DEBUG)
    yield
    for record in caplog.records:
        line = record.getMessage() + str(record.exc_info or "")
        for user in (imap_server.user, imap_server.poller, imap_server.kicked):
            assert user.password not in line, f"a password in the log: {line}"


def settings(server: Dovecot, user: User | None = None, **overrides: Any) -> dict[str, Any]:
    user = user or server.user
    return {
        "host": "127.0.0.1",
        "port": server.tls_port,
        "username": user.name,
        "password": user.password,
        **overrides,
    }


def mail(
    subject: str = "are you awake?",
    body: str = "I need to talk to you",
    sender: str = "Sophie de Vries <sophie@example.org>",
    **headers: str,
) -> bytes:
    message = EmailMessage()
    message["From"] = sender
    message["To"] = "mia@example.org"
    message["Subject"] = subject
    message["Date"] = format_datetime(datetime(2026, 11, 25, 22, 10, tzinfo=UTC))
    message["Message-ID"] = make_msgid(domain="example.org")
    for name, value in headers.items():
        message[name.replace("_", "-")] = value
    message.set_content(body)
    return bytes(message)


def reader(
    server: Dovecot,
    cursor: str | None = None,
    clock: VirtualClock | None = None,
    **overrides: Any,
) -> Reader:
    plugin = plugin_instance(ImapPlugin, settings(server, **overrides), clock=clock)
    return Reader(plugin, cursor)


async def started(server: Dovecot, cursor: str | None = None, **overrides: Any) -> Reader:
    """A reader past its first batch (a new source's "now", or a resumed one's backlog)."""
    found = reader(server, cursor, **overrides)
    if cursor is None:
        first = await found.batch()
        assert first.messages == []
    return found


def fresh_mailbox(server: Dovecot, user: User | None = None) -> str:
    name = f"t{datetime.now().strftime('%H%M%S%f')}"
    server.create(name, user=user)
    return name


def test_imap_is_registered_as_a_pull_plugin() -> None:
    info = PluginRegistry.discover().plugins["imap"]
    assert (info.kind, info.plugin, info.error) == ("pull", ImapPlugin, None)


def test_settings_as_the_product_names_them() -> None:
    base = {"host": "imap.example.org", "username": "mia", "password": "pw-1234567"}
    parsed = ImapSettings.model_validate(base)
    assert (parsed.port, parsed.security, parsed.mailboxes) == (993, "tls", ["INBOX"])
    assert ImapSettings.model_validate({**base, "security": "starttls"}).port == 143
    assert ImapSettings.model_validate({**base, "security": "none", "port": 1143}).port == 1143
    with pytest.raises(ValueError, match="security"):
        ImapSettings.model_validate({**base, "security": "ssl"})
    with pytest.raises(ValueError, match="listed twice"):
        ImapSettings.model_validate({**base, "mailboxes": ["INBOX", "INBOX"]})
    assert "pw-1234567" not in repr(parsed) + str(parsed) + parsed.model_dump_json()


async def test_new_mail_is_read_without_marking_it_read(imap_server: Dovecot) -> None:
    mailbox = fresh_mailbox(imap_server)
    old = imap_server.deliver(mail("from before"), mailbox=mailbox)
    found = reader(imap_server, mailboxes=[mailbox])
    try:
        first = await found.batch()
        assert first.messages == []  # a new source starts at "now": old mail is not imported
        assert json.loads(first.cursor)[mailbox]["uid"] == old
        uid = imap_server.deliver(mail(), mailbox=mailbox)
        [message] = await found.messages(1)
    finally:
        await found.close()
    assert message.network == "email"
    assert message.sender_address == "email:sophie@example.org"
    assert message.sender_name == "Sophie de Vries"
    assert message.text == "are you awake?\nI need to talk to you"
    assert message.sent_at == datetime(2026, 11, 25, 22, 10, tzinfo=UTC)
    assert re.fullmatch(r"<.+@example\.org>", message.external_id)  # the Message-ID
    assert json.loads(found.cursor or "")[mailbox]["uid"] == uid
    assert "\\Seen" not in imap_server.flags(uid, mailbox=mailbox)


async def test_a_resumed_cursor_neither_repeats_nor_loses_mail(imap_server: Dovecot) -> None:
    mailbox = fresh_mailbox(imap_server)
    first = await started(imap_server, mailboxes=[mailbox])
    try:
        imap_server.deliver(mail("one"), mailbox=mailbox)
        [one] = await first.messages(1)
    finally:
        await first.close()
    # Guardian stored `first.cursor` with "one"; while it is down, two more arrive.
    imap_server.deliver(mail("two"), mailbox=mailbox)
    imap_server.deliver(mail("three"), mailbox=mailbox)
    again = reader(imap_server, first.cursor, mailboxes=[mailbox])
    try:
        found = await again.messages(2)
        await again.nothing_more()
        imap_server.deliver(mail("four"), mailbox=mailbox)
        found += await again.messages(1)
    finally:
        await again.close()
    assert one.text.startswith("one")
    assert [m.text.split("\n")[0] for m in found] == ["two", "three", "four"]


async def test_a_new_uidvalidity_starts_again_at_now_with_a_warning(
    imap_server: Dovecot, caplog: pytest.LogCaptureFixture
) -> None:
    mailbox = fresh_mailbox(imap_server)
    first = await started(imap_server, mailboxes=[mailbox])
    await first.close()
    stored = json.loads(first.cursor or "")[mailbox]
    imap_server.deliver(mail("before the rebuild"), mailbox=mailbox)
    imap_server.rebuild(mailbox)
    again = reader(imap_server, first.cursor, mailboxes=[mailbox])
    try:
        moved = await again.batch()
        assert moved.messages == []  # old UIDs mean nothing now: nothing is imported again
        now = json.loads(moved.cursor)[mailbox]
        assert now["uidvalidity"] != stored["uidvalidity"]
        imap_server.deliver(mail("after the rebuild"), mailbox=mailbox)
        [message] = await again.messages(1)
    finally:
        await again.close()
    assert message.text.startswith("after the rebuild")
    [warning] = [
        r
        for r in caplog.records
        if r.name.startswith("guardian") and "UIDVALIDITY" in r.getMessage()
    ]
    assert warning.levelno == logging.WARNING and mailbox in warning.getMessage()


@pytest.mark.parametrize("security", ["starttls", "none"])
async def test_starttls_and_plain_connections(imap_server: Dovecot, security: str) -> None:
    mailbox = fresh_mailbox(imap_server)
    found = await started(
        imap_server, mailboxes=[mailbox], security=security, port=imap_server.plain_port
    )
    try:
        imap_server.deliver(mail(f"over {security}"), mailbox=mailbox)
        [message] = await found.messages(1)
    finally:
        await found.close()
    assert message.text.startswith(f"over {security}")


async def test_a_certificate_nobody_vouches_for_is_refused(
    imap_server: Dovecot, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SSL_CERT_FILE")
    monkeypatch.setenv("SSL_CERT_DIR", "/nonexistent")
    monkeypatch.setenv("SSL_CERT_FILE", "/nonexistent")
    found = reader(imap_server)
    with pytest.raises(ImapError, match=r"TLS failed.*certificate verify failed"):
        await found.batch()


async def test_bad_credentials_are_a_clear_error_without_the_password(
    imap_server: Dovecot,
) -> None:
    found = reader(imap_server, password="wrong-password-0f9e")
    with pytest.raises(ImapError) as refused:
        await found.batch()
    text = str(refused.value)
    assert "refused the login of 'mia'" in text and "Authentication failed" in text
    assert "wrong-password-0f9e" not in text and imap_server.user.password not in text


async def test_mail_is_decoded_and_attachments_are_never_downloaded(
    imap_server: Dovecot, caplog: pytest.LogCaptureFixture
) -> None:
    latin = EmailMessage()
    latin["From"] = "=?iso-8859-1?q?Ren=E9e_M=FCller?= <Renee@Example.ORG>"
    latin["Subject"] = "=?utf-8?b?VHLDqHMgdXJnZW50IOKAlCBhcHBlbGxlLW1vaQ==?="
    latin.set_content(
        "Ça va? Je suis à la gare.\n" * 3, charset="iso-8859-1", cte="quoted-printable"
    )
    latin.add_attachment(
        b"\x89PNG" + b"\0" * 300_000, maintype="image", subtype="png", filename="big.png"
    )
    html = EmailMessage()
    html["From"] = "school@example.org"
    html["Subject"] = "Trip"
    html.set_content(
        "<html><head><style>p {}</style></head><body><p>Bus leaves at <b>8:15</b>&nbsp;sharp</p>",
        subtype="html",
        cte="base64",
    )
    listed = mail("weekly news", List_Id="Class 4B parents <class4b.school.example.org>")
    mailbox = fresh_mailbox(imap_server)
    found = await started(imap_server, mailboxes=[mailbox])
    before = _logouts(imap_server)
    try:
        for message in (latin, html):
            imap_server.deliver(bytes(message), mailbox=mailbox)
        imap_server.deliver(listed, mailbox=mailbox)
        first, second, third = await found.messages(3)
    finally:
        await found.close()
    assert first.sender_address == "email:renee@example.org"
    assert first.sender_name == "Renée Müller"
    assert first.text.startswith("Très urgent — appelle-moi\nÇa va? Je suis à la gare. Ça va?")
    assert second.text == "Trip\nBus leaves at 8:15 sharp"
    assert (third.group, third.conversation_id, third.conversation_title) == (
        True,
        "class4b.school.example.org",
        "Class 4B parents",
    )
    # A member's mail is not for the logs, not even at DEBUG (imaplib's wire log is off).
    assert not [r for r in caplog.records if "Bus leaves" in r.getMessage()]
    assert not [r for r in caplog.records if r.name == "imapclient.imaplib"]
    # Dovecot logs what each session sent: the plugin's took far less than the attachment.
    sent = await _bytes_sent_to_plugin(imap_server, before)
    assert sent < 40_000, sent


async def test_several_mailboxes_each_with_idle(imap_server: Dovecot) -> None:
    one, two = fresh_mailbox(imap_server), fresh_mailbox(imap_server)
    found = await started(imap_server, mailboxes=[one, two])
    try:
        imap_server.deliver(mail("in two"), mailbox=two)
        [first] = await found.messages(1)
        imap_server.deliver(mail("in one"), mailbox=one)
        [second] = await found.messages(1)
    finally:
        await found.close()
    assert (first.text.split("\n")[0], second.text.split("\n")[0]) == ("in two", "in one")
    assert set(json.loads(found.cursor or "")) == {one, two}


async def test_one_mail_in_two_mailboxes_has_one_id(imap_server: Dovecot) -> None:
    one, two = fresh_mailbox(imap_server), fresh_mailbox(imap_server)
    found = await started(imap_server, mailboxes=[one, two])
    try:
        copied = mail("filed twice")
        imap_server.deliver(copied, mailbox=one)
        imap_server.deliver(copied, mailbox=two)
        first, second = await found.messages(2)
    finally:
        await found.close()
    assert first.external_id == second.external_id  # Guardian stores it once


async def test_a_dropped_connection_is_the_sources_error(imap_server: Dovecot) -> None:
    user = imap_server.kicked
    found = await started(imap_server, **_as(user))
    try:
        await found.nothing_more()  # in IDLE
        imap_server.doveadm("kick", user.name)  # the server ends the session (BYE)
        with pytest.raises(ImapError, match=r"ended the connection|connection was lost"):
            await found.batch()
    finally:
        await found.close()


async def test_a_server_without_idle_is_polled_on_guardians_clock(imap_server: Dovecot) -> None:
    clock = VirtualClock(CONFORMANCE_NOW)
    mailbox = fresh_mailbox(imap_server, imap_server.poller)
    found = reader(imap_server, clock=clock, mailboxes=[mailbox], **_as(imap_server.poller))
    try:
        await found.batch()
        await found.nothing_more()  # it has looked, and waits for the next poll
        imap_server.deliver(mail("polled"), mailbox=mailbox, user=imap_server.poller)
        await found.nothing_more()  # no IDLE: nothing until the next poll
        await clock.advance(timedelta(seconds=POLL_EVERY))
        [message] = await found.messages(1)
    finally:
        await found.close()
    assert message.text.startswith("polled")


async def test_idle_is_reissued_within_29_minutes(
    imap_server: Dovecot, caplog: pytest.LogCaptureFixture
) -> None:
    clock = VirtualClock(CONFORMANCE_NOW)
    mailbox = fresh_mailbox(imap_server)
    found = reader(imap_server, clock=clock, mailboxes=[mailbox])
    try:
        await found.batch()
        await found.nothing_more()  # in IDLE now
        assert _idles(caplog) == 1
        await clock.advance(timedelta(seconds=IDLE_RENEW))
        await found.nothing_more()
        assert _idles(caplog) == 2  # DONE, then IDLE again
        imap_server.deliver(mail("after renewal"), mailbox=mailbox)
        [message] = await found.messages(1)
    finally:
        await found.close()
    assert IDLE_RENEW <= 29 * 60
    assert message.text.startswith("after renewal")


async def test_cancelling_stops_cleanly_and_logs_out(imap_server: Dovecot) -> None:
    mailbox = fresh_mailbox(imap_server)
    found = await started(imap_server, mailboxes=[mailbox])
    before = _logouts(imap_server)
    await found.nothing_more()  # waiting in IDLE
    async with asyncio.timeout(2):
        await found.close()
    await _bytes_sent_to_plugin(imap_server, before)  # its session logged out


def test_the_plugin_and_its_settings_keep_the_password() -> None:
    plugin = plugin_instance(ImapPlugin, {"host": "h", "username": "u", "password": "pw-secret-77"})
    assert "pw-secret-77" not in repr(plugin) + repr(plugin.settings) + str(plugin.settings)


def _as(user: User) -> dict[str, str]:
    return {"username": user.name, "password": user.password}


def _idles(caplog: pytest.LogCaptureFixture) -> int:
    return sum(1 for r in caplog.records if r.getMessage().startswith("IDLE on "))


LOGOUT = re.compile(r"imap\(mia\).*(?:Logged out|Disconnected).*\bout=(\d+)")


def _logouts(server: Dovecot) -> int:
    return len(LOGOUT.findall((server.root / "dovecot.log").read_text()))


async def _bytes_sent_to_plugin(server: Dovecot, before: int) -> int:
    """What Dovecot sent in the first session that ended after `before` sessions had."""
    async with asyncio.timeout(WAIT):
        while True:
            ended = LOGOUT.findall((server.root / "dovecot.log").read_text())
            if len(ended) > before:
                return int(ended[before])
            await asyncio.sleep(0.05)


# --- the pull conformance suite, against the real Dovecot behind a proxy that can fail ---------


class ImapNetwork:
    """Mia's mailbox on the real Dovecot, reached through a relay that `fail` cuts off."""

    def __init__(self, server: Dovecot) -> None:
        self.server = server
        self.mailbox = fresh_mailbox(server)
        self.proxy = TcpProxy("127.0.0.1", server.tls_port)
        self.settings: dict[str, Any] = {}

    async def __aenter__(self) -> ImapNetwork:
        await self.proxy.__aenter__()
        self.settings = settings(self.server, port=self.proxy.port, mailboxes=[self.mailbox])
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.proxy.__aexit__(*exc)

    async def send(self, key: str) -> None:
        await asyncio.to_thread(self.server.deliver, mail(subject=key), mailbox=self.mailbox)

    async def fail(self) -> None:
        self.proxy.fail()

    async def recover(self) -> None:
        self.proxy.recover()


@pytest.fixture
def imap_case(imap_server: Dovecot) -> PullCase:
    return PullCase(
        ImapPlugin,
        network=lambda: ImapNetwork(imap_server),
        secrets=[imap_server.user.password],
    )


test_pull_conformance = pull_conformance_tests("imap_case")
