"""Deliveries in the admin API and on the dashboard: the list and its filters, one delivery as
sent with its channels, and retrying a failed one through the real scheduler and receiver."""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import Any

from guardian.models import AuditEntry, Delivery
from guardian.settings import Settings
from tests.admin import AdminClient, admin_client
from tests.conftest import Receiver, Running, at, message

Start = Callable[[Settings, datetime], Awaitable[Running]]

NOON = at("2026-11-26T12:00:00+01:00")  # Thursday, outside quiet hours: forwarded at once
PASSWORD_PART = "pw-s3cret-9d1"  # the secret part of Mia's channel URL


def credentials_channel(receiver: Receiver, path: str) -> str:
    """The receiver behind basic-auth credentials: a channel URL with a secret in it."""
    return receiver.channel(path).replace("json://", f"json://guardian:{PASSWORD_PART}@")


async def started(
    write_settings: Callable[..., Settings], start_guardian: Start, receiver: Receiver
) -> tuple[Running, AdminClient]:
    settings = write_settings(
        mia_channels=[credentials_channel(receiver, "mia")],
        sam_channels=[receiver.channel("sam")],
    )
    running = await start_guardian(settings, NOON)
    return running, await admin_client(running)


async def sent_forward(running: Running, receiver: Receiver, n: int) -> Delivery:
    """Post a message to Mia outside quiet hours and wait until it has reached the receiver."""
    before = len(receiver.received)
    assert (await running.post(message(n, f"hello {n}"))).status == 202
    await running.tick_at(running.clock.now())
    await receiver.wait_for(before + 1)
    return await Delivery.filter(kind="forward").order_by("-id").first()  # type: ignore[return-value]


async def settled(delivery_id: int) -> Delivery:
    """The delivery once the scheduler's attempt is recorded (it is sent outside the request)."""
    async with asyncio.timeout(10):
        while True:
            delivery = await Delivery.get(id=delivery_id)
            if delivery.status not in ("pending", "sending"):
                return delivery
            await asyncio.sleep(0.02)


async def failed_forward(running: Running, receiver: Receiver) -> Delivery:
    """A forward that fails for real: the receiver answers 500 until Guardian gives up."""
    receiver.fail_with = 500
    start = running.clock.now()
    assert (await running.post(message("failing", "will this arrive?"))).status == 202
    await running.run_until(start + timedelta(minutes=10))
    delivery = await Delivery.filter(kind="forward").order_by("-id").first()
    assert delivery is not None
    assert (delivery.status, delivery.attempts) == ("failed", 3)
    return delivery


async def test_list_filter_and_detail(
    write_settings: Callable[..., Settings], start_guardian: Start, receiver: Receiver
) -> None:
    running, admin = await started(write_settings, start_guardian, receiver)
    first = await sent_forward(running, receiver, 1)
    second = await sent_forward(running, receiver, 2)

    answer = await admin.get("/deliveries")
    assert answer.status == 200
    items = (await answer.json())["items"]
    assert [d["id"] for d in items] == [second.id, first.id]  # newest first
    newest = items[0]
    assert newest["member"] == "mia"
    assert newest["kind"] == "forward"
    assert newest["status"] == "sent"
    assert newest["attempts"] == 1
    # The record keeps what was sent; a guardian sees Mia's at her guardian_view (counts).
    assert (second.title, second.body) == ("Sophie (sms)", "New message from Sophie.")
    assert newest["shown_at"] == "counts"
    assert (newest["title"], newest["body"]) == ("New message", "You have 1 new message.")
    [channel] = newest["channels"]
    assert channel["status"] == "SUCCESS"
    assert re.match(r"json://guardian:\*+@127\.0\.0\.1:", channel["channel"])
    assert channel["attempts"] == 1

    async def ids(query: str) -> list[int]:
        found = await admin.get(f"/deliveries?{query}")
        assert found.status == 200, await found.text()
        return [d["id"] for d in (await found.json())["items"]]

    assert await ids("member=mia") == [second.id, first.id]
    assert await ids("member=sam") == []
    assert await ids("status=sent&kind=forward") == [second.id, first.id]
    assert await ids("status=failed") == []
    assert await ids("kind=summary") == []
    assert await ids("limit=1") == [second.id]
    assert await ids(f"limit=1&before_id={second.id}") == [first.id]

    unknown = await admin.get("/deliveries?member=nobody")
    assert unknown.status == 422
    assert (await unknown.json())["fields"] == {"query.member": "no member 'nobody'"}
    bad = await admin.get("/deliveries?status=lost&limit=0")
    assert bad.status == 422
    assert set((await bad.json())["fields"]) == {"query.status", "query.limit"}

    detail = await admin.get(f"/deliveries/{first.id}")
    assert detail.status == 200
    assert (await detail.json())["body"] == "You have 1 new message."
    for missing in ("999999", "abc", "1.5", "-1", "9" * 40, "١"):
        answer = await admin.get(f"/deliveries/{missing}")
        assert answer.status == 404, missing
        assert (await answer.json())["error"] == "not_found"


async def test_retry_a_failed_delivery_sends_it_again(
    write_settings: Callable[..., Settings], start_guardian: Start, receiver: Receiver
) -> None:
    running, admin = await started(write_settings, start_guardian, receiver)
    delivery = await failed_forward(running, receiver)

    shown = await (await admin.get(f"/deliveries/{delivery.id}")).json()
    assert shown["status"] == "failed"
    assert shown["last_error"] == "gave up after 3 attempts"
    assert [c["status"] for c in shown["channels"]] == ["FAILURE"]

    receiver.fail_with = None
    answer = await admin.post(f"/deliveries/{delivery.id}/retry")
    assert answer.status == 200, await answer.text()
    retried = await answer.json()
    assert retried["status"] in ("pending", "sending", "sent")  # the scheduler is woken at once
    assert retried["last_error"] is None

    # Woken by the change, the running scheduler sends it without the clock moving.
    [sent] = await receiver.wait_for(1)
    assert sent["_path"] == "mia"
    assert sent["message"] == delivery.body
    again = await settled(delivery.id)
    assert (again.status, again.attempts) == ("sent", 1)
    assert again.sent_at == running.clock.now()

    [entry] = await AuditEntry.filter(action="delivery.retry")
    assert entry.target == f"delivery:{delivery.id}"
    assert entry.detail["attempts_before"] == 3
    assert entry.detail["last_error"] == "gave up after 3 attempts"
    assert PASSWORD_PART not in str(entry.detail)

    conflict = await admin.post(f"/deliveries/{delivery.id}/retry")
    assert conflict.status == 409
    assert "only a failed delivery" in (await conflict.json())["detail"]
    assert (await admin.post("/deliveries/nope/retry")).status == 404


async def test_retry_resets_attempts_and_keeps_succeeded_channels(
    write_settings: Callable[..., Settings], start_guardian: Start, receiver: Receiver
) -> None:
    """A channel that got the delivery is not sent it again by a retry."""
    settings = write_settings(
        mia_channels=[receiver.channel("mia-ok"), receiver.channel("mia-broken")]
    )
    running = await start_guardian(settings, NOON)
    admin = await admin_client(running)
    receiver.fail_with = None
    assert (await running.post(message(1))).status == 202
    await running.tick_at(NOON)
    await receiver.wait_for(2)
    # Make the second channel's result a failure, as a broken channel would have left it.
    delivery = await Delivery.get(kind="forward")
    channels = delivery.channels
    channels[1] = {**channels[1], "status": "FAILURE", "detail": "1 service(s) failed"}
    await Delivery.filter(id=delivery.id).update(
        status="failed", attempts=3, channels=channels, last_error="gave up after 3 attempts"
    )
    received = len(receiver.received)
    shown = await (await admin.get(f"/deliveries/{delivery.id}")).json()
    # Privacy forms stay readable: the redactor must not mask the raw URL they contain.
    assert [c["channel"].split("?")[0] for c in shown["channels"]] == [
        receiver.channel("mia-ok"),
        receiver.channel("mia-broken"),
    ]
    assert shown["channels"][1]["detail"] == "1 service(s) failed"

    answer = await admin.post(f"/deliveries/{delivery.id}/retry")
    assert answer.status == 200
    await receiver.wait_for(received + 1)
    again = await settled(delivery.id)
    await running.tick_at(NOON + timedelta(minutes=1))
    assert [r["_path"] for r in receiver.received[received:]] == ["mia-broken"]
    assert (again.status, again.attempts) == ("sent", 1)
    assert [c["status"] for c in again.channels] == ["SUCCESS", "SUCCESS"]


async def test_pages_list_show_and_retry(
    write_settings: Callable[..., Settings], start_guardian: Start, receiver: Receiver
) -> None:
    running, admin = await started(write_settings, start_guardian, receiver)
    ok = await sent_forward(running, receiver, 1)
    # Sam's own delivery, shown to Sam as sent, whatever it says.
    sam = running.service.household().members["sam"]
    await Delivery.filter(id=ok.id).update(
        title="<b>Sophie</b> & co", body="line 1\n  line 2", member_id=sam.pk
    )
    failed = await failed_forward(running, receiver)
    csrf = await admin.login()
    client = running.client

    page = await client.get("/deliveries")
    assert page.status == 200
    html = await page.text()
    assert f'href="/deliveries/{ok.id}"' in html
    assert "&lt;b&gt;Sophie&lt;/b&gt; &amp; co" in html
    assert '<span class="badge bad">failed</span>' in html
    filtered = await (await client.get("/deliveries?member=mia&status=failed&kind=")).text()
    assert f'href="/deliveries/{failed.id}"' in filtered
    assert f'href="/deliveries/{ok.id}"' not in filtered
    bad = await client.get("/deliveries?status=lost")
    assert bad.status == 422
    assert 'id="filter-status-error"' in await bad.text()

    detail = await (await client.get(f"/deliveries/{ok.id}")).text()
    assert '<pre class="sent">&lt;b&gt;Sophie&lt;/b&gt; &amp; co</pre>' in detail
    assert '<pre class="sent">line 1\n  line 2</pre>' in detail
    assert "Retry</button>" not in detail  # only failed ones

    shown = await (await client.get(f"/deliveries/{failed.id}")).text()
    assert "gave up after 3 attempts" in shown
    assert "Retry</button>" in shown
    assert re.search(r"json://guardian:\*+@127\.0\.0\.1:", shown)

    receiver.fail_with = None
    arrived = len(receiver.received)
    refused = await client.post(f"/deliveries/{failed.id}/retry", allow_redirects=False)
    assert refused.status == 403  # no CSRF token
    answer = await client.post(
        f"/deliveries/{failed.id}/retry", data={"csrf_token": csrf}, allow_redirects=False
    )
    assert answer.status == 303
    assert answer.headers["Location"] == f"/deliveries/{failed.id}?retried=1"
    after = await (await client.get(answer.headers["Location"])).text()
    assert "Retry started" in after
    await receiver.wait_for(arrived + 1)  # it may have arrived while the page loaded

    twice = await client.post(f"/deliveries/{failed.id}/retry", data={"csrf_token": csrf})
    assert twice.status == 409
    assert "only a failed delivery can be retried" in await twice.text()
    assert (await client.get("/deliveries/12x")).status == 404


async def test_no_secret_in_any_answer_or_page(
    write_settings: Callable[..., Settings], start_guardian: Start, receiver: Receiver
) -> None:
    running, admin = await started(write_settings, start_guardian, receiver)
    await sent_forward(running, receiver, 1)
    failed = await failed_forward(running, receiver)
    await admin.login()
    texts: list[Any] = [
        await (await admin.get("/deliveries")).text(),
        await (await admin.get(f"/deliveries/{failed.id}")).text(),
        await (await running.client.get("/deliveries")).text(),
        await (await running.client.get(f"/deliveries/{failed.id}")).text(),
    ]
    for text in texts:
        assert PASSWORD_PART not in text
        assert not re.search(r"json://guardian:(?!\*)", text)
