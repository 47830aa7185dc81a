"""WhatsApp Cloud API webhooks (developers.facebook.com/docs/whatsapp/cloud-api/webhooks).

Subscribing: Meta calls `GET ?hub.mode=subscribe&hub.verify_token=T&hub.challenge=X` and expects
200 with X when T is the source's `verify_token`. Notifications: a POST signed with
`X-Hub-Signature-256: sha256=` hex HMAC-SHA256 of the raw body with the app secret. One POST
may batch several entries, changes and messages; `statuses` (sent, delivered, read) and
reactions yield nothing. `messages[].id` (a `wamid.`) is the external id. The sender is the
`wa_id`, named from `value.contacts[].profile.name`.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime
from typing import Annotated, Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from guardian.plugin import (
    MAX_MESSAGES,
    BadRequest,
    HookRequest,
    IncomingMessage,
    PluginSettings,
    PushPlugin,
    Received,
    TooLarge,
    Unauthorized,
    json_object,
    validated,
)
from guardian.webhook_format import MAX_TEXT
from plugins import GETTEXT_DOMAIN, LOCALE_DIR

HEADER = "X-Hub-Signature-256"
NAME_LENGTH = 200

#: Types without text of their own: shown as their caption, or else as a placeholder.
PLACEHOLDERS = {
    "image": "[image]",
    "video": "[video]",
    "audio": "[voice message]",
    "document": "[file]",
    "sticker": "[sticker]",
    "location": "[location]",
    "contacts": "[contact]",
}
#: Not something a person wrote: reactions, "changed their number" notices, unsupported types.
IGNORED_TYPES = {"reaction", "system", "unsupported", "request_welcome", "ephemeral", "unknown"}

Id = Annotated[str, Field(min_length=1, max_length=255)]
UnixTime = Annotated[str, Field(pattern=r"^\d{1,11}$")]


class WhatsAppSettings(PluginSettings):
    app_secret: SecretStr = Field(min_length=1, description="App settings → Basic → App secret")
    verify_token: SecretStr = Field(
        min_length=1, description="the Verify token entered when configuring the webhook"
    )


def signature(app_secret: str, body: bytes) -> str:
    """The `X-Hub-Signature-256` Meta sends for this raw body."""
    return "sha256=" + hmac.new(app_secret.encode(), body, hashlib.sha256).hexdigest()


class _Meta(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Profile(_Meta):
    name: str | None = None


class Contact(_Meta):
    wa_id: Id
    profile: Profile = Profile()


class Text(_Meta):
    body: str = ""


class Media(_Meta):
    caption: str | None = None


class Button(_Meta):
    text: str = ""


class Message(_Meta):
    id: Id
    sender: Id = Field(alias="from")
    timestamp: UnixTime
    type: str = "text"
    text: Text | None = None
    image: Media | None = None
    video: Media | None = None
    document: Media | None = None
    button: Button | None = None

    @property
    def content(self) -> str:
        if self.text is not None and self.text.body:
            return self.text.body
        media = getattr(self, self.type, None) if self.type in PLACEHOLDERS else None
        if isinstance(media, Media) and media.caption:
            return media.caption
        if self.button is not None and self.button.text:
            return self.button.text
        return PLACEHOLDERS.get(self.type, f"[{self.type}]")


class Value(_Meta):
    contacts: list[Contact] = []
    messages: list[Message] = []


class Change(_Meta):
    field: str = "messages"
    value: Value = Value()


class Entry(_Meta):
    changes: list[Change] = []


class Notification(_Meta):
    object: str = "whatsapp_business_account"
    entry: list[Entry] = Field(default=[], max_length=1000)


class WhatsAppPlugin(PushPlugin[WhatsAppSettings]):
    settings_model = WhatsAppSettings
    gettext_domain = GETTEXT_DOMAIN
    locale_dir = LOCALE_DIR

    async def receive(self, request: HookRequest) -> Received:
        if request.method == "GET":
            return Received(reply=self._verify_subscription(request))
        self._authenticate(request)
        return Received(read_notification(request.body))

    def _verify_subscription(self, request: HookRequest) -> web.Response:
        mode = request.query.get("hub.mode")
        challenge = request.query.get("hub.challenge")
        offered = request.query.get("hub.verify_token")
        if mode != "subscribe" or challenge is None or offered is None:
            raise BadRequest("expected hub.mode=subscribe, hub.verify_token and hub.challenge")
        expected = self.settings.verify_token.get_secret_value()
        if not hmac.compare_digest(offered.encode("utf-8", "surrogateescape"), expected.encode()):
            raise Unauthorized("hub.verify_token does not match")
        return web.Response(text=challenge, content_type="text/plain")

    def _authenticate(self, request: HookRequest) -> None:
        offered = request.headers.get(HEADER)
        if offered is None:
            raise Unauthorized(f"missing {HEADER}")
        expected = signature(self.settings.app_secret.get_secret_value(), request.body)
        if not hmac.compare_digest(offered.encode("utf-8", "surrogateescape"), expected.encode()):
            raise Unauthorized(f"{HEADER} does not match")


def read_notification(body: bytes) -> list[IncomingMessage]:
    """Every person's message in a (possibly batched) webhook body; statuses yield nothing."""
    document = json_object(body, "a webhook object")
    batched = _message_count(document)
    if batched > MAX_MESSAGES:  # counted before each one is read: reading 12,000 takes seconds
        raise TooLarge(f"at most {MAX_MESSAGES} messages per request, got {batched}")
    notification = validated(Notification, document)
    messages = []
    for entry in notification.entry:
        for change in entry.changes:
            if change.field != "messages":
                continue  # account updates, template reviews...: not messages
            names = {contact.wa_id: contact.profile.name for contact in change.value.contacts}
            messages += [
                _incoming(message, names.get(message.sender))
                for message in change.value.messages
                if message.type not in IGNORED_TYPES
            ]
    return messages


def _message_count(document: dict[str, Any]) -> int:
    """How many messages a body carries, read leniently (validation says what is wrong)."""

    def items(value: Any, key: str) -> list[Any]:
        found = value.get(key) if isinstance(value, dict) else None
        return found if isinstance(found, list) else []

    return sum(
        len(items(change.get("value") if isinstance(change, dict) else None, "messages"))
        for entry in items(document, "entry")
        for change in items(entry, "changes")
    )


def _incoming(message: Message, name: str | None) -> IncomingMessage:
    return IncomingMessage(
        external_id=message.id,
        network="whatsapp",
        sender_id=message.sender,
        sender_name=(name or "")[:NAME_LENGTH] or None,
        text=message.content[:MAX_TEXT],
        sent_at=datetime.fromtimestamp(int(message.timestamp), UTC),
        conversation_id=message.sender,
        conversation_title=None,
        group=False,
    )
