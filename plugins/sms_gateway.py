"""SMS Gateway for Android (capcom6/android-sms-gateway): a household phone forwarding its SMS.

The app signs each webhook: `X-Signature` is hex HMAC-SHA256, keyed with the signing key from
Settings → Webhooks, of the raw body followed by `X-Timestamp` (Unix seconds); a timestamp more
than five minutes from the time of receipt is refused. Only `sms:received` events are
messages; `sms:sent`, `sms:delivered`, `system:ping`... yield nothing. The event's `id` is the
external id: the app retries the same event, and its `messageId` is derived from the content,
so the app's docs warn it is not unique.
"""

from __future__ import annotations

import hashlib
import hmac
from datetime import datetime, timedelta
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from guardian.contacts import canonical_phone
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
RECEIVED = "sms:received"

Id = Annotated[str, Field(min_length=1, max_length=255)]


class SmsGatewaySettings(PluginSettings):
    signing_key: SecretStr = Field(
        min_length=1, description="the app's Settings → Webhooks → Signing Key"
    )


def signature(signing_key: str, body: bytes, timestamp: str) -> str:
    """The `X-Signature` the app sends for this raw body and `X-Timestamp`."""
    return hmac.new(
        signing_key.encode(), body + timestamp.encode("utf-8", "surrogateescape"), hashlib.sha256
    ).hexdigest()


class _Gateway(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)


class Event(_Gateway):
    id: Id
    event: str


class SmsPayload(_Gateway):
    phone_number: str = Field(alias="phoneNumber", min_length=1, max_length=64)
    message: str = ""
    received_at: str | None = Field(None, alias="receivedAt")


class SmsReceived(Event):
    payload: SmsPayload


class SmsGatewayPlugin(PushPlugin[SmsGatewaySettings]):
    settings_model = SmsGatewaySettings
    gettext_domain = GETTEXT_DOMAIN
    locale_dir = LOCALE_DIR

    async def receive(self, request: HookRequest) -> Received:
        self._authenticate(request)
        return Received(read_event(request.body))

    def _authenticate(self, request: HookRequest) -> None:
        timestamp = request.headers.get("X-Timestamp")
        offered = request.headers.get("X-Signature")
        if timestamp is None or offered is None:
            raise Unauthorized("missing X-Signature or X-Timestamp")
        if not timestamp.isascii() or not timestamp.isdigit() or len(timestamp) > 11:
            raise Unauthorized("X-Timestamp is not a Unix time")
        if abs(request.received_at.timestamp() - int(timestamp)) > TOLERANCE.total_seconds():
            raise Unauthorized("X-Timestamp is outside the 5-minute tolerance")
        expected = signature(self.settings.signing_key.get_secret_value(), request.body, timestamp)
        if not hmac.compare_digest(
            offered.lower().encode("utf-8", "surrogateescape"), expected.encode()
        ):
            raise Unauthorized("X-Signature does not match")


def read_event(body: bytes) -> list[IncomingMessage]:
    """The SMS in an `sms:received` event; nothing for the app's other events."""
    document = json_object(body, "a webhook event object")
    if validated(Event, document).event != RECEIVED:
        return []
    event = validated(SmsReceived, document)
    # `+31 6 1234 5678` and `0031...` become E.164; a national number stays as the phone shows it.
    number = canonical_phone(event.payload.phone_number)
    return [
        IncomingMessage(
            external_id=event.id,
            network="sms",
            sender_id=number,
            text=event.payload.message[:MAX_TEXT],
            sent_at=_instant(event.payload.received_at),
            conversation_id=number,
        )
    ]


def _instant(text: str | None) -> datetime | None:
    # The phone's local time with its offset; without an offset it is unknown, so use receipt.
    try:
        instant = datetime.fromisoformat(text) if text else None
    except ValueError:
        return None
    return instant if instant is not None and instant.utcoffset() is not None else None
