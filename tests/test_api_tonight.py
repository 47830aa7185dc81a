"""Tonight at a glance, held notifications at each privacy level, live updates, simulate."""

from __future__ import annotations

import asyncio
import html
from datetime import timedelta
from pathlib import Path
from typing import Any

from guardian import accounts
from guardian.plugin import PluginRegistry
from guardian.reports import child_activity
from guardian.settings import load_settings
from tests.admin import admin_client
from tests.conftest import at, children_toml, message, settings_toml
from tests.queries import statements

EVENING = at("2026-11-24T22:00:00+01:00")  # a Tuesday, inside mia's quiet hours (21:30-07:00)
XSS_NAME = "<script>alert(1)</script>"
XSS_TEXT = '"><img src=x onerror=alert(2)>'


async def _held(running: Any, n: int, **fields: Any) -> None:
    for i in range(n):
        answer = await running.post(message(i, **fields))
        assert answer.status == 202


async def test_tonight_counts_level_shows_no_senders(
    write_settings: Any, start_guardian: Any
) -> None:
    running = await start_guardian(write_settings(), EVENING)
    admin = await admin_client(running)
    await _held(running, 3)
    tonight = await (await admin.get("/tonight")).json()
    mia = next(m for m in tonight["members"] if m["id"] == "mia")
    assert mia["quiet"]["now"] is True
    assert mia["quiet"]["until"] == "2026-11-25T06:00:00Z"
    assert mia["level"] == "counts"
    assert mia["held"] == {"count": 3, "senders": None, "people": 1}
    assert mia["next_summary_at"] == "2026-11-25T06:00:00Z"
    held = await (await admin.get("/held", params={"member": "mia"})).json()
    assert len(held["items"]) == 3
    assert all(i["sender"] is None and i["preview"] is None for i in held["items"])
    assert "Sophie" not in await (await admin.get("/held")).text()


async def test_tonight_senders_and_preview_levels(write_settings: Any, start_guardian: Any) -> None:
    extra = '\n[policies.school-night]\nguardian_view = "preview"\n'
    settings = write_settings()
    settings = settings.model_copy(
        update={
            "policies": {
                "school-night": settings.policies["school-night"].model_copy(
                    update={"guardian_view": "preview"}
                )
            }
        }
    )
    del extra
    running = await start_guardian(settings, EVENING)
    admin = await admin_client(running)
    await _held(running, 2, text="can we talk tonight? it is about school")
    tonight = await (await admin.get("/tonight")).json()
    mia = next(m for m in tonight["members"] if m["id"] == "mia")
    assert mia["held"]["senders"] == [{"sender": "Sophie", "count": 2}]
    held = await (await admin.get("/held", params={"member": "mia"})).json()
    assert held["items"][0]["preview"] == "can we talk tonight? it is about school"
    assert held["items"][0]["sender"] == "Sophie"


async def test_unknown_member_and_bad_query_are_clear_errors(
    write_settings: Any, start_guardian: Any
) -> None:
    running = await start_guardian(write_settings(), EVENING)
    admin = await admin_client(running)
    missing = await admin.get("/held", params={"member": "nobody"})
    assert missing.status == 404
    bad = await admin.get("/held", params={"limit": "many"})
    assert bad.status == 422
    assert "query.limit" in (await bad.json())["fields"]
    assert (await admin.get("/no/such/thing")).status == 404


async def test_page_shows_hostile_names_as_text(write_settings: Any, start_guardian: Any) -> None:
    settings = write_settings()
    settings = settings.model_copy(
        update={
            "policies": {
                "school-night": settings.policies["school-night"].model_copy(
                    update={"guardian_view": "preview"}
                )
            }
        }
    )
    running = await start_guardian(settings, EVENING)
    admin = await admin_client(running)
    body = message(1, text=XSS_TEXT)
    body["from"] = {"id": "+31699999999", "name": XSS_NAME}
    assert (await running.post(body)).status == 202
    await admin.login()
    page = await (await running.client.get("/")).text()
    assert XSS_NAME not in page
    assert html.escape(XSS_NAME) in page
    api = await (await admin.get("/held")).json()
    assert api["items"][0]["sender"] == XSS_NAME  # JSON carries it as data, not markup


async def test_events_stream_announces_new_notifications(
    write_settings: Any, start_guardian: Any
) -> None:
    running = await start_guardian(write_settings(), EVENING)
    admin = await admin_client(running)
    await admin.login()
    stream = await running.client.get("/events")
    assert stream.status == 200
    assert stream.headers["Content-Type"].startswith("text/event-stream")
    assert (await stream.content.readuntil(b"\n\n")).startswith(b"retry:")
    await _held(running, 1)
    event = await asyncio.wait_for(stream.content.readuntil(b"\n\n"), 5)
    assert event == b"event: update\ndata: notification\n\n"
    fragment = await (await running.client.get("/tonight/members")).text()
    assert 'data-held="1"' in fragment
    stream.close()


async def test_events_need_a_session(write_settings: Any, start_guardian: Any) -> None:
    running = await start_guardian(write_settings(), EVENING)
    answer = await running.client.get("/events", allow_redirects=False)
    assert answer.status == 401


async def test_tokens_and_audit_log(write_settings: Any, start_guardian: Any) -> None:
    running = await start_guardian(write_settings(), EVENING)
    admin = await admin_client(running)
    created = await admin.post("/tokens", json={"name": "backup script"})
    assert created.status == 201
    token = await created.json()
    assert token["token"].startswith("gdn_")
    listed = await (await admin.get("/tokens")).text()
    assert token["token"] not in listed
    assert (await admin.patch("/household", json={"name": "The Doe family"})).status == 200
    assert (await admin.patch("/household", json={"timezone": "Mars/Base"})).status == 422
    assert (await admin.delete(f"/tokens/{token['id']}")).status == 204
    assert (await admin.delete("/tokens/999999")).status == 404
    log = (await (await admin.get("/audit")).json())["items"]
    assert [e["action"] for e in log] == ["token.revoke", "household.update", "token.create"]
    assert all(e["actor"] == "sam (token)" for e in log)
    assert token["token"] not in str(log)
    await admin.login()
    page = await (await running.client.get("/audit")).text()
    assert "household.update" in page and "The Doe family" in page


async def test_simulate_replays_on_the_stored_household(
    write_settings: Any, start_guardian: Any
) -> None:
    running = await start_guardian(write_settings(), EVENING)
    admin = await admin_client(running)
    events = [
        {"at": "2026-11-24T22:10:00+01:00", "source": "mia-phone", "message": message(1)},
        {"at": "2026-11-24T22:20:00+01:00", "source": "mia-phone", "message": message(2)},
    ]
    answer = await admin.post("/simulate", json={"events": events})
    assert answer.status == 200, await answer.text()
    deliveries = (await answer.json())["deliveries"]
    summary = deliveries[0]
    assert (summary["member"], summary["kind"]) == ("mia", "summary")
    assert summary["at"] == "2026-11-25T06:00:00Z"
    assert "2 messages" in summary["title"] + summary["body"], summary
    unknown = await admin.post("/simulate", json={"events": [{**events[0], "source": "nope"}]})
    assert unknown.status == 422
    assert (await admin.post("/simulate", json={"events": []})).status == 422
    garbled = await running.client.post(
        "/api/v1/simulate", data=b"{", headers={"Authorization": f"Bearer {admin.token}"}
    )
    assert garbled.status == 400


async def test_a_source_that_went_silent_is_shown_and_reported(
    write_settings: Any, start_guardian: Any
) -> None:
    running = await start_guardian(write_settings(), EVENING)
    admin = await admin_client(running)
    await _held(running, 1)
    await running.clock.set(at("2026-11-25T23:00:00+01:00"))
    tonight = await (await admin.get("/tonight")).json()
    assert [(s["id"], s["problem"]) for s in tonight["sources"]] == [
        ("mia-phone", "silent: no message in 24 h")
    ]
    await admin.login()
    assert "nothing has come in for a day" in await (await running.client.get("/")).text()
    view = running.service.household()
    now = running.clock.now()
    report = await child_activity(view.members["mia"], view, EVENING, now)
    assert [source for source, _ in report.silent_sources] == ["mia-phone"]
    assert report.silent_sources[0][1] == EVENING  # when the last message arrived
    quiet_day = await child_activity(
        view.members["mia"], view, EVENING, EVENING + timedelta(hours=1)
    )
    assert quiet_day.silent_sources == []


async def test_a_guardian_sees_their_own_notifications_at_their_own_level(
    write_settings: Any, start_guardian: Any
) -> None:
    running = await start_guardian(write_settings(), EVENING)
    household = running.service.household().id
    user = await accounts.add_user(household, "parent", "a long password", EVENING, member="sam")
    token, _ = await accounts.create_token(user.id, "t", EVENING)
    answer = await running.client.get(
        "/api/v1/tonight", headers={"Authorization": f"Bearer {token}"}
    )
    levels = {m["id"]: m["level"] for m in (await answer.json())["members"]}
    assert levels == {"mia": "counts", "sam": "senders"}  # mia: guardian_view; sam: content


async def _children_held(folder: Path, start_guardian: Any, children: int) -> Any:
    """A household of Mia, Sam and `children` more children: Mia has one held notification,
    each child three from three people (kid{n} at EVENING + n minutes)."""
    folder.mkdir()
    path = folder / "settings.toml"
    extra = children_toml(children, "school-night", channels=True)
    path.write_text(settings_toml(folder / "guardian.db", extra=extra))
    settings = load_settings(path, PluginRegistry.discover().settings_models())
    running = await start_guardian(settings, EVENING)
    await _held(running, 1)
    for n in range(children):
        await running.clock.set(EVENING + timedelta(minutes=n))
        for i in range(3):
            sender = {"id": f"+3161234{n:02d}{i}", "name": f"Friend {i}"}
            answer = await running.post(message(f"{n}-{i}", **{"from": sender}), f"kid{n}-phone")
            assert answer.status == 202
    return running


async def _tonight_statements(folder: Path, start_guardian: Any, children: int) -> list[int]:
    """How many statements Tonight (the API, and the page's live part) and the held list run."""
    running = await _children_held(folder, start_guardian, children)
    admin = await admin_client(running)
    await admin.login()
    counts = []
    for get in (admin.get, running.client.get):
        paths = ("/tonight", "/held") if get == admin.get else ("/tonight/members",)
        for path in paths:
            assert (await get(path)).status == 200  # a login's first use is recorded once
            async with statements() as run:
                answer = await get(path)
                assert answer.status == 200
            counts.append(len(run))
            if path == "/tonight":
                body = await answer.json()
                assert len(body["members"]) == 2 + children
                if children:
                    kid = next(m for m in body["members"] if m["id"] == "kid0")
                    assert kid["held"]["count"] == 3 and kid["held"]["people"] == 3
            if path == "/held":
                assert len((await answer.json())["items"]) == 1 + 3 * children
    await running.client.close()
    return counts


async def test_tonight_reads_in_as_many_statements_for_twenty_children_as_for_one(
    tmp_path: Path, start_guardian: Any
) -> None:
    one = await _tonight_statements(tmp_path / "one", start_guardian, 0)
    twenty = await _tonight_statements(tmp_path / "twenty", start_guardian, 20)
    assert twenty == one


async def test_the_held_list_is_newest_first_across_members_up_to_its_limit(
    tmp_path: Path, start_guardian: Any
) -> None:
    running = await _children_held(tmp_path / "house", start_guardian, 3)
    admin = await admin_client(running)

    async def held(**params: Any) -> list[tuple[str, str]]:
        answer = await admin.get("/held", params=params)
        assert answer.status == 200
        return [(i["member"], i["received_at"]) for i in (await answer.json())["items"]]

    minute = [f"2026-11-24T21:0{n}:00Z" for n in range(3)]
    newest = [*[("kid2", minute[2])] * 3, *[("kid1", minute[1])] * 3]
    # At the same instant, in the order of the household's members (as read from the database).
    order = list(running.service.household().members)
    tied = sorted([*[("kid0", minute[0])] * 3, ("mia", minute[0])], key=lambda i: order.index(i[0]))
    assert await held() == [*newest, *tied]
    assert await held(limit=4) == newest[:4]
    assert await held(limit=7) == [*newest, tied[0]]
    assert await held(limit=10) == [*newest, *tied]
    assert await held(member="kid1", limit=2) == [("kid1", minute[1])] * 2
    assert await held(member="sam") == []
    await running.client.close()
