"""Who may use the dashboard and the admin API, and the login and logout pages.

Pages need a session cookie (HttpOnly, SameSite=Lax, Secure behind TLS); the API takes the
session too, or an API token as `Authorization: Bearer gdn_...`. Every state-changing request
made with a session carries its CSRF token (a form field or the `X-CSRF-Token` header); token
requests need none, since a browser never sends them by itself. The webhook, health and metrics
routes are outside: the plugins and the probes authenticate in their own way.

A child's login opens only the child's own page (what their guardians see of them and when, and
their own recent summaries) and its API answers; every other page and endpoint answers 403, and
it changes nothing but its own session (logging out). That is decided here, once, for every
route: `child_may`.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Awaitable, Callable
from urllib.parse import quote

from aiohttp import web
from yarl import URL

from guardian import accounts
from guardian.accounts import CSRF_FIELD, PRINCIPAL, Principal
from guardian.admin import AdminError
from guardian.app import GUARDIAN
from guardian.dashboard import error_page, page_language, render
from guardian.i18n import N_
from guardian.ingest import error_response
from guardian.models import User
from guardian.proxies import client_address, limit_key

log = logging.getLogger(__name__)

SESSION_COOKIE = "guardian_session"
LOGIN_COOKIE = "guardian_login"
CSRF_HEADER = "X-CSRF-Token"
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
PUBLIC_PREFIXES = ("/hooks/", "/healthz", "/readyz", "/metrics", "/static/", "/login")
PUBLIC_PATHS = frozenset({"/api/v1/openapi.json", "/favicon.ico"})
#: Fetched by a page's script, not opened by a person: a lost session answers 401, and the
#: script reloads the page, which then goes to the login form.
BACKGROUND_PATHS = frozenset({"/events", "/tonight/members"})

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def child_may(principal: Principal, method: str, path: str) -> bool:
    """Whether a child's login may make this request: read their own page and its API answers,
    log out and choose the language of their page. Nothing else, and no change at all."""
    if method == "POST":
        return path in ("/logout", "/language")
    if method not in ("GET", "HEAD"):
        return False
    if path == "/api/v1/me" or principal.member is None:
        return path == "/api/v1/me"
    own = f"/members/{principal.member}"
    return path in (f"{own}/transparency", f"/api/v1{own}/transparency", f"/api/v1{own}/summaries")


# Translators: a child's login opened a page for guardians.
CHILD_REFUSED = N_("This is for guardians. Your own page shows what your guardians see.")


def is_api(request: web.Request) -> bool:
    return request.path.startswith("/api/")


@web.middleware
async def authenticate(request: web.Request, handler: Handler) -> web.StreamResponse:
    path = request.path
    if path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES):
        return await handler(request)
    principal = await _principal(request)
    if principal is None:
        if is_api(request):
            response = error_response(401, "unauthorized", "log in, or send an API token")
            response.headers["WWW-Authenticate"] = 'Bearer realm="guardian"'
            return response
        if path in BACKGROUND_PATHS:
            return error_response(401, "unauthorized", "the session has ended")
        target = request.path_qs if request.method in SAFE_METHODS else "/"
        raise web.HTTPSeeOther(f"/login?next={quote(target, safe='/')}")
    if request.method not in SAFE_METHODS and principal.via == "session":
        given = request.headers.get(CSRF_HEADER)
        if given is None and request.content_type in (
            "application/x-www-form-urlencoded",
            "multipart/form-data",
        ):
            given = str((await request.post()).get(CSRF_FIELD, ""))
        if not accounts.same_token(principal.csrf_token, given):
            log.warning("refused %s %s: CSRF token missing or wrong", request.method, path)
            if is_api(request):
                return error_response(
                    403, "csrf", f"a session request must carry the {CSRF_HEADER} header"
                )
            expired = page_language(request).gettext(
                "This form has expired. Go back, reload, and retry."
            )
            return error_page(request, AdminError(403, "csrf", expired))
    request[PRINCIPAL] = principal
    if principal.is_child and not child_may(principal, request.method, path):
        own = principal.own_page
        if own is not None and path == "/" and request.method in ("GET", "HEAD"):
            raise web.HTTPSeeOther(own)
        who = principal.username
        log.warning("refused %s %s: %s is a child's login", request.method, path, who)
        if is_api(request) or path in BACKGROUND_PATHS:
            return error_response(403, "forbidden", "a child's login sees only their own page")
        refused = page_language(request).gettext(CHILD_REFUSED)
        return error_page(request, AdminError(403, "forbidden", refused))
    return await handler(request)


async def _principal(request: web.Request) -> Principal | None:
    guardian = request.app[GUARDIAN]
    household_id = guardian.household().id
    now = guardian.clock.now()
    authorization = request.headers.get("Authorization", "")
    if is_api(request) and authorization[:7].lower() == "bearer ":
        return await accounts.token_principal(authorization[7:].strip(), household_id, now)
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        return await accounts.session_principal(cookie, household_id, now)
    return None


def principal(request: web.Request) -> Principal:
    return request[PRINCIPAL]


def _secure(request: web.Request) -> bool:
    public_url = request.app[GUARDIAN].settings.server.public_url or ""
    return request.secure or public_url.startswith("https://")


def local_path(target: str | None) -> str:
    """Only a path on this site: a login link must not send anyone elsewhere.

    The check is made on the location as the redirect will send it: aiohttp passes it through
    yarl, which drops tabs and line breaks (`/<TAB>/evil.example` becomes `//evil.example`).
    Browsers read a backslash as a slash, so none is let through either.
    """
    if not target or "\\" in target:
        return "/"
    try:
        location = URL(target)
    except ValueError:
        return "/"
    sent = str(location)
    if (
        location.is_absolute()
        or location.scheme
        or not sent.startswith("/")
        or sent.startswith("//")
        or "\\" in sent
        or str(URL(sent)) != sent  # what the browser gets is exactly what was checked
    ):
        return "/"
    return sent


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
    household_id = request.app[GUARDIAN].household().id
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
        secure=_secure(request),
        path="/login",
        max_age=3600,
    )
    return response


async def login(request: web.Request) -> web.StreamResponse:
    guardian = request.app[GUARDIAN]
    form = await request.post()
    username = str(form.get("username", "")).strip()
    password = str(form.get("password", ""))
    if not accounts.same_token(request.cookies.get(LOGIN_COOKIE), str(form.get(CSRF_FIELD, ""))):
        expired = page_language(request).gettext("The form expired. Please try again.")
        return await _login_form(request, status=403, error=expired, username=username)
    now = guardian.clock.now()
    client = client_address(
        request.remote, request.headers, guardian.settings.server.trusted_proxies
    )
    user_key = f"user:{username.lower()[:64]}"
    keys = (f"address:{limit_key(client)}", user_key)
    # Counted now, before the password is checked: parallel guesses all count.
    wait = guardian.login_limiter.take(keys, now)
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
        guardian.household().id, username, password, guardian.hashing
    )
    if user is None:
        log.warning("failed login for %r from %s", username[:64], client)
        wrong = page_language(request).gettext("Wrong username or password.")
        return await _login_form(request, status=401, error=wrong, username=username)
    guardian.login_limiter.succeeded(keys, now, forget=user_key)
    token, _ = await accounts.open_session(user, now)
    log.info("%s logged in", user.username)
    response = web.HTTPSeeOther(local_path(str(form.get("next", "/"))))
    response.set_cookie(
        SESSION_COOKIE,
        token,
        httponly=True,
        samesite="Lax",
        secure=_secure(request),
        path="/",
        max_age=int(accounts.SESSION_LIFETIME.total_seconds()),
    )
    response.del_cookie(LOGIN_COOKIE, path="/login")
    raise response


async def logout(request: web.Request) -> web.StreamResponse:
    """POST only, with the CSRF token (checked by the middleware): a link cannot log anyone out."""
    session_id = request[PRINCIPAL].session_id
    if session_id is not None:
        await accounts.close_session(session_id)
    response = web.HTTPSeeOther("/login")
    response.del_cookie(SESSION_COOKIE, path="/")
    raise response


def setup(app: web.Application) -> None:
    app.middlewares.append(authenticate)
    app.router.add_get("/login", login_page)
    app.router.add_post("/login", login)
    app.router.add_post("/logout", logout)
