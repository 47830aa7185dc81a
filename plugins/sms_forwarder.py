"""SmsForwarder for Android (pppscn/SmsForwarder): the member's own phone forwards its SMS,
missed calls and the notifications of every app, through the app's "Webhook" sender.

Read from the app's source (`utils/sender/WebhookUtils.kt`, `entity/MsgInfo.kt`,
`service/NotificationService.kt`, `receiver/CallReceiver.kt`):

- Without a template the app POSTs a form, `from=..&content=..&timestamp=..`, plus `&sign=..`
  when the webhook has a secret. `content` is the message after the app's own template, by
  default the lines from, text, SIM or notification title, `SubId：n` (SMS, calls) or `UID：n`
  (apps), receive time and device name. A template starting with `{` is sent as JSON, with the
  placeholders `[from]`, `[org_content]` (the raw text), `[title]` (an app notification's
  title; for SMS the SIM slot), `[receive_time]`, `[timestamp]`, `[sign]`, `[device_mark]`
  replaced: see docs/connecting.md for the template Guardian reads best. A GET carries the same
  fields in its query.
- `sign` is base64 HMAC-SHA256, keyed with the secret, of `"{timestamp}\\n{secret}"`, and
  URL-encoded once more by each layer it passes (form or query encoding): it is unquoted until
  it stops changing. It covers no part of the body; the timestamp (milliseconds) must be
  within an hour of Guardian's clock, as the app's wiki advises. A bearer `token` (a header
  added in the webhook's settings) may be required instead or as well.
- `[from]` is a phone number for SMS and calls, the package name for app notifications.
  `[from]` is the one placeholder the app does not JSON-escape: a sender with a quote breaks
  the template, and Guardian answers 400 saying so.
- The app sends no message id. The external id is derived from what identifies the message
  (sender, title, text, receive time, device), so that the app's retries, which repeat the
  request, are duplicates.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import re
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from pydantic import Field, SecretStr, field_validator, model_validator

from guardian.contacts import canonical_phone
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
from plugins.android_apps import (
    NAME_LENGTH,
    PACKAGE_NAME,
    app_for,
    checked_apps,
    is_app_talking,
    sender_id,
    shown_name,
)

#: The app's wiki: "建议验证与请求调用时间误差不能超过1小时" (check that the timestamp is within an
#: hour of the call, against replays).
TOLERANCE = timedelta(hours=1)
#: The sender and SIM of the test message the app's "Test" button sends (strings.xml:
#: `test_phone_num`, `test_sim_info`, `test_sender_sms`).
TEST_NUMBER = "19999999999"
_TEST_TEXT = re.compile(r"sender test is successful|发送通道测试成功|發送通道測試成功")
#: `mandatory_type` in strings.xml (English, Simplified and Traditional Chinese), the line of
#: a call's text that names its type, and the names of a missed call (`missed_call`).
_CALL_TYPE = re.compile(r"^(Call Type: |通话类型：|通話類型：)(?P<type>.*)$", re.MULTILINE)
_MISSED = {"Missed", "未接来电", "未接來電"}
#: `contact` in strings.xml: the line naming the caller as in the phone's contacts.
_CALL_CONTACT = re.compile(r"^(Contact:|通讯录名：|通訊錄名：)(?P<name>.*)$", re.MULTILINE)
_UNKNOWN_NUMBER = {"Unknown Number", "未知号码", "未知號碼"}
#: The default template's `SubId：n` or `UID：n` line (a fullwidth colon), and its receive time.
_ID_LINE = re.compile(r"(SubId|UID)[：:]\s*-?\d+")
_RECEIVE_TIME = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")


class SmsForwarderSettings(PluginSettings):
    secret: SecretStr | None = Field(
        None, description="the webhook's Secret in SmsForwarder: checks `timestamp` and `sign`"
    )
    token: SecretStr | None = Field(
        None, description="a bearer token the webhook sends as `Authorization: Bearer <token>`"
    )
    apps: dict[str, str] = Field(
        default_factory=dict,
        description='more messaging apps: package name → network (`com.example.chat = "chat"`)',
    )

    @field_validator("apps")
    @classmethod
    def _networks(cls, apps: dict[str, str]) -> dict[str, str]:
        return checked_apps(apps)

    @model_validator(mode="after")
    def _some_auth(self) -> SmsForwarderSettings:
        if self.secret is None and self.token is None:
            raise ValueError("an sms_forwarder source needs its webhook's secret or a token")
        return self


def sign(secret: str, timestamp: str) -> str:
    """The `sign` SmsForwarder computes for `timestamp`, before its URL encoding."""
    digest = hmac.new(
        secret.encode(), f"{timestamp}\n{secret}".encode("utf-8", "surrogateescape"), "sha256"
    ).digest()
    return base64.b64encode(digest).decode()


class SmsForwarderPlugin(PushPlugin[SmsForwarderSettings]):
    settings_model = SmsForwarderSettings
    gettext_domain = GETTEXT_DOMAIN
    locale_dir = LOCALE_DIR

    async def receive(self, request: HookRequest) -> Received:
        self._check_token(request)
        fields = read_fields(request)
        self._check_sign(fields, request.received_at)
        read = read_message(read_forward(fields, request.received_at), self.settings.apps)
        if isinstance(read, Skipped):
            self.log.info("nothing to store: %s", read.reason)
            return Received()
        return Received([read])

    def _check_token(self, request: HookRequest) -> None:
        if self.settings.token is None:
            return
        authorization = request.headers.get("Authorization", "")
        if not authorization.startswith("Bearer "):
            raise Unauthorized("missing Authorization: Bearer <token>")
        offered = authorization.removeprefix("Bearer ").strip()
        expected = self.settings.token.get_secret_value().encode()
        if not hmac.compare_digest(offered.encode("utf-8", "surrogateescape"), expected):
            raise Unauthorized("wrong bearer token")

    def _check_sign(self, fields: Mapping[str, str], now: datetime) -> None:
        if self.settings.secret is None:
            return
        timestamp, offered = fields.get("timestamp", "").strip(), fields.get("sign", "")
        if not timestamp or not offered:
            raise Unauthorized(
                "missing timestamp or sign: give the webhook in SmsForwarder the source's secret"
                " (and, with a template, the [timestamp] and [sign] placeholders)"
            )
        instant = _instant(timestamp)
        if instant is None:
            raise Unauthorized("timestamp is not a Unix time in milliseconds")
        if abs(now - instant) > TOLERANCE:
            raise Unauthorized("timestamp is more than an hour from Guardian's clock")
        expected = sign(self.settings.secret.get_secret_value(), timestamp)
        if not hmac.compare_digest(
            _unquoted(offered).encode("utf-8", "surrogateescape"), expected.encode()
        ):
            raise Unauthorized("sign does not match the secret and timestamp")


def read_fields(request: HookRequest) -> dict[str, str]:
    """The forwarded fields: a JSON template's object, the form body, or a GET's query."""
    body = request.body.strip()
    if body.startswith(b"{"):
        try:
            document = json.loads(body)
        except ValueError as error:
            raise BadRequest(
                f"the body is not JSON ({error}). SmsForwarder does not escape [from] in a JSON"
                " template: a sender with a quote or a backslash breaks it"
            ) from None
        if not isinstance(document, dict):
            raise BadRequest("the JSON template must be an object")
        return {
            str(key): str(value)
            for key, value in document.items()
            if isinstance(value, str | int | float) and not isinstance(value, bool)
        }
    if body:
        try:
            text = body.decode()
            pairs = urllib.parse.parse_qsl(text, keep_blank_values=True) if "=" in text else []
        except (UnicodeDecodeError, ValueError):
            pairs = []
        if not pairs or body.startswith(b"["):
            raise BadRequest(
                "neither SmsForwarder's form body (from=..&content=..) nor a JSON template"
            )
        return dict(pairs)
    return {key: request.query[key] for key in request.query}


@dataclass(frozen=True)
class Forwarded:
    """What one webhook call forwarded, read from its fields."""

    sender: str
    text: str
    title: str
    #: The receive time as the phone showed it (local, no zone), when the request has it.
    receive_time: str
    device: str
    timestamp: str
    sent_at: datetime | None

    def external_id(self) -> str:
        """Stable across the app's retries (they repeat the request); distinct for two
        messages unless the same sender sent the same text in the same second."""
        when = self.receive_time or self.timestamp
        identity = json.dumps([self.sender, self.title, self.text, when, self.device])
        digest = hashlib.sha256(identity.encode("utf-8", "surrogateescape")).hexdigest()
        return f"sf-{digest[:40]}"


@dataclass(frozen=True)
class Skipped:
    """A forward that is no one's message, and why."""

    reason: str


def read_forward(fields: Mapping[str, str], now: datetime) -> Forwarded:
    """What a request's fields forward (raises InvalidFields without `from`)."""
    sender = fields.get("from", "").strip()
    if not sender:
        raise InvalidFields([{"path": "from", "message": "Field required"}])
    raw = _first(fields, "org_content", "text")
    title = _first(fields, "title", "card_slot")
    receive_time = fields.get("receive_time", "").strip()
    if raw is None:
        templated = _first(fields, "content", "msg") or ""
        raw, shown_title, shown_time = _default_template(sender, templated)
        title = title or shown_title
        receive_time = receive_time or shown_time
    timestamp = fields.get("timestamp", "").strip()
    instant = _instant(timestamp) if timestamp else None
    return Forwarded(
        sender=sender,
        text=raw,
        title=(title or "").strip(),
        receive_time=receive_time,
        device=fields.get("device_mark", "").strip(),
        timestamp=timestamp,
        sent_at=instant if instant is not None and abs(now - instant) <= TOLERANCE else None,
    )


def read_message(forwarded: Forwarded, apps: Mapping[str, str]) -> IncomingMessage | Skipped:
    """The notification a forward is, by its kind: an app's notification (`from` is a package
    name), a missed call (a call's text), or an SMS; or why it is none."""
    if forwarded.sender == TEST_NUMBER and (
        any(mark in forwarded.title for mark in ("TestOperator", "测试运营商", "測試運營商"))
        or _TEST_TEXT.search(forwarded.text)
    ):
        return Skipped("SmsForwarder's test message: the connection works")
    if PACKAGE_NAME.fullmatch(forwarded.sender) and not forwarded.title.startswith(
        ("SIM1_", "SIM2_")
    ):
        return _app_notification(forwarded, apps)
    if forwarded.title == forwarded.sender and not _is_number(forwarded.sender):
        return Skipped(f"a notice of SmsForwarder's own automations ({forwarded.sender[:40]})")
    call = _CALL_TYPE.search(forwarded.text)
    if call is not None and _CALL_CONTACT.match(forwarded.text):
        return _missed_call(forwarded, call["type"].strip())
    number = canonical_phone(forwarded.sender)
    return _incoming(forwarded, "sms", number, None, forwarded.text)


def _app_notification(forwarded: Forwarded, apps: Mapping[str, str]) -> IncomingMessage | Skipped:
    package = forwarded.sender
    app = app_for(package, apps)
    if app is None:
        return Skipped(f"a notification of {package}: not a messaging app (see `apps`)")
    if is_app_talking(app, forwarded.title, forwarded.text):
        return Skipped(f"a notification of {package} itself, not of a person")
    name = shown_name(forwarded.title) or app.label or package
    return _incoming(forwarded, app.network, sender_id(app.network, name), name, forwarded.text)


def _missed_call(forwarded: Forwarded, kind: str) -> IncomingMessage | Skipped:
    if kind not in _MISSED:
        return Skipped(f"a call that was not missed ({kind[:40]})")
    contact = _CALL_CONTACT.search(forwarded.text)
    name = contact["name"].strip() if contact else ""
    known = name if name and name not in _UNKNOWN_NUMBER else None
    return _incoming(forwarded, "sms", canonical_phone(forwarded.sender), known, "[missed call]")


def _incoming(
    forwarded: Forwarded, network: str, sender: str, name: str | None, text: str
) -> IncomingMessage:
    return IncomingMessage(
        external_id=forwarded.external_id(),
        network=network,
        sender_id=sender,
        sender_name=name[:NAME_LENGTH] if name else None,
        text=text[:MAX_TEXT],
        sent_at=forwarded.sent_at,
        conversation_id=sender,
    )


def _is_number(sender: str) -> bool:
    return sender.lstrip("+").replace(" ", "").isdigit()


def _default_template(sender: str, content: str) -> tuple[str, str, str]:
    """(text, title, receive time) from `content` in the app's default template (MsgInfo's
    `getContentForSend`: from, text, SIM or title, `SubId：n`/`UID：n`, receive time, device);
    the whole content as text, no title, when it is in another template."""
    lines = content.split("\n")
    marks = [i for i, line in enumerate(lines) if _ID_LINE.fullmatch(line.strip())]
    if lines and lines[0].strip() == sender and marks:
        mark = marks[-1]
        after = lines[mark + 1 : mark + 2]
        if mark >= 2 and after and _RECEIVE_TIME.fullmatch(after[0].strip()):
            return "\n".join(lines[1 : mark - 1]), lines[mark - 1].strip(), after[0].strip()
    return content, "", ""


def _first(fields: Mapping[str, str], *names: str) -> str | None:
    return next((fields[name] for name in names if name in fields), None)


def _instant(timestamp: str) -> datetime | None:
    """A Unix time in milliseconds (or seconds) as an instant; None if it is not one."""
    text = timestamp.strip()
    if not text.isascii() or not text.isdigit() or len(text) > 16:
        return None
    value = int(text)
    seconds = value / 1000 if value >= 10**11 else value
    try:
        return datetime.fromtimestamp(seconds, UTC)
    except (OverflowError, OSError, ValueError):
        return None


def _unquoted(sign: str) -> str:
    """`sign` with every layer of URL encoding removed (form, query, the app's own)."""
    for _ in range(4):
        plain = urllib.parse.unquote(sign)
        if plain == sign:
            break
        sign = plain
    return sign.strip().replace(" ", "+")  # a `+` that some layer read as a space
