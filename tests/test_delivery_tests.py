"""Test sends over real HTTP: a test goes only to the channel it tests, is never retried by
itself, and its pages say what happened in one word each, with one count of attempts."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from guardian.models import Delivery
from tests.admin import admin_client
from tests.conftest import Receiver, at, free_port

NOON = at("2026-11-26T12:00:00+01:00")


async def test_a_test_goes_to_its_channel_only_and_is_not_retried_by_itself(
    write_settings: Any, start_guardian: Any, receiver: Receiver
) -> None:
    refused = f"json://127.0.0.1:{free_port()}/nobody-listens"
    settings = write_settings(mia_channels=[receiver.channel("mia-works"), refused])
    running = await start_guardian(settings, NOON)
    admin = await admin_client(running)

    answer = await admin.post("/members/mia/channels/1/test")
    assert answer.status == 200, await answer.text()
    assert (await answer.json())["ok"] is False
    test = await Delivery.get(kind="test")
    assert (test.status, test.attempts) == ("failed", 1)

    # Time passes: the failed test stays as it is; no attempt of its own.
    for minutes in (1, 10, 60):
        await running.tick_at(NOON + timedelta(minutes=minutes))
    test = await Delivery.get(id=test.id)
    assert (test.status, test.attempts) == ("failed", 1)
    assert receiver.received == []

    # A person retries it: it goes to the tested channel again, and to no other.
    retried = await admin.post(f"/deliveries/{test.id}/retry")
    assert retried.status == 200, await retried.text()
    await running.tick_at(running.clock.now())
    test = await Delivery.get(id=test.id)
    assert test.status == "failed"  # the channel still refuses, and it is not retried again
    assert [c["channel"] for c in test.channels] == [test.channels[0]["channel"]]
    assert "nobody-listens" in test.channels[0]["channel"]
    assert receiver.received == []  # the working channel got nothing
    shown = await (await admin.get(f"/deliveries/{test.id}")).json()
    assert shown["attempts"] == 1 and [c["attempts"] for c in shown["channels"]] == [1]

    await admin.login()
    page = await (await running.client.get(f"/deliveries/{test.id}")).text()
    assert "This channel works." not in page
    assert "This test did not arrive" in page
    assert "Tries" not in page
    assert 'data-status="failed"' in page


async def test_a_sent_delivery_wears_a_sent_badge_and_urgent_is_words(
    write_settings: Any, start_guardian: Any, receiver: Receiver
) -> None:
    settings = write_settings(mia_channels=[receiver.channel("mia")])
    running = await start_guardian(settings, NOON)
    admin = await admin_client(running)
    answer = await admin.post("/members/mia/channels/0/test")
    assert (await answer.json())["ok"] is True
    test = await Delivery.get(kind="test")
    # An urgent message: a keyword breaks through.
    from tests.conftest import message

    await admin.put(
        "/policies/school-night",
        {
            "quiet": [{"days": "mon-thu,sun", "start": "21:30", "end": "07:00"}],
            "breakthrough": {"keywords": ["emergency"]},
            "content": "senders",
        },
    )
    assert (await running.post(message(1, "EMERGENCY call me"))).status == 202
    await running.tick_at(running.clock.now())
    await receiver.wait_for(2)
    urgent = await Delivery.get(kind="breakthrough")
    assert urgent.status == "sent" and urgent.notify_type == "warning"

    await admin.login()
    page = await (await running.client.get(f"/deliveries/{urgent.id}")).text()
    assert '<span class="badge sent" data-status="sent">sent</span>' in page
    assert "Marked urgent" in page
    assert 'class="badge quiet">warning' not in page
    tested = await (await running.client.get(f"/deliveries/{test.id}")).text()
    assert "This test arrived at the service: the channel works." in tested
    listing = await (await running.client.get("/deliveries")).text()
    assert '<span class="badge sent">sent</span>' in listing
