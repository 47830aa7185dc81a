"""Who may use the dashboard and the admin API (the login and logout pages are the
dashboard's: guardian.dashboard.login).

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
from collections.abc import Awaitable, Callable
from urllib.parse import quote

from aiohttp import web
from yarl import URL

from guardian import accounts
from guardian.accounts import CSRF_FIELD, PRINCIPAL, Principal
from guardian.admin import AdminError
from guardian.errors import error_response
from guardian.i18n import N_
from guardian.state import SERVICE

log = logging.getLogger(__name__)

SESSION_COOKIE = "guardian_session"
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
FORM_EXPIRED = N_("This form has expired. Go back, reload, and retry.")

#: The page a browser gets when a request is refused here: the error, its `detail` an English
#: message for the page to translate (the dashboard's error page, given by `setup`).
RefusedPage = Callable[[web.Request, AdminError], web.StreamResponse]
REFUSED_PAGE: web.AppKey[RefusedPage] = web.AppKey("refused_page")


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
            return request.app[REFUSED_PAGE](request, AdminError(403, "csrf", FORM_EXPIRED))
    request[PRINCIPAL] = principal
    if principal.is_child and not child_may(principal, request.method, path):
        own = principal.own_page
        if own is not None and path == "/" and request.method in ("GET", "HEAD"):
            raise web.HTTPSeeOther(own)
        who = principal.username
        log.warning("refused %s %s: %s is a child's login", request.method, path, who)
        if is_api(request) or path in BACKGROUND_PATHS:
            return error_response(403, "forbidden", "a child's login sees only their own page")
        return request.app[REFUSED_PAGE](request, AdminError(403, "forbidden", CHILD_REFUSED))
    return await handler(request)


async def _principal(request: web.Request) -> Principal | None:
    service = request.app[SERVICE]
    household_id = service.household().id
    now = service.clock.now()
    authorization = request.headers.get("Authorization", "")
    if is_api(request) and authorization[:7].lower() == "bearer ":
        return await accounts.token_principal(authorization[7:].strip(), household_id, now)
    cookie = request.cookies.get(SESSION_COOKIE)
    if cookie:
        return await accounts.session_principal(cookie, household_id, now)
    return None


def principal(request: web.Request) -> Principal:
    return request[PRINCIPAL]


def secure_cookies(request: web.Request) -> bool:
    public_url = request.app[SERVICE].settings.server.public_url or ""
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


def setup(app: web.Application, refused_page: RefusedPage) -> None:
    """The middleware, with the page a browser gets for a refusal (the dashboard's)."""
    app[REFUSED_PAGE] = refused_page
    app.middlewares.append(authenticate)
