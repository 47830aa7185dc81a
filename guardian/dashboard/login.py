"""The login and logout pages; who may do what once logged in is guardian.auth's."""

from __future__ import annotations

import logging
import secrets

from aiohttp import web

from guardian import accounts
from guardian.accounts import CSRF_FIELD, PRINCIPAL
from guardian.auth import SESSION_COOKIE, local_path, secure_cookies
from guardian.dashboard import page_language, render
from guardian.models import User
from guardian.proxies import client_address, limit_key
from guardian.state import SERVICE

log = logging.getLogger(__name__)

LOGIN_COOKIE = "guardian_login"
routes = web.RouteTableDef()


@routes.get("/login")
async def login_page(request: web.Request) -> web.StreamResponse:
    return await _login_form(request, status=200)


async def _login_form(
    request: web.Request, *, status: int, error: str | None = None, username: str = ""
) -> web.Response:
    # Reused while it lasts: a second login tab (or a page's script sent here after a logout)
    # must not expire the form already open in the first.
    token = request.cookies.get(LOGIN_COOKIE) or secrets.token_urlsafe(24)
    if len(token) > 64:
        token = secrets.token_urlsafe(24)
    household_id = request.app[SERVICE].household().id
    response = render(
        request,
        "login.html",
        {
            "login_token": token,
            "error": error,
            "username": username,
            "next": local_path(request.query.get("next")),
            "no_users": not await User.filter(household_id=household_id).exists(),
        },
        status=status,
    )
    response.set_cookie(
        LOGIN_COOKIE,
        token,
        httponly=True,
        samesite="Strict",
        secure=secure_cookies(request),
        path="/login",
        max_age=3600,
    )
    return response


@routes.post("/login")
async def login(request: web.Request) -> web.StreamResponse:
    service = request.app[SERVICE]
    form = await request.post()
    username = str(form.get("username", "")).strip()
    password = str(form.get("password", ""))
    if not accounts.same_token(request.cookies.get(LOGIN_COOKIE), str(form.get(CSRF_FIELD, ""))):
        expired = page_language(request).gettext("The form expired. Please try again.")
        return await _login_form(request, status=403, error=expired, username=username)
    now = service.clock.now()
    client = client_address(
        request.remote, request.headers, service.settings.server.trusted_proxies
    )
    user_key = f"user:{username.lower()[:64]}"
    keys = (f"address:{limit_key(client)}", user_key)
    # Counted now, before the password is checked: parallel guesses all count.
    wait = service.login_limiter.take(keys, now)
    if wait:
        log.warning("login for %r from %s refused: too many attempts", username[:64], client)
        minutes = wait // 60 + 1
        # Translators: on the login page; {n} is how many minutes to wait.
        later = page_language(request).ngettext(
            "Too many failed attempts. Try again in {n} minute.",
            "Too many failed attempts. Try again in {n} minutes.",
            minutes,
        )
        response = await _login_form(request, status=429, error=later, username=username)
        response.headers["Retry-After"] = str(wait)
        return response
    user = await accounts.check_password(
        service.household().id, username, password, service.hashing
    )
    if user is None:
        log.warning("failed login for %r from %s", username[:64], client)
        wrong = page_language(request).gettext("Wrong username or password.")
        return await _login_form(request, status=401, error=wrong, username=username)
    service.login_limiter.succeeded(keys, now, forget=user_key)
    token, _ = await accounts.open_session(user, now)
    log.info("%s logged in", user.username)
    response = web.HTTPSeeOther(local_path(str(form.get("next", "/"))))
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="Lax",
        secure=secure_cookies(request),
        path="/",
        max_age=int(accounts.SESSION_LIFETIME.total_seconds()),
    )
    response.del_cookie(LOGIN_COOKIE, path="/login")
    raise response


@routes.post("/logout")
async def logout(request: web.Request) -> web.StreamResponse:
    """POST only, with the CSRF token (checked by the middleware): a link cannot log anyone out."""
    session_id = request[PRINCIPAL].session_id
    if session_id is not None:
        await accounts.close_session(session_id)
    response = web.HTTPSeeOther("/login")
    response.del_cookie(SESSION_COOKIE, path="/")
    raise response
