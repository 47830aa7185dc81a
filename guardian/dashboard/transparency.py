"""Dashboard pages: a child's transparency page, what their guardians see about them and when.

Read-only and calm, for a parent to show the child: no admin controls, only sentences made from
the child's real policy by the same function as the API's. It is also the child's own page when
they log in themselves; then it lists their own recent summaries too, as they were sent.
"""

from __future__ import annotations

from aiohttp import web

from guardian.admin import AdminError
from guardian.api.activity import transparency
from guardian.api.users import recent_summaries
from guardian.dashboard import admin_of, error_page, render

routes = web.RouteTableDef()

#: What the child's own summaries show, at their `content` level.
OWN_SUMMARIES = {
    "counts": "Your own summaries say how many messages are waiting.",
    "senders": "Your own summaries say how many messages are waiting, and from whom.",
    "preview": "Your own summaries say how many messages are waiting, from whom, and show "
    "the start of the newest one.",
}


@routes.get("/members/{member_id}/transparency")
async def transparency_page(request: web.Request) -> web.Response:
    admin = admin_of(request)
    try:
        page = await transparency(admin, request.match_info["member_id"])
    except AdminError as error:
        return error_page(request, error)
    own = admin.principal.member == page.member
    context = {
        "page": page,
        "own_summaries": OWN_SUMMARIES[page.content],
        "own": own,
        "summaries": (await recent_summaries(admin, page.member)).items if own else [],
    }
    return render(request, "transparency.html", context)
