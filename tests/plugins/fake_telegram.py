"""A fake Telegram Bot API for the telegram_poll plugin's tests, from core.telegram.org/bots/api.

"Making requests": `POST /bot<token>/<method>` with a JSON body; the answer is `{"ok": true,
"result"}` or `{"ok": false, "error_code", "description"}` (`parameters.retry_after` with
429). A wrong token is 401 "Unauthorized". "getUpdates": updates with an id of at least
`offset`, and asking with an offset confirms (forgets) every update before it; a negative
offset returns the last `-offset` updates and forgets all before them; `timeout` is how long
to wait for one (long polling); `allowed_updates` the kinds kept from then on. While a webhook
is set, getUpdates is 409 "Conflict: can't use getUpdates method while webhook is active; use
deleteWebhook to delete the webhook first". "getWebhookInfo": `{"url", "has_custom_certificate",
"pending_update_count"}`, `url` empty when none is set.
"""

from __future__ import annotations

import asyncio
import contextlib
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

TOKEN = "7012345678:AAH3k9Vq2mXw8ZrT5yU1oP4aS6dF7gH9jKl"


@dataclass
class FakeTelegram:
    token: str = TOKEN
    webhook: str = ""
    #: Answer the next getUpdates with a 429 asking to wait this many seconds.
    throttle: int | None = None
    pending: list[dict[str, Any]] = field(default_factory=list)
    #: Every getUpdates call's parameters.
    polls: list[dict[str, Any]] = field(default_factory=list)
    _arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/bot{token}/{method}", self.call)
        return app

    def send(self, *updates: dict[str, Any]) -> None:
        """Updates for the bot, queued as Telegram queues them until confirmed."""
        self.pending += updates
        self._arrived.set()

    async def call(self, request: web.Request) -> web.Response:
        if request.match_info["token"] != self.token:
            return _error(401, "Unauthorized")
        method = request.match_info["method"]
        params = await request.json() if request.can_read_body else {}
        if method == "getWebhookInfo":
            info = {
                "url": self.webhook,
                "has_custom_certificate": False,
                "pending_update_count": len(self.pending),
            }
            return web.json_response({"ok": True, "result": info})
        if method == "getUpdates":
            return await self.get_updates(params)
        return _error(404, "Not Found: method not found")

    async def get_updates(self, params: dict[str, Any]) -> web.Response:
        self.polls.append(params)
        if self.webhook:
            return _error(
                409,
                "Conflict: can't use getUpdates method while webhook is active; use "
                "deleteWebhook to delete the webhook first",
            )
        if self.throttle is not None:
            wait, self.throttle = self.throttle, None
            return _error(429, f"Too Many Requests: retry after {wait}", retry_after=wait)
        offset = int(params.get("offset", 0))
        if offset < 0:
            self.pending = self.pending[offset:]
            return web.json_response({"ok": True, "result": self.pending})
        self.pending = [u for u in self.pending if u["update_id"] >= offset]
        if not self.pending and params.get("timeout"):
            # Long polling: wait for an update (a short real wait stands for `timeout` s).
            self._arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._arrived.wait(), timeout=0.5)
        limit = int(params.get("limit", 100))
        return web.json_response({"ok": True, "result": self.pending[:limit]})


def _error(code: int, description: str, **parameters: Any) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": code, "description": description}
    if parameters:
        body["parameters"] = parameters
    return web.json_response(body, status=code)
