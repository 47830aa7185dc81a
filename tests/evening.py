"""A busy evening for Mia from someone the household does not know, for the privacy tests:
every kind of delivery and notification a guardian could see, carrying a sender name and a
text that must not appear at `counts`, and a text that must not appear at `senders`.

Mia's own deliveries show everything (`content = "preview"`), so every record holds the
name and the text: what a guardian is shown of them is up to guardian.privacy alone.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from guardian.models import Delivery
from guardian.policy_settings import PolicySettings
from guardian.settings import Settings
from tests.conftest import Receiver, Running, at, message

#: Who writes, as the network names them and their group chat: secret at `counts`.
SENDER_NAME = "Zebedee Quartermaine"
SENDER_NUMBER = "+31655501234"
GROUP_TITLE = "Quartermaine cousins"
#: What they write: secret at `counts` and at `senders` (every message carries it).
TEXT = "behind the gym"
#: Thursday, before Mia's quiet hours (daily 21:30-07:00).
THURSDAY_AFTERNOON = at("2026-11-26T16:00:00+01:00")
THURSDAY_NIGHT = at("2026-11-26T22:00:00+01:00")
FRIDAY_MORNING = at("2026-11-27T08:00:00+01:00")
FRIDAY_NIGHT = at("2026-11-27T22:00:00+01:00")


def secrets_at(level: str) -> tuple[str, ...]:
    """What a guardian must not see anywhere when Mia's `guardian_view` is `level`."""
    if level == "counts":
        return (SENDER_NAME, SENDER_NUMBER, GROUP_TITLE, TEXT)
    assert level == "senders"
    return (TEXT,)


def mias_policy(guardian_view: str) -> PolicySettings:
    return PolicySettings.model_validate(
        {
            "quiet": [{"days": "daily", "start": "21:30", "end": "07:00"}],
            "burst": {"limit": 2, "per": "10m", "notice_every": "15m"},
            "breakthrough": {"keywords": ["hospital"]},
            "storm": {"count": 3, "within": "30m", "alert_guardians": True},
            "report": "07:30",
            "content": "preview",
            "guardian_view": guardian_view,
        }
    )


def with_mias_policy(settings: Settings, guardian_view: str) -> Settings:
    policies = {**settings.policies, "school-night": mias_policy(guardian_view)}
    return settings.model_copy(update={"policies": policies})


def from_them(n: str, text: str, *, group: bool = False) -> dict[str, Any]:
    extra: dict[str, Any] = {"from": {"id": SENDER_NUMBER, "name": SENDER_NAME}}
    if group:
        extra["conversation"] = {"id": "cousins", "title": GROUP_TITLE, "group": True}
    return message(n, f"{text} — {TEXT}, come alone", **extra)


@dataclass
class Evening:
    """What the evening left: the ids of its deliveries, by kind."""

    deliveries: dict[str, list[int]]


async def busy_evening(running: Running, receiver: Receiver) -> Evening:
    """A forward, a burst notice, held messages, a breakthrough, a storm alert, a summary, a
    guardians' report, a failed forward with its failure report, and messages held now."""

    async def post(body: dict[str, Any]) -> None:
        answer = await running.post(body)
        assert answer.status == 202, await answer.text()

    await running.run_until(THURSDAY_AFTERNOON)
    await post(from_them("1", "are you there"))  # forwarded at once
    await running.run_until(THURSDAY_AFTERNOON + timedelta(minutes=1))
    for n in range(2, 6):  # beyond the burst limit: folded, then a notice
        await post(from_them(str(n), f"answer me {n}", group=n % 2 == 0))
    await running.run_until(THURSDAY_AFTERNOON + timedelta(minutes=40))

    receiver.fail_with = 500  # the next forward fails until it is given up
    await running.run_until(THURSDAY_AFTERNOON + timedelta(hours=2))
    await post(from_them("fail", "did you get this"))
    await running.run_until(THURSDAY_AFTERNOON + timedelta(hours=3))
    receiver.fail_with = None

    await running.run_until(THURSDAY_NIGHT)
    for n in range(3):  # quiet hours: held, and a storm for the guardians
        await post(from_them(f"night-{n}", f"night {n}", group=n == 1))
    await post(from_them("urgent", "hospital"))  # breaks through
    await running.run_until(FRIDAY_MORNING)  # the summary at 07:00, the report at 07:30
    await running.run_until(FRIDAY_NIGHT)
    for n in range(2):  # held now, for Tonight and the held list
        await post(from_them(f"held-{n}", f"still awake {n}", group=n == 1))
    await running.run_until(FRIDAY_NIGHT + timedelta(minutes=5))

    by_kind: dict[str, list[int]] = {}
    for delivery in await Delivery.all().order_by("id"):
        by_kind.setdefault(delivery.kind, []).append(delivery.id)
    failed = await Delivery.filter(status="failed").count()
    for kind in ("forward", "burst", "breakthrough", "storm", "summary", "report"):
        assert by_kind.get(kind), f"the evening made no {kind} delivery: {by_kind}"
    assert failed, "the evening made no failed delivery"
    # Mia was sent the name and the text: the record keeps what was sent.
    forward = await Delivery.get(id=by_kind["forward"][0])
    assert SENDER_NAME in forward.title and TEXT in forward.body
    return Evening(by_kind)


def leaks(text: str, secrets: tuple[str, ...]) -> list[str]:
    """The secrets that `text` shows, in any case (JSON and HTML escape none of them)."""
    folded = text.casefold()
    return [s for s in secrets if s.casefold() in folded]
