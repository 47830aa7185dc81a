"""The household policy end to end: bursts, breakthroughs, storms, muted contacts, reports,
erased text and retention, through the real app, Apprise and a local receiver."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from guardian.models import Delivery, Episode, Notification
from guardian.plugin import PluginRegistry
from guardian.settings import Settings, load_settings
from tests.conftest import Receiver, Running, at, message, settings_toml
from tests.queries import statements

Start = Callable[[Settings, datetime], Awaitable[Running]]

POLICY = """
[policies.school-night]
quiet = [{ days = "daily", start = "21:30", end = "07:00" }]
burst = { limit = 3, per = "10m", notice_every = "15m" }
breakthrough = { keywords = ["emergency"], repeated = { count = 4, within = "2m" } }
storm = { count = 5, within = "30m", alert_guardians = true }
content = "senders"
guardian_view = "VIEW"
report = "07:30"
retention = 2
"""

AFTERNOON = at("2026-11-25T16:00:00+01:00")
NIGHT = at("2026-11-25T23:00:00+01:00")


@pytest.fixture
def household(tmp_path: Path, receiver: Receiver) -> Callable[..., Settings]:
    def make(view: str = "counts", muted: bool = False) -> Settings:
        text = settings_toml(
            tmp_path / "guardian.db",
            mia_channels=[receiver.channel("mia")],
            sam_channels=[receiver.channel("sam")],
        )
        start = text.index("[policies.school-night]")
        end = text.index("[[sources]]")
        text = text[:start] + POLICY.replace("VIEW", view) + "\n" + text[end:]
        if muted:
            text += '\n[[contacts]]\nid = "spam"\nname = "Spammer"\naddresses = ["sms:+3197000"]\n'
            text += 'trust = "muted"\n'
        path = tmp_path / "settings.toml"
        path.write_text(text)
        return load_settings(path, PluginRegistry.discover().settings_models())

    return make


def to(receiver: Receiver, who: str) -> list[dict[str, Any]]:
    return [r for r in receiver.received if r.get("_path") == who]


async def settle() -> None:
    await asyncio.sleep(0.3)


async def test_a_burst_folds_into_notices_counting_every_message(
    household: Callable[..., Settings], start_guardian: Start, receiver: Receiver
) -> None:
    guardian = await start_guardian(household(), AFTERNOON)
    for n in range(10):  # one every 45 s from 16:00: a burst, but not "repeated contact"
        await guardian.tick_at(AFTERNOON + timedelta(seconds=45 * n))
        assert (await guardian.post(message(n, text=f"hey {n}"))).status == 202
    await guardian.tick_at(AFTERNOON + timedelta(minutes=7))
    kinds = [d.kind for d in await Delivery.all().order_by("id")]
    assert kinds == ["forward"] * 3  # the first three pass, the rest are folded
    assert await Notification.filter(status="folded").count() == 7

    first_fold = AFTERNOON + timedelta(seconds=45 * 3)
    await guardian.tick_at(first_fold + timedelta(minutes=15))
    notices = await Delivery.filter(kind="burst").order_by("id")
    assert len(notices) == 1
    assert notices[0].body.startswith("Sophie sent 7 more messages")
    await guardian.tick_at(AFTERNOON + timedelta(hours=1))
    assert await Delivery.filter(kind="burst").count() == 1  # nothing left for a last notice
    burst = await Episode.get(kind="burst")
    assert burst.ended_at is not None
    assert await Notification.filter(status="noticed").count() == 7
    assert set(await Notification.filter(status="noticed").values_list("text", flat=True)) == {""}


async def test_a_burst_notice_keeps_each_preview_for_the_report_in_one_statement(
    household: Callable[..., Settings], start_guardian: Start
) -> None:
    guardian = await start_guardian(household(view="preview"), AFTERNOON)
    texts = [f"{'🌙' * n}message {n}: " + "words " * 30 for n in range(10)]
    for n, text in enumerate(texts):  # one every 45 s: the first three pass, seven are folded
        await guardian.tick_at(AFTERNOON + timedelta(seconds=45 * n))
        assert (await guardian.post(message(n, text=text))).status == 202
    await guardian.tick_at(AFTERNOON + timedelta(minutes=7))
    assert await Notification.filter(status="folded").count() == 7
    async with statements() as run:
        await guardian.tick_at(AFTERNOON + timedelta(seconds=45 * 3, minutes=15))
    assert await Delivery.filter(kind="burst").count() == 1
    marked = [sql for sql in run if sql.startswith('UPDATE "notifications"')]
    assert len(marked) == 1, marked
    noticed = await Notification.filter(status="noticed").order_by("received_at")
    assert [(n.text, n.preview) for n in noticed] == [("", text[:80]) for text in texts[3:]]
    assert len({n.delivery_id for n in noticed}) == 1


async def test_a_burst_still_going_gets_a_last_notice_when_it_ends(
    household: Callable[..., Settings], start_guardian: Start
) -> None:
    guardian = await start_guardian(household(), AFTERNOON)
    minutes = [0, 1, 2, 3, 4, 12, 14, 16, 18]  # still going past the first notice at 16:18
    for n, minute in enumerate(minutes):
        await guardian.tick_at(AFTERNOON + timedelta(minutes=minute))
        await guardian.post(message(n))
    await guardian.run_until(AFTERNOON + timedelta(minutes=40))
    # 16:03 and 16:04 are folded; 16:12-16:16 pass (fewer than 3 in the 10 minutes before
    # each); 16:18 is folded again. The first burst ends at 16:14 (10 minutes of silence).
    notices = await Delivery.filter(kind="burst").order_by("id")
    assert [(d.created_at, d.body.split(",")[0]) for d in notices] == [
        (AFTERNOON + timedelta(minutes=14), "Sophie sent 2 more messages"),
        (AFTERNOON + timedelta(minutes=28), "Sophie sent 1 more message"),
    ]
    folded = await Notification.filter(status="noticed").count()
    assert folded == 3  # every folded message is in exactly one notice


async def test_an_emergency_breaks_through_quiet_hours_marked_urgent(
    household: Callable[..., Settings], start_guardian: Start, receiver: Receiver
) -> None:
    guardian = await start_guardian(household(), NIGHT)
    await guardian.post(message(1, text="this is an emergency, call me"))
    [pushed] = await receiver.wait_for(1)
    assert pushed["type"] == "warning"
    assert "emergency" in pushed["message"].lower() or "keyword" in pushed["message"].lower()
    stored = await Notification.get(external_id="msg-1")
    assert (stored.status, stored.reason) == ("breakthrough", "keyword “emergency”")


async def test_a_storm_alerts_the_guardians_once(
    household: Callable[..., Settings], start_guardian: Start, receiver: Receiver
) -> None:
    guardian = await start_guardian(household(), NIGHT)
    for n in range(8):  # one every 3 minutes: too slow for repeated contact, fast for a storm
        await guardian.tick_at(NIGHT + timedelta(minutes=3 * n))
        await guardian.post(message(n))
    await settle()
    alerts = await Delivery.filter(kind="storm")
    assert len(alerts) == 1
    alert = alerts[0]
    assert alert.notify_type == "warning"
    assert "Sophie" not in alert.title + alert.body  # the guardians see counts only
    assert "Mia" in alert.title + alert.body
    storm = await Episode.get(kind="storm")
    assert storm.count == 8
    mia = await Delivery.filter(kind__in=["forward", "breakthrough"]).count()
    assert mia == 0  # nothing pushed to Mia during quiet hours


async def test_muted_contacts_are_never_pushed_but_counted_in_the_summary(
    household: Callable[..., Settings], start_guardian: Start, receiver: Receiver
) -> None:
    guardian = await start_guardian(household(muted=True), AFTERNOON)
    spam = message(1, text="WIN A PRIZE")
    spam["from"] = {"id": "+31 970 00", "name": "Prize"}
    await guardian.post(spam)
    await settle()
    assert receiver.received == []
    # The next summary is at the end of tonight's quiet window.
    await guardian.tick_at(at("2026-11-26T07:00:00+01:00"))
    [summary] = await receiver.wait_for(1)
    assert "Spammer" in summary["title"]
    assert "PRIZE" not in str(summary)


async def test_the_report_tells_guardians_at_the_childs_level(
    household: Callable[..., Settings], start_guardian: Start, receiver: Receiver
) -> None:
    guardian = await start_guardian(household(view="counts"), AFTERNOON)
    await guardian.post(message("day", text="see you"))
    for n in range(3):
        await guardian.tick_at(NIGHT + timedelta(minutes=10 * n))
        await guardian.post(message(f"night-{n}", text=f"secret {n}"))
    await guardian.tick_at(at("2026-11-26T07:30:00+01:00"))
    await settle()
    reports = [r for r in await Delivery.filter(kind="report")]
    assert len(reports) == 1
    report = reports[0]
    text = report.title + report.body
    assert "Mia" in text
    assert "Sophie" not in text and "secret" not in text
    summary = await Delivery.get(kind="summary")
    assert "secret" not in summary.body  # Mia's own level is senders: no text
    erased = await Notification.filter(status="summarised").values_list("text", "preview")
    assert set(erased) == {("", None)}


async def test_previews_are_kept_for_a_preview_report_then_erased(
    household: Callable[..., Settings], start_guardian: Start
) -> None:
    guardian = await start_guardian(household(view="preview"), NIGHT)
    await guardian.post(message(1, text="are you awake?"))
    await guardian.tick_at(at("2026-11-26T07:00:00+01:00"))
    kept = await Notification.get(external_id="msg-1")
    assert (kept.text, kept.preview) == ("", "are you awake?")
    await guardian.tick_at(at("2026-11-26T07:30:00+01:00"))
    report = await Delivery.get(kind="report")
    assert "are you awake?" in report.body
    gone = await Notification.get(external_id="msg-1")
    assert gone.preview is None


async def test_metadata_is_purged_after_retention(
    household: Callable[..., Settings], start_guardian: Start
) -> None:
    guardian = await start_guardian(household(), AFTERNOON)
    await guardian.post(message(1))
    await guardian.tick_at(AFTERNOON + timedelta(days=1))
    assert await Notification.all().count() == 1
    await guardian.tick_at(AFTERNOON + timedelta(days=2, hours=2))
    assert await Notification.all().count() == 0
    assert await Delivery.filter(kind="forward").count() == 0


async def test_at_counts_level_apprise_never_receives_names_or_text(
    household: Callable[..., Settings], start_guardian: Start, receiver: Receiver, tmp_path: Path
) -> None:
    """Every kind of delivery, captured as Apprise sends it, at the `counts` level."""
    settings = household(view="counts")
    counts_policy = settings.policies["school-night"].model_copy(update={"content": "counts"})
    settings = settings.model_copy(update={"policies": {"school-night": counts_policy}})
    guardian = await start_guardian(settings, AFTERNOON)
    for n in range(6):  # a burst in the afternoon
        await guardian.run_until(AFTERNOON + timedelta(seconds=45 * n))
        await guardian.post(message(f"day-{n}", text=f"afternoon secret {n}"))
    await guardian.run_until(NIGHT)
    await guardian.post(message("urgent", text="emergency secret"))
    for n in range(6):  # a storm at night
        await guardian.run_until(NIGHT + timedelta(minutes=3 * (n + 1)))
        await guardian.post(message(f"night-{n}", text=f"night secret {n}"))
    await guardian.run_until(at("2026-11-26T08:00:00+01:00"))
    await settle()
    kinds = {d.kind for d in await Delivery.all()}
    assert kinds >= {"forward", "burst", "breakthrough", "storm", "summary", "report"}
    assert len(receiver.received) == await Delivery.filter(status="sent").count()
    for payload in receiver.received:
        shown = f"{payload['title']} {payload['message']}"
        assert "secret" not in shown
        assert "Sophie" not in shown
        assert "“emergency”" not in shown  # the generic "an emergency keyword" is allowed
