"""Members, their channels and policies: the admin API and the dashboard pages over it."""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from guardian import accounts
from guardian.dashboard.members import quiet_week
from guardian.models import AuditEntry, Delivery, Schedule
from guardian.policy import DEFAULT_SUMMARY_TIME
from guardian.policy_settings import PolicySettings
from tests.admin import AdminClient, admin_client
from tests.conftest import Receiver, Running, at

NOW = at("2026-11-25T20:00:00+01:00")  # a Wednesday evening, before quiet hours
PASSWORD = "s3cret-channel-pw"

SCHOOL_NIGHT: dict[str, Any] = {
    "quiet": [{"days": "mon-thu,sun", "start": "21:30", "end": "07:00"}],
    "summaries": [],
    "burst": None,
    "breakthrough": {"keywords": [], "repeated": None},
    "content": "senders",
    "guardian_view": "counts",
    "report": None,
    "storm": None,
    "retention": 30,
}
FULL: dict[str, Any] = {
    "quiet": [
        {"days": "mon-thu,sun", "start": "21:30", "end": "07:00"},
        {"days": "mon-fri", "start": "08:30", "end": "15:00"},
    ],
    "summaries": ["12:30", "18:00"],
    "burst": {"limit": 3, "per": "10m", "notice_every": "1h30m"},
    "breakthrough": {"keywords": ["emergency"], "repeated": {"count": 3, "within": "5m"}},
    "content": "preview",
    "guardian_view": "senders",
    "report": "07:30",
    "storm": {"count": 20, "within": "30m", "alert_guardians": True},
    "retention": 14,
}


def secret_channel(receiver: Receiver, path: str = "mia") -> str:
    return receiver.channel(path).replace("json://", f"json://guardian:{PASSWORD}@")


class Answers:
    """Every answer a test read, to check that no secret is in any of them."""

    def __init__(self) -> None:
        self.texts: list[str] = []

    async def json(self, response: Any, status: int) -> Any:
        text = await response.text()
        self.texts.append(text)
        assert response.status == status, text
        return await response.json() if text else None

    async def html(self, response: Any, status: int = 200) -> str:
        text = str(await response.text())
        self.texts.append(text)
        assert response.status == status, text
        return text

    def assert_no(self, *secrets: str) -> None:
        for text in self.texts:
            for secret in secrets:
                assert secret not in text


AMS = ZoneInfo("Europe/Amsterdam")


async def started(
    write_settings: Any, start_guardian: Any, receiver: Receiver, now: datetime = NOW
) -> tuple[Running, AdminClient]:
    settings = write_settings(mia_channels=[secret_channel(receiver)])
    running = await start_guardian(settings, now)
    return running, await admin_client(running)


async def actions() -> list[str]:
    entries = await AuditEntry.all().order_by("id")
    return [entry.action for entry in entries]


async def next_summary() -> datetime | None:
    schedule = await Schedule.get(member__slug="mia", kind="summary")
    return schedule.next_due_at


# --- the API ----------------------------------------------------------------------------------


async def test_members_are_listed_with_channels_in_privacy_form(
    write_settings: Any, start_guardian: Any, receiver: Receiver
) -> None:
    _running, admin = await started(write_settings, start_guardian, receiver)
    answers = Answers()
    listed = await answers.json(await admin.get("/members"), 200)
    assert [(m["id"], m["role"], m["policy"]) for m in listed["items"]] == [
        ("mia", "child", "school-night"),
        ("sam", "guardian", None),
    ]
    mia = await answers.json(await admin.get("/members/mia"), 200)
    assert mia == listed["items"][0]
    [channel] = mia["channels"]
    assert channel["index"] == 0
    assert channel["url"].startswith("json://guardian:****@127.0.0.1")
    missing = await answers.json(await admin.get("/members/nobody"), 404)
    assert missing["error"] == "not_found"
    answers.assert_no(PASSWORD)


async def test_a_member_is_renamed_and_given_another_policy(
    write_settings: Any, start_guardian: Any, receiver: Receiver
) -> None:
    running, admin = await started(write_settings, start_guardian, receiver)
    answers = Answers()
    renamed = await answers.json(await admin.patch("/members/mia", {"name": "Mia B."}), 200)
    assert (renamed["name"], renamed["policy"]) == ("Mia B.", "school-night")
    assert running.service.household().members["mia"].name == "Mia B."  # no restart

    unknown = await answers.json(await admin.patch("/members/mia", {"policy": "nope"}), 422)
    assert unknown["fields"] == {"policy": "unknown policy 'nope'"}
    empty = await answers.json(await admin.patch("/members/mia", {"name": ""}), 422)
    assert "name" in empty["fields"]
    extra = await answers.json(await admin.patch("/members/mia", {"role": "guardian"}), 422)
    assert "role" in extra["fields"]
    await answers.json(await admin.patch("/members/nobody", {"name": "X"}), 404)

    assert await next_summary() is not None
    none = await answers.json(await admin.patch("/members/mia", {"policy": None}), 200)
    assert none["policy"] is None
    # No policy: no quiet hours, and what muted contacts send still goes out in a daily summary.
    due = await next_summary()
    assert due is not None and due.astimezone(AMS).time() == DEFAULT_SUMMARY_TIME
    assert await actions() == ["member.update", "member.update"]
    entry = await AuditEntry.filter(action="member.update").order_by("-id").first()
    assert entry is not None and entry.target == "mia" and entry.detail == {"policy": None}
    answers.assert_no(PASSWORD)


async def test_channels_are_added_tested_and_removed(
    write_settings: Any,
    start_guardian: Any,
    receiver: Receiver,
    caplog: pytest.LogCaptureFixture,
) -> None:
    running, admin = await started(write_settings, start_guardian, receiver)
    answers = Answers()
    second = secret_channel(receiver, "mia-2")
    added = await answers.json(await admin.post("/members/mia/channels", {"url": second}), 201)
    assert [c["index"] for c in added["channels"]] == [0, 1]
    again = await answers.json(await admin.post("/members/mia/channels", {"url": second}), 409)
    assert again["error"] == "conflict"

    tested = await answers.json(await admin.post("/members/mia/channels/1/test"), 200)
    assert tested["ok"] is True and tested["status"] == "SUCCESS"
    assert tested["channel"] == added["channels"][1]["url"]
    [arrived] = await receiver.wait_for(1)
    assert arrived["_path"] == "mia-2"
    assert arrived["title"] == "Guardian test"

    failing = "json://127.0.0.1:1/"
    await answers.json(await admin.post("/members/mia/channels", {"url": failing}), 201)
    failed = await answers.json(await admin.post("/members/mia/channels/2/test"), 200)
    assert failed["ok"] is False
    assert failed["status"] != "SUCCESS"
    assert len(receiver.received) == 1

    for wrong in ("not a url", f"nope://guardian:{PASSWORD}@example.org"):
        refused = await answers.json(await admin.post("/members/mia/channels", {"url": wrong}), 422)
        assert refused["fields"] == {"url": "not an Apprise URL Guardian can send to"}
    assert not [r for r in caplog.records if PASSWORD in r.getMessage()]
    # A channel never reads or writes the server's files, nor runs anything there.
    for touching, reason in (
        (
            "console://?file=/home/guardian/.bashrc",
            "console:// writes only to var/deliveries.log "
            "(console://?file=var/deliveries.log), no other file",
        ),
        ("macosx://", "macosx:// runs a program on the server"),
        (
            f"json://guardian:{PASSWORD}@127.0.0.1:9/x?attach=/etc/passwd",
            "attach= adds attachments: a channel sends messages, never files",
        ),
    ):
        refused = await answers.json(
            await admin.post("/members/mia/channels", {"url": touching}), 422
        )
        assert refused == {
            "error": "invalid",
            "detail": f"url: {reason}",
            "fields": {"url": reason},
        }
    assert len(running.service.household().members["mia"].channels) == 3
    await answers.json(await admin.post("/members/mia/channels", {"url": "console://"}), 201)

    for bad in ("9", "x", "-1", "²", "1.0"):
        await answers.json(await admin.post(f"/members/mia/channels/{bad}/test"), 404)
        await answers.json(await admin.delete(f"/members/mia/channels/{bad}"), 404)
    await answers.json(await admin.post("/members/nobody/channels/0/test"), 404)

    removed = await answers.json(await admin.delete("/members/mia/channels/0"), 200)
    assert len(removed["channels"]) == 3
    assert running.service.household().members["mia"].channels[0] == second

    tests = await Delivery.filter(kind="test").order_by("id")
    assert [d.status for d in tests] == ["sent", "failed"]
    assert await actions() == [
        "channel.add",
        "channel.test",
        "channel.add",
        "channel.test",
        "channel.add",
        "channel.remove",
    ]
    entries = await AuditEntry.filter(action="channel.test").order_by("id")
    assert [e.detail["status"] for e in entries] == ["SUCCESS", failed["status"]]
    logged = [str(e.detail) for e in await AuditEntry.all()]
    assert not any(PASSWORD in text for text in logged)
    answers.assert_no(PASSWORD)


async def test_policies_are_read_and_written_in_the_settings_shape(
    write_settings: Any, start_guardian: Any, receiver: Receiver
) -> None:
    running, admin = await started(write_settings, start_guardian, receiver)
    answers = Answers()
    listed = await answers.json(await admin.get("/policies"), 200)
    assert listed == {"items": [{"name": "school-night", "members": ["mia"], "spec": SCHOOL_NIGHT}]}

    created = await answers.json(await admin.put("/policies/weekend", FULL), 200)
    assert created == {"name": "weekend", "members": [], "spec": FULL}
    assert (await answers.json(await admin.get("/policies/weekend"), 200))["spec"] == FULL
    assert running.service.household().policies["weekend"].burst is not None
    loose = {**FULL, "burst": {"limit": 3, "per": "600s", "notice_every": "90 m"}}
    tidied = await answers.json(await admin.put("/policies/weekend", loose), 200)
    assert tidied["spec"]["burst"] == {"limit": 3, "per": "10m", "notice_every": "1h30m"}

    moved = await answers.json(await admin.patch("/members/sam", {"policy": "weekend"}), 200)
    assert moved["policy"] == "weekend"
    in_use = await answers.json(await admin.delete("/policies/weekend"), 409)
    assert "sam" in in_use["detail"]
    await answers.json(await admin.patch("/members/sam", {"policy": None}), 200)
    assert await answers.json(await admin.delete("/policies/weekend"), 204) is None
    await answers.json(await admin.get("/policies/weekend"), 404)
    await answers.json(await admin.delete("/policies/weekend"), 404)
    assert "policy.update" in await actions()
    assert (await actions())[-1] == "policy.delete"


@pytest.mark.parametrize(
    ("change", "fields"),
    [
        ({"quiet": [{"days": "mon", "start": "25:00", "end": "07:00"}]}, ["quiet[0].start"]),
        ({"quiet": [{"days": "funday", "start": "21:00", "end": "07:00"}]}, ["quiet[0].days"]),
        ({"quiet": [{"days": "mon", "start": "21:00", "end": "21:00"}]}, ["quiet[0]"]),
        ({"summaries": ["12:30", "noon"]}, ["summaries[1]"]),
        ({"burst": {"limit": 0, "per": "10 minutes", "notice_every": "0s"}},
         ["burst.limit", "burst.per", "burst.notice_every"]),
        ({"storm": {"count": 2, "within": "99999999d"}}, ["storm.within"]),
        ({"content": "everything", "retention": 0}, ["content", "retention"]),
        ({"breakthrough": {"repeated": {"count": 1, "within": "5m"}}},
         ["breakthrough.repeated.count"]),
        ({"colour": "blue"}, ["colour"]),
    ],
)  # fmt: skip
async def test_invalid_policies_are_refused_by_field_path(
    write_settings: Any,
    start_guardian: Any,
    receiver: Receiver,
    change: dict[str, Any],
    fields: list[str],
) -> None:
    _running, admin = await started(write_settings, start_guardian, receiver)
    answer = await admin.put("/policies/school-night", {**SCHOOL_NIGHT, **change})
    body = await answer.json()
    assert answer.status == 422, body
    assert sorted(body["fields"]) == sorted(fields)
    if "quiet[0].start" in fields:
        assert body["fields"]["quiet[0].start"].startswith("not a time")
        assert "quiet[0].start: not a time" in body["detail"]
    stored = await admin.get("/policies/school-night")
    assert (await stored.json())["spec"] == SCHOOL_NIGHT  # nothing changed
    assert await actions() == []
    bad_name = await admin.put("/policies/Not%20a%20Name", SCHOOL_NIGHT)
    assert bad_name.status == 422


async def test_a_quiet_window_edit_moves_the_next_summary_without_a_restart(
    write_settings: Any, start_guardian: Any, receiver: Receiver
) -> None:
    _running, admin = await started(write_settings, start_guardian, receiver)
    assert await next_summary() == at("2026-11-26T07:00:00+01:00")
    later = {**SCHOOL_NIGHT, "quiet": [{"days": "mon-thu,sun", "start": "21:30", "end": "08:15"}]}
    answer = await admin.put("/policies/school-night", later)
    assert answer.status == 200, await answer.text()
    assert await next_summary() == at("2026-11-26T08:15:00+01:00")
    entry = await AuditEntry.get(action="policy.update")
    assert entry.target == "school-night"
    assert entry.detail["spec"]["quiet"][0]["end"] == "08:15"


async def test_the_openapi_document_speaks_the_settings_format(
    write_settings: Any, start_guardian: Any, receiver: Receiver
) -> None:
    running, _ = await started(write_settings, start_guardian, receiver)
    document = await (await running.client.get("/api/v1/openapi.json")).json()
    paths = document["paths"]
    assert set(paths["/api/v1/members/{member_id}"]) == {"get", "patch"}
    assert set(paths["/api/v1/policies/{name}"]) == {"get", "put", "delete"}
    schemas = document["components"]["schemas"]
    per = schemas["BurstSpec"]["properties"]["per"]
    assert per["type"] == "string" and "format" not in per
    assert re.fullmatch(per["pattern"], "1h30m")
    start = schemas["QuietWindowSpec"]["properties"]["start"]
    assert start["type"] == "string" and "format" not in start
    assert re.search(start["pattern"], "21:30") and not re.search(start["pattern"], "24:00")


# --- the week grid ------------------------------------------------------------------------------


def test_the_week_grid_wraps_windows_past_midnight() -> None:
    policy = PolicySettings.model_validate(
        {
            "quiet": [
                {"days": "mon-thu,sun", "start": "21:30", "end": "07:00"},
                {"days": "mon-fri", "start": "08:30", "end": "15:00"},
                {"days": "sat", "start": "06:00", "end": "07:30"},
            ]
        }
    )
    week = {day.name: day.summary for day in quiet_week(policy)}
    assert week == {
        "Mon": "00:00–07:00, 08:30–15:00, 21:30–24:00",
        "Tue": "00:00–07:00, 08:30–15:00, 21:30–24:00",
        "Wed": "00:00–07:00, 08:30–15:00, 21:30–24:00",
        "Thu": "00:00–07:00, 08:30–15:00, 21:30–24:00",
        "Fri": "00:00–07:00, 08:30–15:00",
        "Sat": "06:00–07:30",
        "Sun": "21:30–24:00",
    }
    assert [d.summary for d in quiet_week(PolicySettings())] == ["no quiet hours"] * 7


# --- the pages --------------------------------------------------------------------------------


def policy_form(csrf: str, **changes: Any) -> dict[str, Any]:
    form: dict[str, Any] = {
        "csrf_token": csrf,
        "quiet_rows": "2",
        "quiet-0-days": ["mon", "tue", "wed", "thu", "sun"],
        "quiet-0-start": "21:30",
        "quiet-0-end": "07:00",
        "quiet-1-start": "",
        "quiet-1-end": "",
        "summaries": "",
        "burst_limit": "",
        "burst_per": "",
        "burst_notice_every": "",
        "keywords": "",
        "repeated_count": "",
        "repeated_within": "",
        "content": "senders",
        "guardian_view": "counts",
        "report": "",
        "storm_count": "",
        "storm_within": "",
        "retention": "30",
    }
    form.update(changes)
    return form


def form_data(form: dict[str, Any]) -> list[tuple[str, str]]:
    return [
        (key, item)
        for key, value in form.items()
        for item in (value if isinstance(value, list) else [value])
    ]


async def test_member_pages_edit_and_test_channels(
    write_settings: Any, start_guardian: Any, receiver: Receiver
) -> None:
    running, admin = await started(write_settings, start_guardian, receiver)
    csrf = await admin.login()
    client, answers = running.client, Answers()

    listing = await answers.html(await client.get("/members"))
    assert "Mia" in listing and "Sam" in listing
    assert 'href="/policies/school-night"' in listing
    assert "quiet hours mon-thu,sun 21:30–07:00" in listing  # as settings.toml writes times
    assert "json://guardian:****@127.0.0.1" in listing

    page = await answers.html(await client.get("/members/mia"))
    assert 'action="/members/mia/channels/0/test"' in page
    await answers.html(await client.get("/members/nobody"), 404)

    refused = await client.post("/members/mia", data={"name": "Mia B."}, allow_redirects=False)
    await answers.html(refused, 403)
    assert running.service.household().members["mia"].name == "Mia"

    saved = await client.post(
        "/members/mia",
        data={"name": "Mia B.", "policy": "school-night", "csrf_token": csrf},
        allow_redirects=False,
    )
    assert saved.status == 303 and saved.headers["Location"] == "/members/mia?saved=member"
    assert running.service.household().members["mia"].name == "Mia B."
    empty = await client.post("/members/mia", data={"name": " ", "csrf_token": csrf})
    assert "field-error" in await answers.html(empty, 422)

    tested = await client.post(
        "/members/mia/channels/0/test", data={"csrf_token": csrf}, allow_redirects=False
    )
    assert tested.status == 303
    await receiver.wait_for(1)
    shown = await answers.html(await client.get(tested.headers["Location"]))
    assert "Test sent" in shown

    bad_url = "mailto-ish:" + PASSWORD
    refused_url = await client.post(
        "/members/mia/channels", data={"url": bad_url, "csrf_token": csrf}
    )
    refusal = await answers.html(refused_url, 422)
    assert "not an apprise url guardian can send to" in refusal.lower()
    failing = await client.post(
        "/members/mia/channels",
        data={"url": "json://127.0.0.1:1/", "csrf_token": csrf},
        allow_redirects=False,
    )
    assert failing.status == 303
    await client.post("/members/mia/channels/1/test", data={"csrf_token": csrf})
    failed = await answers.html(await client.get("/members/mia?tested=1"))
    assert "Test failed" in failed
    unconfirmed = await client.post("/members/mia/channels/1/delete", data={"csrf_token": csrf})
    assert "Tick the box to confirm" in await answers.html(unconfirmed, 422)
    assert len(running.service.household().members["mia"].channels) == 2
    removed = await client.post(
        "/members/mia/channels/1/delete",
        data={"csrf_token": csrf, "confirm": "yes"},
        allow_redirects=False,
    )
    assert removed.status == 303
    assert len(running.service.household().members["mia"].channels) == 1
    answers.assert_no(PASSWORD)
    assert await actions() == [
        "member.update",
        "channel.test",
        "channel.add",
        "channel.test",
        "channel.remove",
    ]


async def test_policy_page_edits_quiet_hours_on_the_week_grid(
    write_settings: Any, start_guardian: Any, receiver: Receiver
) -> None:
    running, admin = await started(write_settings, start_guardian, receiver)
    csrf = await admin.login()
    client, answers = running.client, Answers()

    page = await answers.html(await client.get("/policies/school-night"))
    assert 'data-day="Mon" data-span="00:00–07:00"' in page
    assert 'data-day="Sun" data-span="21:30–24:00"' in page
    assert 'data-day="Fri" data-span="00:00–07:00"' in page  # Thursday night, into Friday
    assert (
        'name="quiet-0-end" type="text" inputmode="numeric" placeholder="07:00" value="07:00"'
        in page
    )
    await answers.html(await client.get("/policies/nope"), 404)

    bad = policy_form(csrf, **{"quiet-0-start": "25:00", "burst_limit": "3"})
    refused = await answers.html(
        await client.post("/policies/school-night", data=form_data(bad)), 422
    )
    assert 'id="quiet-0-start-error">not a time' in refused
    assert 'value="25:00"' in refused  # kept as entered
    assert 'id="burst_per-error"' in refused
    assert 'aria-describedby="quiet-0-start-error"' in refused

    no_token = {k: v for k, v in policy_form(csrf).items() if k != "csrf_token"}
    forbidden = await client.post(
        "/policies/school-night", data=form_data(no_token), allow_redirects=False
    )
    await answers.html(forbidden, 403)
    assert await actions() == []

    assert await next_summary() == at("2026-11-26T07:00:00+01:00")
    good = policy_form(
        csrf,
        **{
            "quiet-0-end": "08:15",
            "quiet-1-days": ["sat"],
            "quiet-1-start": "13:00",
            "quiet-1-end": "14:00",
            "summaries": "12:30, 18:00",
            "burst_limit": "3",
            "burst_per": "10m",
            "burst_notice_every": "15m",
            "keywords": "emergency, hospital",
            "storm_count": "20",
            "storm_within": "30m",
            "storm_alert_guardians": "1",
        },
    )
    saved = await client.post("/policies/school-night", data=form_data(good), allow_redirects=False)
    assert saved.status == 303 and saved.headers["Location"] == "/policies/school-night?saved=1"
    assert await next_summary() == at("2026-11-26T08:15:00+01:00")
    policy = running.service.household().policies["school-night"]
    assert [w.days for w in policy.quiet] == ["mon-thu,sun", "sat"]
    assert policy.storm is not None and policy.storm.alert_guardians
    assert policy.breakthrough.keywords == ["emergency", "hospital"]
    after = await answers.html(await client.get(saved.headers["Location"]))
    assert "Saved." in after
    assert 'data-day="Fri" data-span="00:00–08:15"' in after
    assert 'data-day="Sat" data-span="13:00–14:00"' in after

    removal = policy_form(csrf, **{"quiet_rows": "3", "quiet-1-days": ["sat"],
                                   "quiet-1-start": "13:00", "quiet-1-end": "14:00",
                                   "quiet-1-remove": "1"})  # fmt: skip
    await client.post("/policies/school-night", data=form_data(removal))
    assert len(running.service.household().policies["school-night"].quiet) == 1
    assert await actions() == ["policy.update", "policy.update"]


async def test_a_member_s_language_is_their_own_or_the_household_s(
    write_settings: Any, start_guardian: Any, receiver: Receiver
) -> None:
    running, admin = await started(write_settings, start_guardian, receiver)
    answers = Answers()

    def language(member: str) -> str:
        return running.service.household().members[member].language

    assert (await answers.json(await admin.get("/members/mia"), 200))["language"] is None
    assert (await answers.json(await admin.get("/household"), 200))["language"] == "en"
    dutch = await answers.json(await admin.patch("/members/mia", {"language": "nl"}), 200)
    assert dutch["language"] == "nl" and language("mia") == "nl"
    refused = await answers.json(await admin.patch("/members/mia", {"language": "xx"}), 422)
    assert set(refused["fields"]) == {"language"}

    await answers.json(await admin.post("/members/mia/channels/0/test"), 200)
    [arrived] = await receiver.wait_for(1)
    assert (arrived["title"], arrived["message"]) == (
        "Test van Guardian",
        "Hoi Mia, dit is een test van Guardian. Dit kanaal werkt.",
    )

    german = await answers.json(await admin.patch("/household", {"language": "de"}), 200)
    assert german["language"] == "de"
    assert (language("mia"), language("sam")) == ("nl", "de")
    back = await answers.json(await admin.patch("/members/mia", {"language": None}), 200)
    assert back["language"] is None and language("mia") == "de"
    unknown = await answers.json(await admin.patch("/household", {"language": "tlh"}), 422)
    assert set(unknown["fields"]) == {"language"}
    assert await actions() == [
        "member.update",
        "channel.test",
        "household.update",
        "member.update",
    ]


async def test_the_member_page_chooses_a_language(
    write_settings: Any, start_guardian: Any, receiver: Receiver
) -> None:
    running, admin = await started(write_settings, start_guardian, receiver)
    csrf = await admin.login()
    client, answers = running.client, Answers()
    page = await answers.html(await client.get("/members/mia"))
    assert '<label for="language">' in page
    assert "The household&#39;s (English)</option>" in page  # the page's own apostrophe, escaped
    assert '<option value="nl" lang="nl">Nederlands</option>' in page

    form = {"name": "Mia", "policy": "school-night", "csrf_token": csrf}
    saved = await client.post(
        "/members/mia", data={**form, "language": "fr"}, allow_redirects=False
    )
    assert saved.status == 303
    assert running.service.household().members["mia"].language == "fr"
    shown = await answers.html(await client.get("/members/mia"))
    assert '<option value="fr" lang="fr" selected>Français</option>' in shown
    wrong = await answers.html(
        await client.post("/members/mia", data={**form, "language": "xx"}), 422
    )
    assert 'id="language-error"' in wrong
    assert running.service.household().members["mia"].language == "fr"


async def test_the_member_page_lists_their_logins(
    write_settings: Any, start_guardian: Any, receiver: Receiver
) -> None:
    running, admin = await started(write_settings, start_guardian, receiver)
    household = running.service.household().id
    await accounts.add_user(household, "mia-phone", "a long password", NOW, member="mia")
    await accounts.add_user(household, "sam-phone", "a long password", NOW, member="sam")
    await admin.login()
    client, answers = running.client, Answers()

    page = await answers.html(await client.get("/members/mia"))
    logins = page[page.index('id="logins"') : page.index('id="channels"')]
    assert "<strong>mia-phone</strong>" in logins
    assert "Mia&#39;s own page only" in logins or "Mia's own page only" in logins
    assert "sam-phone" not in logins and "<strong>sam</strong>" not in logins
    assert 'href="/access#logins"' in logins

    sam = await answers.html(await client.get("/members/sam"))
    assert "<strong>sam-phone</strong>" in sam
    assert "Sam, guardian" in sam
    await accounts.add_user(household, "noor", "a long password", NOW)  # no member: not listed
    assert "noor" not in await answers.html(await client.get("/members/mia"))
