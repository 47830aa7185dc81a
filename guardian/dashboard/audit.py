"""Dashboard pages: the audit log of every admin change, as sentences with before → after and
filters; and Access: the dashboard logins (a guardian's, or a child's own page) and API tokens.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from pydantic import ValidationError

from guardian import audit
from guardian.admin import AdminError, invalid
from guardian.api.household import (
    AuditQuery,
    TokenIn,
    audit_log,
    create_token,
    revoke_token,
    token_list,
)
from guardian.api.users import UserIn, add_login, remove_login, user_list
from guardian.dashboard import admin_of, page_language, render
from guardian.dashboard.contacts import _field_errors
from guardian.i18n import N_
from guardian.words import Role

routes = web.RouteTableDef()

#: The entries one page of the log shows.
PAGE_ENTRIES = 200
FILTERS = ("member", "kind", "since", "until")
# Translators: an error beside the name of a new API token.
TOKEN_NAME_NEEDED = N_("Give the token a name (1–100 characters).")
LOGIN_CONFIRMATIONS = {
    # Translators: confirmations on the Access page; {name} is a login's name, {member} a child's.
    "added": N_("Added the login {name}."),
    "added-child": N_(
        "Added the login {name}. It shows only {member}'s own page, and changes nothing."
    ),
    "removed": N_("Removed the login {name}."),
}


# --- the audit log ---------------------------------------------------------------------------


@routes.get("/audit")
async def audit_page(request: web.Request) -> web.Response:
    admin = admin_of(request)
    chosen = {key: request.query.get(key, "") for key in FILTERS}
    errors: dict[str, str] = {}
    try:
        try:
            query = AuditQuery.model_validate(
                {"limit": PAGE_ENTRIES, **{k: v for k, v in chosen.items() if v}}
            )
        except ValidationError as error:
            raise invalid(error, "query") from None
    except AdminError as error:
        errors = {path.removeprefix("query."): m for path, m in (error.fields or {}).items()}
        query = AuditQuery(limit=PAGE_ENTRIES)
    members = sorted(admin.view.members.values(), key=lambda m: m.name.casefold())
    context = {
        "entries": (await audit_log(admin, query=query, t=page_language(request))).items,
        "chosen": chosen,
        "errors": errors,
        "filtered": any(chosen.values()) and not errors,
        "members": members,
        "kinds": audit.KINDS,
    }
    return render(request, "audit.html", context, status=422 if errors else 200)


# --- access: logins and tokens -----------------------------------------------------------------


async def _access(request: web.Request, status: int = 200, **context: Any) -> web.Response:
    admin = admin_of(request)
    saved = request.query.get("saved", "")
    confirmation = None
    if saved in LOGIN_CONFIRMATIONS:
        confirmation = page_language(request).gettext(
            LOGIN_CONFIRMATIONS[saved],
            name=request.query.get("name", ""),
            member=request.query.get("member", ""),
        )
    members = sorted(admin.view.members.values(), key=lambda m: m.name.casefold())
    return render(
        request,
        "access.html",
        {
            "tokens": (await token_list(admin)).items,
            "logins": (await user_list(admin)).items,
            "members": members,
            "me": admin.principal.username,
            "confirmation": confirmation,
            "new_token": None,
            "token_error": None,
            "login": {"username": "", "member": request.query.get("member", "")},
            "login_errors": {},
            **context,
        },
        status=status,
    )


@routes.get("/access")
async def access_page(request: web.Request) -> web.Response:
    return await _access(request)


@routes.post("/access/tokens")
async def add_token(request: web.Request) -> web.Response:
    form = await request.post()
    try:
        name = TokenIn.model_validate({"name": str(form.get("name", "")).strip()}).name
    except ValidationError:
        needed = page_language(request).gettext(TOKEN_NAME_NEEDED)
        return await _access(request, 422, token_error=needed)
    created = await create_token(admin_of(request), name)
    # The value is shown once, in this answer: not in a redirect, not cached.
    response = await _access(request, new_token=created)
    response.headers["Cache-Control"] = "no-store"
    return response


@routes.post("/access/tokens/{token_id}/revoke")
async def remove_token(request: web.Request) -> web.Response:
    try:
        await revoke_token(admin_of(request), request.match_info["token_id"])
    except AdminError as error:
        return await _access(request, error.status, token_error=error.detail)
    raise web.HTTPSeeOther("/access")


@routes.post("/access/logins")
async def add_login_form(request: web.Request) -> web.Response:
    form = await request.post()
    typed = {
        "username": str(form.get("username", "")).strip(),
        "member": str(form.get("member", "")),
    }
    admin = admin_of(request)
    try:
        try:
            new = UserIn.model_validate(
                {
                    "username": typed["username"],
                    "password": str(form.get("password", "")),
                    "member": typed["member"] or None,
                }
            )
        except ValidationError as error:
            raise invalid(error) from None
        added = await add_login(admin, new)
    except AdminError as error:
        errors = _field_errors(error, page_language(request))
        return await _access(request, error.status, login=typed, login_errors=errors)
    saved = "added-child" if added.role == Role.CHILD else "added"
    done = {"saved": saved, "name": added.username, "member": added.name or ""}
    raise web.HTTPSeeOther("/access?" + urlencode(done) + "#logins")


@routes.post("/access/logins/{username}/remove")
async def remove_login_form(request: web.Request) -> web.Response:
    username = request.match_info["username"]
    try:
        await remove_login(admin_of(request), username)
    except AdminError as error:
        return await _access(request, error.status, login_errors={"form": error.detail})
    raise web.HTTPSeeOther("/access?" + urlencode({"saved": "removed", "name": username}))
