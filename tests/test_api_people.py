"""The people API and page: everyone who wrote, newest first, at the viewer's privacy level;
naming, trusting, muting and linking a person in one step, audited and taken up at once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from tests.admin import admin_client
from tests.conftest import at, message

MINUTE = timedelta(minutes=1)
EVENING = at("2026-11-25T20:00:00+01:00")  # a Wednesday, outside Mia's quiet hours
NIGHT = at("2026-11-25T23:00:00+01:00")  # inside them
NOOR = {"id": "+31 6 9876 5432", "name": "Noor"}


def sent_by(sender: dict[str, str]) -> dict[str, Any]:
    return {"from": sender}


async def _start(write_settings: Any, start_guardian: Any, guardian_view: str = "senders") -> Any:
    settings = write_settings()
    policy = settings.policies["school-night"].model_copy(update={"guardian_view": guardian_view})
    settings = settings.model_copy(update={"policies": {"school-night": policy}})
    running = await start_guardian(settings, EVENING)
    return running, await admin_client(running)


async def _write(running: Any) -> None:
    """Sophie (a contact) twice, then Noor (unknown) by SMS and by WhatsApp's shown name."""
    assert (await running.post(message(1))).status == 202
    await running.clock.advance(MINUTE)
    assert (await running.post(message(2))).status == 202
    await running.clock.advance(MINUTE)
    assert (await running.post(message(3, "hoi", **sent_by(NOOR)))).status == 202
    await running.clock.advance(MINUTE)
    shown_as = sent_by({"id": "name:Noor", "name": "Noor"})
    whatsapp = message(4, "salam 🌙", network="whatsapp", **shown_as)
    assert (await running.post(whatsapp)).status == 202


async def test_everyone_who_wrote_newest_first(write_settings: Any, start_guardian: Any) -> None:
    running, admin = await _start(write_settings, start_guardian)
    await _write(running)
    answer = await admin.get("/people")
    assert answer.status == 200, await answer.text()
    listed = await answer.json()
    assert listed["unlisted"] == []
    items = listed["items"]
    print(items)
    assert [(p["key"], p["name"], p["messages"]) for p in items] == [
        ("whatsapp:name:Noor", "Noor", 1),
        ("sms:+31698765432", "Noor", 1),
        ("contact:sophie", "Sophie", 2),
    ]
    sophie = items[2]
    assert sophie["contact"] == "sophie" and sophie["members"] == ["mia"]
    assert sophie["addresses"] == ["sms:+31612345678"]
    assert items[1]["suggested_id"] == "noor" and items[1]["contact"] is None
