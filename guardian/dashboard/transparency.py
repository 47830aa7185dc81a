"""Dashboard pages: a child's transparency page, what their guardians see about them and when.

Read-only and calm, for a parent to show the child: no admin controls, only sentences made from
the child's real policy by the same function as the API's. It is also the child's own page when
they log in themselves; then it lists their own recent summaries too, as they were sent.

The page is in the child's language, whoever reads it (a parent shows it to the child); a reader
of another language gets one line in theirs saying so, with a link to the page in their own
(`?language=`), and from there one back.
"""

from __future__ import annotations

from aiohttp import web

from guardian import i18n
from guardian.admin import AdminError
from guardian.api.activity import transparency
from guardian.api.users import recent_summaries
from guardian.dashboard import admin_of, error_page, page_language, render
from guardian.i18n import N_

routes = web.RouteTableDef()

#: What the child's own summaries show, at their `content` level.
OWN_SUMMARIES = {
    "counts": N_("Your own summaries say how many messages are waiting."),
    "senders": N_("Your own summaries say how many messages are waiting, and from whom."),
    "preview": N_(
        "Your own summaries say how many messages are waiting, from whom, and show "
        "the start of the newest one."
    ),
}


@routes.get("/members/{member_id}/transparency")
async def transparency_page(request: web.Request) -> web.Response:
    admin = admin_of(request)
    member_id = request.match_info["member_id"]
    try:
        member = admin.member(member_id)
    except AdminError as error:
        return error_page(request, error)
    reader = page_language(request)
    theirs = member.language
    asked = request.query.get("language", "")
    shown = i18n.language(asked if asked in i18n.LANGUAGES and asked != theirs else theirs)
    try:
        page = await transparency(admin, member_id, shown)
    except AdminError as error:
        return error_page(request, error)
    own = admin.principal.member == page.member
    context = {
        "page": page,
        "own_summaries": shown.gettext(OWN_SUMMARIES[page.content]),
        "own": own,
        "summaries": (await recent_summaries(admin, page.member)).items if own else [],
        "note": _note(request.path, page.name, reader, shown, theirs),
    }
    return render(request, "transparency.html", context, language=shown)


def _note(
    path: str, name: str, reader: i18n.Language, shown: i18n.Language, theirs: str
) -> dict[str, str] | None:
    """The line in the reader's language about the page's, with its link; none if they match."""
    if shown.code != theirs:  # the reader asked for the page in their own language
        return {
            "lang": shown.code,
            # Translators: the transparency page, shown in the reader's language on request.
            "text": shown.gettext(
                "This page is in your language; {name} reads it in theirs.", name=name
            ),
            "link": shown.gettext("Show it in {name}’s language", name=name),
            "href": path,
        }
    if reader.code == theirs:
        return None
    return {
        "lang": reader.code,
        # Translators: the one line in the reader's language on a child's transparency page,
        # which is in the child's language (for the child to read). {name} is the child's name.
        "text": reader.gettext("This page is in {name}’s language.", name=name),
        "link": reader.gettext("Show it in mine"),
        "href": f"{path}?language={reader.code}",
    }
