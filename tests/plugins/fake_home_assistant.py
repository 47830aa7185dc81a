"""A fake Home Assistant for the home_assistant plugin's tests, built from its own code.

home-assistant/core `components/websocket_api/`: `auth.py` (`{"type": "auth_required",
"ha_version"}`, then `auth_ok`, or `auth_invalid` with "Invalid access token or password" and
the connection closed), `commands.py` (`subscribe_trigger`, admin only, answered with a
`result`; each firing sent as `{"id", "type": "event", "event": {"variables", "context"}}`;
`ping` answered `{"id", "type": "pong"}`), `messages.py` (results and errors:
`{"id", "type": "result", "success": false, "error": {"code", "message"}}`), and the state
trigger's variables (`components/homeassistant/triggers/state.py`: `trigger.platform`,
`entity_id`, `from_state`, `to_state`, `for`, `attribute`, `description`). REST:
`GET /api/states/<entity_id>` with a bearer token (`components/api/__init__.py`): the state,
404 `{"message": "Entity not found."}`, or 401.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

TOKEN = "ha-llat-eyJhbGciOiJIUzI1NiJ9.fake"


@dataclass
class FakeHomeAssistant:
    token: str = TOKEN
    admin: bool = True
    answer_pings: bool = True
    states: dict[str, dict[str, Any]] = field(default_factory=dict)
    #: Every message clients sent over the websocket, in order.
    received: list[dict[str, Any]] = field(default_factory=list)
    connections: int = 0
    open: int = 0
    #: `GET /api/states/...` calls answered.
    state_reads: int = 0
    _subscribers: list[tuple[web.WebSocketResponse, int, list[str]]] = field(default_factory=list)
    _sockets: list[web.WebSocketResponse] = field(default_factory=list)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/api/websocket", self.websocket)
        app.router.add_get("/api/states/{entity_id}", self.state)
        return app

    async def change(self, entity: str, state: dict[str, Any]) -> None:
        """Set an entity's state, as the Companion app does, and fire the subscriptions."""
        previous = self.states.get(entity)
        self.states[entity] = state
        for ws, subscription, entities in list(self._subscribers):
            if entity in entities and not ws.closed:
                await ws.send_str(json.dumps(_event(subscription, entity, previous, state)))

    async def drop(self) -> None:
        """Close every connection, as a restart of Home Assistant does."""
        for ws in list(self._sockets):
            await ws.close()

    async def subscribed(self, count: int = 1) -> None:
        """Wait until `count` subscriptions were made and the sensor's state was read after
        each (over all connections so far): from then on, a change arrives as an event."""
        async with asyncio.timeout(5):
            while (
                len([m for m in self.received if m.get("type") == "subscribe_trigger"]) < count
                or self.state_reads < count
            ):
                await asyncio.sleep(0.01)

    async def all_closed(self) -> None:
        async with asyncio.timeout(5):
            while self.open:
                await asyncio.sleep(0.01)

    async def websocket(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.connections += 1
        self.open += 1
        self._sockets.append(ws)
        try:
            await ws.send_json({"type": "auth_required", "ha_version": "2026.11.2"})
            auth = await ws.receive_json()
            self.received.append(auth)
            if auth.get("type") != "auth" or auth.get("access_token") != self.token:
                await ws.send_json(
                    {"type": "auth_invalid", "message": "Invalid access token or password"}
                )
                return ws
            await ws.send_json({"type": "auth_ok", "ha_version": "2026.11.2"})
            async for frame in ws:
                message = json.loads(frame.data)
                self.received.append(message)
                await self._command(ws, message)
        except (TypeError, ValueError, ConnectionError):
            pass
        finally:
            self.open -= 1
            self._sockets.remove(ws)
            self._subscribers = [s for s in self._subscribers if s[0] is not ws]
            with contextlib.suppress(Exception):
                await ws.close()
        return ws

    async def _command(self, ws: web.WebSocketResponse, message: dict[str, Any]) -> None:
        ident, kind = message.get("id"), message.get("type")
        if kind == "ping":
            if self.answer_pings:
                await ws.send_json({"id": ident, "type": "pong"})
        elif kind == "subscribe_trigger":
            if not self.admin:
                error = {"code": "unauthorized", "message": "Unauthorized"}
                await ws.send_json(
                    {"id": ident, "type": "result", "success": False, "error": error}
                )
                return
            trigger = message["trigger"]
            entities = trigger["entity_id"]
            entities = [entities] if isinstance(entities, str) else list(entities)
            assert trigger.get("platform", trigger.get("trigger")) == "state", trigger
            self._subscribers.append((ws, int(ident), entities))  # type: ignore[arg-type]
            await ws.send_json({"id": ident, "type": "result", "success": True, "result": None})
        else:
            error = {"code": "unknown_command", "message": "Unknown command."}
            await ws.send_json({"id": ident, "type": "result", "success": False, "error": error})

    async def state(self, request: web.Request) -> web.Response:
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.Response(status=401, text="401: Unauthorized")
        entity = request.match_info["entity_id"]
        self.state_reads += 1
        if entity not in self.states:
            return web.json_response({"message": "Entity not found."}, status=404)
        return web.json_response(self.states[entity])


def _event(
    subscription: int, entity: str, previous: dict[str, Any] | None, state: dict[str, Any]
) -> dict[str, Any]:
    trigger = {
        "id": "0",
        "idx": "0",
        "alias": None,
        "platform": "state",
        "entity_id": entity,
        "from_state": previous,
        "to_state": state,
        "for": None,
        "attribute": None,
        "description": f"state of {entity}",
    }
    context = {"id": "01JDQ40A1B2C3D4E5F6G7H8J9K", "parent_id": None, "user_id": None}
    return {
        "id": subscription,
        "type": "event",
        "event": {"variables": {"trigger": trigger}, "context": context},
    }
