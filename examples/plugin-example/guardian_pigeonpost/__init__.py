"""Pigeonpost for Guardian: each message a pigeon brings, as a notification."""

import hashlib
import hmac
import json
from datetime import UTC, datetime

from guardian import (
    BadRequest,
    HookRequest,
    IncomingMessage,
    PluginSettings,
    PushPlugin,
    Received,
    Unauthorized,
)
from pydantic import SecretStr


class PigeonpostSettings(PluginSettings):
    signing_key: SecretStr


class PigeonpostPlugin(PushPlugin[PigeonpostSettings]):
    """Pigeonpost's webhook: one JSON event per request, signed over the raw body."""

    settings_model = PigeonpostSettings

    async def receive(self, request: HookRequest) -> Received:
        key = self.settings.signing_key.get_secret_value().encode()
        expected = hmac.new(key, request.body, hashlib.sha256).hexdigest().encode()
        offered = request.headers.get("X-Pigeon-Signature", "").encode(errors="replace")
        if not hmac.compare_digest(offered, expected):
            raise Unauthorized("missing or wrong X-Pigeon-Signature")
        try:
            event = json.loads(request.body)
            if event["event"] != "message":  # 'delivered' receipts and the like
                return Received()
            message = IncomingMessage(
                external_id=str(event["id"]),
                network="pigeonpost",
                sender_id=str(event["from"]["loft"]),
                sender_name=event["from"].get("name"),
                text=str(event.get("text", "")),
                sent_at=datetime.fromtimestamp(event["sent"], UTC),
            )
        except (ValueError, LookupError, TypeError, AttributeError, OverflowError) as error:
            raise BadRequest(f"not a Pigeonpost event: {error!r}") from None
        return Received([message])
