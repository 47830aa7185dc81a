"""The contacts API and page: add, change, merge and delete contacts; trust works at once."""

from __future__ import annotations

import re
from typing import Any

from guardian.models import AuditEntry, Contact, Notification, Sender
from guardian.senders import decode
from tests.admin import admin_client
from tests.conftest import at, message

WEDNESDAY_EVENING = at("2026-11-25T20:00:00+01:00")  # outside mia's quiet hours
TUESDAY_NIGHT = at("2026-11-24T23:00:00+01:00")  # inside them
SOPHIE = ["sms:+31612345678", "telegram:99887766"]


def sent_by(sender: dict[str, str]) -> dict[str, Any]:
    """The `from` of a webhook message (a keyword Python reserves)."""
    return {"from": sender}


#: Bursts make the policy keep what each sender sent lately, which contact edits carry along.
BURSTS = '[policies.school-night.burst]\nlimit = 5\nper = "10m"\nnotice_every = "15m"\n'


async def _start(
    write_settings: Any,
    start_guardian: Any,
    now: Any = WEDNESDAY_EVENING,
    guardian_view: str = "senders",
) -> Any:
    """The test household, with guardians seeing who writes to Mia (or `guardian_view`)."""
    settings = write_settings(extra=BURSTS)
    policy = settings.policies["school-night"].model_copy(update={"guardian_view": guardian_view})
    settings = settings.model_copy(update={"policies": {"school-night": policy}})
    running = await start_guardian(settings, now)
    return running, await admin_client(running)


async def test_list_and_get(write_settings: Any, start_guardian: Any) -> None:
    running, admin = await _start(write_settings, start_guardian)
    assert (await running.post(message(1))).status == 202
    listed = await admin.get("/contacts")
    assert listed.status == 200
    assert await listed.json() == {
        "items": [
            {
                "id": "sophie",
                "name": "Sophie",
                "trust": "normal",
                "addresses": SOPHIE,
                "notifications": 1,
            }
        ],
        "uncounted": [],
    }
    one = await admin.get("/contacts/sophie")
    assert (await one.json())["notifications"] == 1


async def test_at_counts_a_contacts_number_does_not_tell_who_wrote(
    write_settings: Any, start_guardian: Any
) -> None:
    running, admin = await _start(write_settings, start_guardian, guardian_view="counts")
    assert (await running.post(message(1))).status == 202
    listed = await (await admin.get("/contacts")).json()
    assert [c["notifications"] for c in listed["items"]] == [0]
    assert listed["uncounted"] == ["mia"]  # Sam is the guardian who asks: his own count
    assert (await (await admin.get("/contacts/sophie")).json())["notifications"] == 0
    for path in ("/contacts/nobody", "/contacts/%00%ff", "/contacts/..%2f"):
        missing = await admin.get(path)
        assert missing.status == 404, path
        assert (await missing.json())["error"] == "not_found"


async def test_create_stores_canonical_addresses_and_audits(
    write_settings: Any, start_guardian: Any
) -> None:
    running, admin = await _start(write_settings, start_guardian)
    created = await admin.post(
        "/contacts",
        {
            "id": "grandma",
            "name": " Grandma ",
            "addresses": ["SMS:+31 6 1111-2222", "Email:Oma@Example.org", "sms:0031611112222"],
            "trust": "trusted",
        },
    )
    assert created.status == 201, await created.text()
    assert await created.json() == {
        "id": "grandma",
        "name": "Grandma",
        "trust": "trusted",
        "addresses": ["sms:+31611112222", "email:oma@example.org"],
        "notifications": 0,
    }
    assert running.service.household().contact_for("sms:+31611112222") is not None
    entry = await AuditEntry.filter(action="contact.create").get()
    assert entry.target == "grandma"
    assert entry.actor == "sam (token)"
    assert entry.detail["trust"] == "trusted"


async def test_invalid_contacts_are_refused_with_field_paths(
    write_settings: Any, start_guardian: Any
) -> None:
    _, admin = await _start(write_settings, start_guardian)
    bad = await admin.post(
        "/contacts",
        {"id": "Not A Slug", "name": "", "addresses": ["sms:+316", "nope"], "trust": "best"},
    )
    assert bad.status == 422
    fields = (await bad.json())["fields"]
    assert set(fields) == {"id", "name", "addresses[1]", "trust"}
    assert "network:address" in fields["addresses[1]"]
    two_lines = await admin.post("/contacts", {"id": "x", "name": "A\nB"})
    assert list((await two_lines.json())["fields"]) == ["name"]
    extra = await admin.post("/contacts", {"id": "x", "name": "X", "colour": "red"})
    assert extra.status == 422
    assert "colour" in (await extra.json())["fields"]
    unreadable = await admin.client.post(
        "/api/v1/contacts", data=b"{", headers={"Authorization": f"Bearer {admin.token}"}
    )
    assert unreadable.status == 400

    taken_id = await admin.post("/contacts", {"id": "sophie", "name": "Another Sophie"})
    assert taken_id.status == 409
    assert "id" in (await taken_id.json())["fields"]
    # The same number spelled another way, and a WhatsApp id that is Sophie's phone.
    for address, stored in (
        ("sms:0031 6 12345678", "sms:+31612345678"),
        ("whatsapp:31612345678", "whatsapp:31612345678"),
    ):
        taken = await admin.post("/contacts", {"id": "x", "name": "X", "addresses": [address]})
        assert taken.status == 409, address
        assert (await taken.json())["fields"] == {
            "addresses[0]": f"{stored!r} already belongs to 'sophie'"
        }
    assert await Contact.all().count() == 1
    assert await AuditEntry.filter(action="contact.create").count() == 0


async def test_patch_and_delete(write_settings: Any, start_guardian: Any) -> None:
    running, admin = await _start(write_settings, start_guardian)
    await admin.post("/contacts", {"id": "tom", "name": "Tom", "addresses": ["telegram:1234"]})
    renamed = await admin.patch("/contacts/tom", {"name": "Tommy", "trust": "muted"})
    assert renamed.status == 200
    assert (await renamed.json())["name"] == "Tommy"
    assert running.service.household().contacts["tom"].trust == "muted"
    taken = await admin.patch("/contacts/tom", {"addresses": ["telegram:1234", "sms:+31612345678"]})
    assert taken.status == 409
    assert list((await taken.json())["fields"]) == ["addresses[1]"]
    invalid = await admin.patch("/contacts/tom", {"trust": "always"})
    assert invalid.status == 422
    assert list((await invalid.json())["fields"]) == ["trust"]
    assert (await admin.patch("/contacts/nobody", {"name": "X"})).status == 404
    # Own addresses may be kept; the list is replaced whole.
    kept = await admin.patch("/contacts/tom", {"addresses": ["telegram:1234", "telegram:5678"]})
    assert (await kept.json())["addresses"] == ["telegram:1234", "telegram:5678"]

    assert (await running.post(message(1, network="telegram", **sent_by({"id": "5678"})))).status
    row = await Notification.get(external_id="msg-1")
    assert row.sender_key == "contact:tom"
    deleted = await admin.delete("/contacts/tom")
    assert deleted.status == 204
    assert (await admin.get("/contacts/tom")).status == 404
    assert (await admin.delete("/contacts/tom")).status == 404
    await row.refresh_from_db()
    assert (row.sender_key, row.contact_id) == ("telegram:5678", None)
    actions: list[Any] = await AuditEntry.all().order_by("id").values_list("action", flat=True)
    assert actions == ["contact.create", "contact.update", "contact.update", "contact.delete"]


async def history(member_pk: int, sender_key: str) -> int:
    """How many recent messages the sender state that decisions read counts for this sender."""
    row = await Sender.filter(member_id=member_pk, sender_key=sender_key).first()
    return len(decode(row.state).times) if row else 0


async def test_a_new_address_adopts_what_it_sent_before(
    write_settings: Any, start_guardian: Any
) -> None:
    running, admin = await _start(write_settings, start_guardian)
    stranger = {"id": "+31 6 0000 0001", "name": "Unknown"}
    for n in range(3):
        await running.post(message(n, **sent_by(stranger)))
    await admin.patch("/contacts/sophie", {"addresses": [*SOPHIE, "sms:+31600000001"]})
    rows = await Notification.all()
    assert {(r.sender_key, r.contact_id) for r in rows} == {
        ("contact:sophie", running.service.household().contacts["sophie"].pk)
    }
    mia = running.service.household().members["mia"]
    assert await history(mia.pk, "contact:sophie") == 3
    assert not await Sender.filter(sender_key="sms:+31600000001").exists()


async def test_merge_moves_addresses_notifications_and_history(
    write_settings: Any, start_guardian: Any
) -> None:
    running, admin = await _start(write_settings, start_guardian)
    created = await admin.post(
        "/contacts",
        {"id": "sophie-2", "name": "Sophie (new phone)", "addresses": ["sms:+31600000002"]},
    )
    assert created.status == 201
    for n in range(2):
        assert (await running.post(message(f"old-{n}"))).status == 202
    new_phone = {"id": "+31600000002", "name": "Sophie"}
    for n in range(3):
        assert (await running.post(message(f"new-{n}", **sent_by(new_phone)))).status == 202
    assert await Notification.filter(sender_key="contact:sophie-2").count() == 3

    merged = await admin.post("/contacts/sophie/merge", {"from": "sophie-2"})
    assert merged.status == 200, await merged.text()
    assert await merged.json() == {
        "id": "sophie",
        "name": "Sophie",
        "trust": "normal",
        "addresses": [*SOPHIE, "sms:+31600000002"],
        "notifications": 5,
    }
    assert (await admin.get("/contacts/sophie-2")).status == 404
    view = running.service.household()
    sophie = view.contacts["sophie"]
    rows = await Notification.all()
    assert len(rows) == 5
    assert {(r.sender_key, r.contact_id) for r in rows} == {("contact:sophie", sophie.pk)}
    mia = view.members["mia"]
    assert await history(mia.pk, "contact:sophie") == 5
    assert await history(mia.pk, "contact:sophie-2") == 0

    assert (await running.post(message("after", **sent_by(new_phone)))).status == 202
    after = await Notification.get(external_id="msg-after")
    assert (after.sender_key, after.contact_id) == ("contact:sophie", sophie.pk)
    entry = await AuditEntry.filter(action="contact.merge").get()
    assert (entry.target, entry.detail["from"]) == ("sophie", "sophie-2")


async def test_merge_errors(write_settings: Any, start_guardian: Any) -> None:
    _, admin = await _start(write_settings, start_guardian)
    itself = await admin.post("/contacts/sophie/merge", {"from": "sophie"})
    assert itself.status == 422
    assert list((await itself.json())["fields"]) == ["from"]
    unknown = await admin.post("/contacts/sophie/merge", {"from": "nobody"})
    assert unknown.status == 422
    assert (await admin.post("/contacts/nobody/merge", {"from": "sophie"})).status == 404
    assert (await admin.post("/contacts/sophie/merge", {})).status == 422


async def test_trust_takes_effect_without_restart(write_settings: Any, start_guardian: Any) -> None:
    running, admin = await _start(write_settings, start_guardian, TUESDAY_NIGHT)
    await running.post(message(1))
    await admin.patch("/contacts/sophie", {"trust": "trusted"})
    await running.post(message(2))
    await admin.patch("/contacts/sophie", {"trust": "muted"})
    await running.clock.set(at("2026-11-25T12:00:00+01:00"))  # Wednesday noon: not quiet
    await running.post(message(3))
    await running.post(message(4, **sent_by({"id": "+31699999999"})))
    statuses = dict(await Notification.all().values_list("external_id", "status"))
    # Held; the scheduler may already have summarised it at 07:00 on the way to noon.
    assert statuses["msg-1"] in ("held", "summarised")
    assert statuses["msg-2"] == "breakthrough"
    assert statuses["msg-3"] == "held"  # muted: never pushed, even outside quiet hours
    assert statuses["msg-4"] == "forwarded"


async def test_contacts_page_lists_and_changes_contacts(
    write_settings: Any, start_guardian: Any
) -> None:
    running, admin = await _start(write_settings, start_guardian)
    csrf = await admin.login()
    page = await running.client.get("/contacts")
    assert page.status == 200
    html = await page.text()
    assert "Sophie" in html and "telegram:99887766" in html
    assert 'name="trust"' in html

    added = await running.client.post(
        "/contacts",
        data={
            "id": "tom",
            "name": "Tom",
            "addresses": "telegram:1234\nsms:+31 6 5555 1234",
            "trust": "normal",
            "csrf_token": csrf,
        },
        allow_redirects=False,
    )
    assert added.status == 303
    assert added.headers["Location"].startswith("/contacts?saved=")
    assert running.service.household().contacts["tom"].addresses == (
        "telegram:1234",
        "sms:+31655551234",
    )

    refused = await running.client.post(
        "/contacts",
        data={"id": "Bad Id", "name": "Kept name", "addresses": "nope", "csrf_token": csrf},
    )
    assert refused.status == 422
    html = await refused.text()
    assert 'value="Kept name"' in html
    assert 'id="new-id-error"' in html
    assert re.search(r'id="new-id"[^>]*aria-describedby="[^"]*new-id-error"', html)
    assert 'id="new-addresses-error"' in html

    trusted = await running.client.post(
        "/contacts/tom/edit", data={"trust": "trusted", "csrf_token": csrf}, allow_redirects=False
    )
    assert trusted.status == 303
    assert running.service.household().contacts["tom"].trust == "trusted"
    bad_trust = await running.client.post(
        "/contacts/tom/edit", data={"trust": "always", "csrf_token": csrf}
    )
    assert bad_trust.status == 422

    merged = await running.client.post(
        "/contacts/merge",
        data={"keep": "sophie", "from": "tom", "confirm": "yes", "csrf_token": csrf},
        allow_redirects=False,
    )
    assert merged.status == 303
    confirmation = await (await running.client.get(merged.headers["Location"])).text()
    assert "Merged Tom into Sophie" in confirmation
    assert "tom" not in running.service.household().contacts
    same = await running.client.post(
        "/contacts/merge", data={"keep": "sophie", "from": "sophie", "csrf_token": csrf}
    )
    assert same.status == 422
    missing = await running.client.post(
        "/contacts/nobody/edit", data={"trust": "trusted", "csrf_token": csrf}
    )
    assert missing.status == 404
    no_csrf = await running.client.post("/contacts/sophie/edit", data={"trust": "muted"})
    assert no_csrf.status == 403


async def test_a_phone_number_adopts_what_that_number_sent_on_signal(
    write_settings: Any, start_guardian: Any
) -> None:
    # Signal shows the number with the account's UUID (plugins/signal.py); the relay below
    # hands Guardian a message from that sender, as the signal source would.
    running, admin = await _start(write_settings, start_guardian)
    uuid = "3f0c8e52-5d7b-4d7e-9a61-2b8f4c1e9d07"
    shown = {"id": f"{uuid}/+31600000001", "name": "Unknown"}
    hidden = {"id": "9b1d4c2a-7e6f-4a3b-8c5d-0e1f2a3b4c5d", "name": "Other"}
    for n in range(2):
        await running.post(message(f"s{n}", network="signal", **sent_by(shown)))
    await running.post(message("h", network="signal", **sent_by(hidden)))
    await admin.patch("/contacts/sophie", {"addresses": [*SOPHIE, "sms:+31600000001"]})
    rows = {r.external_id: r for r in await Notification.all()}
    sophie = running.service.household().contacts["sophie"]
    assert {rows[f"msg-s{n}"].contact_id for n in range(2)} == {sophie.pk}
    assert rows["msg-h"].contact_id is None
    mia = running.service.household().members["mia"]
    assert await history(mia.pk, "contact:sophie") == 2
