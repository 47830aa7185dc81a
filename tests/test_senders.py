"""guardian.senders: each sender's decision state, kept in the database beside the notifications.

Real SQLite files through a running Guardian; instants from the virtual clock.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta

from tortoise.transactions import in_transaction

from guardian import senders
from guardian.models import Member, Notification, Sender
from guardian.policy import SenderState
from guardian.settings import Settings
from guardian.sql import transaction
from tests.conftest import Running, Start, at, message

NOON = at("2026-11-26T12:00:00+01:00")  # Thursday: outside Mia's quiet hours

BURST_OF_TWO = """
[policies.school-night.burst]
limit = 2
per = "10m"
notice_every = "15m"
"""


async def started(write_settings: Callable[..., Settings], start_guardian: Start) -> Running:
    return await start_guardian(write_settings(extra=BURST_OF_TWO), NOON)


def test_a_state_round_trips_through_its_compact_json() -> None:
    moments = [NOON + timedelta(seconds=n, milliseconds=250) for n in range(8)]
    state = SenderState(
        times=(moments[0], moments[1]),
        quiet_times=(moments[1],),
        last_at=moments[2],
        last_quiet_at=moments[3],
        run_since=moments[4],
        repeated_at=moments[5],
        storm_since=moments[6],
        storm_at=moments[7],
    )
    text = senders.encode(state)
    assert " " not in text  # compact: the row is read and written on every message
    assert senders.decode(text) == state
    assert senders.decode(senders.encode(SenderState())) == SenderState()
    assert senders.decode("") == senders.decode("{}") == SenderState()  # a row just created


async def test_lock_creates_new_senders_and_save_writes_them_back(
    write_settings: Callable[..., Settings], start_guardian: Start
) -> None:
    await started(write_settings, start_guardian)
    mia = await Member.get(slug="mia")
    keys = [(mia.pk, "sms:+31600000001"), (mia.pk, "contact:sophie")]
    async with transaction() as db:
        rows = await senders.lock(db, [*keys, keys[0]])  # a key twice is one sender
        assert sorted(rows) == sorted(keys)
        assert all(row.state == SenderState() for row in rows.values())
        sophie = rows[keys[1]]
        sophie.state = replace(sophie.state, times=(NOON,), last_at=NOON)
        await senders.save(db, [sophie])
    assert await Sender.all().count() == 2
    async with transaction() as db:
        again = await senders.lock(db, keys)
    assert again[keys[1]].state == SenderState(times=(NOON,), last_at=NOON)
    assert again[keys[1]].id == sophie.id
    assert again[keys[0]].state == SenderState()


async def test_lock_reads_more_senders_than_one_statement_holds(
    write_settings: Callable[..., Settings], start_guardian: Start
) -> None:
    await started(write_settings, start_guardian)
    mia, sam = await Member.get(slug="mia"), await Member.get(slug="sam")
    keys = [(member.pk, f"sms:+3160{n:07d}") for member in (mia, sam) for n in range(410)]
    assert len(keys) > 2 * senders.CHUNK
    async with transaction() as db:
        rows = await senders.lock(db, reversed(keys))
    assert sorted(rows) == sorted(keys)
    assert await Sender.all().count() == len(keys)


async def test_the_decision_state_survives_a_restart(
    write_settings: Callable[..., Settings], start_guardian: Start
) -> None:
    settings = write_settings(extra=BURST_OF_TWO)
    guardian = await start_guardian(settings, NOON)
    await guardian.post(message(1))
    await guardian.post(message(2))
    await guardian.client.close()  # the app's cleanup: the process is gone
    again = await start_guardian(settings, NOON + timedelta(minutes=1))
    await again.post(message(3))
    rows = await Notification.all().order_by("received_at", "external_id")
    assert [(r.external_id, r.status) for r in rows] == [
        ("msg-1", "forwarded"),
        ("msg-2", "forwarded"),
        ("msg-3", "folded"),
    ]
    [sender] = await Sender.all()
    assert sender.sender_key == "contact:sophie"
    assert len(senders.decode(sender.state).times) == 2  # what `limit = 2` needs, no more


async def test_rebuild_replays_the_stored_notifications_of_a_sender(
    write_settings: Callable[..., Settings], start_guardian: Start
) -> None:
    guardian = await started(write_settings, start_guardian)
    for n in (1, 2):
        await guardian.post(message(n))
        await guardian.clock.advance(timedelta(seconds=30))
    [before] = await Sender.all()
    await Sender.all().delete()  # as a contact edit that renamed the sender leaves it
    async with in_transaction():  # as a contact edit runs it, in its own transaction
        await senders.rebuild(guardian.service.household(), ["contact:sophie"], NOON)
    [after] = await Sender.all()
    assert after.sender_key == "contact:sophie"
    assert senders.decode(after.state) == senders.decode(before.state)
    # A key with no notifications stored under it gets no state.
    async with in_transaction():
        await senders.rebuild(guardian.service.household(), ["sms:+31699999999"], NOON)
    assert await Sender.all().count() == 1
