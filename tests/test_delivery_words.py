"""A delivery's problem in a parent's words: which channel, and what happened there, never the
internal words (`ntfys://…: FAILURE`); in the reader's language."""

from __future__ import annotations

from datetime import UTC, datetime

from guardian import i18n
from guardian.api.deliveries import ChannelOut, DeliveryOut
from guardian.dashboard.deliveries import channel_name, problem

AT = datetime(2026, 11, 24, 21, 0, tzinfo=UTC)
ENGLISH = i18n.language("en")


def _delivery(last_error: str | None, *channels: ChannelOut) -> DeliveryOut:
    return DeliveryOut(
        id=1, member="mia", kind="summary", shown_at="sent", title="t", body="b",
        body_markdown=None, notify_type="info", status="pending", attempts=1, created_at=AT,
        next_attempt_at=AT, sent_at=None, last_error=last_error, channels=list(channels),
    )  # fmt: skip


def test_a_failing_channel_is_named_and_what_happened_said() -> None:
    ok = ChannelOut(channel="tgram://1...f/9/", status="SUCCESS", attempts=1)
    down = ChannelOut(channel="ntfys://ntfy.sh/m...7/", status="FAILURE", attempts=1)
    late = ChannelOut(channel="mailto://m...@example.org", status="TIMEOUT", attempts=1)
    internal = "ntfys://ntfy.sh/m...7/: FAILURE; mailto://m...@example.org: timed out"
    said = problem(ENGLISH, _delivery(internal, ok, down, late), "Mia")
    assert said == "Mia’s ntfy: could not be reached; Mia’s E-mail: no answer in time"
    assert channel_name(ENGLISH, "Mia", "tgram://1...f/9/") == "Mia’s Telegram"


def test_giving_up_and_no_channels_in_plain_words() -> None:
    assert problem(ENGLISH, _delivery("gave up after 3 attempts"), "Mia") == (
        "gave up after 3 attempts"
    )
    assert problem(ENGLISH, _delivery("the member has no channels"), "Mia") == (
        "Mia has no channels to send to."
    )
    assert problem(ENGLISH, _delivery(None), "Mia") is None


def test_the_words_come_from_the_readers_catalog() -> None:
    dutch = i18n.language("nl")
    down = ChannelOut(channel="ntfys://ntfy.sh/m...7/", status="FAILURE", attempts=1)
    said = problem(dutch, _delivery("x: FAILURE", down), "Mia")
    reached = dutch.gettext("could not be reached")
    assert said == dutch.gettext(
        "{channel}: {what}",
        channel=dutch.gettext("{name}’s {service}", name="Mia", service="ntfy"),
        what=reached,
    )
