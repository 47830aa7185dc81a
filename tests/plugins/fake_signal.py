"""A fake signal-cli for the signal plugin's tests, built from the two servers' own code.

signal-cli-rest-api (bbernhard/signal-cli-rest-api, `src/api/api.go`, `src/client/client.go`):
`GET /v1/about` → `{"versions", "build", "mode", "version", "capabilities"}` with `mode` one
of `normal`, `native`, `json-rpc`; `GET /v1/accounts` → `["+31..."]`; `GET
/v1/receive/{number}`: in json-rpc mode a websocket sending each `{"envelope", "account"}` as
one text frame (`handleSignalReceive`, which sends `{"error": ...}` for a failure), otherwise
the JSON array of what signal-cli's `receive -t <timeout>` printed, or 400 `{"error": ...}`.

signal-cli's daemon (AsamK/signal-cli, `http/HttpServerHandler.java`,
`http/ServerSentEventSender.java`): `GET /api/v1/check` → 200; `GET /api/v1/events?account=`
→ `text/event-stream` with `event:receive` and `data:{"account":..,"envelope":..}` per
message and a `:` keep-alive line, or 400 for an account it does not have.

Frames are queued with `push`; `CLOSE` in the queue makes the server end that connection, as
a restart or a proxy would.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

CLOSE = object()
ACCOUNT = "+31600000001"


@dataclass
class FakeSignal:
    mode: str = "json-rpc"
    accounts: list[str] = field(default_factory=lambda: [ACCOUNT])
    frames: asyncio.Queue[Any] = field(default_factory=asyncio.Queue)
    #: Connections (websocket, event stream) or receive calls served so far.
    connections: int = 0
    #: Connections open now.
    open: int = 0
    #: The query strings of the calls to the receive endpoints.
    queries: list[dict[str, str]] = field(default_factory=list)

    def push(self, *frames: Any) -> None:
        for frame in frames:
            self.frames.put_nowait(frame)

    async def next_frame(
        self, request: web.Request, reader: asyncio.Task[None] | None = None
    ) -> Any:
        """The next queued frame, or CLOSE once the client has gone away."""
        while True:
            try:
                return await asyncio.wait_for(self.frames.get(), timeout=0.05)
            except TimeoutError:
                if request.transport is None or request.transport.is_closing():
                    return CLOSE
                if reader is not None and reader.done():
                    return CLOSE

    async def all_closed(self) -> None:
        """Wait until the server has seen every client go away."""
        async with asyncio.timeout(5):
            while self.open:
                await asyncio.sleep(0.01)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/v1/about", self.about)
        app.router.add_get("/v1/accounts", self.list_accounts)
        app.router.add_get("/v1/receive/{number}", self.receive)
        app.router.add_get("/api/v1/check", self.check)
        app.router.add_get("/api/v1/events", self.events)
        return app

    async def about(self, request: web.Request) -> web.Response:
        return web.json_response(
            {
                "versions": ["v1", "v2"],
                "build": 2,
                "mode": self.mode,
                "version": "0.95",
                "capabilities": {"v2/send": ["quotes", "mentions"]},
            }
        )

    async def list_accounts(self, request: web.Request) -> web.Response:
        return web.json_response(self.accounts)

    async def receive(self, request: web.Request) -> web.StreamResponse:
        number = request.match_info["number"]
        self.queries.append(dict(request.query))
        self.connections += 1
        if self.mode == "json-rpc":
            ws = web.WebSocketResponse()
            await ws.prepare(request)
            self.open += 1
            # Read what the client sends, so that its close is seen (and answered) at once.
            reader = asyncio.create_task(_drain(ws))
            try:
                while True:
                    frame = await self.next_frame(request, reader)
                    if frame is CLOSE:
                        break
                    if frame.get("account", number) == number or "error" in frame:
                        await ws.send_str(json.dumps(frame))
            finally:
                self.open -= 1
            await ws.close()
            await reader
            return ws
        if number not in self.accounts:
            return web.json_response({"error": f"User {number} is not registered.\n"}, status=400)
        # signal-cli's receive -t: what arrives within the timeout (here: what is queued, or
        # the first frame to arrive within a short wait).
        batch: list[Any] = []
        with contextlib.suppress(TimeoutError):
            batch.append(await asyncio.wait_for(self.frames.get(), timeout=0.2))
        while not self.frames.empty():
            batch.append(self.frames.get_nowait())
        return web.Response(text=json.dumps([f for f in batch if f is not CLOSE]))

    async def check(self, request: web.Request) -> web.Response:
        return web.Response(status=200)

    async def events(self, request: web.Request) -> web.StreamResponse:
        self.queries.append(dict(request.query))
        account = request.query.get("account")
        if account is not None and account not in self.accounts:
            return web.Response(status=400)
        self.connections += 1
        response = web.StreamResponse(headers={"Content-Type": "text/event-stream"})
        await response.prepare(request)
        await response.write(b":\n")  # the keep-alive it sends every 15 s
        self.open += 1
        try:
            while True:
                frame = await self.next_frame(request)
                if frame is CLOSE:
                    break
                data = json.dumps(frame, separators=(",", ":"))
                await response.write(f"event:receive\ndata:{data}\n\n".encode())
        finally:
            self.open -= 1
        await response.write_eof()
        return response


async def _drain(ws: web.WebSocketResponse) -> None:
    async for _ in ws:
        pass
