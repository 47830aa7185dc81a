"""The dashboard's irreversible forms (guardian.dashboard.contacts, members, sources): refused
without their confirmation, while the admin API, which PRODUCT.md leaves as it is, needs none;
a merge undone once, within its time, and audited; errors in plain words."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from guardian.models import AuditEntry, Notification
from tests.admin import admin_client
from tests.conftest import at, message

NOW = at("2026-11-25T20:00:00+01:00")


async def _start(write_settings: Any, start_guardian: Any) -> Any:
    running = await start_guardian(write_settings(), NOW)
    admin = await admin_client(running)
    return running, admin, await admin.login()


async def test_a_merge_is_confirmed_then_undone_once_within_fifteen_minutes(
    write_settings: Any, start_guardian: Any
) -> None:
    running, admin, csrf = await _start(write_settings, start_guardian)
    client = running.client
    new = {"id": "noor", "name": "Noor", "addresses": ["sms:+31600000077"], "trust": "trusted"}
    assert (await admin.post("/contacts", new)).status == 201
    await running.post(message("n1", **{"from": {"id": "+31600000077", "name": "Noor"}}))
    form = {"keep": "sophie", "from": "noor", "csrf_token": csrf}

    refused = await client.post("/contacts/merge", data=form)
    assert refused.status == 422
    assert "Tick the box to confirm" in await refused.text()
    assert "noor" in running.service.household().contacts

    merged = await client.post(
        "/contacts/merge", data={**form, "confirm": "yes"}, allow_redirects=False
    )
    assert merged.status == 303
    entry = await AuditEntry.filter(action="contact.merge").first()
    assert entry is not None
    page = await (await client.get("/contacts")).text()
    assert f'action="/contacts/merges/{entry.id}/undo"' in page
    assert "until 20:15" in page

    undone = await client.post(
        f"/contacts/merges/{entry.id}/undo", data={"csrf_token": csrf}, allow_redirects=False
    )
    assert undone.status == 303
    noor = running.service.household().contacts["noor"]
    assert (noor.name, noor.trust, noor.addresses) == ("Noor", "trusted", ("sms:+31600000077",))
    assert (await Notification.get(external_id="msg-n1")).sender_key == "contact:noor"
    again = await client.post(f"/contacts/merges/{entry.id}/undo", data={"csrf_token": csrf})
    assert again.status == 409
    assert "can no longer be undone" in await again.text()

    # A contact with nothing to move comes back as well.
    empty = {"id": "oma", "name": "Oma"}
    assert (await admin.post("/contacts", empty)).status == 201
    oma = {"keep": "sophie", "from": "oma", "confirm": "yes", "csrf_token": csrf}
    assert (await client.post("/contacts/merge", data=oma, allow_redirects=False)).status == 303
    entry = await AuditEntry.filter(action="contact.merge").order_by("-id").first()
    assert entry is not None
    back = f"/contacts/merges/{entry.id}/undo"
    assert (await client.post(back, data={"csrf_token": csrf})).status == 200  # after 303
    assert "oma" in running.service.household().contacts

    # Merged again, then 16 minutes later: too late.
    await client.post("/contacts/merge", data={**form, "confirm": "yes"})
    late = await AuditEntry.filter(action="contact.merge").order_by("-id").first()
    assert late is not None
    await running.run_until(running.clock.now() + timedelta(minutes=16))
    too_late = await client.post(f"/contacts/merges/{late.id}/undo", data={"csrf_token": csrf})
    assert too_late.status == 409
    assert "noor" not in running.service.household().contacts
    missing = await client.post("/contacts/merges/99999/undo", data={"csrf_token": csrf})
    assert missing.status == 404
    assert (await client.post("/contacts/merges/x/undo", data={"csrf_token": csrf})).status == 404
    actions = [e.action for e in await AuditEntry.all().order_by("id")]
    assert actions.count("contact.unmerge") == 2
    # What a merge keeps to be undone is never shown: not in the API, not on the audit page.
    log = await (await admin.get("/audit")).json()
    merges = [e for e in log["items"] if e["action"] == "contact.merge"]
    assert merges and all(set(e["detail"]) == {"from", "name", "addresses"} for e in merges)
    assert "_undo" not in await (await client.get("/audit")).text()


async def test_the_api_needs_no_confirmation_and_answers_as_before(
    write_settings: Any, start_guardian: Any
) -> None:
    _, admin, _ = await _start(write_settings, start_guardian)
    new = {"id": "noor", "name": "Noor", "addresses": ["sms:+31600000077"]}
    assert (await admin.post("/contacts", new)).status == 201
    merged = await admin.post("/contacts/sophie/merge", {"from": "noor"})
    assert merged.status == 200
    assert (await admin.delete("/contacts/sophie")).status == 204
    added = await admin.post("/members/mia/channels", {"url": "json://127.0.0.1:1/mia"})
    assert added.status == 201
    assert (await admin.delete("/members/mia/channels/0")).status == 200
    assert (await admin.post("/sources/mia-phone/rotate", {})).status == 200


async def test_deleting_a_contact_needs_its_confirmation_and_errors_are_plain(
    write_settings: Any, start_guardian: Any
) -> None:
    running, _, csrf = await _start(write_settings, start_guardian)
    client = running.client
    refused = await client.post("/contacts/sophie/delete", data={"csrf_token": csrf})
    assert refused.status == 422
    html = await refused.text()
    assert 'id="contact-sophie-confirm-error"' in html
    assert "autofocus" in html.split('id="contact-sophie-confirm"')[1].split(">")[0]
    assert "sophie" in running.service.household().contacts
    deleted = await client.post(
        "/contacts/sophie/delete",
        data={"csrf_token": csrf, "confirm": "yes"},
        allow_redirects=False,
    )
    assert deleted.status == 303
    assert "sophie" not in running.service.household().contacts

    bad = await client.post(
        "/contacts",
        data={"id": "Bad Id", "name": "Grandma", "addresses": "nope", "csrf_token": csrf},
    )
    assert bad.status == 422
    html = await bad.text()
    assert "String should match pattern" not in html
    assert "Use only small letters (a–z), digits, - and _" in html
    assert "“nope” is not an address Guardian knows" in html
    assert 'value="Bad Id"' in html and 'value="Grandma"' in html
    assert "autofocus" in html.split('id="new-id"')[1].split(">")[0]
