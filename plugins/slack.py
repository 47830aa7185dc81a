"""Slack Events API (api.slack.com/apis/events-api): `url_verification` and `message` events.

Every request is signed: `X-Slack-Signature: v0=` hex HMAC-SHA256 of
`v0:{X-Slack-Request-Timestamp}:{raw body}` with the app's signing secret, and a timestamp more
than five minutes from the time of receipt is refused, so a captured request cannot be
replayed later. `event_id` is the external id: Slack's retries (`X-Slack-Retry-Num`) carry the
same one and are duplicates. Only people's new messages count: subtypes (edits, deletions,
joins, bot messages) and anything from a bot yield nothing.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, SecretStr

from guardian.plugin import (
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

TOLERANCE = timedelta(minutes=5)
NAME_LENGTH = 200
#: Subtypes that are still a person's new message; every other subtype is an event about one.
PERSON_SUBTYPES = {None, "file_share", "thread_broadcast", "me_message"}

Id = Annotated[str, Field(min_length=1, max_length=255)]
Ts = Annotated[str, Field(pattern=r"^\d{1,11}(\.\d{1,9})?$")]


class SlackSettings(PluginSettings):
    signing_secret: SecretStr = Field(
        min_length=1, description="Basic Information → App Credentials → Signing Secret"
    )


def signature(secret: str, timestamp: str, body: bytes) -> str:
    """The `X-Slack-Signature` Slack sends for this timestamp and raw body."""
    signed = f"v0:{timestamp}:".encode("utf-8", "surrogateescape") + body
    return "v0=" + hmac.new(secret.encode(), signed, hashlib.sha256).hexdigest()


class _Slack(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class UrlVerification(_Slack):
    challenge: str = Field(max_length=1000)


class Profile(_Slack):
    display_name: str | None = None
    real_name: str | None = None
    name: str | None = None


class MessageEvent(_Slack):
    user: Id
    channel: Id
    channel_type: str | None = None
    user_profile: Profile | None = None
    text: str = ""
    files: list[Any] = []
    ts: Ts

    @property
    def sender_name(self) -> str | None:
        profile = self.user_profile or Profile()
        name = profile.display_name or profile.real_name or profile.name or ""
        return name[:NAME_LENGTH] or None


class EventCallback(_Slack):
    event_id: Id
    event: MessageEvent


class SlackPlugin(PushPlugin[SlackSettings]):
    settings_model = SlackSettings
    gettext_domain = GETTEXT_DOMAIN
    locale_dir = LOCALE_DIR

    async def receive(self, request: HookRequest) -> Received:
        self._authenticate(request)
        document = json_object(request.body, "an Events API object")
        if document.get("type") == "url_verification":
            challenge = validated(UrlVerification, document).challenge
            return Received(reply=web.json_response({"challenge": challenge}))
        return Received(read_event(document))

    def _authenticate(self, request: HookRequest) -> None:
        timestamp = request.headers.get("X-Slack-Request-Timestamp")
        offered = request.headers.get("X-Slack-Signature")
        if timestamp is None or offered is None:
            raise Unauthorized("missing X-Slack-Signature or X-Slack-Request-Timestamp")
        if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 11:
            raise Unauthorized("X-Slack-Request-Timestamp is not a Unix time")
        if abs(request.received_at.timestamp() - int(timestamp)) > TOLERANCE.total_seconds():
            raise Unauthorized("X-Slack-Request-Timestamp is outside the 5-minute tolerance")
        secret = self.settings.signing_secret.get_secret_value()
        if not hmac.compare_digest(
            offered.encode("utf-8", "surrogateescape"),
            signature(secret, timestamp, request.body).encode("utf-8", "surrogateescape"),
        ):
            raise Unauthorized("X-Slack-Signature does not match")


def read_event(document: dict[str, Any]) -> list[IncomingMessage]:
    """The person's message in an `event_callback`; nothing for every other kind of event."""
    if document.get("type") != "event_callback":
        return []  # app_rate_limited and friends
    event = document.get("event")
    if not isinstance(event, dict) or event.get("type") != "message":
        return []  # reactions, mentions (also sent as a message event), channel events...
    subtype = event.get("subtype")
    if not isinstance(subtype, str | None) or subtype not in PERSON_SUBTYPES:
        return []  # edits, deletions, joins, bot messages...
    if event.get("bot_id") or "user" not in event:
        return []  # bots, including our own app's posts
    callback = validated(EventCallback, document)
    message = callback.event
    text = message.text or ("[file]" if message.files else "")
    return [
        IncomingMessage(
            external_id=callback.event_id,
            network="slack",
            sender_id=message.user,
            sender_name=message.sender_name,
            text=_unescape(text)[:MAX_TEXT],
            sent_at=datetime.fromtimestamp(float(message.ts), UTC),
            conversation_id=message.channel,
            group=message.channel_type != "im",
        )
    ]


def _unescape(text: str) -> str:
    # Slack escapes exactly these three in message text (its "Formatting text" reference).
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
