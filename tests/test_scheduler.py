"""The timer: held notifications always have a way out.

Every held notification has a due summary. When an edit takes away the window end or summary
time it waited for (or the member's policy), what is held is summarised at once; a muted
contact under a policy with neither quiet hours nor summary times goes out in the daily summary
at DEFAULT_SUMMARY_TIME; the retention purge never deletes what is still held or folded.
"""

from __future__ import annotations

import uuid
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guardian.models import Delivery, Notification, Schedule
from guardian.plugin import PluginRegistry
from guardian.policy import DEFAULT_SUMMARY_TIME
from guardian.reports import held_item
from guardian.scheduler import purge
from guardian.settings import Settings, load_settings
from guardian.sql import transaction
from guardian.summary import render_summary
from tests.admin import admin_client
from tests.conftest import Receiver, Running, at, children_toml, message, settings_toml
from tests.queries import statements

AMS = ZoneInfo("Europe/Amsterdam")
NIGHT = at("2026-11-25T23:00:00+01:00")  # Wednesday: Mia's quiet hours (21:30-07:00)
Start = Callable[[Settings, datetime], Awaitable[Running]]


async def held_ids() -> set[str]:
    return set(await Notification.filter(status="held").values_list("external_id", flat=True))


async def _night(write_settings: Any, start_guardian: Start, receiver: Receiver) -> Running:
    running = await start_guardian(write_settings(mia_channels=[receiver.channel("mia")]), NIGHT)
    for n in range(2):
        assert (await running.post(message(n))).status == 202
    assert await held_ids() == {"msg-0", "msg-1"}
    return running


async def test_taking_away_the_quiet_hours_summarises_what_they_held_at_once(
    write_settings: Any, start_guardian: Start, receiver: Receiver
) -> None:
    running = await _night(write_settings, start_guardian, receiver)
    admin = await admin_client(running)
    await running.clock.advance(timedelta(minutes=5))
    answer = await admin.put("/policies/school-night", {"quiet": [], "content": "senders"})
    assert answer.status == 200, await answer.text()
    await running.tick_at(running.clock.now())
    [summary] = await receiver.wait_for(1)
    assert summary["title"].startswith("While you were away: 2 messages")
    assert await held_ids() == set()


async def test_taking_a_members_policy_away_summarises_what_it_held_at_once(
    write_settings: Any, start_guardian: Start, receiver: Receiver
) -> None:
    running = await _night(write_settings, start_guardian, receiver)
    admin = await admin_client(running)
    answer = await admin.patch("/members/mia", {"policy": None})
    assert answer.status == 200, await answer.text()
    await running.tick_at(running.clock.now())
    await receiver.wait_for(1)
    assert await held_ids() == set()


async def test_an_import_without_the_window_summarises_at_once(
    write_settings: Any, start_guardian: Start, receiver: Receiver, tmp_path: Any
) -> None:
    from guardian import transfer

    running = await _night(write_settings, start_guardian, receiver)
    path = tmp_path / "settings.toml"
    path.write_text(
        path.read_text().replace(
            'quiet = [{ days = "mon-thu,sun", start = "21:30", end = "07:00" }]',
            'quiet = [{ days = "fri-sat", start = "23:00", end = "09:00" }]',
        )
    )
    changed = load_settings(path, PluginRegistry.discover().settings_models())
    await transfer.import_household(transfer.household_data(changed), running.clock.now(), "test")
    await running.service.reload()
    await running.tick_at(running.clock.now())
    await receiver.wait_for(1)
    assert await held_ids() == set()


async def test_a_window_that_stays_keeps_what_it_holds_until_it_ends(
    write_settings: Any, start_guardian: Start, receiver: Receiver
) -> None:
    running = await _night(write_settings, start_guardian, receiver)
    admin = await admin_client(running)
    answer = await admin.put(  # the same night window, plus a summary at lunch
        "/policies/school-night",
        {
            "quiet": [{"days": "mon-thu,sun", "start": "21:30", "end": "07:00"}],
            "summaries": ["12:30"],
        },
    )
    assert answer.status == 200
    await running.tick_at(running.clock.now())
    assert receiver.received == []
    assert await held_ids() == {"msg-0", "msg-1"}
    await running.run_until(at("2026-11-26T07:00:00+01:00"))
    await receiver.wait_for(1)
    assert await held_ids() == set()


async def test_a_muted_contact_without_quiet_hours_or_summaries_goes_out_daily(
    write_settings: Any, start_guardian: Start, receiver: Receiver
) -> None:
    extra = """
    [[contacts]]
    id = "spam"
    name = "Spammer"
    addresses = ["sms:+3197000"]
    trust = "muted"
    """
    settings = write_settings(mia_channels=[receiver.channel("mia")], extra=extra)
    plain = settings.model_copy(
        update={
            "policies": {
                "school-night": settings.policies["school-night"].model_copy(update={"quiet": []})
            }
        }
    )
    afternoon = at("2026-11-25T14:00:00+01:00")
    running = await start_guardian(plain, afternoon)
    spam = message(1, **{"from": {"id": "+3197000", "name": "Spam"}})
    assert (await running.post(spam)).status == 202
    assert await held_ids() == {"msg-1"}
    [schedule] = await Schedule.filter(kind="summary", member__slug="mia")
    assert schedule.next_due_at is not None
    assert schedule.next_due_at.astimezone(AMS).time() == DEFAULT_SUMMARY_TIME
    await running.run_until(at("2026-11-25T18:01:00+01:00"))
    [summary] = await receiver.wait_for(1)
    assert "Spammer" in summary["message"]
    assert await held_ids() == set()


async def test_the_purge_never_deletes_what_is_still_held_or_folded(
    write_settings: Any, start_guardian: Start
) -> None:
    running = await start_guardian(write_settings(), NIGHT)
    assert (await running.post(message(1))).status == 202
    await Notification.filter(external_id="msg-1").update(status="folded")
    assert (await running.post(message(2))).status == 202
    view = running.service.household()
    await purge(view, NIGHT + timedelta(days=400))
    assert await Notification.all().count() == 2
    await Notification.filter(external_id="msg-2").update(status="summarised")
    await purge(view, NIGHT + timedelta(days=400))
    assert set(await Notification.all().values_list("external_id", flat=True)) == {"msg-1"}


# --- a property: whatever the edits, nothing held is ever stranded ---------------------------

WINDOWS = [
    [],
    [{"days": "daily", "start": "21:30", "end": "07:00"}],
    [{"days": "mon-thu,sun", "start": "21:30", "end": "07:00"}],
    [{"days": "fri-sat", "start": "23:00", "end": "09:00"}],
    [{"days": "daily", "start": "13:00", "end": "14:00"}],
]
SUMMARIES = [[], ["12:30"], ["18:00", "08:00"]]

edits = st.lists(
    st.tuples(
        st.integers(0, 20 * 60),  # minutes on from the last step
        st.sampled_from(["message", "muted", "policy", "no policy", "back"]),
        st.integers(0, len(WINDOWS) - 1),
        st.integers(0, len(SUMMARIES) - 1),
    ),
    min_size=1,
    max_size=12,
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(steps=edits)
async def test_whatever_the_policy_edits_every_held_notification_leaves(
    tmp_path: Path, start_guardian: Start, receiver: Receiver, steps: list[Any]
) -> None:
    folder = tmp_path / uuid.uuid4().hex  # a database of its own for every example
    folder.mkdir()
    extra = '[[contacts]]\nid = "spam"\nname = "Spam"\naddresses = ["sms:+3197000"]\n'
    text = settings_toml(folder / "guardian.db", mia_channels=[receiver.channel("mia")])
    (folder / "settings.toml").write_text(text + extra + 'trust = "muted"\n')
    household = load_settings(folder / "settings.toml", PluginRegistry.discover().settings_models())
    running = await start_guardian(household, NIGHT)
    admin = await admin_client(running)
    try:
        for n, (minutes, step, window, summary) in enumerate(steps):
            await running.run_until(running.clock.now() + timedelta(minutes=minutes))
            if step == "message":
                assert (await running.post(message(n))).status == 202
            elif step == "muted":
                muted = message(n, **{"from": {"id": "+3197000", "name": "Spam"}})
                assert (await running.post(muted)).status == 202
            elif step == "policy":
                spec = {"quiet": WINDOWS[window], "summaries": SUMMARIES[summary]}
                assert (await admin.put("/policies/school-night", spec)).status == 200
            elif step == "no policy":
                assert (await admin.patch("/members/mia", {"policy": None})).status == 200
            else:
                assert (await admin.patch("/members/mia", {"policy": "school-night"})).status == 200
        # Every held notification has a due summary ...
        held = await Notification.filter(status="held").count()
        if held:
            [schedule] = await Schedule.filter(kind="summary", member__slug="mia")
            assert schedule.next_due_at is not None
        # ... and eight days later nothing is held or folded any more.
        await running.run_until(running.clock.now() + timedelta(days=8))
        stuck = await Notification.filter(status__in=["held", "folded"]).values_list(
            "external_id", "status"
        )
        assert stuck == [], steps
        assert not await Delivery.filter(status="failed", kind="summary").exists()
    finally:
        await running.client.close()


def _reported_children(count: int) -> str:
    """`count` children under a policy with a report at 07:30, each with a phone of its own."""
    policy = (
        '\n[policies.reported]\nreport = "07:30"\n'
        'quiet = [{ days = "daily", start = "21:30", end = "07:00" }]\n'
    )
    return policy + children_toml(count, "reported")


async def _report_statements(folder: Path, start_guardian: Start, children: int) -> int:
    folder.mkdir()
    path = folder / "settings.toml"
    path.write_text(settings_toml(folder / "guardian.db", extra=_reported_children(children)))
    running = await start_guardian(
        load_settings(path, PluginRegistry.discover().settings_models()), NIGHT
    )
    for n in range(children):
        answer = await running.post(message(f"kid-{n}"), f"kid{n}-phone")
        assert answer.status == 202
    scheduler = running.service.scheduler
    assert scheduler is not None
    await running.run_until(at("2026-11-26T07:29:00+01:00"))
    async with statements() as run:
        await scheduler.build(at("2026-11-26T07:30:00+01:00"))
    reports = await Delivery.filter(kind="report", dedup_key__startswith="report:")
    assert [len(r.body.split("Kid ")) - 1 for r in reports] == [children]  # Sam's, on each child
    await running.client.close()
    # The report's own transaction, from its claim to its commit (the deliverer runs meanwhile).
    claim = next(n for n, sql in enumerate(run) if sql.startswith('UPDATE "schedules"'))
    start = max(n for n, sql in enumerate(run[:claim]) if sql == "BEGIN")
    return run.index("COMMIT", start) - start


async def test_the_report_is_built_in_as_many_statements_for_twenty_children_as_for_one(
    tmp_path: Path, start_guardian: Start
) -> None:
    one = await _report_statements(tmp_path / "one", start_guardian, 1)
    twenty = await _report_statements(tmp_path / "twenty", start_guardian, 20)
    assert twenty == one


def _chat(n: int | str, sender: str, name: str, chat: str | None, title: str | None) -> Any:
    return message(
        n,
        f"in the chat ({n})",
        **{"from": {"id": sender, "name": name}},
        conversation={"id": chat, "title": title, "group": True},
    )


#: Messages that make grouping hard: several at one instant (a sender renamed between them),
#: a contact on two networks, chats with a title only on an older message, with a blank
#: title or none, and without a conversation id, and more groups than a summary lists.
TRICKY: list[list[Any]] = [
    [
        message("s1", "first from Sophie"),
        message("a1", "anna one", **{"from": {"id": "+31611111111", "name": "Anna"}}),
        message("a2", "anna two", **{"from": {"id": "+31611111111", "name": "Annie"}}),
        _chat("c1", "+31622222222", "Bo", "family", "Family"),
        _chat("c2", "+31633333333", "Cas", "family", "Family  chat"),
    ],
    [
        message("s2", "Sophie on telegram", network="telegram", **{"from": {"id": "99887766"}}),
        _chat("c3", "+31622222222", "Bo", "family", None),
        _chat("c4", "+31644444444", "Dee", "blank", " "),
        _chat("c5", "+31655555555", "Eli", None, "No id"),
        message("a3", "", **{"from": {"id": "+31611111111", "name": ""}}),
    ],
    [
        message(f"f{n}", f"friend {n}", **{"from": {"id": f"+3167000000{n}", "name": f"F {n}"}})
        for n in range(9)
    ],
    [_chat("c6", "+31655555555", "Eli", None, None), message("s3", "Sophie again")],
]
#: One sender only: the title names them, from the first of the newest messages.
ONE_SENDER: list[list[Any]] = [
    [message("b1", "bo one", **{"from": {"id": "+31622222222", "name": "Bo"}})],
    [
        message("b2", "bo two", **{"from": {"id": "+31622222222", "name": "Bob"}}),
        message("b3", "bo three", **{"from": {"id": "+31622222222", "name": "Bobby"}}),
    ],
]


@pytest.mark.parametrize(
    ("level", "language", "waves"),
    [
        ("counts", "en", TRICKY),
        ("senders", "nl", TRICKY),
        ("preview", "de", TRICKY),
        ("senders", "en", ONE_SENDER),
        ("preview", "nl", ONE_SENDER),
    ],
)
async def test_a_summary_counted_in_sql_says_what_every_item_rendered_says(
    tmp_path: Path, start_guardian: Start, level: str, language: str, waves: list[list[Any]]
) -> None:
    """The timer counts held notifications per group and sender in SQL and reads only each
    one's newest: its summary is, byte for byte, what rendering every held item gives (ties
    between equal instants broken as the rows are read)."""
    url = f"sqlite://{tmp_path / 'guardian.db'}"
    await _counted_summary(tmp_path, start_guardian, url, level, language, waves)


@pytest.mark.parametrize("waves", [TRICKY, ONE_SENDER])
async def test_a_summary_counted_on_postgresql_says_what_every_item_rendered_says(
    postgres: Any, tmp_path: Path, start_guardian: Start, waves: list[list[Any]]
) -> None:
    url = postgres.create_database()
    await _counted_summary(tmp_path, start_guardian, url, "preview", "en", waves)


async def _counted_summary(
    folder: Path, start_guardian: Start, url: str, level: str, language: str, waves: list[Any]
) -> None:
    path = folder / "settings.toml"
    text = settings_toml(folder / "guardian.db").replace(
        f'url = "sqlite://{folder / "guardian.db"}"', f'url = "{url}"'
    )
    text = text.replace('content = "senders"', f'content = "{level}"')
    path.write_text(text.replace('role = "child"', f'role = "child"\nlanguage = "{language}"'))
    settings = load_settings(path, PluginRegistry.discover().settings_models())
    running = await start_guardian(settings, NIGHT)
    for minutes, wave in enumerate(waves):
        await running.clock.set(NIGHT + timedelta(minutes=7 * minutes))
        for body in wave:  # one instant for the whole wave
            assert (await running.post(body)).status == 202
    scheduler = running.service.scheduler
    assert scheduler is not None
    view = scheduler.household()
    async with transaction() as db:  # the order the rows are read in
        order = "ctid" if db.postgres else "rowid"
        rows = await db.fetch(
            f"SELECT id FROM notifications WHERE status = 'held' ORDER BY {order}"
        )
    held = {str(n.id): n for n in await Notification.filter(status="held")}
    assert len(held) == len(rows) == sum(len(wave) for wave in waves)
    items = [held_item(held[str(id)], view) for (id,) in rows]
    expected = render_summary(items, level, view.zone, language=language)
    markdown = render_summary(items, level, view.zone, markdown=True, language=language)
    await running.tick_at(at("2026-11-26T07:00:00+01:00"))
    summary = await Delivery.get(kind="summary")
    assert (summary.title, summary.body) == (expected.title, expected.body)
    assert summary.body_markdown == markdown.body
    assert await held_ids() == set()
