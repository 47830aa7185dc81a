"""The browser stack works before any page exists: Chromium reaches the in-process app, sizes
its viewport, writes screenshots, reports script errors, and the login helper keeps its
contract."""

from __future__ import annotations

import json
import struct
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from playwright.async_api import Page

from guardian.accounts import check_password
from tests.browser.conftest import Dashboard, login, screenshot


async def test_the_browser_reads_the_apps_health(
    dashboard: Dashboard, browser_page: Page, page_errors: list[str]
) -> None:
    response = await browser_page.goto(dashboard.url("/healthz"))
    assert response is not None and response.status == 200
    assert json.loads(await browser_page.locator("body").inner_text()) == {"status": "alive"}
    assert await check_password(dashboard.household_id, dashboard.username, dashboard.password)
    assert page_errors == []


async def test_a_phone_sized_screenshot_is_a_png(
    dashboard: Dashboard,
    browser_page: Page,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GUARDIAN_ARTIFACTS", str(tmp_path))
    await browser_page.set_viewport_size({"width": 375, "height": 812})
    await browser_page.goto(dashboard.url("/healthz"))
    assert await browser_page.evaluate("[innerWidth, innerHeight]") == [375, 812]

    path = await screenshot(browser_page, "phone")

    assert path == tmp_path / "screenshots" / "test_a_phone_sized_screenshot_is_a_png-phone.png"
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    assert data[12:16] == b"IHDR"
    width, height = struct.unpack(">II", data[16:24])
    assert (width, height) == (375, 812)


async def test_script_errors_are_collected(browser_page: Page, page_errors: list[str]) -> None:
    await browser_page.set_content("<p>nothing runs here</p>")
    assert page_errors == []
    async with browser_page.expect_event("pageerror"):
        await browser_page.evaluate("setTimeout(() => { throw new Error('thrown later') })")
    async with browser_page.expect_event("console"):
        await browser_page.evaluate("console.error('logged')")
    assert page_errors[0] == "pageerror: thrown later"
    assert page_errors[1].startswith("console.error: logged")


async def test_requests_off_this_machine_are_blocked(
    browser_page: Page, page_errors: list[str]
) -> None:
    async with browser_page.expect_event("requestfailed"):
        await browser_page.set_content('<img src="http://example.org/pixel.png">')
    assert "external request blocked: http://example.org/pixel.png" in page_errors


async def test_login_follows_the_form_contract(aiohttp_server: Any, browser_page: Page) -> None:
    """Against a stand-in for the login page: GET /login is a form, POST /login with username,
    password and csrf_token answers 303 to /."""
    posted: list[dict[str, str]] = []

    async def form(request: web.Request) -> web.Response:
        return web.Response(
            content_type="text/html",
            text='<form method="post" action="/login">'
            '<input type="hidden" name="csrf_token" value="c5rf">'
            '<input name="username"><input name="password" type="password">'
            '<button type="submit">Log in</button></form>',
        )

    async def submit(request: web.Request) -> web.Response:
        posted.append({key: str(value) for key, value in (await request.post()).items()})
        raise web.HTTPSeeOther("/")

    async def home(request: web.Request) -> web.Response:
        return web.Response(content_type="text/html", text="<h1>Guardian</h1>")

    app = web.Application()
    app.router.add_get("/login", form)
    app.router.add_post("/login", submit)
    app.router.add_get("/", home)
    server = await aiohttp_server(app)
    base_url = str(server.make_url("")).rstrip("/")

    await login(browser_page, base_url, "parent", "correct horse battery")

    assert posted == [
        {"csrf_token": "c5rf", "username": "parent", "password": "correct horse battery"}
    ]
    assert await browser_page.locator("h1").inner_text() == "Guardian"
