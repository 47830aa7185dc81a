"""The audit log as sentences: what each change was before and after, kept by Admin.change(),
and the filters by member, kind and local day; in the API and on the page."""

from __future__ import annotations

from typing import Any

from guardian.models import AuditEntry
from tests.admin import admin_client
from tests.conftest import at

MONDAY = at("2026-11-23T10:00:00+01:00")
TUESDAY = at("2026-11-24T10:00:00+01:00")
WEDNESDAY = at("2026-11-25T23:30:00+01:00")  # 22:30 UTC: still Wednesday in Amsterdam
EVENING = at("2026-11-24T22:00:00+01:00")  # a Tuesday, inside mia's quiet hours (21:30-07:00)


async def _started(write_settings: Any, start_guardian: Any) -> Any:
    running = await start_guardian(write_settings(), MONDAY)
    return running, await admin_client(running)


async def _log(admin: Any, query: str = "") -> list[dict[str, Any]]:
    answer = await admin.get(f"/audit{query}")
    assert answer.status == 200, await answer.text()
    return list((await answer.json())["items"])


async def test_a_policy_change_reads_as_a_sentence_with_before_and_after(
    write_settings: Any, start_guardian: Any
) -> None:
    _, admin = await _started(write_settings, start_guardian)
    policy = (await (await admin.get("/policies/school-night")).json())["spec"]
    later = {**policy, "quiet": [{"days": "mon-thu,sun", "start": "22:00", "end": "07:00"}]}
    assert (await admin.put("/policies/school-night", later)).status == 200
    (entry,) = await _log(admin)
    assert entry["sentence"] == (
        "Sam (by script) changed school-night's quiet hours "
        "from Sun–Thu 21:30–07:00 to Sun–Thu 22:00–07:00"
    )
    assert entry["before"] == {"quiet": [{"days": "mon-thu,sun", "start": "21:30", "end": "07:00"}]}
    assert entry["after"] == {"quiet": [{"days": "mon-thu,sun", "start": "22:00", "end": "07:00"}]}
    assert (entry["kind"], entry["members"], entry["who"]) == ("policy", ["mia"], "Sam (by script)")
    assert entry["changes"] == [
        {
            "field": "quiet",
            "label": "quiet hours",
            "before": "Sun–Thu 21:30–07:00",
            "after": "Sun–Thu 22:00–07:00",
        }
    ]
    # Several fields at once: one sentence naming them, and a line for each.
    more = {**later, "guardian_view": "senders", "breakthrough": {"keywords": ["help"]}}
    assert (await admin.put("/policies/school-night", more)).status == 200
    entry = (await _log(admin))[0]
    assert entry["sentence"] == (
        "Sam (by script) changed school-night's what guardians see and urgent words"
    )
    assert {c["label"]: (c["before"], c["after"]) for c in entry["changes"]} == {
        "urgent words": ("none", "“help”"),
        "what guardians see": ("how many messages only", "how many and from whom"),
    }


async def test_sentences_of_each_kind_of_change(write_settings: Any, start_guardian: Any) -> None:
    running, admin = await _started(write_settings, start_guardian)
    csrf = await admin.login()  # by session: the actor is Sam himself
    session = {"X-CSRF-Token": csrf}

    async def call(method: str, path: str, body: Any = None) -> None:
        answer = await running.client.request(method, f"/api/v1{path}", json=body, headers=session)
        assert answer.status < 300, await answer.text()

    await call(
        "POST", "/contacts", {"id": "noor", "name": "Noor", "addresses": ["sms:+31698765432"]}
    )
    await call("PATCH", "/contacts/noor", {"trust": "trusted"})
    await call("PATCH", "/members/mia", {"policy": None})
    await call("PATCH", "/members/mia", {"name": "Mia B."})
    await call("PATCH", "/household", {"name": "The Does", "timezone": "Europe/London"})
    await call("POST", "/members/sam/channels", {"url": "console://"})
    await call("DELETE", "/contacts/noor")
    sentences = [e["sentence"] for e in await _log(admin)]
    assert sentences == [
        "Sam deleted the contact Noor",
        "Sam added a channel for Sam: console://",
        "Sam changed the household's name and time zone",
        "Sam renamed Mia to Mia B.",
        "Sam changed Mia B.'s policy from school-night to none",
        "Sam made Noor trusted",
        "Sam added Noor as a contact",
    ]
    household = (await _log(admin, "?kind=household"))[0]
    assert {c["field"]: (c["before"], c["after"]) for c in household["changes"]} == {
        "name": ("Test household", "The Does"),
        "timezone": ("Europe/Amsterdam", "Europe/London"),
    }
    page = await (await running.client.get("/audit")).text()
    assert "Sam made Noor trusted." in page
    assert 'data-action="contact.update"' in page
    assert "Europe/Amsterdam → Europe/London" in page


async def test_filters_by_member_kind_and_local_day(
    write_settings: Any, start_guardian: Any
) -> None:
    running, admin = await _started(write_settings, start_guardian)
    assert (await admin.patch("/contacts/sophie", {"trust": "trusted"})).status == 200
    await running.clock.set(TUESDAY)
    assert (await admin.patch("/members/mia", {"name": "Mia B."})).status == 200
    await running.clock.set(WEDNESDAY)
    assert (await admin.patch("/members/sam", {"name": "Sam D."})).status == 200

    def targets(entries: list[dict[str, Any]]) -> list[str]:
        return [e["target"] for e in entries]

    assert targets(await _log(admin)) == ["sam", "mia", "sophie"]
    assert targets(await _log(admin, "?member=mia")) == ["mia"]
    assert targets(await _log(admin, "?kind=contact")) == ["sophie"]
    assert targets(await _log(admin, "?kind=member&member=sam")) == ["sam"]
    assert targets(await _log(admin, "?since=2026-11-24")) == ["sam", "mia"]
    assert targets(await _log(admin, "?until=2026-11-24")) == ["mia", "sophie"]
    assert targets(await _log(admin, "?since=2026-11-25&until=2026-11-25")) == ["sam"]
    assert targets(await _log(admin, "?member=nobody")) == []
    for bad in (
        "?since=yesterday",
        "?until=2026-11-01&since=2026-11-02",
        "?member=A%25",
        "?kind=%25",
    ):
        answer = await admin.get(f"/audit{bad}")
        assert answer.status == 422, bad
        assert (await answer.json())["error"] == "invalid"

    await admin.login()
    page = await (await running.client.get("/audit?member=mia&kind=member")).text()
    assert "Sam D. (by script) renamed Mia to Mia B." in page  # Sam as he is called now
    assert "Sophie" not in page.split("<h2")[-1]
    assert '<option value="mia" selected>' in page
    wrong = await running.client.get("/audit?since=someday")
    assert wrong.status == 422
    assert "field-error" in await wrong.text()


async def test_entries_from_before_the_log_kept_before_and_after(
    write_settings: Any, start_guardian: Any
) -> None:
    running, admin = await _started(write_settings, start_guardian)
    household = running.service.household().id
    old = {"household_id": household, "at": MONDAY, "actor": "sam (session)"}
    await AuditEntry.create(
        **old, action="policy.update", target="school-night", detail={"spec": {}}
    )
    await AuditEntry.create(
        **old, action="contact.update", target="sophie", detail={"trust": "muted"}
    )
    await AuditEntry.create(**old, action="quiet.pause", target="mia", detail={"until": "x"})
    await AuditEntry.create(
        household_id=household,
        at=MONDAY,
        actor="cli",
        action="household.import",
        target=household,
        detail={},
    )
    sentences = sorted(e["sentence"] for e in await _log(admin))
    assert sentences == [
        "An admin (command line) imported the household from a settings file",
        "Sam changed Sophie's trust",
        "Sam changed school-night's settings",
        "Sam: quiet.pause Mia",
    ]


async def test_people_and_the_audit_filters_on_postgresql(
    postgres: Any, tmp_path: Any, start_guardian: Any
) -> None:
    from tests.conftest import message
    from tests.test_postgres import load, pg_settings_text

    url = postgres.create_database()
    settings = load(pg_settings_text(url, tmp_path, []), tmp_path / "pg.toml")
    policy = settings.policies["school-night"].model_copy(update={"guardian_view": "senders"})
    settings = settings.model_copy(update={"policies": {"school-night": policy}})
    running = await start_guardian(settings, MONDAY)
    admin = await admin_client(running)
    noor = {"id": "+31698765432", "name": "Noor"}
    assert (await running.post(message(1))).status == 202
    await running.clock.set(TUESDAY)
    assert (await running.post(message(2, "hoi", **{"from": noor}))).status == 202
    listed = (await (await admin.get("/people")).json())["items"]
    assert [(p["key"], p["messages"]) for p in listed] == [
        ("sms:+31698765432", 1),
        ("contact:sophie", 1),
    ]
    step = {"person": "sms:+31698765432", "trust": "trusted"}
    assert (await admin.post("/people/contact", json=step)).status == 200
    await running.clock.set(WEDNESDAY)
    assert (await admin.patch("/members/mia", {"name": "Mia B."})).status == 200
    assert [e["target"] for e in await _log(admin, "?member=mia")] == ["mia"]
    assert [e["sentence"] for e in await _log(admin, "?kind=contact&until=2026-11-24")] == [
        "Sam (by script) added Noor as a contact"
    ]
    assert [e["target"] for e in await _log(admin, "?since=2026-11-25")] == ["mia"]
    await running.client.close()


async def test_quick_controls_and_an_undone_merge_read_as_sentences(
    write_settings: Any, start_guardian: Any
) -> None:
    running = await start_guardian(write_settings(), EVENING)  # in mia's quiet hours
    admin = await admin_client(running)
    csrf = await admin.login()  # by session: the actor is Sam himself
    session = {"X-CSRF-Token": csrf}

    async def call(method: str, path: str, body: Any = None) -> Any:
        answer = await running.client.request(method, f"/api/v1{path}", json=body, headers=session)
        assert answer.status < 300, await answer.text()
        return await answer.json()

    more = await call("POST", "/members/mia/quiet", {"control": "one_more_hour"})
    await call("DELETE", f"/members/mia/quiet/{more['quiet']['overrides'][0]['id']}")
    await call("POST", "/members/mia/quiet", {"control": "quiet_until", "until": "08:00"})
    await call("POST", "/members/mia/quiet", {"control": "pause_tonight"})
    await call("POST", "/contacts", {"id": "noor", "name": "Noor", "addresses": ["sms:+3160077"]})
    await call("POST", "/contacts", {"id": "noor-b", "name": "Noor B."})
    await running.client.post(
        "/contacts/merge",
        data={"keep": "noor-b", "from": "noor", "confirm": "yes", "csrf_token": csrf},
    )
    merge = await AuditEntry.filter(action="contact.merge").first()
    assert merge is not None
    await running.client.post(f"/contacts/merges/{merge.id}/undo", data={"csrf_token": csrf})

    entries = await _log(admin)
    assert [e["sentence"] for e in entries] == [
        "Sam undid the merge of Noor into Noor B.",
        "Sam merged Noor into Noor B.",
        "Sam added Noor B. as a contact",
        "Sam added Noor as a contact",
        "Sam paused Mia's quiet hours for tonight",
        "Sam kept Mia's quiet hours on until 08:00",
        "Sam undid Mia's one more hour of quiet (until 08:00)",
        "Sam gave Mia one more hour of quiet, until 08:00",
    ]
    tonight = {e["sentence"]: e["changes"] for e in entries if e["kind"] == "quiet"}
    assert tonight["Sam gave Mia one more hour of quiet, until 08:00"] == [
        {
            "field": "tonight",
            "label": "tonight's quiet hours",
            "before": "Tue 21:30 – Wed 07:00",
            "after": "Tue 21:30 – Wed 08:00",
        }
    ]
    paused = tonight["Sam paused Mia's quiet hours for tonight"][0]
    assert (paused["before"], paused["after"]) == ("Tue 21:30 – Wed 08:00", "Wed 21:30 – Thu 07:00")
    assert [e["members"] for e in entries if e["kind"] == "quiet"] == [["mia"]] * 4
    assert len(await _log(admin, "?kind=quiet&member=mia")) == 4
    page = await (await running.client.get("/audit")).text()
    assert "Sam undid the merge of Noor into Noor B." in page
    assert "Tue 21:30 – Wed 07:00 → Tue 21:30 – Wed 08:00" in page


async def test_the_audit_page_reads_in_the_readers_language_and_the_api_in_english(
    write_settings: Any, start_guardian: Any
) -> None:
    running, admin = await _started(write_settings, start_guardian)
    assert (await admin.patch("/household", {"language": "nl"})).status == 200
    policy = (await (await admin.get("/policies/school-night")).json())["spec"]
    later = {**policy, "quiet": [{"days": "mon-thu,sun", "start": "22:00", "end": "07:00"}]}
    assert (await admin.put("/policies/school-night", later)).status == 200
    await admin.login()  # admin_client's `sam` belongs to no member: the household's language
    page = await (await running.client.get("/audit")).text()
    assert '<html lang="nl">' in page
    # Dutch words, CLDR's Dutch weekdays, and no English possessive glued onto a name.
    assert (
        "Sam (via een script) heeft stille uren van school-night gewijzigd "
        "van zo–do 21:30–07:00 in zo–do 22:00–07:00."
    ) in page
    assert (
        "Sam (via een script) heeft taal van het huishouden gewijzigd van English in Nederlands."
    ) in page
    assert "changed" not in page and "school-night's" not in page
    # The API keeps its English sentences, whatever the household reads.
    sentences = [e["sentence"] for e in await _log(admin)]
    assert sentences == [
        "Sam (by script) changed school-night's quiet hours "
        "from Sun–Thu 21:30–07:00 to Sun–Thu 22:00–07:00",
        "Sam (by script) changed the household's language from English to Nederlands",
    ]
