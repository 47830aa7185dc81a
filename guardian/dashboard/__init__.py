"""The family admin dashboard: server-rendered pages, no JavaScript build.

Each area is one module with a `routes` table; its pages read and change the household through
the same functions as the admin API (`guardian.api.*`), so the two never disagree. Templates
autoescape everything: message text and sender names are shown as text, whatever they contain.
"""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any

import jinja2
from aiohttp import web

from guardian.accounts import CSRF_FIELD, PRINCIPAL, Principal
from guardian.admin import Admin, AdminError
from guardian.app import GUARDIAN
from guardian.durations import format_duration

HERE = Path(__file__).parent
#: The navigation, in the order a parent needs it.
NAV = (
    ("/", "Tonight"),
    ("/members", "Members"),
    ("/people", "People"),
    ("/contacts", "Contacts"),
    ("/sources", "Sources"),
    ("/deliveries", "Deliveries"),
    ("/activity", "Activity"),
    ("/access", "Access"),
    ("/audit", "Audit log"),
)
#: A child's login has one page, their own.
CHILD_NAV_LABEL = "My page"


def nav_for(principal: Principal | None) -> tuple[tuple[str, str], ...]:
    """The navigation a login gets: a guardian's all of it, a child's their own page only."""
    if principal is not None and principal.is_child:
        own = principal.own_page
        return ((own, CHILD_NAV_LABEL),) if own else ()
    return NAV


TEMPLATES = web.AppKey("templates", jinja2.Environment)


def render(
    request: web.Request, template: str, context: dict[str, Any] | None = None, status: int = 200
) -> web.Response:
    """A page from `template` with `context` and what every page shows (who, the CSRF token)."""
    environment = request.app[TEMPLATES]
    html = environment.get_template(template).render({**_context(request), **(context or {})})
    response = web.Response(text=html, status=status, content_type="text/html")
    response.headers["Content-Security-Policy"] = CSP
    response.headers["X-Content-Type-Options"] = "nosniff"
    response.headers["Referrer-Policy"] = "same-origin"
    response.headers["X-Frame-Options"] = "DENY"
    return response


def admin_of(request: web.Request) -> Admin:
    """The household as the signed-in guardian may change it (the middleware checked who)."""
    return Admin(request.app[GUARDIAN], request[PRINCIPAL])


def error_page(request: web.Request, error: AdminError) -> web.Response:
    """An error of the admin functions (404, 409, ...) as a page, with its status."""
    return render(
        request, "error.html", {"status": error.status, "message": error.detail}, error.status
    )


#: Scripts and styles only from this site; inline scripts are refused, so markup that slipped
#: into a page could not run even if escaping failed.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'"
)


def _context(request: web.Request) -> dict[str, Any]:
    guardian = request.app[GUARDIAN]
    principal = request.get(PRINCIPAL)
    return {
        "principal": principal,
        "csrf_field": CSRF_FIELD,
        "csrf_token": principal.csrf_token if principal else None,
        "household": guardian.view,
        "nav": nav_for(principal),
        "path": request.path,
        "now": guardian.clock.now(),
    }


def setup(app: web.Application, *page_routes: web.RouteTableDef) -> None:
    environment = jinja2.Environment(
        loader=jinja2.FileSystemLoader(HERE / "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
    )
    app[TEMPLATES] = environment
    environment.filters["local"] = _local
    environment.filters["duration"] = format_duration
    environment.globals["zone_of"] = lambda request: request.app[GUARDIAN].household().zone
    app.router.add_static("/static/", HERE / "static")
    app.router.add_get("/favicon.ico", _favicon)
    for routes in page_routes:
        app.router.add_routes(routes)


#: Read once: a FileResponse's open file is left to the garbage collector when the browser
#: drops the request half-way (it often does, for an icon), which warns "unclosed file".
FAVICON = (HERE / "static" / "favicon.svg").read_bytes()


async def _favicon(request: web.Request) -> web.Response:
    """Browsers ask for /favicon.ico before reading a page's icon link: the same SVG."""
    return web.Response(
        body=FAVICON,
        content_type="image/svg+xml",
        headers={"Cache-Control": "public, max-age=86400"},
    )


@jinja2.pass_context
def _local(context: Any, instant: datetime | None, style: str = "%a %H:%M") -> str:
    """An instant in the household's time zone: `Tue 22:10`."""
    if instant is None:
        return "—"
    household = context.get("household")
    zone = household.zone if household is not None else None
    return instant.astimezone(zone).strftime(style)
