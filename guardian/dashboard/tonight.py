"""Dashboard pages: tonight at a glance, kept live by server-sent events, and the quick
controls of a member's quiet hours (on Tonight and on the member's page)."""

from __future__ import annotations

import asyncio
import re
from typing import Any

from aiohttp import web

from guardian.admin import AdminError
from guardian.api.tonight import apply_control, undo_control
from guardian.api.tonight import tonight as tonight_data
from guardian.dashboard import admin_of, error_page, page_language, render
from guardian.events import CLOSED
from guardian.overrides import CONTROLS, ONE_HOUR, Control
from guardian.state import SERVICE

routes = web.RouteTableDef()

#: A comment line this often keeps proxies from closing an idle stream.
KEEPALIVE = 15.0
#: Where a quick control may send the browser back to: Tonight or a member's page.
_BACK = re.compile(r"/(members/[a-z0-9][a-z0-9_-]{0,63})?")


async def _context(request: web.Request, **extra: Any) -> dict[str, Any]:
    return {
        "tonight": await tonight_data(admin_of(request), page_language(request).code),
        "changed": request.query.get("changed", ""),
        "one_hour": ONE_HOUR,
        "control_error": None,
        **extra,
    }


@routes.get("/")
async def tonight(request: web.Request) -> web.Response:
    return render(request, "tonight.html", await _context(request))


@routes.get("/tonight/members")
async def tonight_members(request: web.Request) -> web.Response:
    """The live part of the page, fetched again whenever something changed."""
    return render(request, "tonight_members.html", await _context(request))


def _back(value: object, member_id: str) -> str:
    back = str(value or "/")
    if not _BACK.fullmatch(back):
        back = "/"
    if back == "/":
        return f"/?changed={member_id}#changed"
    return f"{back}?quiet=changed#quiet"


@routes.post("/tonight/{member_id}/quiet")
async def quick_control(request: web.Request) -> web.StreamResponse:
    """A quick control from a form: applied at once, then back to the page it came from."""
    member_id = request.match_info["member_id"]
    data = await request.post()
    control = str(data.get("control", ""))
    try:
        if control not in CONTROLS:
            raise AdminError(422, "invalid", "control: not a quick control")
        chosen: Control = control
        await apply_control(admin_of(request), member_id, chosen, str(data.get("until", "")))
    except AdminError as error:
        if error.status == 404:
            return error_page(request, error)
        said = next(iter(error.fields.values()), error.detail)
        # Translators: a quick control on Tonight failed; {problem} says why (a sentence's start).
        failed = page_language(request).gettext("That did not work: {problem}.", problem=said)
        context = await _context(request, control_error=failed)
        return render(request, "tonight.html", context, error.status)
    raise web.HTTPSeeOther(_back(data.get("back"), member_id))


@routes.post("/tonight/{member_id}/quiet/{override_id}/undo")
async def quick_undo(request: web.Request) -> web.StreamResponse:
    member_id = request.match_info["member_id"]
    data = await request.post()
    try:
        await undo_control(admin_of(request), member_id, request.match_info["override_id"])
    except AdminError as error:
        return error_page(request, error)
    raise web.HTTPSeeOther(_back(data.get("back"), member_id))


@routes.get("/events")
async def events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: one `update` whenever notifications, deliveries or settings change."""
    service = request.app[SERVICE]
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)
    await response.write(b"retry: 3000\n\n")
    with service.events.subscribed() as queue:
        while True:
            try:
                kind = await asyncio.wait_for(queue.get(), KEEPALIVE)
            except TimeoutError:
                kind = ""
            if kind == CLOSED:
                break
            line = f"event: update\ndata: {kind}\n\n" if kind else ": keepalive\n\n"
            try:
                await response.write(line.encode())
            except ConnectionResetError:
                break  # the tab was closed: the stream ends, and its subscription with it
    return response
