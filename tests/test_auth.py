"""Logging in and out, sessions, API tokens, CSRF, and the login rate limit."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from guardian import accounts
from guardian.models import WebSession
from tests.admin import PASSWORD, USERNAME, admin_client
from tests.conftest import at

NOW = at("2026-11-25T20:00:00+01:00")


async def test_logged_out_pages_redirect_to_login_and_api_answers_401(
    write_settings: Any, start_guardian: Any
) -> None:
    running = await start_guardian(write_settings(), NOW)
    page = await running.client.get("/", allow_redirects=False)
    assert page.status == 303
    assert page.headers["Location"].startswith("/login")
    api = await running.client.get("/api/v1/members")
    assert api.status == 401
    assert (await api.json())["error"] == "unauthorized"
    assert api.headers["WWW-Authenticate"].startswith("Bearer")
    login = await running.client.get("/login")
    assert login.status == 200
    assert "guardian user add" in await login.text()  # no accounts yet: says how to make one


async def test_login_sets_a_safe_session_cookie_and_logout_ends_it(
    write_settings: Any, start_guardian: Any
) -> None:
    running = await start_guardian(write_settings(), NOW)
    admin = await admin_client(running)
    csrf = await admin.login()
    session = next(c for c in admin.set_cookie if c.startswith("guardian_session="))
    assert "HttpOnly" in session
    assert "SameSite=Lax" in session
    assert "Secure" not in session  # plain HTTP here; behind TLS (public_url https) it is set
    assert (await running.client.get("/", allow_redirects=False)).status == 200
    refused = await running.client.post("/logout", data={}, allow_redirects=False)
    assert refused.status == 403  # no CSRF token: refused
    out = await running.client.post("/logout", data={"csrf_token": csrf}, allow_redirects=False)
    assert out.status == 303
    assert (await running.client.get("/", allow_redirects=False)).status == 303


async def test_wrong_password_and_rate_limit(write_settings: Any, start_guardian: Any) -> None:
    running = await start_guardian(write_settings(), NOW)
    await admin_client(running)
    statuses = []
    for _ in range(7):
        page = await running.client.get("/login")
        token = (await page.text()).split('name="csrf_token" value="')[1].split('"')[0]
        answer = await running.client.post(
            "/login", data={"username": USERNAME, "password": "wrong", "csrf_token": token}
        )
        statuses.append(answer.status)
    assert statuses[:5] == [401] * 5
    assert statuses[5:] == [429, 429]
    assert int(answer.headers["Retry-After"]) > 0


async def test_login_form_without_its_token_is_refused(
    write_settings: Any, start_guardian: Any
) -> None:
    running = await start_guardian(write_settings(), NOW)
    await admin_client(running)
    answer = await running.client.post(
        "/login", data={"username": USERNAME, "password": PASSWORD}, allow_redirects=False
    )
    assert answer.status == 403


async def test_api_token_and_session_csrf(write_settings: Any, start_guardian: Any) -> None:
    running = await start_guardian(write_settings(), NOW)
    admin = await admin_client(running)
    assert (await admin.get("/household")).status == 200
    bad = await running.client.get(
        "/api/v1/household", headers={"Authorization": "Bearer gdn_nope"}
    )
    assert bad.status == 401
    csrf = await admin.login()
    # With a session, a change needs the CSRF header; a read does not.
    assert (await running.client.get("/api/v1/household")).status == 200
    refused = await running.client.patch("/api/v1/household", json={"name": "X"})
    assert refused.status == 403
    assert (await refused.json())["error"] == "csrf"
    done = await running.client.patch(
        "/api/v1/household", json={"name": "X"}, headers={"X-CSRF-Token": csrf}
    )
    assert done.status == 200, await done.text()


async def test_children_get_no_account(write_settings: Any, start_guardian: Any) -> None:
    running = await start_guardian(write_settings(), NOW)
    household = running.guardian.household().id
    for kwargs in ({"member": "mia"}, {}):
        name = "mia" if not kwargs else "someone"
        try:
            await accounts.add_user(household, name, PASSWORD, NOW, **kwargs)
        except accounts.AccountError as error:
            assert "child" in str(error)
        else:
            raise AssertionError("a child got an account")


async def test_a_second_login_page_does_not_expire_the_first(
    write_settings: Any, start_guardian: Any
) -> None:
    running = await start_guardian(write_settings(), NOW)
    await admin_client(running)
    first = await (await running.client.get("/login")).text()
    token = first.split('name="csrf_token" value="')[1].split('"')[0]
    await running.client.get("/login")  # another tab
    answer = await running.client.post(
        "/login",
        data={"username": USERNAME, "password": PASSWORD, "csrf_token": token},
        allow_redirects=False,
    )
    assert answer.status == 303


async def test_background_fetches_answer_401_without_a_session(
    write_settings: Any, start_guardian: Any
) -> None:
    running = await start_guardian(write_settings(), NOW)
    for path in ("/events", "/tonight/members"):
        answer = await running.client.get(path, allow_redirects=False)
        assert answer.status == 401, path


async def test_expired_sessions_are_purged_with_the_hourly_purge(
    write_settings: Any, start_guardian: Any
) -> None:
    running = await start_guardian(write_settings(), NOW)
    admin = await admin_client(running)
    await admin.login()
    assert await WebSession.all().count() == 1
    await running.tick_at(NOW + accounts.SESSION_LIFETIME + timedelta(hours=2))
    assert await WebSession.all().count() == 0


#: `next` values (as the query or the form carries them, before any decoding by aiohttp) and
#: where the login may go. aiohttp's redirect passes the location through yarl, which drops
#: tabs and line breaks: `/<TAB>/evil.example` became `//evil.example`, another site.
NEXT_TARGETS = [
    ("/%09/evil.example", "/"),
    ("/%0a/evil.example", "/"),
    ("/%0d%0a/evil.example", "/"),
    ("//evil.example", "/"),
    ("///evil.example", "/evil.example"),  # yarl reads an empty host: a path here
    ("/%5cevil.example", "/"),
    ("/%5c%5cevil.example", "/"),
    ("https://evil.example/", "/"),
    ("https:/evil.example", "/"),
    ("javascript:alert(1)", "/"),
    ("evil.example", "/"),
    ("%2F%2Fevil.example", "/"),
    ("", "/"),
    ("/deliveries%3Fkind%3Dforward%26status%3Dfailed", "/deliveries?kind=forward&status=failed"),
    ("/members/mia", "/members/mia"),
    ("/deliveries/12", "/deliveries/12"),
]


async def test_next_stays_on_this_site_after_login(
    write_settings: Any, start_guardian: Any
) -> None:
    running = await start_guardian(write_settings(), NOW)
    await admin_client(running)
    for raw, expected in NEXT_TARGETS:
        page = await running.client.get(f"/login?next={raw}")
        html = await page.text()
        shown = html.split('name="next" value="')[1].split('"')[0]
        assert shown.replace("&amp;", "&") == expected, (raw, shown)
        token = html.split('name="csrf_token" value="')[1].split('"')[0]
        # The form field carries whatever a crafted link or a hand-made form puts in it.
        form = f"username={USERNAME}&password={PASSWORD.replace(' ', '+')}&csrf_token={token}"
        answer = await running.client.post(
            "/login",
            data=f"{form}&next={raw}",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
            allow_redirects=False,
        )
        assert answer.status == 303, raw
        assert answer.headers["Location"] == expected, raw
