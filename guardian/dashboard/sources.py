"""Dashboard pages: sources. What to paste into each network, how each is doing, and rotating
a source's secret.

After a rotation the page is answered directly (no redirect: the secret must not travel in a
URL), shows the new secret once, and is marked `no-store` so that no cache keeps it.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import ValidationError

from guardian.admin import AdminError, invalid
from guardian.api.sources import (
    NETWORK_ISSUED,
    RotateIn,
    RotateOut,
    _source,
    rotate_secret,
    source_list,
)
from guardian.dashboard import admin_of, error_page, page_language, render
from guardian.dashboard.forms import NOT_CONFIRMED, confirmed, plain_detail
from guardian.dashboard.source_steps import network_of, secret_name

routes = web.RouteTableDef()


async def _page(
    request: web.Request,
    *,
    status: int = 200,
    rotated: RotateOut | None = None,
    failed: str | None = None,
    form: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
) -> web.Response:
    context: dict[str, Any] = {
        "sources": (await source_list(admin_of(request))).items,
        "network_issued": NETWORK_ISSUED,
        "rotated": rotated,
        "failed": failed,
        "form": form or {},
        "errors": errors or {},
        "network_of": network_of,
        "secret_name": secret_name,
    }
    response = render(request, "sources.html", context, status=status)
    if rotated is not None:
        response.headers["Cache-Control"] = "no-store"
    return response


@routes.get("/sources")
async def sources_page(request: web.Request) -> web.Response:
    return await _page(request)


@routes.post("/sources/{source_id}/rotate")
async def rotate_page(request: web.Request) -> web.Response:
    source_id = request.match_info["source_id"]
    posted = await request.post()
    field = str(posted.get("field", "")) or None
    value = str(posted.get("value", "")) or None
    admin = admin_of(request)
    t = page_language(request)
    try:
        _source(admin, source_id)  # an unknown source is a 404, confirmed or not
        if not confirmed(posted):
            tick = t.gettext(NOT_CONFIRMED)
            raise AdminError(422, "invalid", tick, {"confirm": tick})
        try:
            rotate = RotateIn.model_validate({"field": field, "value": value})
        except ValidationError as error:
            raise invalid(error) from None
        rotated = await rotate_secret(admin, source_id, rotate)
    except AdminError as error:
        if error.status == 404:
            return error_page(request, error)
        # The typed value is a secret: it is not put back into the form.
        return await _page(
            request,
            status=error.status,
            failed=source_id,
            form={"field": field or ""},
            errors={
                path if path in ("field", "value", "confirm") else "form": plain_detail(message, t)
                for path, message in (error.fields or {"form": error.detail}).items()
            },
        )
    return await _page(request, rotated=rotated)
