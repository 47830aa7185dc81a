"""The whole path: signed webhooks in, held in quiet hours, one summary out through Apprise to a
real HTTP receiver and a real SMTP server; forwards at once outside quiet hours; restarts."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta

import pytest

from guardian.models import Delivery, Notification, Schedule
from guardian.settings import Settings
from tests.conftest import Mailbox, Receiver, Running, at, message

Start = Callable[[Settings, datetime], Awaitable[Running]]

WEDNESDAY_NIGHT = at("2026-11-25T23:00:00+01:00")
THURSDAY_MORNING = at("2026-11-26T07:00:00+01:00")


async def settle() -> None:
    """Let background work that could wrongly send something have its chance."""
    await asyncio.sleep(0.3)


async def test_forty_messages_at_night_make_one_summary_in_the_morning(
    write_settings: Callable[..., Settings],
    start_guardian: Start,
    receiver: Receiver,
    smtp: Mailbox,
) -> None:
    settings = write_settings(mia_channels=[receiver.channel("mia"), smtp.channel()])
    guardian = await start_guardian(settings, WEDNESDAY_NIGHT)
    for n in range(40):
        await guardian.clock.set(WEDNESDAY_NIGHT + timedelta(minutes=n))
        response = await guardian.post(message(n, text=f"are you awake? ({n})"))
        assert response.status == 202
    await guardian.tick_at(THURSDAY_MORNING - timedelta(seconds=1))
    await settle()
    assert receiver.received == []
    assert smtp.messages == []

    await guardian.tick_at(THURSDAY_MORNING)
    [summary] = await receiver.wait_for(1)
    [mail] = await smtp.wait_for(1)
    assert "Sophie" in summary["title"]
    assert "40 messages" in summary["title"]
    assert summary["message"] == "Sophie: 40 messages, 23:00–23:39"
    assert "40 messages" in str(mail["Subject"])
    text = "".join(
        part.get_payload(decode=True).decode() for part in mail.walk() if not part.is_multipart()
    )
    assert "Sophie: 40 messages" in text

    await guardian.tick_at(THURSDAY_MORNING + timedelta(hours=1))
    await settle()
    assert len(receiver.received) == 1
    assert len(smtp.messages) == 1
    assert await Notification.filter(status="summarised").count() == 40
    delivery = await Delivery.get(kind="summary")
    assert delivery.status == "sent"
    assert [c["status"] for c in delivery.channels] == ["SUCCESS", "SUCCESS"]


async def test_outside_quiet_hours_a_message_is_forwarded_at_once(
    write_settings: Callable[..., Settings], start_guardian: Start, receiver: Receiver
) -> None:
    settings = write_settings(mia_channels=[receiver.channel("mia")])
    guardian = await start_guardian(settings, at("2026-11-26T16:00:00+01:00"))
    response = await guardian.post(message(1, text="see you tomorrow"))
    assert response.status == 202
    # No clock movement: ingest wakes the scheduler, which sends right away.
    [forward] = await receiver.wait_for(1)
    assert forward["title"] == "Sophie (sms)"
    assert forward["message"] == "New message from Sophie."  # content = "senders": no text


async def test_restart_after_ingest_sends_exactly_one_summary(
    write_settings: Callable[..., Settings], start_guardian: Start, receiver: Receiver
) -> None:
    settings = write_settings(mia_channels=[receiver.channel("mia")])
    first = await start_guardian(settings, WEDNESDAY_NIGHT)
    for n in range(5):
        assert (await first.post(message(n))).status == 202
    await first.client.close()  # Guardian is down over the window end

    later = THURSDAY_MORNING + timedelta(hours=3)
    second = await start_guardian(settings, later)
    await second.tick_at(later)
    [summary] = await receiver.wait_for(1)
    assert summary["title"].startswith("While you were away: 5 messages")
    await second.client.close()

    third = await start_guardian(settings, later + timedelta(minutes=5))
    await third.tick_at(later + timedelta(minutes=10))
    await settle()
    assert len(receiver.received) == 1


async def test_several_missed_window_ends_merge_into_one_summary(
    write_settings: Callable[..., Settings], start_guardian: Start, receiver: Receiver
) -> None:
    settings = write_settings(mia_channels=[receiver.channel("mia")])
    first = await start_guardian(settings, WEDNESDAY_NIGHT)
    await first.post(message(1))
    await first.client.close()

    # Down from Wednesday night until Monday noon: Thursday's, Friday's and Monday's ends passed.
    back = at("2026-11-30T12:00:00+01:00")
    second = await start_guardian(settings, back)
    await second.tick_at(back)
    await receiver.wait_for(1)
    await settle()
    assert len(receiver.received) == 1
    schedule = await Schedule.get(kind="summary", member__slug="mia")
    assert schedule.last_due_at == at("2026-11-30T07:00:00+01:00")
    assert schedule.next_due_at == at("2026-12-01T07:00:00+01:00")


async def test_nothing_held_means_no_summary(
    write_settings: Callable[..., Settings], start_guardian: Start, receiver: Receiver
) -> None:
    settings = write_settings(mia_channels=[receiver.channel("mia")])
    guardian = await start_guardian(settings, WEDNESDAY_NIGHT)
    await guardian.tick_at(THURSDAY_MORNING)
    await settle()
    assert receiver.received == []


async def test_failed_delivery_is_retried_with_backoff_and_survives_a_restart(
    write_settings: Callable[..., Settings], start_guardian: Start, receiver: Receiver
) -> None:
    settings = write_settings(mia_channels=[receiver.channel("mia")])
    receiver.fail_with = 500
    noon = at("2026-11-26T12:00:00+01:00")
    first = await start_guardian(settings, noon)
    await first.post(message(1))
    await first.tick_at(noon)
    delivery = await Delivery.get(kind="forward")
    assert delivery.status == "pending"
    assert delivery.attempts == 1
    assert delivery.channels[0]["status"] == "FAILURE"
    # Backoff of 10 s with up to 20 % jitter taken off.
    assert noon + timedelta(seconds=8) <= delivery.next_attempt_at <= noon + timedelta(seconds=10)
    await first.client.close()

    receiver.fail_with = None
    second = await start_guardian(settings, noon + timedelta(seconds=5))
    await second.tick_at(noon + timedelta(seconds=5))
    await settle()
    assert receiver.received == []  # not due yet
    await second.tick_at(noon + timedelta(seconds=11))
    await receiver.wait_for(1)
    await settle()
    assert len(receiver.received) == 1
    delivery = await Delivery.get(kind="forward")
    assert (delivery.status, delivery.attempts) == ("sent", 2)


async def test_retry_resends_only_to_the_channels_that_failed(
    write_settings: Callable[..., Settings],
    start_guardian: Start,
    receiver: Receiver,
    smtp: Mailbox,
) -> None:
    closed_port = smtp.port + 1 if smtp.port < 65535 else smtp.port - 1
    broken_mail = f"mailto://127.0.0.1:{closed_port}?from=g@example.org&to=m@example.org"
    settings = write_settings(mia_channels=[receiver.channel("mia"), broken_mail])
    noon = at("2026-11-26T12:00:00+01:00")
    guardian = await start_guardian(settings, noon)
    await guardian.post(message(1))
    await guardian.tick_at(noon)
    await receiver.wait_for(1)
    delivery = await Delivery.get(kind="forward")
    assert delivery.status == "pending"
    assert [c["status"] for c in delivery.channels] == ["SUCCESS", "FAILURE"]
    await guardian.tick_at(noon + timedelta(minutes=5))
    await settle()
    assert len(receiver.received) == 1  # the working channel got it once
    delivery = await Delivery.get(kind="forward")
    assert delivery.channels[1]["attempts"] == 2


async def test_gives_up_after_max_attempts(
    write_settings: Callable[..., Settings], start_guardian: Start, receiver: Receiver
) -> None:
    receiver.fail_with = 503
    settings = write_settings(mia_channels=[receiver.channel("mia")])
    noon = at("2026-11-26T12:00:00+01:00")
    guardian = await start_guardian(settings, noon)
    await guardian.post(message(1))
    for minutes in range(0, 10):
        await guardian.tick_at(noon + timedelta(minutes=minutes))
    delivery = await Delivery.get(kind="forward")
    assert (delivery.status, delivery.attempts) == ("failed", 3)
    assert delivery.last_error == "gave up after 3 attempts"
    # The guardians hear of it through their own channels, once.
    [alert] = await Delivery.filter(kind="report")
    member = await alert.member
    assert member.slug == "sam"
    assert alert.title == "Guardian could not reach Mia"
    assert "gave up after 3 attempts" in alert.body
    ready = await guardian.client.get("/readyz")
    # Sam's channel is the same failing receiver: the report fails too, and is not reported
    # again (no loop of failure reports).
    assert (await ready.json())["checks"]["failed_deliveries"] == 2


async def test_misconfigured_channel_is_reported_not_counted_as_success(
    write_settings: Callable[..., Settings], start_guardian: Start
) -> None:
    settings = write_settings(mia_channels=["nosuchservice://whatever"])
    noon = at("2026-11-26T12:00:00+01:00")
    guardian = await start_guardian(settings, noon)
    await guardian.post(message(1))
    await guardian.tick_at(noon)
    delivery = await Delivery.get(kind="forward")
    assert delivery.status == "failed"
    assert delivery.channels[0]["status"] == "MISCONFIGURED"
    assert delivery.last_error is not None
    assert delivery.last_error.startswith("misconfigured channel")
    assert "whatever" not in str(delivery.channels)  # shown in privacy form only


async def test_a_delivery_failing_for_longer_than_max_age_is_given_up(
    write_settings: Callable[..., Settings], start_guardian: Start, receiver: Receiver
) -> None:
    receiver.fail_with = 500
    settings = write_settings(mia_channels=[receiver.channel("mia")])
    settings = settings.model_copy(
        update={
            "delivery": settings.delivery.model_copy(
                update={"max_attempts": 100, "max_age": timedelta(minutes=30)}
            )
        }
    )
    noon = at("2026-11-26T12:00:00+01:00")
    guardian = await start_guardian(settings, noon)
    await guardian.post(message(1))
    await guardian.run_until(noon + timedelta(hours=1))
    delivery = await Delivery.get(kind="forward")
    assert delivery.status == "failed"
    assert delivery.last_error is not None
    # Given up at the first attempt after 30 minutes (when depends on the backoff's jitter).
    assert delivery.attempts < 100
    assert re.fullmatch(r"gave up after (3\d|4\d|5\d)m(\d+s)?", delivery.last_error)


async def test_metrics_in_prometheus_text_format(
    write_settings: Callable[..., Settings], start_guardian: Start, receiver: Receiver
) -> None:
    settings = write_settings(mia_channels=[receiver.channel("mia")])
    guardian = await start_guardian(settings, WEDNESDAY_NIGHT)
    await guardian.post([message(1), message(2)])
    await guardian.post(message(2))
    await guardian.clock.set(WEDNESDAY_NIGHT + timedelta(minutes=10))
    response = await guardian.client.get("/metrics")
    assert response.status == 200
    assert response.content_type == "text/plain"
    text = await response.text()
    assert "guardian_notifications_accepted_total 2\n" in text
    assert "guardian_notifications_duplicate_total 1\n" in text
    assert "guardian_oldest_held_seconds 600\n" in text
    assert "# TYPE guardian_delivery_queue_depth gauge" in text
    await guardian.tick_at(THURSDAY_MORNING)
    await receiver.wait_for(1)
    text = await (await guardian.client.get("/metrics")).text()
    assert 'guardian_deliveries{kind="summary",status="sent"} 1' in text
    assert 'guardian_delivery_attempts{kind="summary",status="sent"} 1' in text
    assert "guardian_summary_lag_seconds 0\n" in text


async def test_start_delay_holds_catch_up_until_sources_could_replay(
    write_settings: Callable[..., Settings], start_guardian: Start, receiver: Receiver
) -> None:
    settings = write_settings(mia_channels=[receiver.channel("mia")])
    first = await start_guardian(settings, WEDNESDAY_NIGHT)
    await first.post(message(1))
    await first.client.close()
    delayed = settings.model_copy(
        update={
            "delivery": settings.delivery.model_copy(update={"start_delay": timedelta(seconds=30)})
        }
    )
    later = THURSDAY_MORNING + timedelta(hours=1)
    second = await start_guardian(delayed, later)
    await settle()
    assert receiver.received == []  # the background scheduler waits out the delay
    await second.clock.set(later + timedelta(seconds=30))
    await receiver.wait_for(1)


async def test_each_member_is_written_to_in_their_language(
    write_settings: Callable[..., Settings],
    start_guardian: Start,
    receiver: Receiver,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The household speaks German, Sam Dutch: Mia's forward is German, and the report to Sam
    that it could not be delivered is Dutch."""
    monkeypatch.setenv("GUARDIAN_HOUSEHOLD__LANGUAGE", "de")
    monkeypatch.setenv("GUARDIAN_MEMBERS__SAM__LANGUAGE", "nl")
    receiver.fail_with = 503
    settings = write_settings(mia_channels=[receiver.channel("mia")])
    noon = at("2026-11-26T12:00:00+01:00")
    guardian = await start_guardian(settings, noon)
    await guardian.post(message(1))
    for minutes in range(0, 10):
        await guardian.tick_at(noon + timedelta(minutes=minutes))
    forward = await Delivery.get(kind="forward")
    assert forward.body.startswith("Neue Nachricht von ")
    [alert] = await Delivery.filter(kind="report")
    assert alert.title == "Guardian kon Mia niet bereiken"
    assert alert.body.startswith(
        "Een doorgestuurd bericht voor Mia kon niet worden bezorgd: opgegeven na 3 pogingen."
    )
