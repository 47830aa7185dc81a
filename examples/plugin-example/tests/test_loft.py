"""The loft's feed passes Guardian's pull conformance suite, against a small fake loft."""

import asyncio

import pytest
from aiohttp import web

from guardian.testing import PullCase, pull_conformance_tests

from guardian_pigeonpost.loft import LoftPlugin

KEY = "loft-key-3b9e21"


class FakeLoft:
    """The loft's API as its documentation says: `GET /events?after=ID&wait=S` answers the
    events after ID, waiting up to S seconds for one; `?last=1` the newest; 401 for a bad key."""

    def __init__(self) -> None:
        self.events: list[dict[str, object]] = []
        self.refusing = False
        self.arrived = asyncio.Event()

    async def events_after(self, request: web.Request) -> web.Response:
        if self.refusing or request.headers.get("Authorization") != f"Bearer {KEY}":
            return web.json_response({"error": "bad key"}, status=401)
        if "last" in request.query:
            return web.json_response({"events": self.events[-int(request.query["last"]) :]})
        after, wait = int(request.query["after"]), float(request.query.get("wait", 0))
        newer = []
        try:
            async with asyncio.timeout(wait):
                while not (newer := [e for e in self.events if int(e["id"]) > after]):
                    self.arrived.clear()
                    await self.arrived.wait()
                    if self.refusing:
                        return web.json_response({"error": "bad key"}, status=401)
        except TimeoutError:
            pass
        return web.json_response({"events": newer})


class LoftNetwork:
    """The fake loft, started for one check of the suite and stopped after it."""

    async def __aenter__(self):
        self.loft = FakeLoft()
        app = web.Application()
        app.router.add_get("/events", self.loft.events_after)
        self.runner = web.AppRunner(app, shutdown_timeout=0.1)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", 0)
        await site.start()
        port = site._server.sockets[0].getsockname()[1]
        self.settings = {"url": f"http://127.0.0.1:{port}", "api_key": KEY}
        return self

    async def __aexit__(self, *exc):
        self.loft.arrived.set()
        await self.runner.cleanup()

    async def send(self, key):
        sender = {"loft": "loft-7", "name": "Sophie"}
        event = {"id": len(self.loft.events) + 1, "event": "message", "from": sender, "text": key}
        self.loft.events.append(event)
        self.loft.arrived.set()

    async def fail(self):
        self.loft.refusing = True
        self.loft.arrived.set()  # a request waiting now is refused too

    async def recover(self):
        self.loft.refusing = False


@pytest.fixture
def loft_case():
    return PullCase(LoftPlugin, network=LoftNetwork, secrets=[KEY])


test_pull_conformance = pull_conformance_tests("loft_case")
