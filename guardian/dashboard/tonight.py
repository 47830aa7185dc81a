"""Dashboard pages: tonight at a glance, kept live by server-sent events."""

from __future__ import annotations

import asyncio
import contextlib

from aiohttp import web

from guardian.api.tonight import tonight as tonight_data
from guardian.app import GUARDIAN
from guardian.dashboard import admin_of, render
from guardian.events import CLOSED

routes = web.RouteTableDef()

#: A comment line this often keeps proxies from closing an idle stream.
KEEPALIVE = 15.0


@routes.get("/")
async def tonight(request: web.Request) -> web.Response:
    return render(request, "tonight.html", {"tonight": await tonight_data(admin_of(request))})


@routes.get("/tonight/members")
async def tonight_members(request: web.Request) -> web.Response:
    """The live part of the page, fetched again whenever something changed."""
    return render(
        request, "tonight_members.html", {"tonight": await tonight_data(admin_of(request))}
    )


@routes.get("/events")
async def events(request: web.Request) -> web.StreamResponse:
    """Server-sent events: one `update` whenever notifications, deliveries or settings change."""
    guardian = request.app[GUARDIAN]
    response = web.StreamResponse(
        headers={
            "Content-Type": "text/event-stream",
            "Cache-Control": "no-store",
            "X-Accel-Buffering": "no",
        }
    )
    await response.prepare(request)
    await response.write(b"retry: 3000\n\n")
    with guardian.events.subscribed() as queue:
        while True:
            try:
                kind = await asyncio.wait_for(queue.get(), KEEPALIVE)
            except TimeoutError:
                await response.write(b": keepalive\n\n")
                continue
            if kind == CLOSED:
                break
            with contextlib.suppress(ConnectionResetError):
                await response.write(f"event: update\ndata: {kind}\n\n".encode())
    return response
