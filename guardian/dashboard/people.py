"""Dashboard pages: people, everyone who wrote to the household, with one-step actions.

Each person's card names them, trusts or mutes them, or links them to a contact, through the
same function as the API (`guardian.api.people.act`); a form with a mistake is shown again
with what was typed and the error next to its field (PRG otherwise).
"""

from __future__ import annotations

from urllib.parse import urlencode

from aiohttp import web
from pydantic import ValidationError

from guardian.admin import AdminError, invalid
from guardian.api.contacts import TRUST_HELP
from guardian.api.people import PersonIn, act, people
from guardian.dashboard import admin_of, page_language, render
from guardian.dashboard.contacts import _field_errors
from guardian.i18n import N_

routes = web.RouteTableDef()

#: The confirmation after each step, by the `saved` query value.
CONFIRMATIONS = {
    # Translators: confirmations on the People page; {name} is the person's name.
    "name": N_("Saved the name {name}."),
    "trusted": N_("{name} is trusted now: their messages break through quiet hours."),
    "normal": N_("{name} follows the policy now."),
    "muted": N_("{name} is muted now: never pushed, counted in summaries."),
    "link": N_("Linked: {name} now has the addresses these messages came from."),
}
#: What a mistake in a field says on the page (the API's messages name the rule instead).
PLAIN_ERRORS = {"name": N_("Type a name: up to 200 characters, on one line.")}
#: The buttons' steps: a trust to set, or naming and linking.
TRUST_STEPS = ("trusted", "normal", "muted")


def _step(form: dict[str, str]) -> dict[str, str | None]:
    """A card's form as the API's body: its button says which step."""
    action = form.get("action", "")
    if action in TRUST_STEPS:
        return {"person": form.get("person", ""), "trust": action}
    if action == "link":
        return {"person": form.get("person", ""), "link": form.get("link") or None}
    return {"person": form.get("person", ""), "name": form.get("name", "")}


async def _page(
    request: web.Request,
    *,
    status: int = 200,
    typed: dict[str, str] | None = None,
    errors: dict[str, str] | None = None,
) -> web.Response:
    admin = admin_of(request)
    t = page_language(request)
    listed = await people(admin)
    saved = request.query.get("saved", "")
    confirmation = None
    if saved in CONFIRMATIONS:
        confirmation = t.gettext(CONFIRMATIONS[saved], name=request.query.get("name", ""))
    names = {m.id: m.name for m in admin.view.members.values()}
    contacts = sorted(admin.view.contacts.values(), key=lambda c: (c.name.casefold(), c.id))
    context = {
        "people": listed.items,
        "unlisted": [admin.view.members[m].name for m in listed.unlisted],
        "member_names": lambda ids: ", ".join(names.get(m, m) for m in ids),
        "contacts": contacts,
        "trust_help": TRUST_HELP,
        "confirmation": confirmation,
        "typed": typed or {},
        "errors": errors or {},
        "anchor": anchor,
    }
    return render(request, "people.html", context, status=status)


@routes.get("/people")
async def people_page(request: web.Request) -> web.Response:
    return await _page(request)


@routes.post("/people")
async def person_step(request: web.Request) -> web.Response:
    form = {key: str(value) for key, value in (await request.post()).items()}
    action = form.get("action", "name")
    t = page_language(request)
    try:
        if action == "link" and not form.get("link"):
            # Translators: an error beside the menu of contacts on the People page.
            message = t.gettext("Choose the contact they are.")
            raise AdminError(422, "invalid", message, {"link": message})
        try:
            step = PersonIn.model_validate(_step(form))
        except ValidationError as error:
            problem = invalid(error)
            plain = {
                f: t.gettext(PLAIN_ERRORS[f]) if f in PLAIN_ERRORS else m
                for f, m in problem.fields.items()
            }
            raise AdminError(problem.status, problem.error, problem.detail, plain) from None
        done = await act(admin_of(request), step)
    except AdminError as error:
        fields = _field_errors(error, t)
        if "form" in fields and action in ("name", "link"):
            fields = {action: fields.pop("form"), **fields}
        return await _page(request, status=error.status, typed=form, errors=fields)
    saved = action if action in CONFIRMATIONS else "name"
    raise web.HTTPSeeOther(
        "/people?" + urlencode({"saved": saved, "name": done.name}) + f"#{anchor(done.key)}"
    )


def anchor(key: str) -> str:
    """A person's card id: their key with only letters, digits and dashes."""
    return "person-" + "".join(ch if ch.isalnum() else "-" for ch in key)
