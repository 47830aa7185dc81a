"""The generic `webhook` plugin: anything that can POST JSON (forwarders, home automation, bridges).

Auth: Standard Webhooks headers with the source's `whsec_` secret (5-minute tolerance), or
`Authorization: Bearer <token>` when the source has a token. The body format is
`guardian.webhook_format`. It doubles as the reference plugin for plugin authors.
"""

from __future__ import annotations

import hmac
from typing import Any

from pydantic import (
    Field,
    SecretStr,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from guardian.plugin import (
    HookRequest,
    IncomingMessage,
    PluginSettings,
    PushPlugin,
    Received,
    Unauthorized,
)
from guardian.signatures import SignatureInvalid, secret_key, verify
from guardian.webhook_format import MAX_BATCH, WebhookMessage, parse_body
from plugins import GETTEXT_DOMAIN, LOCALE_DIR

#: One message or an array of them, parsed and checked in one pass from the bytes.
_BODY: TypeAdapter[Any] = TypeAdapter(WebhookMessage | list[WebhookMessage])


def read_messages(body: bytes) -> list[IncomingMessage]:
    """The messages in a webhook body: pydantic reads the JSON bytes and checks the fields in
    one pass (no Python objects in between); anything it refuses, and arrays too long or
    empty, go through `parse_body`, which says exactly what is wrong in the usual words."""
    try:
        parsed = _BODY.validate_json(body)
    except ValidationError:
        return parse_body(body)
    if isinstance(parsed, WebhookMessage):
        return [parsed.incoming()]
    if not parsed or len(parsed) > MAX_BATCH:
        return parse_body(body)
    return [m.incoming() for m in parsed]


class WebhookSettings(PluginSettings):
    secret: SecretStr | None = Field(None, description="Standard Webhooks secret, whsec_...")
    token: SecretStr | None = Field(None, description="bearer token, when a sender cannot sign")

    @field_validator("secret")
    @classmethod
    def _whsec(cls, secret: SecretStr | None) -> SecretStr | None:
        if secret is not None:
            secret_key(secret.get_secret_value())
        return secret

    @model_validator(mode="after")
    def _some_auth(self) -> WebhookSettings:
        if self.secret is None and self.token is None:
            raise ValueError("a webhook source needs a secret (whsec_...) or a token")
        return self


class WebhookPlugin(PushPlugin[WebhookSettings]):
    settings_model = WebhookSettings
    gettext_domain = GETTEXT_DOMAIN
    locale_dir = LOCALE_DIR

    async def receive(self, request: HookRequest) -> Received:
        self._authenticate(request)
        return Received(read_messages(request.body))

    def _authenticate(self, request: HookRequest) -> None:
        authorization = request.headers.get("Authorization", "")
        if self.settings.token is not None and authorization.startswith("Bearer "):
            offered = (
                authorization.removeprefix("Bearer ").strip().encode("utf-8", "surrogateescape")
            )
            if hmac.compare_digest(offered, self.settings.token.get_secret_value().encode()):
                return
            raise Unauthorized("wrong bearer token")
        if self.settings.secret is None:
            raise Unauthorized("missing Authorization: Bearer <token>")
        headers = request.headers
        missing = [
            name
            for name in ("webhook-id", "webhook-timestamp", "webhook-signature")
            if name not in headers
        ]
        if missing:
            raise Unauthorized(f"missing signature headers: {', '.join(missing)}")
        try:
            verify(
                self.settings.secret.get_secret_value(),
                headers["webhook-id"],
                headers["webhook-timestamp"],
                headers["webhook-signature"],
                request.body,
                request.received_at,
            )
        except SignatureInvalid as error:
            raise Unauthorized(str(error)) from None
