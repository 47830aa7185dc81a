"""The loft's own feed, read by Guardian: for a Guardian that the loft cannot reach."""

from collections.abc import AsyncIterator
from typing import Any

import aiohttp
from pydantic import AnyHttpUrl, Field, SecretStr

from guardian import IncomingMessage, PluginSettings, PullBatch, PullPlugin, SourceError

#: How long the loft may hold a request open while it waits for a new event.
WAIT = 30


class LoftSettings(PluginSettings):
    url: AnyHttpUrl = Field(description="the loft's address, e.g. https://loft.example.org")
    api_key: SecretStr = Field(description="the key from the loft's settings page")


class LoftPlugin(PullPlugin[LoftSettings]):
    """Reads a pigeon loft's events by long polling."""

    settings_model = LoftSettings

    async def pull(self, cursor: str | None) -> AsyncIterator[PullBatch]:
        if cursor is None:  # a new source starts at what is new now: no history
            cursor = await self.newest()
            yield PullBatch([], cursor)
        while True:
            events = await self.get("/events", after=cursor, wait=WAIT)
            if not events:
                continue  # the wait ran out: ask again
            cursor = str(events[-1]["id"])
            # Also when none was a message: the cursor moves past them.
            messages = [self.message(e) for e in events if e.get("event") == "message"]
            yield PullBatch(messages, cursor)

    async def newest(self) -> str:
        events = await self.get("/events", last=1)
        return str(events[-1]["id"]) if events else "0"

    async def get(self, path: str, **query: object) -> list[dict[str, Any]]:
        session = self.context.session
        if session is None:
            raise SourceError("no HTTP session was given to the plugin")
        url = str(self.settings.url).rstrip("/") + path
        key = self.settings.api_key.get_secret_value()
        try:
            async with session.get(
                url,
                params={name: str(value) for name, value in query.items()},
                headers={"Authorization": f"Bearer {key}"},
                timeout=aiohttp.ClientTimeout(total=WAIT + 10),
            ) as response:
                if response.status == 401:
                    raise SourceError("the loft refused the API key: paste a new one")
                response.raise_for_status()
                answer = await response.json()
        except (aiohttp.ClientError, TimeoutError) as error:
            # Said without the URL or the headers: they could hold a secret.
            raise SourceError(f"cannot reach the loft ({type(error).__name__})") from None
        events: list[dict[str, Any]] = answer["events"]
        return events

    def message(self, event: dict[str, Any]) -> IncomingMessage:
        return IncomingMessage(
            external_id=str(event["id"]),  # the loft's own id: a batch read again is a duplicate
            network="pigeonpost",
            sender_id=event["from"]["loft"],
            sender_name=event["from"].get("name"),
            text=event.get("text", ""),
        )
