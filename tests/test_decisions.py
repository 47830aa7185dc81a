"""Deduplicate, then decide; decisions are household facts (PRODUCT.md's non-negotiables).

A network's retry (same source and id), a repeat inside one request, and a request that was
refused never count toward a sender's burst, repeated contact or storm. What the decisions
depend on lives in the database (tests/test_senders.py), and contact edits carry it along.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from guardian.models import Delivery, Notification, Sender
from guardian.settings import Settings
from tests.conftest import Running, at, message

NOON = at("2026-11-26T12:00:00+01:00")  # Thursday: outside Mia's quiet hours
NIGHT = at("2026-11-26T23:00:00+01:00")

Start = Callable[[Settings, datetime], Awaitable[Running]]

BURST_OF_TWO = """
[policies.school-night.burst]
limit = 2
per = "10m"
notice_every = "15m"
"""

REPEATED_THREE = """
[policies.school-night.breakthrough]
repeated = { count = 3, within = "5m" }
"""


def _with(write_settings: Callable[..., Settings], extra: str) -> Settings:
    return write_settings(extra=extra)


async def statuses() -> list[tuple[str, str]]:
    rows = await Notification.all().order_by("received_at", "external_id")
    return [(r.external_id, r.status) for r in rows]


async def test_retries_of_a_message_never_count_toward_a_burst(
    write_settings: Callable[..., Settings], start_guardian: Start
) -> None:
    guardian = await start_guardian(_with(write_settings, BURST_OF_TWO), NOON)
    first = await guardian.post(message(1))
    assert await first.json() == {"accepted": 1, "duplicates": 0}
    for _ in range(2):  # the network did not hear our 202 and sends it again
        await guardian.clock.advance(timedelta(seconds=20))
        retry = await guardian.post(message(1))
        assert await retry.json() == {"accepted": 0, "duplicates": 1}
    await guardian.clock.advance(timedelta(seconds=20))
    await guardian.post(message(2))
    await guardian.clock.advance(timedelta(seconds=20))
    await guardian.post(message(3))  # the third real one within 10 minutes: folded
    assert await statuses() == [
        ("msg-1", "forwarded"),
        ("msg-2", "forwarded"),
        ("msg-3", "folded"),
    ]


async def test_a_repeat_inside_one_request_counts_once(
    write_settings: Callable[..., Settings], start_guardian: Start
) -> None:
    guardian = await start_guardian(_with(write_settings, BURST_OF_TWO), NOON)
    answer = await guardian.post([message(1), message(1), message(1), message(2)])
    assert await answer.json() == {"accepted": 2, "duplicates": 2}
    assert await statuses() == [("msg-1", "forwarded"), ("msg-2", "forwarded")]


async def test_refused_requests_never_count(
    write_settings: Callable[..., Settings], start_guardian: Start
) -> None:
    guardian = await start_guardian(_with(write_settings, BURST_OF_TWO), NOON)
    # A request with one bad message is refused whole (422): its good messages are not counted.
    refused = await guardian.post([message(1), message(2), {"id": "", "from": {}}])
    assert refused.status == 422
    # One for a member this source may not write to (403), likewise.
    forbidden = await guardian.post([message(3), message(4, to="sam")])
    assert forbidden.status == 403
    assert await Sender.all().count() == 0
    await guardian.post(message(5))
    await guardian.post(message(6))
    assert await statuses() == [("msg-5", "forwarded"), ("msg-6", "forwarded")]


async def test_retries_never_make_a_false_repeated_contact_breakthrough(
    write_settings: Callable[..., Settings], start_guardian: Start
) -> None:
    guardian = await start_guardian(_with(write_settings, REPEATED_THREE), NIGHT)
    await guardian.post(message(1))
    for _ in range(3):
        await guardian.clock.advance(timedelta(seconds=30))
        await guardian.post(message(1))  # retried three times: still one message
    assert await statuses() == [("msg-1", "held")]
    await guardian.clock.advance(timedelta(seconds=30))
    await guardian.post(message(2))
    await guardian.clock.advance(timedelta(seconds=30))
    await guardian.post(message(3))  # the third within five minutes: it breaks through
    assert await statuses() == [
        ("msg-1", "held"),
        ("msg-2", "held"),
        ("msg-3", "breakthrough"),
    ]
    breakthrough = await Notification.get(external_id="msg-3")
    assert breakthrough.reason == "repeated contact: 3 messages within 5m"
    assert await Delivery.filter(kind="breakthrough").count() == 1


async def test_a_long_keyword_breaks_through_and_ingest_goes_on(
    write_settings: Callable[..., Settings], start_guardian: Start
) -> None:
    keyword = "please call me back as soon as you read this, it is an emergency at home!!"
    keyword = (keyword * 2)[:100]  # the longest keyword settings accept
    extra = f'[policies.school-night.breakthrough]\nkeywords = ["{keyword}"]\n'
    guardian = await start_guardian(write_settings(extra=extra), NIGHT)
    urgent = await guardian.post(message(1, text=f"Mia, {keyword}"))
    assert urgent.status == 202
    stored = await Notification.get(external_id="msg-1")
    assert stored.status == "breakthrough"
    assert stored.reason == f"keyword “{keyword}”"
    assert await Delivery.filter(kind="breakthrough").count() == 1
    after = await guardian.post(message(2))  # the writer is still there
    assert after.status == 202


async def test_a_burst_notice_after_the_longest_notice_interval(
    write_settings: Callable[..., Settings], start_guardian: Start, receiver: Any
) -> None:
    extra = '[policies.school-night.burst]\nlimit = 1\nper = "1d"\nnotice_every = "1d"\n'
    guardian = await start_guardian(
        write_settings(extra=extra, mia_channels=[receiver.channel("mia")]), NOON
    )
    for n in range(3):
        assert (await guardian.post(message(n))).status == 202
    await guardian.run_until(NOON + timedelta(days=1, minutes=1))
    said = [f"{r['title']} | {r['message']}" for r in receiver.received]
    assert said[0].startswith("Sophie")  # the first is forwarded
    assert any("2 more messages" in text for text in said[1:]), said
