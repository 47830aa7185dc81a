"""A small form per common service that builds the channel's Apprise URL on the server, so that
a parent types a topic or a chat id, never `tgram://...`. A raw Apprise URL stays the advanced
choice. The URL formats are Apprise's (its wiki: Notify_ntfy, Notify_telegram, Notify_email,
Notify_pushover, Notify_signal); each built URL is checked as any channel is (guardian.channels).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from urllib.parse import quote, urlencode, urlsplit

#: The advanced choice: an Apprise URL typed as it is.
RAW = "url"


@dataclass(frozen=True)
class Field:
    name: str
    label: str
    help: str = ""
    required: bool = True
    #: A secret (a token, a password): never put back into the page after a refused form.
    secret: bool = False
    placeholder: str = ""
    kind: str = "text"  # the <input> type
    #: Checks and tidies a value; returns the value or raises ValueError with plain words.
    check: Callable[[str], str] | None = None
    autocomplete: str = "off"


@dataclass(frozen=True)
class Service:
    id: str
    name: str
    intro: str
    fields: tuple[Field, ...]
    build: Callable[[Mapping[str, str]], str]
    steps: tuple[str, ...] = field(default=())


def _pattern(regex: str, words: str) -> Callable[[str], str]:
    def check(value: str) -> str:
        if not re.fullmatch(regex, value):
            raise ValueError(words)
        return value

    return check


def _host(value: str) -> str:
    """A server as a host name (with a port), or a URL of one: `ntfy.example.org`."""
    parts = urlsplit(value if "://" in value else f"https://{value}")
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.path not in ("", "/"):
        raise ValueError("Write the server's name, like ntfy.example.org (or https://… with it).")
    return value.rstrip("/")


def _phone(value: str) -> str:
    number = re.sub(r"[\s().-]", "", value)
    if not re.fullmatch(r"\+[1-9][0-9]{6,14}", number):
        raise ValueError("Write the number with its country code, like +31612345678.")
    return number


def _email(value: str) -> str:
    if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value):
        raise ValueError("Write an e-mail address, like mia@example.org.")
    return value


def _split_server(value: str, default: str) -> tuple[bool, str]:
    """(secure, host[:port]) of a server typed as a name or a URL."""
    if not value:
        return True, default
    parts = urlsplit(value if "://" in value else f"https://{value}")
    return parts.scheme != "http", parts.netloc


def _ntfy(values: Mapping[str, str]) -> str:
    secure, host = _split_server(values.get("server", ""), "ntfy.sh")
    url = f"{'ntfys' if secure else 'ntfy'}://{host}/{quote(values['topic'], safe='')}"
    token = values.get("token", "")
    return f"{url}?{urlencode({'token': token})}" if token else url


def _telegram(values: Mapping[str, str]) -> str:
    return f"tgram://{quote(values['bot_token'], safe=':')}/{quote(values['chat_id'], safe='@-')}"


def _email_url(values: Mapping[str, str]) -> str:
    host = values["smtp"]
    port = values.get("port", "")
    query = {
        "user": values["username"],
        "pass": values["password"],
        "to": values["to"],
        "from": values.get("sender") or values["username"],
    }
    return f"mailtos://{host}{':' + port if port else ''}?{urlencode(query)}"


def _pushover(values: Mapping[str, str]) -> str:
    return f"pover://{values['user_key']}@{values['app_token']}"


def _signal(values: Mapping[str, str]) -> str:
    secure, host = _split_server(values["server"], "127.0.0.1:8080")
    sender, to = quote(values["sender"], safe="+"), quote(values["to"], safe="+")
    return f"{'signals' if secure else 'signal'}://{host}/{sender}/{to}"


SERVICES: tuple[Service, ...] = (
    Service(
        "ntfy",
        "ntfy (a free phone app)",
        "Install the ntfy app on the phone, subscribe to a topic there, and type the same topic "
        "here. Anyone who knows the topic can read it: make it long and hard to guess.",
        (
            Field(
                "topic",
                "Topic",
                "Letters, digits, - and _, like mia-guardian-7f3k.",
                placeholder="mia-guardian-7f3k",
                check=_pattern(
                    r"[A-Za-z0-9_-]{1,64}",
                    "Use only letters, digits, - and _ (at most 64), like mia-guardian-7f3k.",
                ),
            ),
            Field(
                "server",
                "Server (optional)",
                "Leave empty for ntfy.sh; or your own ntfy server, like ntfy.example.org.",
                required=False,
                placeholder="ntfy.sh",
                check=_host,
            ),
            Field(
                "token",
                "Access token (optional)",
                "Only for a server that needs a login: its access token (starts with tk_).",
                required=False,
                secret=True,
                kind="password",
            ),
        ),
        _ntfy,
    ),
    Service(
        "telegram",
        "Telegram",
        "Make a bot with @BotFather in Telegram (/newbot) and copy its token. Then send the bot "
        "a message from the phone, and find the chat's number, e.g. with @userinfobot.",
        (
            Field(
                "bot_token",
                "Bot token",
                "From @BotFather, like 123456789:AAH…",
                secret=True,
                kind="password",
                check=_pattern(
                    r"[0-9]{5,}:[A-Za-z0-9_-]{20,}",
                    "This is not a bot token: it looks like 123456789:AAH… (digits, a colon, "
                    "then letters). Copy it again from @BotFather.",
                ),
            ),
            Field(
                "chat_id",
                "Chat number",
                "The number of the chat with the bot, like 99887766 (a group's starts with -).",
                placeholder="99887766",
                check=_pattern(
                    r"-?[0-9]{3,20}|@[A-Za-z0-9_]{4,64}",
                    "Write the chat's number, like 99887766 (or -100… for a group).",
                ),
            ),
        ),
        _telegram,
    ),
    Service(
        "email",
        "E-mail",
        "Guardian sends mail through a mailbox you own (your provider's outgoing mail server). "
        "Use an app password if your provider offers one.",
        (
            Field(
                "to",
                "Send to",
                "The address that gets the summaries.",
                kind="email",
                placeholder="mia@example.org",
                check=_email,
                autocomplete="email",
            ),
            Field(
                "smtp",
                "Outgoing mail server",
                "Your provider's, like smtp.gmail.com or smtp.example.org.",
                placeholder="smtp.example.org",
                check=_pattern(
                    r"[A-Za-z0-9.-]+\.[A-Za-z]{2,}",
                    "Write the server's name, like smtp.example.org.",
                ),
            ),
            Field(
                "port",
                "Port (optional)",
                "Leave empty for the usual one (587).",
                required=False,
                placeholder="587",
                check=_pattern(r"[0-9]{2,5}", "Write a number, like 587 or 465."),
            ),
            Field("username", "User name", "Usually the mailbox's own address.", check=None),
            Field("password", "Password", "An app password is best.", secret=True, kind="password"),
            Field(
                "sender",
                "From (optional)",
                "The sender address; leave empty to use the user name.",
                required=False,
                kind="email",
                check=_email,
            ),
        ),
        _email_url,
    ),
    Service(
        "pushover",
        "Pushover",
        "Your user key is on pushover.net's front page once you log in; create an application "
        "there (Create an Application/API Token) for the app token.",
        (
            Field(
                "user_key",
                "User key",
                "30 letters and digits.",
                secret=True,
                kind="password",
                check=_pattern(r"[A-Za-z0-9]{30}", "A Pushover user key is 30 letters and digits."),
            ),
            Field(
                "app_token",
                "App token",
                "30 letters and digits.",
                secret=True,
                kind="password",
                check=_pattern(
                    r"[A-Za-z0-9]{30}", "A Pushover app token is 30 letters and digits."
                ),
            ),
        ),
        _pushover,
    ),
    Service(
        "signal",
        "Signal",
        "Signal needs signal-cli-rest-api running next to Guardian, registered or linked with a "
        "number of its own (see docs/connecting.md). Guardian sends from that number.",
        (
            Field(
                "server",
                "signal-cli-rest-api's address",
                "Like http://127.0.0.1:8080.",
                placeholder="http://127.0.0.1:8080",
                check=_host,
            ),
            Field(
                "sender",
                "Send from (the server's number)",
                "With the country code, like +31612345678.",
                kind="tel",
                check=_phone,
            ),
            Field(
                "to",
                "Send to",
                "The phone number that gets the messages, like +31687654321.",
                kind="tel",
                check=_phone,
            ),
        ),
        _signal,
    ),
)
BY_ID = {service.id: service for service in SERVICES}


def build(service_id: str, posted: Mapping[str, str]) -> tuple[str | None, dict[str, str]]:
    """The Apprise URL of what was typed into `service_id`'s form, or the errors by field."""
    service = BY_ID[service_id]
    values: dict[str, str] = {}
    errors: dict[str, str] = {}
    for spec in service.fields:
        value = posted.get(spec.name, "").strip()
        if not value:
            if spec.required:
                errors[spec.name] = "Fill this in."
            continue
        try:
            values[spec.name] = spec.check(value) if spec.check else value
        except ValueError as error:
            errors[spec.name] = str(error)
    if errors:
        return None, errors
    return service.build(values), {}


def kept(service_id: str, posted: Mapping[str, str]) -> dict[str, str]:
    """What was typed, without the secrets, to show the form again."""
    return {
        spec.name: posted.get(spec.name, "") for spec in BY_ID[service_id].fields if not spec.secret
    }


#: How each scheme is named to a parent, for the channels a member has.
SCHEME_NAMES = {
    "ntfy": "ntfy",
    "ntfys": "ntfy",
    "tgram": "Telegram",
    "mailto": "E-mail",
    "mailtos": "E-mail",
    "pover": "Pushover",
    "signal": "Signal",
    "signals": "Signal",
    "json": "A web address (JSON)",
    "jsons": "A web address (JSON)",
    "console": "This server's own log (for trying Guardian out)",
}


def describe(privacy_url: str) -> tuple[str, str]:
    """A channel in words, and its masked address without Apprise's settings:
    (`Telegram`, `tgram://1...f/987654/`)."""
    scheme = privacy_url.split("://", 1)[0].lower() if "://" in privacy_url else ""
    return SCHEME_NAMES.get(scheme, scheme or "A channel"), privacy_url.split("?", 1)[0]
