"""Telegram Bot API webhook: one `Update` per request (core.telegram.org/bots/api#update).

Telegram proves itself with `X-Telegram-Bot-Api-Secret-Token`, the `secret_token` given to
`setWebhook`; there is no body signature and no timestamp. `update_id` is the external id, so a
redelivered update is a duplicate. Only new messages from people count: edits, channel posts,
membership changes, service messages (joins, pins) and bots' messages yield nothing.

Telegram Business: a Premium member who connects the bot under Settings → Telegram Business →
Chatbots has their own private chats reach it as `business_message` and
`edited_business_message` updates (an edit is a notification of its own: the member sees it
anew). Those updates carry the member's own messages too; in a business chat (always
private) the other person is the chat, so a message from anyone else, or one a bot sent on
the member's behalf (`sender_business_bot`), is the member's own and yields nothing; so do
`business_connection` and `deleted_business_messages`. `read_update` is shared with the
`telegram_poll` plugin.
"""

from __future__ import annotations

import hmac
import re
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    field_validator,
    model_validator,
)

from guardian.plugin import (
    BadRequest,
    HookRequest,
    IncomingMessage,
    PluginSettings,
    PushPlugin,
    Received,
    Unauthorized,
    json_object,
    validated,
)
from guardian.webhook_format import MAX_TEXT
from plugins import GETTEXT_DOMAIN, LOCALE_DIR

HEADER = "X-Telegram-Bot-Api-Secret-Token"
NAME_LENGTH = 200

#: Media a person sends without text; shown as a placeholder so the message is not lost.
MEDIA = {
    "photo": "[photo]",
    "video": "[video]",
    "video_note": "[video message]",
    "animation": "[GIF]",
    "voice": "[voice message]",
    "audio": "[audio]",
    "document": "[file]",
    "sticker": "[sticker]",
    "location": "[location]",
    "venue": "[location]",
    "contact": "[contact]",
    "poll": "[poll]",
    "dice": "[dice]",
}

UnixTime = Annotated[int, Field(ge=0, lt=10**11)]
SECRET_TOKEN = re.compile(r"[A-Za-z0-9_-]{1,256}")


class TelegramSettings(PluginSettings):
    secret_token: SecretStr = Field(
        description="the secret_token given to setWebhook (1-256 characters: A-Z a-z 0-9 _ -)"
    )

    @field_validator("secret_token")
    @classmethod
    def _telegram_alphabet(cls, token: SecretStr) -> SecretStr:
        # Telegram refuses any other token in setWebhook, so one here could never match.
        if not SECRET_TOKEN.fullmatch(token.get_secret_value()):
            raise ValueError("1-256 characters, only A-Z, a-z, 0-9, _ and -")
        return token


class _Telegram(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class User(_Telegram):
    id: int
    is_bot: bool = False
    first_name: str = ""
    last_name: str | None = None
    username: str | None = None

    @property
    def name(self) -> str | None:
        full = " ".join(part for part in (self.first_name, self.last_name) if part)
        return (full or self.username or "")[:NAME_LENGTH] or None


class Chat(_Telegram):
    id: int
    type: str
    title: str | None = None


class Message(_Telegram):
    message_id: int
    sender: User | None = Field(None, alias="from")
    #: Set on what a bot sent on behalf of a connected business account.
    sender_business_bot: User | None = None
    business_connection_id: str | None = None
    chat: Chat
    date: UnixTime
    text: str | None = None
    caption: str | None = None
    #: Which of MEDIA the message carries, if any (set from the keys present).
    media: str | None = None

    @model_validator(mode="before")
    @classmethod
    def _media(cls, data: Any) -> Any:
        if isinstance(data, dict):
            return {**data, "media": next((key for key in MEDIA if key in data), None)}
        return data

    @property
    def content(self) -> str | None:
        """What the person wrote, a placeholder for bare media; None for service messages."""
        if self.text:
            return self.text
        if self.caption:
            return self.caption
        return MEDIA[self.media] if self.media else None


class Update(_Telegram):
    update_id: int
    #: Only new messages count; edited_message, channel_post, my_chat_member... are ignored.
    message: Message | None = None
    #: A message in a private chat of a connected business account (Telegram Business).
    business_message: Message | None = None
    edited_business_message: Message | None = None

    def incoming(self) -> Message | None:
        """The message a person sent, if this update is one."""
        if self.message is not None:
            return self.message
        business = self.business_message or self.edited_business_message
        if business is None or business.sender is None or business.sender_business_bot:
            return None
        if business.chat.type != "private" or business.sender.id != business.chat.id:
            return None  # the member's own message in their chat with the other person
        return business


class TelegramPlugin(PushPlugin[TelegramSettings]):
    settings_model = TelegramSettings
    gettext_domain = GETTEXT_DOMAIN
    locale_dir = LOCALE_DIR

    async def receive(self, request: HookRequest) -> Received:
        offered = request.headers.get(HEADER, "").encode("utf-8", "surrogateescape")
        if not offered:
            raise Unauthorized(f"missing {HEADER}")
        expected = self.settings.secret_token.get_secret_value().encode()
        if not hmac.compare_digest(offered, expected):
            raise Unauthorized(f"wrong {HEADER}")
        if request.method != "POST":
            raise BadRequest("Telegram delivers updates with POST")
        return Received(read_update(request.body))


def read_update(body: bytes) -> list[IncomingMessage]:
    """The message in one Update body; nothing for updates that are not a person's new message."""
    return update_messages(validated(Update, json_object(body, "an Update object")))


def update_messages(update: Update) -> list[IncomingMessage]:
    """The message in one Update; nothing for updates that are not a person's new message."""
    message = update.incoming()
    if message is None or message.sender is None or message.sender.is_bot:
        return []
    text = message.content
    if text is None:
        return []
    chat = message.chat
    group = chat.type in ("group", "supergroup")
    return [
        IncomingMessage(
            external_id=str(update.update_id),
            network="telegram",
            sender_id=str(message.sender.id),
            sender_name=message.sender.name,
            text=text[:MAX_TEXT],
            sent_at=datetime.fromtimestamp(message.date, UTC),
            conversation_id=str(chat.id),
            conversation_title=(chat.title or "")[:NAME_LENGTH] or None if group else None,
            group=group,
        )
    ]
