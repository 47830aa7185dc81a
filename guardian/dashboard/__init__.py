"""The family admin dashboard: server-rendered pages, no JavaScript build.

Each area is one module with a `routes` table; its pages read and change the household through
the same functions as the admin API (`guardian.api.*`), so the two never disagree. Templates
autoescape everything: message text and sender names are shown as text, whatever they contain.

Pages are in the reader's language (`page_language`): the one their login chose with the switch
in the header, else their member's, else the household's. Templates write their words as
`{{ _("Quiet until {time}", time=...) }}` and `{{ ngettext("{n} message", "{n} messages", n) }}`
(Jinja's i18n extension, newstyle: the call fills the placeholders, escaping each value);
`gettext`, `ngettext`, `pgettext` and `npgettext` are the request's language's, passed to each
render, so two readers in two languages never share them.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web
from markupsafe import Markup, escape

from guardian import i18n
from guardian.accounts import CSRF_FIELD, PRINCIPAL, Principal
from guardian.admin import Admin, AdminError
from guardian.household import HouseholdView
from guardian.i18n import N_, Language
from guardian.state import SERVICE

HERE = Path(__file__).parent
#: The navigation, in the order a parent needs it.
NAV = (
    # Translators: the navigation's links, at the top of every page: keep them short.
    ("/", N_("Tonight")),
    ("/members", N_("Members")),
    ("/people", N_("People")),
    ("/contacts", N_("Contacts")),
    ("/sources", N_("Sources")),
    ("/deliveries", N_("Deliveries")),
    ("/activity", N_("Activity")),
    ("/access", N_("Access")),
    ("/audit", N_("Audit log")),
)
#: A child's login has one page, their own.
# Translators: the only link in the navigation of a child's login: their own page.
CHILD_NAV_LABEL = N_("My page")


def nav_for(principal: Principal | None) -> tuple[tuple[str, str], ...]:
    """The navigation a login gets: a guardian's all of it, a child's their own page only."""
    if principal is not None and principal.is_child:
        own = principal.own_page
        return ((own, CHILD_NAV_LABEL),) if own else ()
    return NAV


TEMPLATES = web.AppKey("templates", jinja2.Environment)
LANGUAGE = web.RequestKey("language", Language)


def reader_language(principal: Principal | None, household: HouseholdView | None) -> str:
    """The language a reader's pages are in: the one their login chose, else their member's,
    else the household's (also before anyone logged in)."""
    if principal is not None and principal.language in i18n.LANGUAGES:
        return principal.language
    if household is None:
        return i18n.DEFAULT_LANGUAGE
    member = household.members.get(principal.member or "") if principal else None
    found = member.language if member is not None else household.language
    return found if found in i18n.LANGUAGES else i18n.DEFAULT_LANGUAGE


def automatic_language(principal: Principal | None, household: HouseholdView | None) -> str:
    """What "automatic" means for this reader: their member's language, else the household's."""
    if principal is not None and principal.language is not None:
        principal = replace(principal, language=None)
    return reader_language(principal, household)


def page_language(request: web.Request) -> Language:
    """The language of the request's pages and of the texts its handlers write."""
    found = request.get(LANGUAGE)
    if found is None:
        household = request.app[SERVICE].view
        found = i18n.language(reader_language(request.get(PRINCIPAL), household))
        request[LANGUAGE] = found
    return found


def render(
    request: web.Request,
    template: str,
    context: dict[str, Any] | None = None,
    status: int = 200,
    *,
    language: Language | None = None,
) -> web.Response:
    """A page from `template` with `context` and what every page shows (who, the CSRF token),
    in the reader's language, or in `language` (the transparency page: the child's)."""
    environment = request.app[TEMPLATES]
    words = language or page_language(request)
    page = {**_context(request), **gettext_callables(words), **(context or {})}
    html = environment.get_template(template).render(page)
    response = web.Response(text=html, status=status, content_type="text/html")
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Frame-Options"] = "DENY"
    return response


def admin_of(request: web.Request) -> Admin:
    """The household as the signed-in guardian may change it (the middleware checked who)."""
    return Admin(request.app[SERVICE], request[PRINCIPAL])


def error_page(request: web.Request, error: AdminError) -> web.Response:
    """An error of the admin functions (404, 409, ...) as a page, with its status."""
    t = page_language(request)
    message = t.gettext(error.said[0], **error.said[1]) if error.said else t.gettext(error.detail)
    return render(request, "error.html", {"status": error.status, "message": message}, error.status)


def gettext_callables(language: Language) -> dict[str, Any]:
    """`gettext`, `ngettext`, `pgettext`, `npgettext` (and `lang`) for one render, newstyle: the
    call fills `{placeholders}` from its keyword arguments. With autoescaping, the translation
    is escaped as text and each value too, unless it is markup the template built."""
    words = language.translations

    @jinja2.pass_context
    def gettext(context: Any, message: str, /, **values: Any) -> str:
        return _filled(context, words.gettext(message) if message else message, values)

    @jinja2.pass_context
    def ngettext(context: Any, singular: str, plural: str, n: int, /, **values: Any) -> str:
        return _filled(context, words.ngettext(singular, plural, n), {"n": n, **values})

    @jinja2.pass_context
    def pgettext(context: Any, where: str, message: str, /, **values: Any) -> str:
        return _filled(context, words.pgettext(where, message), values)

    @jinja2.pass_context
    def npgettext(
        context: Any, where: str, singular: str, plural: str, n: int, /, **values: Any
    ) -> str:
        text = words.npgettext(where, singular, plural, n)
        return _filled(context, text, {"n": n, **values})

    def listed(items: Iterable[object]) -> Markup:
        """`Mia, Tom and Sam` in the language, each item escaped (or kept, if markup): the
        joining words are CLDR's, never a reader's."""
        return Markup(language.list(str(escape(item)) for item in items))  # noqa: S704

    return {
        "gettext": gettext,
        "ngettext": ngettext,
        "pgettext": pgettext,
        "npgettext": npgettext,
        "listed": listed,
        "lang": language,
    }


def _filled(context: Any, text: str, values: dict[str, Any]) -> str:
    if context.eval_ctx.autoescape:
        text = escape(text)
    return text.format(**values) if values else text


#: Scripts and styles only from this site; inline scripts are refused, so markup that slipped
#: into a page could not run even if escaping failed.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)


def _context(request: web.Request) -> dict[str, Any]:
    service = request.app[SERVICE]
    principal = request.get(PRINCIPAL)
    return {
        "principal": principal,
        "csrf_field": CSRF_FIELD,
        "csrf_token": principal.csrf_token if principal else None,
        "household": service.view,
        "nav": nav_for(principal),
        "path": request.path,
        "path_qs": request.path_qs,
        "now": service.clock.now(),
        "reader": page_language(request),
        "language_names": i18n.NAMES,
        "language_choice": principal.language if principal else None,
        "automatic_language": automatic_language(principal, service.view),
    }


def setup(app: web.Application, *page_routes: web.RouteTableDef) -> None:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        extensions=["jinja2.ext.i18n"],
    )
    # The callables come with each render (gettext_callables); newstyle is how they are called.
    environment.newstyle_gettext = True  # type: ignore[attr-defined]
    app[TEMPLATES] = environment
    environment.filters["local"] = _local_filter
    environment.filters["duration"] = _duration
    environment.globals["zone_of"] = lambda request: request.app[SERVICE].household().zone
    app.router.add_get("/static/{name}", _static)
    app.router.add_get("/favicon.ico", _favicon)
    for routes in page_routes:
        app.router.add_routes(routes)


@dataclass(frozen=True, slots=True)
class _Asset:
    body: bytes
    content_type: str
    etag: str


_CONTENT_TYPES = {".css": "text/css", ".js": "text/javascript", ".svg": "image/svg+xml"}

#: The pages' few styles, scripts and the icon, read once at import and served from memory.
#: aiohttp's FileResponse opens the file in a thread; when the browser drops the request
#: meanwhile (it often does, for an icon) the opened file is left to the garbage collector,
#: which warns "unclosed file". A few kilobytes in memory spare that and a thread per request.
ASSETS = {
    path.name: _Asset(
        path.read_bytes(),
        _CONTENT_TYPES[path.suffix],
        f'"{hashlib.sha256(path.read_bytes()).hexdigest()[:16]}"',
    )
    for path in sorted((HERE / "static").iterdir())
    if path.suffix in _CONTENT_TYPES
}


def _asset(request: web.Request, asset: _Asset) -> web.Response:
    # The pages name assets without a version, so a browser asks again after an hour; the
    # ETag makes that a 304 when nothing changed.
    headers = {"Cache-Control": "public, max-age=3600", "ETag": asset.etag}
    if asset.etag in request.headers.get("If-None-Match", ""):
        return web.Response(status=304, headers=headers)
    return web.Response(body=asset.body, content_type=asset.content_type, headers=headers)


async def _static(request: web.Request) -> web.Response:
    asset = ASSETS.get(request.match_info["name"])
    if asset is None:
        raise web.HTTPNotFound
    return _asset(request, asset)


async def _favicon(request: web.Request) -> web.Response:
    """Browsers ask for /favicon.ico before reading a page's icon link: the same SVG."""
    return _asset(request, ASSETS["favicon.svg"])


#: The styles pages show instants in, each as the CLDR skeleton other languages write it with
#: (`Tue 22:10` is `di 22:10`, `Di., 22:10`). English keeps the strftime text, as the pages
#: always read; a style not here (`%Y%m%d`) is for comparing, never shown.
SKELETONS = {
    "%H:%M": "Hm",
    "%a": "E",
    "%a %H:%M": "EHm",
    "%a %H:%M:%S": "EHms",
    "%A %H:%M": "EEEEHm",
    "%a %d %b %H:%M": "MMMEdHm",
    "%a %d %b %H:%M:%S": "MMMEdHms",
    "%d %b %Y": "yMMMd",
    "%a %d %b %Y %H:%M": "yMMMEdHm",
    "%Y-%m-%d %H:%M": "yMdHm",
}


@jinja2.pass_context
def _local_filter(context: Any, instant: datetime | None, style: str = "%a %H:%M") -> str:
    """An instant in the household's time zone, in the page's language: `Tue 22:10`."""
    if instant is None:
        return "—"
    household = context.get("household")
    zone = household.zone if household is not None else None
    language: Language | None = context.get("lang")
    if language is None or language.code == i18n.SOURCE_LANGUAGE or style not in SKELETONS:
        return instant.astimezone(zone).strftime(style)
    return language.formatted(instant, zone, SKELETONS[style])


@jinja2.pass_context
def _duration(context: Any, delta: timedelta) -> str:
    """`3 minutes` in the page's language (English as the settings write it: `1h30m`)."""
    language: Language = context.get("lang") or i18n.language(i18n.SOURCE_LANGUAGE)
    return language.duration(delta)
