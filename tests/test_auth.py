"""Logging in and out, sessions, API tokens, CSRF, and the login rate limit."""

from __future__ import annotations

import asyncio
import re
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import aiohttp

from guardian import accounts
from guardian.models import WebSession
from guardian.settings import Settings
from tests.admin import PASSWORD, USERNAME, admin_client
from tests.conftest import TOKEN, at, message, settings_toml
from tests.serve import start_serve, stopped_at_end

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


async def test_a_childs_login_is_a_childs(write_settings: Any, start_guardian: Any) -> None:
    # Issue 6 refused children an account; since issue 16 a child's login opens their own page
    # only (tests/test_child_login.py), by their member or by their id as the username.
    running = await start_guardian(write_settings(), NOW)
    household = running.service.household().id
    for name, kwargs in (("mia", {}), ("someone", {"member": "mia"})):
        user = await accounts.add_user(household, name, PASSWORD, NOW, **kwargs)
        assert user.role == "child"
    unlinked = await accounts.add_user(household, "admin", PASSWORD, NOW)
    assert unlinked.role == "guardian"


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


async def login_form_token(client: Any) -> str:
    page = await client.get("/login")
    return str((await page.text()).split('name="csrf_token" value="')[1].split('"')[0])


async def try_login(client: Any, token: str, username: str, password: str, **headers: str) -> int:
    answer = await client.post(
        "/login",
        data={"username": username, "password": password, "csrf_token": token},
        headers=headers,
        allow_redirects=False,
    )
    return int(answer.status)


async def test_parallel_guesses_are_counted_before_their_passwords_are_checked(
    write_settings: Any, start_guardian: Any
) -> None:
    running = await start_guardian(write_settings(), NOW)
    await admin_client(running)
    token = await login_form_token(running.client)
    statuses = await asyncio.gather(
        *(try_login(running.client, token, USERNAME, f"guess {n}") for n in range(40))
    )
    # At most the limit is tried, however many arrive at once; the rest wait.
    assert sorted(statuses) == [401] * 5 + [429] * 35
    assert await try_login(running.client, token, USERNAME, PASSWORD) == 429


def behind_proxy(settings: Settings, *trusted: str) -> Settings:
    server = settings.server.model_copy(update={"trusted_proxies": list(trusted)})
    return settings.model_copy(update={"server": server})


async def test_behind_the_proxy_each_client_is_limited_by_its_own_address(
    write_settings: Any, start_guardian: Any
) -> None:
    running = await start_guardian(behind_proxy(write_settings(), "127.0.0.1"), NOW)
    await admin_client(running)
    token = await login_form_token(running.client)
    client = running.client
    intruder = {"X-Forwarded-For": "203.0.113.5"}
    for n in range(5):
        assert await try_login(client, token, f"guess-{n}", "wrong", **intruder) == 401
    assert await try_login(client, token, "guess-5", "wrong", **intruder) == 429
    # What the intruder writes in front of the address the proxy appends changes nothing.
    spoofed = {"X-Forwarded-For": "198.51.100.7, 203.0.113.5"}
    assert await try_login(client, token, "guess-6", "wrong", **spoofed) == 429
    # The rest of the household, from another address, logs in as ever.
    parent = {"X-Forwarded-For": "198.51.100.7"}
    assert await try_login(client, token, USERNAME, PASSWORD, **parent) == 303
    token = await login_form_token(client)  # a login ends its form's token
    # RFC 7239's header too; an IPv6 client is counted by its /64.
    for n in range(5):
        v6 = {"Forwarded": f'for="[2001:db8:cafe::{n + 1}]:4711";proto=https'}
        assert await try_login(client, token, f"v6-{n}", "wrong", **v6) == 401
    next_door = {"Forwarded": 'for="[2001:db8:cafe::99]"'}
    assert await try_login(client, token, "v6-5", "wrong", **next_door) == 429


async def test_without_trusted_proxies_the_forwarded_headers_are_not_believed(
    write_settings: Any, start_guardian: Any
) -> None:
    running = await start_guardian(write_settings(), NOW)
    await admin_client(running)
    token = await login_form_token(running.client)
    for n in range(5):
        rotated = {"X-Forwarded-For": f"203.0.113.{n}"}
        assert await try_login(running.client, token, f"guess-{n}", "x", **rotated) == 401
    rotated = {"X-Forwarded-For": "203.0.113.99", "Forwarded": "for=203.0.113.98"}
    assert await try_login(running.client, token, "guess-5", "x", **rotated) == 429


async def test_logins_in_parallel_never_stall_the_webhooks(tmp_path: Path) -> None:
    """A real `guardian serve`: ten logins at once (each an argon2 check of ~150 ms of CPU)
    while a source posts webhooks; every webhook is answered within its usual time."""
    config = tmp_path / "settings.toml"
    # Quiet all day: every webhook is held, so no delivery work shares the server meanwhile.
    school_night = '[{ days = "mon-thu,sun", start = "21:30", end = "07:00" }]'
    all_day = '[{ days = "daily", start = "00:00", end = "23:59" }]'
    config.write_text(settings_toml(tmp_path / "guardian.db").replace(school_night, all_day))
    assert all_day in config.read_text()
    port = int(re.findall(r"^port = (\d+)$", config.read_text(), re.MULTILINE)[0])
    # Ten different people behind the proxy, so that the login limit lets every check run.
    proxied = {"GUARDIAN_SERVER__TRUSTED_PROXIES": '["127.0.0.1"]'}
    serve = await start_serve(config, port, tmp_path / "serve.log", level="ERROR", env=proxied)
    jar = aiohttp.CookieJar(unsafe=True)  # the login form's cookie, on an IP address
    async with stopped_at_end([serve]), aiohttp.ClientSession(cookie_jar=jar) as session:

        async def webhook(n: str) -> float:
            started = time.perf_counter()
            async with session.post(
                f"{serve.base}/hooks/mia-bridge",
                json=message(n),
                headers={"Authorization": f"Bearer {TOKEN}"},
            ) as answer:
                assert answer.status == 202, await answer.text()
            return time.perf_counter() - started

        async def login(n: int) -> float:
            started = time.perf_counter()
            async with session.post(
                f"{serve.base}/login",
                data={"username": f"nobody-{n}", "password": "wrong", "csrf_token": token},
                headers={"X-Forwarded-For": f"203.0.113.{n}"},
            ) as answer:
                assert answer.status == 401, await answer.text()
            return time.perf_counter() - started

        async with session.get(f"{serve.base}/login") as page:
            token = (await page.text()).split('name="csrf_token" value="')[1].split('"')[0]
        one_login = min([await login(100 + n) for n in range(3)])  # the first makes the dummy
        usual = max([await webhook(f"usual-{n}") for n in range(20)])
        logins = asyncio.gather(*(login(n) for n in range(10)))
        during = []
        while not logins.done():  # a busy source: a message every 20 ms
            during.append(await webhook(f"during-{len(during)}"))
            await asyncio.sleep(0.02)
        await logins
        # Halfway between a usual answer (with room for the ten hashing threads that share the
        # two cores) and a stall of one password check: the test can tell them apart.
        ordinary = 2 * usual + 0.05
        assert ordinary < one_login, (ordinary, one_login)
        allowed = (ordinary + one_login) / 2
        slow = [(i, round(t, 3)) for i, t in enumerate(during) if t > allowed]
        assert max(during) <= allowed, (slow, len(during), usual, one_login)
        assert len(during) >= 5, "the webhooks did not overlap the logins"
        assert await serve.sigterm() == 0
