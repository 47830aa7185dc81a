"""Dashboard pages: sources. What to paste into each network, how each is doing, and rotating
a source's secret.

After a rotation the page is answered directly (no redirect: the secret must not travel in a
URL), shows the new secret once, and is marked `no-store` so that no cache keeps it.
"""

from __future__ import annotations

from typing import Any

from aiohttp import web
from pydantic import ValidationError

from guardian.admin import Admin, AdminError, invalid
from guardian.api.sources import NETWORK_ISSUED, RotateIn, RotateOut, rotate_secret, source_list
from guardian.app import GUARDIAN
from guardian.auth import principal
from guardian.dashboard import render

routes = web.RouteTableDef()


def _admin(request: web.Request) -> Admin:
    return Admin(request.app[GUARDIAN], principal(request))


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
        "sources": (await source_list(_admin(request))).items,
        "network_issued": NETWORK_ISSUED,
        "rotated": rotated,
        "failed": failed,
        "form": form or {},
        "errors": errors or {},
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
    try:
        try:
            rotate = RotateIn.model_validate({"field": field, "value": value})
        except ValidationError as error:
            raise invalid(error) from None
        rotated = await rotate_secret(_admin(request), source_id, rotate)
    except AdminError as error:
        if error.status == 404:
            message = error.detail
            return render(request, "error.html", {"status": 404, "message": message}, status=404)
        # The typed value is a secret: it is not put back into the form.
        return await _page(
            request,
            status=error.status,
            failed=source_id,
            form={"field": field or ""},
            errors={
                path if path in ("field", "value") else "form": message
                for path, message in (error.fields or {"form": error.detail}).items()
            },
        )
    return await _page(request, rotated=rotated)
