"""Dashboard pages: access (API tokens) and the audit log of every admin change."""

from __future__ import annotations

from aiohttp import web
from pydantic import ValidationError

from guardian.admin import AdminError
from guardian.api.household import TokenIn, audit_log, create_token, revoke_token, token_list
from guardian.dashboard import admin_of, render

routes = web.RouteTableDef()


async def _page(request: web.Request, status: int = 200, **context: object) -> web.Response:
    admin = admin_of(request)
    return render(
        request,
        "audit.html",
        {
            "entries": (await audit_log(admin, 200)).items,
            "tokens": (await token_list(admin)).items,
            "new_token": None,
            "error": None,
            **context,
        },
        status=status,
    )


@routes.get("/audit")
async def audit(request: web.Request) -> web.Response:
    return await _page(request)


@routes.post("/audit/tokens")
async def add_token(request: web.Request) -> web.Response:
    form = await request.post()
    try:
        name = TokenIn.model_validate({"name": str(form.get("name", "")).strip()}).name
    except ValidationError:
        return await _page(request, 422, error="Give the token a name (1–100 characters).")
    created = await create_token(admin_of(request), name)
    # The value is shown once, in this answer: not in a redirect, not cached.
    response = await _page(request, new_token=created)
    response.headers["Cache-Control"] = "no-store"
    return response


@routes.post("/audit/tokens/{token_id}/revoke")
async def remove_token(request: web.Request) -> web.Response:
    try:
        await revoke_token(admin_of(request), request.match_info["token_id"])
    except AdminError as error:
        return await _page(request, error.status, error=error.detail)
    raise web.HTTPSeeOther("/audit")
