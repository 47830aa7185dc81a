"""Telegram Bot API by long polling (`getUpdates`), for a Guardian that no network can reach.

The same updates as the `telegram` webhook plugin (`plugins.telegram.update_messages`):
messages to the bot, and with Telegram Business the member's own private chats
(`business_message`, `edited_business_message`). From core.telegram.org/bots/api,
"getUpdates": `offset` is the first update to return, and asking with it confirms every
update before it; a negative offset returns the last updates and forgets all before them;
`timeout` is the long poll's wait; `allowed_updates` the kinds wanted. Telegram keeps an
update at most 24 hours, and refuses getUpdates while the bot has a webhook (409), which
`getWebhookInfo` shows; "Making requests": an answer is `{"ok", "result"}` or `{"ok": false,
"error_code", "description", "parameters": {"retry_after"}}`.

The cursor is the next `offset`. Guardian stores it with the notifications of the updates
before it, and only then does the plugin ask for more (which confirms those to Telegram): a
crash in between means the same updates again, deduplicated by their `update_id`. A new
source starts at now: it takes the last pending update and everything before it as history.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from typing import Any

import aiohttp
from pydantic import Field, SecretStr, ValidationError, field_validator

from guardian.plugin import IncomingMessage, PluginSettings, PullBatch, PullPlugin
from guardian.settings import loc_path
from plugins import GETTEXT_DOMAIN, LOCALE_DIR
from plugins.network import NETWORK_ERRORS, SourceError, require_session, unreachable
from plugins.telegram import Update, update_messages

#: The long poll's wait, in seconds (Telegram allows up to 50).
LONG_POLL_SECONDS = 50
#: The update kinds read; Telegram queues no others for the bot while polling.
ALLOWED_UPDATES = ["message", "business_message", "edited_business_message"]
API = "https://api.telegram.org"
BOT_TOKEN = re.compile(r"\d{5,16}:[A-Za-z0-9_-]{30,64}")


class TelegramPollSettings(PluginSettings):
    bot_token: SecretStr = Field(description="the bot's token from @BotFather (123456:ABC...)")
    api_url: str = Field(API, description="the Bot API server (a local telegram-bot-api one)")

    @field_validator("bot_token")
    @classmethod
    def _token_shape(cls, token: SecretStr) -> SecretStr:
        if not BOT_TOKEN.fullmatch(token.get_secret_value()):
            raise ValueError("not a bot token: digits, a colon, then 30 or more characters")
        return token

    @field_validator("api_url")
    @classmethod
    def _http(cls, url: str) -> str:
        if not url.startswith(("https://", "http://")):
            raise ValueError("an http(s):// URL")
        return url.rstrip("/")


class TelegramPollPlugin(PullPlugin[TelegramPollSettings]):
    settings_model = TelegramPollSettings
    gettext_domain = GETTEXT_DOMAIN
    locale_dir = LOCALE_DIR

    async def pull(self, cursor: str | None) -> AsyncIterator[PullBatch]:
        session = require_session(self.context.session)
        await self._refuse_while_a_webhook_is_set(session)
        offset = _offset(cursor)
        if offset is None:
            offset = await self._start_now(session)
            yield PullBatch([], str(offset))
        while True:
            updates = await self._call(
                session,
                "getUpdates",
                {
                    "offset": offset,
                    "timeout": LONG_POLL_SECONDS,
                    "allowed_updates": ALLOWED_UPDATES,
                },
            )
            if not isinstance(updates, list) or not updates:
                continue
            messages: list[IncomingMessage] = []
            for update in updates:
                messages += self._read(update)
            offset = max(_update_id(u) for u in updates) + 1
            # Also when none was a message: the cursor moves past them.
            yield PullBatch(messages, str(offset))

    def _read(self, update: Any) -> list[IncomingMessage]:
        try:
            return update_messages(Update.model_validate(update))
        except ValidationError as error:
            ident = update.get("update_id") if isinstance(update, Mapping) else None
            where = [f"{loc_path(e['loc'])}: {e['msg']}" for e in error.errors()[:3]]
            self.log.warning("update %s is not readable, skipped: %s", ident, "; ".join(where))
            return []

    async def _refuse_while_a_webhook_is_set(self, session: aiohttp.ClientSession) -> None:
        info = await self._call(session, "getWebhookInfo", {})
        if isinstance(info, Mapping) and info.get("url"):
            raise SourceError(
                "the bot has a webhook set, and Telegram gives no updates by polling while it"
                " has: remove it (deleteWebhook), or use the `telegram` plugin with the webhook"
            )

    async def _start_now(self, session: aiohttp.ClientSession) -> int:
        """The offset after the last pending update: what is pending now is history."""
        last = await self._call(session, "getUpdates", {"offset": -1, "timeout": 0})
        if isinstance(last, list) and last:
            return max(_update_id(u) for u in last) + 1
        return 0

    async def _call(
        self, session: aiohttp.ClientSession, method: str, params: Mapping[str, Any]
    ) -> Any:
        """A Bot API method's result; waits out a 429 as Telegram asks; a SourceError for
        what must be fixed. The token is in the URL: no error names the URL."""
        token = self.settings.bot_token.get_secret_value()
        url = f"{self.settings.api_url}/bot{token}/{method}"
        wait = int(params.get("timeout", 0))
        while True:
            try:
                async with session.post(
                    url, json=dict(params), timeout=aiohttp.ClientTimeout(total=wait + 30)
                ) as response:
                    answer = await response.json(content_type=None)
            except NETWORK_ERRORS as error:
                raise unreachable("cannot reach the Telegram Bot API", error) from None
            if not isinstance(answer, Mapping):
                raise SourceError(f"the Telegram Bot API answered {method} with no JSON object")
            if answer.get("ok"):
                return answer.get("result")
            code = answer.get("error_code")
            said = str(answer.get("description") or "no description")[:300]
            retry_after = (answer.get("parameters") or {}).get("retry_after")
            if code == 429 and isinstance(retry_after, int):
                self.log.warning("Telegram asks to wait %s s (%s)", retry_after, said)
                await self.context.clock.sleep(retry_after)
                continue
            if code in (401, 404):
                raise SourceError(
                    f"Telegram refused the bot token ({code} {said}): check bot_token, as"
                    " @BotFather gave it"
                )
            raise SourceError(f"Telegram refused {method}: {code} {said}")


def _offset(cursor: str | None) -> int | None:
    if cursor is None:
        return None
    try:
        return int(cursor)
    except ValueError:
        return None


def _update_id(update: Any) -> int:
    value = update.get("update_id") if isinstance(update, Mapping) else None
    return value if isinstance(value, int) else -1
