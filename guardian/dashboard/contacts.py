"""Dashboard pages: contacts. The list with each contact's trust, adding, editing and merging.

Every form posts to its own URL and goes back to /contacts with a confirmation (PRG); a form
with a mistake is shown again with what was typed and the error, in plain words, next to its
field. Merging and deleting need a confirmation (the page's dialog, or its checkbox without
scripts); a merge can be undone for a while from the same page.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

from aiohttp import web
from pydantic import BaseModel, ValidationError

from guardian.admin import AdminError
from guardian.api.contacts import (
    UNDO_MERGE,
    ContactIn,
    ContactPatch,
    MergeIn,
    contact_list,
    create_contact,
    delete_contact,
    merge_contacts,
    undo_merge,
    undoable_merges,
    update_contact,
)
from guardian.dashboard import admin_of, error_page, page_language, render
from guardian.dashboard.forms import (
    NOT_CONFIRMED,
    confirmed,
    first_error,
    plain_detail,
    plain_errors,
)
from guardian.i18n import N_, Language

routes = web.RouteTableDef()

#: The confirmation shown after a change, by the `saved` query value.
CONFIRMATIONS = {
    # Translators: confirmations on the Contacts page; {name} and {other} are contacts' names.
    "added": N_("Added {name}."),
    "saved": N_("Saved {name}."),
    "deleted": N_("Deleted {other}."),
    "merged": N_("Merged {other} into {name}."),
    "unmerged": N_("Undone: {other} is a contact of their own again."),
}
#: What each trust level does, in a parent's words.
TRUST_WORDS = {
    # Translators: what a contact's trust does, beside each choice in the contact's form.
    "trusted": N_("always reaches the phone at once, even in quiet hours"),
    "normal": N_("follows the member's quiet hours and limits"),
    "muted": N_("never reaches the phone, only counted in the next summary"),
}
#: The order of each form's fields: the first with an error gets the focus.
NEW_FIELDS = ("form", "name", "id", "addresses", "trust")
ROW_FIELDS = ("form", "trust", "name", "addresses", "confirm")
MERGE_FIELDS = ("form", "keep", "from", "confirm")


def _field_errors(error: AdminError, t: Language) -> dict[str, str]:
    """API field paths (`addresses[2]`) as the page's fields (`addresses`), in plain words."""
    fields: dict[str, str] = {}
    for path, message in (error.fields or {"form": error.detail}).items():
        name = re.sub(r"[\[.].*$", "", path) or "form"
        plain = _address_words(message, t) if name == "addresses" else plain_detail(message, t)
        fields[name] = f"{fields[name]} {plain}" if name in fields else plain
    return fields


def _address_words(message: str, t: Language) -> str:
    """An address refused by the API, said so that a parent knows what to type instead."""
    shape = re.match(r"(?:Value error, )?not a network:address pair: '?(.*?)'?\.?$", message, re.I)
    if not shape:
        return plain_detail(message, t)
    typed = shape.group(1)
    number = re.sub(r"[\s().-]", "", typed)
    if re.fullmatch(r"\+?[0-9]{6,15}", number):  # a phone number without its network
        example = f"sms:{number}" if number.startswith("+") else "sms:+31612345678"
        # Translators: {example} is one address to copy ("sms:+31612345678").
        return t.gettext(
            "“{typed}” is not an address Guardian knows. Write the network, a colon, then the "
            "number or account, like {example}.",
            typed=typed,
            example=example,
        )
    # Translators: {typed} is what was typed; the three addresses are examples to copy.
    return t.gettext(
        "“{typed}” is not an address Guardian knows. Write the network, a colon, then the "
        "number or account, like sms:+31612345678, telegram:99887766 or email:sophie@example.org.",
        typed=typed,
    )


def _addresses(text: str) -> list[str]:
    """One address a line (commas work too), blank lines ignored."""
    return [a.strip() for a in re.split(r"[\n,]", text) if a.strip()]


async def _form(request: web.Request) -> dict[str, str]:
    return {key: str(value) for key, value in (await request.post()).items()}


def _validated(model: type[BaseModel], data: dict[str, Any], t: Language) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        fields = plain_errors(error, t=t)  # addresses are said by _field_errors
        raise AdminError(422, "invalid", "; ".join(fields.values()), fields) from None


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
    t = page_language(request)
    saved = request.query.get("saved", "")
    confirmation = None
    if saved in CONFIRMATIONS:
        confirmation = t.gettext(
            CONFIRMATIONS[saved],
            name=request.query.get("name", ""),
            other=request.query.get("other", ""),
        )
    listed = await contact_list(admin)
    row_id = (row or {}).get("id", "")
    focus = (
        first_error(new_errors or {}, NEW_FIELDS, "new-")
        or first_error(row_errors or {}, ROW_FIELDS, f"contact-{row_id}-")
        or first_error(merge_errors or {}, MERGE_FIELDS, "merge-")
    )
    context = {
        "contacts": listed.items,
        "uncounted": [admin.view.members[m].name for m in listed.uncounted],
        "trust_words": TRUST_WORDS,
        "confirmation": confirmation,
        "new": new or {"id": "", "name": "", "addresses": "", "trust": "normal"},
        "new_errors": new_errors or {},
        "row": row or {},
        "row_errors": row_errors or {},
        "merge": merge or {"keep": "", "from": ""},
        "merge_errors": merge_errors or {},
        "focus": focus,
        "undoable": await undoable_merges(admin),
        "undo_minutes": int(UNDO_MERGE.total_seconds() // 60),
    }
    return render(request, "contacts.html", context, status=status)


@routes.get("/contacts")
async def contacts_page(request: web.Request) -> web.Response:
    return await _page(request)


@routes.post("/contacts")
async def add_contact(request: web.Request) -> web.Response:
    form = await _form(request)
    t = page_language(request)
    new = {key: form.get(key, "") for key in ("id", "name", "addresses", "trust")}
    data = {**new, "addresses": _addresses(new["addresses"]), "trust": new["trust"] or "normal"}
    try:
        contact = await create_contact(admin_of(request), _validated(ContactIn, data, t))
    except AdminError as error:
        errors = _field_errors(error, t)
        return await _page(request, status=error.status, new=new, new_errors=errors)
    raise _done("added", name=contact.name)


# A contact's own forms post to /contacts/{id}/edit and /delete, so that /contacts/merge never
# takes the place of a contact called "merge".
@routes.post("/contacts/merge")
async def merge_contact(request: web.Request) -> web.Response:
    form = await _form(request)
    merge = {"keep": form.get("keep", ""), "from": form.get("from", "")}
    admin = admin_of(request)
    contacts = admin.view.contacts
    other = contacts.get(merge["from"])
    t = page_language(request)
    try:
        problems: dict[str, str] = {}
        if merge["keep"] not in contacts:
            # Translators: errors of the form that merges two contacts into one.
            problems["keep"] = t.gettext("Choose the contact to keep.")
        if merge["from"] not in contacts:
            problems["from"] = t.gettext("Choose the contact to merge into it.")
        elif merge["from"] == merge["keep"]:
            problems["from"] = t.gettext(
                "Choose a different contact: a contact cannot be merged into itself."
            )
        if not problems and not confirmed(form):
            problems["confirm"] = t.gettext(NOT_CONFIRMED)
        if problems:
            raise AdminError(422, "invalid", "; ".join(problems.values()), problems)
        body = _validated(MergeIn, {"from": merge["from"]}, t)
        kept = await merge_contacts(admin, merge["keep"], body.from_)
    except AdminError as error:
        return await _page(
            request, status=error.status, merge=merge, merge_errors=_field_errors(error, t)
        )
    raise _done("merged", name=kept.name, other=other.name if other else merge["from"])


@routes.post("/contacts/merges/{entry}/undo")
async def undo_merge_page(request: web.Request) -> web.Response:
    entry = request.match_info["entry"]
    await request.post()
    admin = admin_of(request)
    if not (entry.isascii() and entry.isdigit() and len(entry) < 12):
        raise web.HTTPNotFound()
    try:
        restored = await undo_merge(admin, int(entry))
    except AdminError as error:
        return error_page(request, error)
    raise _done("unmerged", other=restored.name)


@routes.post("/contacts/{contact_id}/edit")
async def edit_contact(request: web.Request) -> web.Response:
    contact_id = request.match_info["contact_id"]
    form = await _form(request)
    row: dict[str, str] = {key: form[key] for key in ("name", "trust", "addresses") if key in form}
    data: dict[str, Any] = dict(row)
    if "addresses" in data:
        data["addresses"] = _addresses(data["addresses"])
    t = page_language(request)
    try:
        contact = await update_contact(
            admin_of(request), contact_id, _validated(ContactPatch, data, t)
        )
    except AdminError as error:
        if error.status == 404:
            return error_page(request, error)
        return await _page(
            request,
            status=error.status,
            row={"id": contact_id, **row},
            row_errors=_field_errors(error, t),
        )
    raise _done("saved", name=contact.name)


@routes.post("/contacts/{contact_id}/delete")
async def remove_contact(request: web.Request) -> web.Response:
    admin = admin_of(request)
    contact_id = request.match_info["contact_id"]
    contact = admin.view.contacts.get(contact_id)
    if contact is not None and not confirmed(await request.post()):
        return await _page(
            request,
            status=422,
            row={"id": contact_id, "delete": "1"},
            row_errors={"confirm": page_language(request).gettext(NOT_CONFIRMED)},
        )
    try:
        await delete_contact(admin, contact_id)
    except AdminError as error:
        return error_page(request, error)
    raise _done("deleted", other=contact.name if contact else "")
