"""Dashboard pages: contacts. The list with each contact's trust, adding, editing and merging.

Every form posts to its own URL and goes back to /contacts with a confirmation (PRG); a form
with a mistake is shown again with what was typed and the error next to its field.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from pydantic import BaseModel, ValidationError

from guardian.admin import AdminError, invalid
from guardian.api.contacts import (
    TRUST_HELP,
    ContactIn,
    ContactPatch,
    MergeIn,
    contact_list,
    create_contact,
    delete_contact,
    merge_contacts,
    update_contact,
)
from guardian.dashboard import admin_of, error_page, render

routes = web.RouteTableDef()

#: The confirmation shown after a change, by the `saved` query value.
CONFIRMATIONS = {
    "added": "Added {name}.",
    "saved": "Saved {name}.",
    "deleted": "Deleted {other}.",
    "merged": "Merged {other} into {name}.",
}


def _field_errors(error: AdminError) -> dict[str, str]:
    """API field paths (`addresses[2]`) as the page's fields (`addresses`)."""
    fields: dict[str, str] = {}
    for path, message in (error.fields or {"form": error.detail}).items():
        name = re.sub(r"[\[.].*$", "", path) or "form"
        fields[name] = f"{fields[name]}; {message}" if name in fields else message
    return fields


def _addresses(text: str) -> list[str]:
    """One address a line (commas work too), blank lines ignored."""
    return [a.strip() for a in re.split(r"[\n,]", text) if a.strip()]


async def _form(request: web.Request) -> dict[str, str]:
    return {key: str(value) for key, value in (await request.post()).items()}


def _validated(model: type[BaseModel], data: dict[str, Any]) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise invalid(error) from None


def _done(saved: str, **names: str) -> web.HTTPSeeOther:
    return web.HTTPSeeOther("/contacts?" + urlencode({"saved": saved, **names}))


async def _page(
    request: web.Request,
    *,
    status: int = 200,
    new: dict[str, str] | None = None,
    new_errors: dict[str, str] | None = None,
    row: dict[str, str] | None = None,
    row_errors: dict[str, str] | None = None,
    merge: dict[str, str] | None = None,
    merge_errors: dict[str, str] | None = None,
) -> web.Response:
    admin = admin_of(request)
    saved = request.query.get("saved", "")
    confirmation = None
    if saved in CONFIRMATIONS:
        confirmation = CONFIRMATIONS[saved].format(
            name=request.query.get("name", ""), other=request.query.get("other", "")
        )
    listed = await contact_list(admin)
    context = {
        "contacts": listed.items,
        "uncounted": [admin.view.members[m].name for m in listed.uncounted],
        "trust_help": TRUST_HELP,
        "confirmation": confirmation,
        "new": new or {"id": "", "name": "", "addresses": "", "trust": "normal"},
        "new_errors": new_errors or {},
        "row": row or {},
        "row_errors": row_errors or {},
        "merge": merge or {"keep": "", "from": ""},
        "merge_errors": merge_errors or {},
    }
    return render(request, "contacts.html", context, status=status)


@routes.get("/contacts")
async def contacts_page(request: web.Request) -> web.Response:
    return await _page(request)


@routes.post("/contacts")
async def add_contact(request: web.Request) -> web.Response:
    form = await _form(request)
    new = {key: form.get(key, "") for key in ("id", "name", "addresses", "trust")}
    data = {**new, "addresses": _addresses(new["addresses"]), "trust": new["trust"] or "normal"}
    try:
        contact = await create_contact(admin_of(request), _validated(ContactIn, data))
    except AdminError as error:
        return await _page(request, status=error.status, new=new, new_errors=_field_errors(error))
    raise _done("added", name=contact.name)


# A contact's own forms post to /contacts/{id}/edit and /delete, so that /contacts/merge never
# takes the place of a contact called "merge".
@routes.post("/contacts/merge")
async def merge_contact(request: web.Request) -> web.Response:
    form = await _form(request)
    merge = {"keep": form.get("keep", ""), "from": form.get("from", "")}
    admin = admin_of(request)
    other = admin.view.contacts.get(merge["from"])
    try:
        if merge["keep"] not in admin.view.contacts:
            message = "choose the contact to keep"
            raise AdminError(422, "invalid", message, {"keep": message})
        body = _validated(MergeIn, {"from": merge["from"]})
        kept = await merge_contacts(admin, merge["keep"], body.from_)
    except AdminError as error:
        return await _page(
            request, status=error.status, merge=merge, merge_errors=_field_errors(error)
        )
    raise _done("merged", name=kept.name, other=other.name if other else merge["from"])


@routes.post("/contacts/{contact_id}/edit")
async def edit_contact(request: web.Request) -> web.Response:
    contact_id = request.match_info["contact_id"]
    form = await _form(request)
    row: dict[str, str] = {key: form[key] for key in ("name", "trust", "addresses") if key in form}
    data: dict[str, Any] = dict(row)
    if "addresses" in data:
        data["addresses"] = _addresses(data["addresses"])
    try:
        contact = await update_contact(
            admin_of(request), contact_id, _validated(ContactPatch, data)
        )
    except AdminError as error:
        if error.status == 404:
            return error_page(request, error)
        return await _page(
            request,
            status=error.status,
            row={"id": contact_id, **row},
            row_errors=_field_errors(error),
        )
    raise _done("saved", name=contact.name)


@routes.post("/contacts/{contact_id}/delete")
async def remove_contact(request: web.Request) -> web.Response:
    admin = admin_of(request)
    contact = admin.view.contacts.get(request.match_info["contact_id"])
    try:
        await delete_contact(admin, request.match_info["contact_id"])
    except AdminError as error:
        return error_page(request, error)
    raise _done("deleted", other=contact.name if contact else "")
