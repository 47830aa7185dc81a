"""A child's own login: it opens their own page (what their guardians see of them and when,
their own recent summaries) and nothing else. Every other page and API route answers 403 to
it, and it changes nothing: walked over every route the app has."""

from __future__ import annotations

import re
from typing import Any

from guardian import accounts
from guardian.models import AuditEntry, Contact, Delivery, User
from tests.admin import PASSWORD, admin_client
from tests.conftest import Receiver, at, message

EVENING = at("2026-11-25T20:00:00+01:00")  # a Wednesday, before Mia's quiet hours
NIGHT = at("2026-11-25T23:00:00+01:00")
MORNING = at("2026-11-26T07:05:00+01:00")  # her quiet hours ended at 07:00: a summary
#: Routes outside the admin side: the networks, the probes, the login itself, static files.
PUBLIC = ("/hooks/", "/healthz", "/readyz", "/metrics", "/static/", "/login", "/favicon.ico")
#: What a child's login may open, besides logging out.
OWN = {
    ("GET", "/members/mia/transparency"),
    ("GET", "/api/v1/members/mia/transparency"),
    ("GET", "/api/v1/members/mia/summaries"),
    ("GET", "/api/v1/me"),
    ("GET", "/api/v1/openapi.json"),
}
FILL = {"member_id": "mia", "tail": "anything"}


async def _household(write_settings: Any, start_guardian: Any, receiver: Receiver) -> Any:
    settings = write_settings(mia_channels=[receiver.channel("mia")])
    running = await start_guardian(settings, EVENING)
    admin = await admin_client(running)
    household = running.service.household().id
    await accounts.add_user(household, "mia", PASSWORD, EVENING, member="mia")
    return running, admin


def _path(canonical: str) -> str:
    return re.sub(r"\{([a-z_]+)(:[^}]*)?\}", lambda m: FILL.get(m.group(1), "x1"), canonical)


async def test_a_child_sees_only_their_own_page(
    write_settings: Any, start_guardian: Any, receiver: Receiver
) -> None:
    running, admin = await _household(write_settings, start_guardian, receiver)
    # A summary for Mia: two messages held in her quiet hours, summarised when they end.
    await running.clock.set(NIGHT)
    for n in (1, 2):
        assert (await running.post(message(n, "are you awake?"))).status == 202
    await running.run_until(MORNING)
    await receiver.wait_for(1)
    assert await Delivery.filter(kind="summary").count() == 1

    csrf = await admin.login("mia")  # `/` sends her on to her own page
    home = await running.client.get("/", allow_redirects=False)
    assert (home.status, home.headers["Location"]) == (303, "/members/mia/transparency")
    page = await (await running.client.get("/members/mia/transparency")).text()
    assert "What your guardians see about you, and when" in page
    assert "Your recent summaries" in page and "Sophie" in page  # as sent to her
    # Her navigation is her own page, and nothing else.
    nav = re.search(r'<nav aria-label="Main"[^>]*>(.*?)</nav>', page, re.S)
    assert nav is not None
    assert re.findall(r'href="([^"]+)"', nav.group(1)) == ["/members/mia/transparency"]

    me = await (await running.client.get("/api/v1/me")).json()
    assert me == {
        "username": "mia",
        "member": "mia",
        "role": "child",
        "own_page": "/members/mia/transparency",
    }
    summaries = await (await running.client.get("/api/v1/members/mia/summaries")).json()
    assert [s["shown_at"] for s in summaries["items"]] == ["sent"]
    assert "Sophie" in summaries["items"][0]["body"]

    # A guardian's view of the same page lists no summaries: it is what Mia is shown of hers.
    guardian_page = await admin.client.get(
        "/api/v1/members/mia/summaries", headers=admin._headers()
    )
    assert (await guardian_page.json())["items"][0]["shown_at"] == "counts"

    # Nothing else opens, whatever the method; nothing changes.
    audit_before = await AuditEntry.all().count()
    contacts_before = [c.trust for c in await Contact.all()]
    refused = []
    for route in running.client.app.router.routes():
        info = route.resource.canonical if route.resource else ""
        if info.startswith(PUBLIC) or info in ("/logout", "/language"):
            continue
        methods = (
            ["GET", "POST", "PUT", "PATCH", "DELETE"] if route.method == "*" else [route.method]
        )
        for method in methods:
            if method == "HEAD":
                continue
            path = _path(info)
            answer = await running.client.request(
                method,
                path,
                json={},
                headers={"X-CSRF-Token": csrf},
                allow_redirects=False,
            )
            if (method, path) in OWN or (method, path) == ("GET", "/"):
                continue
            refused.append((method, path))
            assert answer.status == 403, (method, path, answer.status, await answer.text())
            if path.startswith("/api/") or path in ("/events", "/tonight/members"):
                assert (await answer.json())["error"] == "forbidden"
            else:
                assert "This is for guardians" in await answer.text()
    assert len(refused) > 40  # every page and endpoint of the admin side was tried
    assert ("GET", "/members/mia") in refused and ("POST", "/api/v1/users") in refused
    other = await running.client.get("/members/sam/transparency")
    assert other.status == 403  # another member's page is not hers
    assert (await running.client.get("/api/v1/members/sam/summaries")).status == 403
    assert await AuditEntry.all().count() == audit_before
    assert [c.trust for c in await Contact.all()] == contacts_before

    # She can log out.
    out = await running.client.post("/logout", data={"csrf_token": csrf}, allow_redirects=False)
    assert out.status == 303
    assert (await running.client.get("/api/v1/me")).status == 401


async def test_a_childs_token_is_refused_too_and_stays_a_childs(
    write_settings: Any, start_guardian: Any, receiver: Receiver
) -> None:
    running, admin = await _household(write_settings, start_guardian, receiver)
    child = await User.get(username="mia")
    token, _ = await accounts.create_token(child.id, "made by hand", EVENING)
    bearer = {"Authorization": f"Bearer {token}"}
    assert (await running.client.get("/api/v1/me", headers=bearer)).status == 200
    for method, path in (("GET", "/api/v1/people"), ("PATCH", "/api/v1/household")):
        answer = await running.client.request(method, path, json={"name": "X"}, headers=bearer)
        assert answer.status == 403, path
    # Her member gone (an import without her), the login does not become a guardian's.
    await User.filter(id=child.id).update(member_id=None)
    me = await (await running.client.get("/api/v1/me", headers=bearer)).json()
    assert (me["role"], me["own_page"]) == ("child", None)
    assert (
        await running.client.get("/api/v1/members/mia/transparency", headers=bearer)
    ).status == 403
    assert (await admin.get("/users")).status == 200


async def test_a_guardian_gives_a_child_a_login_from_the_dashboard(
    write_settings: Any, start_guardian: Any, receiver: Receiver
) -> None:
    running = await start_guardian(write_settings(), EVENING)
    admin = await admin_client(running)
    csrf = await admin.login()
    page = await (await running.client.get("/members/mia")).text()
    assert 'href="/access?member=mia#logins"' in page
    access = await (await running.client.get("/access?member=mia")).text()
    assert '<option value="mia" selected>' in access

    form = {"csrf_token": csrf, "member": "mia", "username": "mia", "password": "short"}
    refused = await running.client.post("/access/logins", data=form)
    assert refused.status == 422
    text = await refused.text()
    assert "at least 8 characters" in text and 'value="mia"' in text  # what was typed stays
    form["password"] = "a long password"
    added = await running.client.post("/access/logins", data=form, allow_redirects=False)
    assert added.status == 303, await added.text()
    done = await (await running.client.get(added.headers["Location"])).text()
    assert "It shows only Mia" in done
    assert [
        (u["username"], u["role"]) for u in (await (await admin.get("/users")).json())["items"]
    ] == [
        ("sam", "guardian"),
        ("mia", "child"),
    ]
    log = (await (await admin.get("/audit?kind=user")).json())["items"]
    assert log[0]["sentence"] == (
        "Sam gave Mia the dashboard login mia, which shows only Mia's own page"
    )
    assert log[0]["members"] == ["mia"]
    assert "a long password" not in str(log)

    # The API refuses what the form refuses, and a guardian cannot remove their own login.
    again = await admin.post("/users", json={"username": "mia", "password": "x" * 9})
    assert again.status == 409
    assert (
        await admin.post(
            "/users", json={"username": "kid", "password": "x" * 9, "member": "nobody"}
        )
    ).status == 422
    assert (await admin.delete("/users/sam")).status == 409
    assert (await admin.delete("/users/mia")).status == 204
    assert (await admin.delete("/users/mia")).status == 404
    removed = (await (await admin.get("/audit?kind=user")).json())["items"][0]
    assert removed["sentence"] == "Sam (by script) removed the dashboard login mia"
