"""Twilio Messaging webhook: an incoming SMS as a form POST (Twilio's "webhook request" guide).

Twilio signs the URL it called: `X-Twilio-Signature` is base64 HMAC-SHA1, keyed with the account's
auth token, of the full URL followed by every POST parameter's name and value, sorted by name
("Webhooks security"). Behind a proxy the URL Guardian sees is not
the one Twilio called, so `public_url` says which. There is no timestamp; `MessageSid` is the
external id, so Twilio's retries are duplicates. Twilio expects TwiML back: an empty
`<Response>` sends no reply SMS. Status callbacks and voice calls yield nothing.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
from collections.abc import Iterable, Mapping
from urllib.parse import parse_qsl, urlsplit, urlunsplit

from aiohttp import web
from pydantic import Field, SecretStr, field_validator

from guardian.plugin import (
    BadRequest,
    HookRequest,
    IncomingMessage,
    InvalidFields,
    PluginSettings,
    PushPlugin,
    Received,
    Unauthorized,
)
from guardian.webhook_format import MAX_TEXT
from plugins import GETTEXT_DOMAIN, LOCALE_DIR

HEADER = "X-Twilio-Signature"
EMPTY_TWIML = '<?xml version="1.0" encoding="UTF-8"?><Response></Response>'
DEFAULT_PORTS = {"http": 80, "https": 443}
FULL_URL = re.compile(r"https?://[^/?#\s]+[^\s]*")


class TwilioSettings(PluginSettings):
    auth_token: SecretStr = Field(min_length=1, description="the account's Auth Token")
    public_url: str | None = Field(
        None, description="the webhook URL exactly as configured in Twilio, when behind a proxy"
    )

    @field_validator("public_url")
    @classmethod
    def _full_url(cls, url: str | None) -> str | None:
        if url is not None and not FULL_URL.fullmatch(url):
            raise ValueError(
                "the full URL Twilio calls, like https://guardian.example.org/hooks/sms"
            )
        return url


def signature(auth_token: str, url: str, params: Iterable[tuple[str, str]] = ()) -> str:
    """The `X-Twilio-Signature` Twilio sends for this URL and these POST parameters."""
    signed = url + "".join(name + value for name, value in sorted(params))
    digest = hmac.new(
        auth_token.encode(), signed.encode("utf-8", "surrogateescape"), hashlib.sha1
    ).digest()
    return base64.b64encode(digest).decode()


def url_variants(url: str) -> list[str]:
    """The URL as given, and with its default port added or removed, as Twilio's own SDKs try."""
    parts = urlsplit(url)
    try:
        given = parts.port
    except ValueError:
        return [url]
    port = DEFAULT_PORTS.get(parts.scheme)
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"  # IPv6
    userinfo = parts.netloc.rpartition("@")[0]
    prefix = f"{userinfo}@" if userinfo else ""
    if given is None and port is not None:
        other = f"{prefix}{host}:{port}"
    elif given == port:
        other = f"{prefix}{host}"
    else:
        return [url]
    return [url, urlunsplit(parts._replace(netloc=other))]


class TwilioPlugin(PushPlugin[TwilioSettings]):
    settings_model = TwilioSettings
    gettext_domain = GETTEXT_DOMAIN
    locale_dir = LOCALE_DIR

    async def receive(self, request: HookRequest) -> Received:
        offered = request.headers.get(HEADER)
        if offered is None:
            raise Unauthorized(f"missing {HEADER}")
        params = _params(request)
        self._authenticate(request, offered, params)
        return Received(_messages(dict(params)), reply=empty_twiml())

    def _authenticate(
        self, request: HookRequest, offered: str, params: list[tuple[str, str]]
    ) -> None:
        url = self.settings.public_url or request.url
        token = self.settings.auth_token.get_secret_value()
        # With GET, Twilio's parameters are in the URL's query string and signed as part of it.
        signed = params if request.method == "POST" else []
        for candidate in url_variants(url):
            if hmac.compare_digest(
                offered.encode("utf-8", "surrogateescape"),
                signature(token, candidate, signed).encode("utf-8", "surrogateescape"),
            ):
                return
        raise Unauthorized(f"{HEADER} does not match")


def empty_twiml() -> web.Response:
    return web.Response(text=EMPTY_TWIML, content_type="text/xml")


def _params(request: HookRequest) -> list[tuple[str, str]]:
    if request.method != "POST":
        return list(request.query.items())
    try:
        return parse_qsl(request.body.decode("utf-8"), keep_blank_values=True, strict_parsing=False)
    except UnicodeDecodeError:
        raise BadRequest("the body is not UTF-8 form data") from None


def _messages(fields: Mapping[str, str]) -> list[IncomingMessage]:
    """The SMS in Twilio's parameters; nothing for status callbacks and calls."""
    status = fields.get("SmsStatus") or fields.get("MessageStatus")
    if status not in (None, "received") or ("MessageSid" not in fields and "CallSid" in fields):
        return []
    problems = [
        {"path": name, "message": "required, 1-255 characters"}
        for name in ("MessageSid", "From")
        if not 1 <= len(fields.get(name, "")) <= 255
    ]
    if problems:
        raise InvalidFields(problems)
    sid, sender = fields["MessageSid"], fields["From"]
    network, address = "sms", sender
    if sender.startswith("whatsapp:"):
        # Twilio's WhatsApp senders are `whatsapp:+<number>`; WhatsApp's own id is the bare number.
        network, address = "whatsapp", sender.removeprefix("whatsapp:+").removeprefix("whatsapp:")
    return [
        IncomingMessage(
            external_id=sid,
            network=network,
            sender_id=address,
            sender_name=fields.get("ProfileName", "")[:200] or None,
            text=(fields.get("Body") or _media(fields))[:MAX_TEXT],
            conversation_id=address,
        )
    ]


def _media(fields: Mapping[str, str]) -> str:
    if fields.get("NumMedia", "0") in ("", "0"):
        return ""
    kind = fields.get("MediaContentType0", "").partition("/")[0]
    return {"image": "[image]", "video": "[video]", "audio": "[audio]"}.get(kind, "[attachment]")
