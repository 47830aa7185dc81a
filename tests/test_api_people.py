"""The people API and page: everyone who wrote, newest first, at the viewer's privacy level;
naming, trusting, muting and linking a person in one step, audited and taken up at once."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from guardian.models import Contact, Notification
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


async def test_at_counts_who_wrote_is_not_listed(write_settings: Any, start_guardian: Any) -> None:
    running, admin = await _start(write_settings, start_guardian, guardian_view="counts")
    await _write(running)
    listed = await (await admin.get("/people")).json()
    assert listed == {"items": [], "unlisted": ["mia"]}
    # Nor can a guess act on them: the answer is the same as for nobody at all.
    for key in ("sms:+31698765432", "contact:sophie", "sms:+31000000000"):
        answer = await admin.post("/people/contact", json={"person": key, "trust": "trusted"})
        assert answer.status == 404, key
        assert (await answer.json())["error"] == "not_found"
    assert running.service.household().contacts["sophie"].trust == "normal"
    await admin.login()
    page = await (await running.client.get("/people")).text()
    assert "Not listed: who writes to Mia" in page and "Noor" not in page


async def test_trust_an_unknown_person_in_one_step(
    write_settings: Any, start_guardian: Any
) -> None:
    running, admin = await _start(write_settings, start_guardian)
    await _write(running)
    answer = await admin.post(
        "/people/contact", json={"person": "sms:+31698765432", "trust": "trusted"}
    )
    assert answer.status == 200, await answer.text()
    noor = await answer.json()
    assert (noor["key"], noor["contact"], noor["name"], noor["trust"]) == (
        "contact:noor",
        "noor",
        "Noor",
        "trusted",
    )
    # The contact has the address the message came from, and is taken up at once.
    contact = running.service.household().contacts["noor"]
    assert (contact.trust, contact.addresses) == ("trusted", ("sms:+31698765432",))
    assert await Notification.filter(sender_key="contact:noor").count() == 1
    entry = (await (await admin.get("/audit")).json())["items"][0]
    assert entry["sentence"] == "Sam (by script) added Noor as a contact"
    assert entry["after"] == {"name": "Noor", "trust": "trusted", "addresses": ["sms:+31698765432"]}
    # Trusted now: at night her next message breaks through quiet hours.
    await running.clock.set(NIGHT)
    assert (await running.post(message(9, "still up?", **sent_by(NOOR)))).status == 202
    stored = await Notification.get(external_id="msg-9")
    assert stored.status == "breakthrough"

    # The WhatsApp name is the same Noor: linked in one step, her addresses filled in.
    linked = await admin.post(
        "/people/contact", json={"person": "whatsapp:name:Noor", "link": "noor"}
    )
    assert linked.status == 200, await linked.text()
    noor = await linked.json()
    assert noor["messages"] == 3
    assert set(noor["addresses"]) == {"sms:+31698765432", "whatsapp:name:Noor"}
    assert (await Contact.get(slug="noor")).addresses == ["sms:+31698765432", "whatsapp:name:Noor"]
    keys = [p["key"] for p in (await (await admin.get("/people")).json())["items"]]
    assert keys == ["contact:noor", "contact:sophie"]
    entry = (await (await admin.get("/audit")).json())["items"][0]
    assert entry["sentence"] == (
        "Sam (by script) changed Noor's addresses from sms:+31698765432 "
        "to sms:+31698765432, whatsapp:name:Noor"
    )

    # A contact: muted, then renamed, each one step.
    muted = await admin.post("/people/contact", json={"person": "contact:sophie", "trust": "muted"})
    assert (await muted.json())["trust"] == "muted"
    renamed = await admin.post(
        "/people/contact", json={"person": "contact:sophie", "name": "Sophie B."}
    )
    assert (await renamed.json())["name"] == "Sophie B."
    sentences = [
        e["sentence"] for e in (await (await admin.get("/audit?kind=contact")).json())["items"]
    ]
    assert sentences[:2] == [
        "Sam (by script) renamed Sophie to Sophie B.",
        "Sam (by script) muted Sophie",  # as she was called then
    ]


async def test_steps_that_cannot_be_done(write_settings: Any, start_guardian: Any) -> None:
    running, admin = await _start(write_settings, start_guardian)
    await _write(running)
    cases = [
        ({"person": "contact:sophie", "link": "sophie"}, 409, "link"),
        ({"person": "sms:+31698765432", "link": "nobody"}, 422, "link"),
        ({"person": "sms:+31698765432", "link": "sophie", "trust": "muted"}, 422, "link"),
        ({"person": "sms:+31698765432"}, 422, "body"),
        ({"person": "sms:+31698765432", "trust": "best"}, 422, "trust"),
        ({"person": "sms:+31698765432", "name": "a\nb"}, 422, "name"),
        ({"person": "sms:+31698765432", "name": "Noor", "extra": 1}, 422, "extra"),
    ]
    for body, status, field in cases:
        answer = await admin.post("/people/contact", json=body)
        assert answer.status == status, (body, await answer.text())
        error = await answer.json()
        assert set(error) >= {"error", "detail"}
        assert field in error.get("fields", {}), (body, error)
    assert set(running.service.household().contacts) == {"sophie"}
    assert (await admin.get("/people?limit=0")).status == 422


async def test_name_from_the_page_keeps_what_was_typed_on_a_mistake(
    write_settings: Any, start_guardian: Any
) -> None:
    running, admin = await _start(write_settings, start_guardian)
    await _write(running)
    csrf = await admin.login()
    page = await (await running.client.get("/people")).text()
    assert (
        page.index("whatsapp:name:Noor")
        < page.index("sms:+31698765432")
        < page.index("sms:+31612345678")
    )
    base = {"csrf_token": csrf, "person": "sms:+31698765432"}
    wrong = await running.client.post("/people", data={**base, "action": "name", "name": "   "})
    assert wrong.status == 422
    text = await wrong.text()
    assert 'aria-invalid="true"' in text and "field-error" in text
    done = await running.client.post(
        "/people", data={**base, "action": "name", "name": "Noor El Amrani"}, allow_redirects=False
    )
    assert done.status == 303, await done.text()
    assert done.headers["Location"].endswith("#person-contact-noor-el-amrani")
    shown = await (await running.client.get(done.headers["Location"])).text()
    assert "Saved the name Noor El Amrani." in shown
    assert running.service.household().contacts["noor-el-amrani"].addresses == ("sms:+31698765432",)
    muted = await running.client.post(
        "/people",
        data={**base, "person": "contact:sophie", "action": "muted"},
        allow_redirects=False,
    )
    assert muted.status == 303
    assert running.service.household().contacts["sophie"].trust == "muted"


def test_contact_ids_made_from_names() -> None:
    from guardian.api.people import contact_id_for

    assert contact_id_for("Noor El Amrani", set()) == "noor-el-amrani"
    assert contact_id_for("Zoë", {"zoe"}) == "zoe-2"
    assert contact_id_for("نور", set()) == "person"
    assert contact_id_for("🌙", {"person", "person-2"}) == "person-3"
    assert len(contact_id_for("x" * 300, set())) <= 64
