"""Quick controls over real HTTP: quiet now until, pause quiet hours tonight, one more hour.

Each applies at once (the decision at ingest and the timer take it up), is audited, and is
undone by one DELETE.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from guardian.models import AuditEntry, Delivery, Notification
from tests.admin import admin_client
from tests.conftest import at, message

EVENING = at("2026-11-24T22:00:00+01:00")  # a Tuesday, inside mia's quiet hours (21:30-07:00)
BEFORE = at("2026-11-24T19:00:00+01:00")  # the same Tuesday, before them


async def _control(admin: Any, body: dict[str, Any], member: str = "mia") -> Any:
    return await admin.post(f"/members/{member}/quiet", json=body)


async def test_one_more_hour_moves_the_end_and_the_summary_and_is_undone(
    write_settings: Any, start_guardian: Any
) -> None:
    running = await start_guardian(write_settings(), EVENING)
    admin = await admin_client(running)
    answer = await _control(admin, {"control": "one_more_hour"})
    assert answer.status == 200, await answer.text()
    state = await answer.json()
    assert state["quiet"]["now"] is True
    assert state["quiet"]["until"] == "2026-11-25T07:00:00Z"  # 08:00 local, not 07:00
    assert state["next_summary_at"] == "2026-11-25T07:00:00Z"
    [override] = state["quiet"]["overrides"]
    assert override["kind"] == "quiet" and override["control"] == "one_more_hour"
    assert (override["start"], override["end"]) == ("2026-11-25T06:00:00Z", "2026-11-25T07:00:00Z")
    audit = await AuditEntry.filter(action="quiet.override").first()
    assert audit is not None and audit.target == "mia" and audit.actor.startswith("sam")

    # 07:30 local: quiet still, so a message is held, not pushed.
    await running.run_until(at("2026-11-25T07:30:00+01:00"))
    assert (await running.post(message(1))).status == 202
    assert await Notification.filter(status="held").count() == 1
    tonight = await (await admin.get("/tonight")).json()
    mia = next(m for m in tonight["members"] if m["id"] == "mia")
    assert mia["quiet"]["until"] == "2026-11-25T07:00:00Z"

    # Undone: quiet hours are over (07:00 has passed), so what is held leaves now.
    undone = await admin.delete(f"/members/mia/quiet/{override['id']}")
    assert undone.status == 200, await undone.text()
    state = await undone.json()
    assert state["quiet"]["now"] is False and state["quiet"]["overrides"] == []
    assert await AuditEntry.filter(action="quiet.undo").count() == 1
    await running.tick_at(running.clock.now())
    assert await Delivery.filter(kind="summary").count() == 1
    assert await Notification.filter(status="held").count() == 0


async def test_one_more_hour_twice_adds_two_hours(write_settings: Any, start_guardian: Any) -> None:
    running = await start_guardian(write_settings(), EVENING)
    admin = await admin_client(running)
    await _control(admin, {"control": "one_more_hour"})
    state = await (await _control(admin, {"control": "one_more_hour"})).json()
    assert state["quiet"]["until"] == "2026-11-25T08:00:00Z"
    assert len(state["quiet"]["overrides"]) == 2
    # Undoing the second keeps the first.
    second = state["quiet"]["overrides"][1]["id"]
    state = await (await admin.delete(f"/members/mia/quiet/{second}")).json()
    assert state["quiet"]["until"] == "2026-11-25T07:00:00Z"


async def test_pause_tonight_sends_what_is_held_and_passes_messages_on(
    write_settings: Any, start_guardian: Any
) -> None:
    running = await start_guardian(write_settings(), EVENING)
    admin = await admin_client(running)
    for n in range(3):
        assert (await running.post(message(n))).status == 202
    assert await Notification.filter(status="held").count() == 3
    state = await (await _control(admin, {"control": "pause_tonight"})).json()
    assert state["quiet"]["now"] is False
    [pause] = state["quiet"]["overrides"]
    assert pause["kind"] == "pause" and pause["end"] == "2026-11-25T06:00:00Z"
    # The window it waited for is gone: the summary is due now.
    assert state["next_summary_at"] == "2026-11-24T21:00:00Z"
    await running.tick_at(running.clock.now())
    assert await Delivery.filter(kind="summary").count() == 1
    # A message now passes at once.
    await running.clock.set(EVENING + timedelta(minutes=5))
    assert (await running.post(message("later"))).status == 202
    later = await Notification.get(external_id="msg-later")
    assert later.status == "forwarded"
    tonight = await (await admin.get("/tonight")).json()
    mia = next(m for m in tonight["members"] if m["id"] == "mia")
    assert [t["why"] for t in mia["got_through"]] == ["quiet hours were paused"]
    assert mia["got_through"][0]["sender"] is None  # mia's guardian_view is counts
    # Undone: quiet again, and the next message is held.
    await admin.delete(f"/members/mia/quiet/{pause['id']}")
    assert (await running.post(message("after-undo"))).status == 202
    assert (await Notification.get(external_id="msg-after-undo")).status == "held"


async def test_quiet_until_ends_at_the_time_chosen(
    write_settings: Any, start_guardian: Any
) -> None:
    running = await start_guardian(write_settings(), EVENING)
    admin = await admin_client(running)
    # Inside a window that would go on to 07:00: quiet ends at 06:30.
    state = await (await _control(admin, {"control": "quiet_until", "until": "06:30"})).json()
    assert state["quiet"]["until"] == "2026-11-25T05:30:00Z"
    assert state["next_summary_at"] == "2026-11-25T05:30:00Z"
    assert {o["kind"] for o in state["quiet"]["overrides"]} == {"quiet", "pause"}
    # Undo takes both parts away at once.
    undone = await admin.delete(f"/members/mia/quiet/{state['quiet']['overrides'][0]['id']}")
    assert (await undone.json())["quiet"]["overrides"] == []


async def test_quiet_now_outside_quiet_hours_holds_until_then(
    write_settings: Any, start_guardian: Any
) -> None:
    running = await start_guardian(write_settings(), BEFORE)
    admin = await admin_client(running)
    assert (await running.post(message("before"))).status == 202
    assert (await Notification.get(external_id="msg-before")).status == "forwarded"
    answer = await _control(admin, {"control": "quiet_until", "until": "2026-11-24T20:30:00+01:00"})
    state = await answer.json()
    assert state["quiet"]["now"] is True
    assert state["quiet"]["until"] == "2026-11-24T19:30:00Z"
    assert state["next_summary_at"] == "2026-11-24T19:30:00Z"
    assert (await running.post(message("during"))).status == 202
    assert (await Notification.get(external_id="msg-during")).status == "held"
    await running.run_until(at("2026-11-24T20:31:00+01:00"))
    summary = await Delivery.get(kind="summary")
    assert summary.created_at == at("2026-11-24T20:30:00+01:00")


async def test_bad_controls_are_clear_errors(write_settings: Any, start_guardian: Any) -> None:
    running = await start_guardian(write_settings(), EVENING)
    admin = await admin_client(running)
    answer = await _control(admin, {"control": "quiet_until", "until": "half past six"})
    assert answer.status == 422
    body = await answer.json()
    assert body["error"] == "invalid" and "until" in body["fields"]
    answer = await _control(admin, {"control": "quiet_until"})
    assert answer.status == 422
    answer = await _control(admin, {"control": "sleep_forever"})
    assert answer.status == 422
    answer = await _control(admin, {"control": "one_more_hour"}, member="nobody")
    assert answer.status == 404
    assert (await admin.delete("/members/mia/quiet/12345")).status == 404
    assert (await admin.delete("/members/mia/quiet/abc")).status == 404
    # Sam (a guardian without a policy) has no quiet hours to pause.
    answer = await _control(admin, {"control": "pause_tonight"}, member="sam")
    assert answer.status == 422
    assert await AuditEntry.filter(action="quiet.override").count() == 0


async def test_simulate_shows_a_quick_control_and_carries_tonights(
    write_settings: Any, start_guardian: Any
) -> None:
    running = await start_guardian(write_settings(), EVENING)
    admin = await admin_client(running)
    events = [
        {"at": "2026-11-24T22:10:00+01:00", "source": "mia-phone", "message": message(1)},
        {"at": "2026-11-24T22:20:00+01:00", "control": {"member": "mia", "do": "one_more_hour"}},
    ]
    answer = await admin.post("/simulate", json={"events": events})
    assert answer.status == 200, await answer.text()
    [summary] = [d for d in (await answer.json())["deliveries"] if d["member"] == "mia"]
    assert (summary["kind"], summary["at"]) == ("summary", "2026-11-25T07:00:00Z")  # 08:00 local

    # Tonight's pause, made on the dashboard, is carried into the simulation of the household.
    await _control(admin, {"control": "pause_tonight"})
    plain = [{"at": "2026-11-24T22:10:00+01:00", "source": "mia-phone", "message": message(2)}]
    answer = await admin.post("/simulate", json={"events": plain})
    assert answer.status == 200, await answer.text()
    [forward] = [d for d in (await answer.json())["deliveries"] if d["member"] == "mia"]
    assert forward["kind"] == "forward"  # not held: quiet hours are paused tonight

    bad = [
        {"at": "2026-11-24T22:20:00+01:00", "control": {"member": "nobody", "do": "one_more_hour"}}
    ]
    answer = await admin.post("/simulate", json={"events": bad})
    assert answer.status == 422
    assert "unknown member" in (await answer.json())["detail"]


async def test_export_does_not_carry_overrides(write_settings: Any, start_guardian: Any) -> None:
    from guardian.transfer import export_household

    running = await start_guardian(write_settings(), EVENING)
    admin = await admin_client(running)
    before = await export_household(running.service.household().id)
    await _control(admin, {"control": "one_more_hour"})
    assert await export_household(running.service.household().id) == before


async def test_quick_controls_tonight_and_activity_on_postgresql(
    postgres: Any, tmp_path: Any, start_guardian: Any
) -> None:
    from tests.test_postgres import load, pg_settings_text

    url = postgres.create_database()
    settings = load(pg_settings_text(url, tmp_path, []), tmp_path / "pg.toml")
    running = await start_guardian(settings, EVENING)
    admin = await admin_client(running)
    assert (await running.post(message(1))).status == 202
    state = await (await _control(admin, {"control": "one_more_hour"})).json()
    assert state["quiet"]["until"] == "2026-11-25T07:00:00Z"
    tonight = await (await admin.get("/tonight")).json()
    mia = next(m for m in tonight["members"] if m["id"] == "mia")
    assert mia["tonight"]["messages"] == 1 and mia["held"]["people"] == 1
    assert (await admin.get("/activity")).status == 200
    await admin.put(
        "/policies/school-night",
        {"quiet": [{"days": "daily", "start": "23:00", "end": "06:00"}], "content": "senders"},
    )
    undone = await admin.delete(f"/members/mia/quiet/{state['quiet']['overrides'][0]['id']}")
    assert (await undone.json())["quiet"]["overrides"] == []
