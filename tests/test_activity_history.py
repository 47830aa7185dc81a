"""Activity over real HTTP: past days are shaded by the quiet hours in force then, and each day
says how many messages came and how many interruptions reached the phone."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from guardian.models import PolicyEpoch
from guardian.plugin import PluginRegistry
from guardian.settings import load_settings
from guardian.transfer import household_data, import_household
from tests.admin import admin_client
from tests.conftest import Receiver, at, message

MONDAY = at("2026-11-23T12:00:00+01:00")
WEDNESDAY = at("2026-11-25T12:00:00+01:00")
FRIDAY = at("2026-11-27T12:00:00+01:00")


def _quiet(hours: list[dict[str, Any]], local: str) -> bool:
    wanted = at(local).isoformat().replace("+00:00", "Z")
    return next(h["quiet"] for h in hours if h["start"] == wanted)


async def test_past_days_keep_the_quiet_hours_they_had(
    write_settings: Any, start_guardian: Any, receiver: Receiver
) -> None:
    running = await start_guardian(write_settings(mia_channels=[receiver.channel()]), MONDAY)
    admin = await admin_client(running)
    assert (await running.post(message(1))).status == 202  # forwarded: one interruption
    await running.tick_at(MONDAY)
    await running.clock.set(WEDNESDAY)
    later = {"quiet": [{"days": "mon-thu,sun", "start": "23:00", "end": "07:00"}]}
    assert (await admin.put("/policies/school-night", later)).status == 200
    # One more hour tonight, from the quick controls: shaded too.
    await running.clock.set(at("2026-11-25T23:30:00+01:00"))
    assert (await admin.post("/members/mia/quiet", {"control": "one_more_hour"})).status == 200
    await running.clock.set(FRIDAY)

    body = await (await admin.get("/activity?days=7")).json()
    mia = next(m for m in body["members"] if m["member"] == "mia")
    hours = mia["hours"]
    assert _quiet(hours, "2026-11-23T22:00:00+01:00")  # Monday: quiet from 21:30 then
    assert not _quiet(hours, "2026-11-26T22:00:00+01:00")  # Thursday: from 23:00 now
    assert _quiet(hours, "2026-11-26T23:00:00+01:00")
    assert _quiet(hours, "2026-11-26T07:00:00+01:00")  # the one more hour, 07:00-08:00
    assert not _quiet(hours, "2026-11-27T07:00:00+01:00")
    monday = next(d for d in mia["days"] if d["day"] == "2026-11-23")
    assert monday == {"day": "2026-11-23", "messages": 1, "interruptions": 1}
    assert len(mia["days"]) == 7

    await admin.login()
    html = await (await running.client.get("/activity")).text()
    assert "1 message, 1 interruption</strong> in the last 7 days" in html
    assert 'aria-label="Mon 23 Nov, 12:00 – 1 notification"' in html
    assert '<svg class="calm"' in html


async def test_past_days_keep_the_quiet_hours_they_had_before_an_import(
    write_settings: Any, start_guardian: Any, receiver: Receiver, tmp_path: Path
) -> None:
    """`guardian import` keeps the policy it replaced, in its own transaction, as an admin
    change does: the days before it stay shaded with the quiet hours of then."""
    running = await start_guardian(write_settings(mia_channels=[receiver.channel()]), MONDAY)
    admin = await admin_client(running)
    await running.clock.set(WEDNESDAY)
    path = tmp_path / "settings.toml"
    path.write_text(
        path.read_text().replace(
            'quiet = [{ days = "mon-thu,sun", start = "21:30", end = "07:00" }]',
            'quiet = [{ days = "mon-thu,sun", start = "23:00", end = "07:00" }]',
        )
    )
    changed = load_settings(path, PluginRegistry.discover().settings_models())
    await import_household(household_data(changed), running.clock.now(), "cli")
    await running.service.reload()
    again = await import_household(household_data(changed), running.clock.now(), "cli")
    assert again.household_change == "unchanged"
    epochs = await PolicyEpoch.all()
    assert len(epochs) == 1  # one change of policy, one epoch: the import unchanged keeps none
    assert epochs[0].since == WEDNESDAY
    await running.clock.set(FRIDAY)

    body = await (await admin.get("/activity?days=7")).json()
    hours = next(m for m in body["members"] if m["member"] == "mia")["hours"]
    assert _quiet(hours, "2026-11-23T22:00:00+01:00")  # Monday: quiet from 21:30 then
    assert not _quiet(hours, "2026-11-26T22:00:00+01:00")  # Thursday: from 23:00 now
    assert _quiet(hours, "2026-11-26T23:00:00+01:00")
