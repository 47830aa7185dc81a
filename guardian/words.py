"""The closed vocabularies of Guardian's data, each defined once as a `StrEnum`.

A member is its word (`NotificationStatus.HELD == "held"`): the database stores it in a plain
`VARCHAR` column (what the ORM reads back is the word as a `str`, equal to the member), and JSON
answers, logs and the CLI show the word itself.
"""

from __future__ import annotations

from enum import StrEnum


class NotificationStatus(StrEnum):
    """Where a notification is: held → summarised; folded → noticed; or pushed at once."""

    HELD = "held"  # kept for the next summary
    SUMMARISED = "summarised"  # in a summary sent (its text erased)
    FOLDED = "folded"  # part of a burst, waiting for the burst's next notice
    NOTICED = "noticed"  # counted in a burst notice
    FORWARDED = "forwarded"  # pushed at once
    BREAKTHROUGH = "breakthrough"  # pushed at once, urgent, through quiet hours and bursts


#: Neither delivered nor summarised yet: never purged.
WAITING = (NotificationStatus.HELD, NotificationStatus.FOLDED)
#: Pushed to the member's phone as they came.
PUSHED = (NotificationStatus.FORWARDED, NotificationStatus.BREAKTHROUGH)
#: Kept for a summary, whether it went out yet or not.
KEPT = (NotificationStatus.HELD, NotificationStatus.SUMMARISED)


class DeliveryKind(StrEnum):
    FORWARD = "forward"  # one notification, passed on
    SUMMARY = "summary"  # the held notifications at the end of quiet hours
    BURST = "burst"  # a notice of one sender's burst
    BREAKTHROUGH = "breakthrough"  # one urgent notification
    REPORT = "report"  # to the guardians, about a child
    STORM = "storm"  # to the guardians: a storm at night
    TEST = "test"  # a test of one channel


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SENDING = "sending"  # claimed by a deliverer
    SENT = "sent"
    FAILED = "failed"


#: Not sent yet, nor given up on.
UNSENT = (DeliveryStatus.PENDING, DeliveryStatus.SENDING)


class Role(StrEnum):
    """A member's role, and a dashboard login's (a child sees only their own page)."""

    GUARDIAN = "guardian"
    CHILD = "child"


class EpisodeKind(StrEnum):
    BURST = "burst"  # many messages in a row from one sender, outside quiet hours
    STORM = "storm"  # very many from one sender inside quiet hours


class OverrideKind(StrEnum):
    QUIET = "quiet"  # quiet from start to end
    PAUSE = "pause"  # no quiet hours then

    @classmethod
    def of(cls, word: str) -> OverrideKind:
        """A stored override's kind: a pause, or else quiet."""
        return cls.PAUSE if word == cls.PAUSE else cls.QUIET


class ScheduleKind(StrEnum):
    SUMMARY = "summary"
    REPORT = "report"


class SourceKind(StrEnum):
    PUSH = "push"  # the network calls the webhook URL
    PULL = "pull"  # Guardian asks the network


class SourceState(StrEnum):
    """How a pull source goes, as the dashboard and the API show it."""

    RUNNING = "running"
    FAILING = "failing"
    WAITING = "waiting"  # no instance holds it yet
