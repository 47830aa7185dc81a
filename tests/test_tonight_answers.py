"""Tonight's answers over real HTTP, at the guardian's level: what got through and why, from
whom; what waits from how many people; the calm it brought."""

from __future__ import annotations

from typing import Any

import pytest

from guardian.settings import Settings
from tests.admin import admin_client
from tests.conftest import Receiver, at, message

EVENING = at("2026-11-24T22:00:00+01:00")  # a Tuesday, in mia's quiet hours


def _at_level(settings: Settings, level: str) -> Settings:
    policy = settings.policies["school-night"].model_copy(update={"guardian_view": level})
    return settings.model_copy(update={"policies": {"school-night": policy}})


@pytest.mark.parametrize(
    ("level", "sender", "why"),
    [("counts", None, "a trusted contact"), ("senders", "Sophie", "trusted contact")],
)
async def test_what_got_through_and_why_at_the_guardians_level(
    level: str,
    sender: str | None,
    why: str,
    write_settings: Any,
    start_guardian: Any,
    receiver: Receiver,
) -> None:
    settings = _at_level(write_settings(mia_channels=[receiver.channel()]), level)
    running = await start_guardian(settings, EVENING)
    admin = await admin_client(running)
    assert (await admin.patch("/contacts/sophie", {"trust": "trusted"})).status == 200
    assert (await running.post(message(1, "call me"))).status == 202
    other = {"id": "+31600000002", "name": "Noor"}
    for n in (2, 3):
        assert (await running.post(message(n, "hi", **{"from": other}))).status == 202
    await running.tick_at(EVENING)
    await receiver.wait_for(1)

    tonight = await (await admin.get("/tonight")).json()
    mia = next(m for m in tonight["members"] if m["id"] == "mia")
    [through] = mia["got_through"]
    assert (through["kind"], through["sender"], through["why"]) == ("breakthrough", sender, why)
    assert mia["held"]["count"] == 2 and mia["held"]["people"] == 1
    assert mia["since"] == "2026-11-24T20:30:00Z"  # tonight's quiet hours began at 21:30
    assert (mia["tonight"]["messages"], mia["tonight"]["interruptions"]) == (3, 1)
    assert (mia["week"]["messages"], mia["week"]["interruptions"]) == (3, 1)
    text = await (await admin.get("/tonight")).text()
    if level == "counts":
        assert "Sophie" not in text and "Noor" not in text
