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

from guardian import i18n
from guardian.i18n import N_, Language

#: The advanced choice: an Apprise URL typed as it is.
RAW = "url"
ENGLISH = i18n.language(i18n.SOURCE_LANGUAGE)


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
        raise ValueError(
            N_("Write the server's name, like ntfy.example.org (or https://… with it).")
        )
    return value.rstrip("/")


def _phone(value: str) -> str:
    number = re.sub(r"[\s().-]", "", value)
    if not re.fullmatch(r"\+[1-9][0-9]{6,14}", number):
        raise ValueError(N_("Write the number with its country code, like +31612345678."))
    return number


def _email(value: str) -> str:
    if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value):
        raise ValueError(N_("Write an e-mail address, like mia@example.org."))
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


# Translators: the channel forms on a member's page: each service's name, what to do, and each
# field's label and help; the examples (mia-guardian-7f3k, +31612345678) are typed as they are.
SERVICES: tuple[Service, ...] = (
    Service(
        "ntfy",
        N_("ntfy (a free phone app)"),
        N_(
            "Install the ntfy app on the phone, subscribe to a topic there, and type the same "
            "topic "
            "here. Anyone who knows the topic can read it: make it long and hard to guess."
        ),
        (
            Field(
                "topic",
                N_("Topic"),
                N_("Letters, digits, - and _, like mia-guardian-7f3k."),
                placeholder="mia-guardian-7f3k",
                check=_pattern(
                    r"[A-Za-z0-9_-]{1,64}",
                    N_("Use only letters, digits, - and _ (at most 64), like mia-guardian-7f3k."),
                ),
            ),
            Field(
                "server",
                N_("Server (optional)"),
                N_("Leave empty for ntfy.sh; or your own ntfy server, like ntfy.example.org."),
                required=False,
                placeholder="ntfy.sh",
                check=_host,
            ),
            Field(
                "token",
                N_("Access token (optional)"),
                N_("Only for a server that needs a login: its access token (starts with tk_)."),
                required=False,
                secret=True,
                kind="password",
            ),
        ),
        _ntfy,
    ),
    Service(
        "telegram",
        N_("Telegram"),
        N_(
            "Make a bot with @BotFather in Telegram (/newbot) and copy its token. Then send the "
            "bot "
            "a message from the phone, and find the chat's number, e.g. with @userinfobot."
        ),
        (
            Field(
                "bot_token",
                N_("Bot token"),
                N_("From @BotFather, like 123456789:AAH…"),
                secret=True,
                kind="password",
                check=_pattern(
                    r"[0-9]{5,}:[A-Za-z0-9_-]{20,}",
                    N_(
                        "This is not a bot token: it looks like 123456789:AAH… (digits, a colon, "
                        "then letters). Copy it again from @BotFather."
                    ),
                ),
            ),
            Field(
                "chat_id",
                N_("Chat number"),
                N_("The number of the chat with the bot, like 99887766 (a group's starts with -)."),
                placeholder="99887766",
                check=_pattern(
                    r"-?[0-9]{3,20}|@[A-Za-z0-9_]{4,64}",
                    N_("Write the chat's number, like 99887766 (or -100… for a group)."),
                ),
            ),
        ),
        _telegram,
    ),
    Service(
        "email",
        N_("E-mail"),
        N_(
            "Guardian sends mail through a mailbox you own (your provider's outgoing mail server). "
            "Use an app password if your provider offers one."
        ),
        (
            Field(
                "to",
                N_("Send to"),
                N_("The address that gets the summaries."),
                kind="email",
                placeholder="mia@example.org",
                check=_email,
                autocomplete="email",
            ),
            Field(
                "smtp",
                N_("Outgoing mail server"),
                N_("Your provider's, like smtp.gmail.com or smtp.example.org."),
                placeholder="smtp.example.org",
                check=_pattern(
                    r"[A-Za-z0-9.-]+\.[A-Za-z]{2,}",
                    N_("Write the server's name, like smtp.example.org."),
                ),
            ),
            Field(
                "port",
                N_("Port (optional)"),
                N_("Leave empty for the usual one (587)."),
                required=False,
                placeholder="587",
                check=_pattern(r"[0-9]{2,5}", N_("Write a number, like 587 or 465.")),
            ),
            Field(
                "username", N_("User name"), N_("Usually the mailbox's own address."), check=None
            ),
            Field(
                "password",
                N_("Password"),
                N_("An app password is best."),
                secret=True,
                kind="password",
            ),
            Field(
                "sender",
                N_("From (optional)"),
                N_("The sender address; leave empty to use the user name."),
                required=False,
                kind="email",
                check=_email,
            ),
        ),
        _email_url,
    ),
    Service(
        "pushover",
        N_("Pushover"),
        N_(
            "Your user key is on pushover.net's front page once you log in; create an application "
            "there (Create an Application/API Token) for the app token."
        ),
        (
            Field(
                "user_key",
                N_("User key"),
                N_("30 letters and digits."),
                secret=True,
                kind="password",
                check=_pattern(
                    r"[A-Za-z0-9]{30}", N_("A Pushover user key is 30 letters and digits.")
                ),
            ),
            Field(
                "app_token",
                N_("App token"),
                N_("30 letters and digits."),
                secret=True,
                kind="password",
                check=_pattern(
                    r"[A-Za-z0-9]{30}", N_("A Pushover app token is 30 letters and digits.")
                ),
            ),
        ),
        _pushover,
    ),
    Service(
        "signal",
        N_("Signal"),
        N_(
            "Signal needs signal-cli-rest-api running next to Guardian, registered or linked "
            "with a "
            "number of its own (see docs/connecting.md). Guardian sends from that number."
        ),
        (
            Field(
                "server",
                N_("signal-cli-rest-api's address"),
                N_("Like http://127.0.0.1:8080."),
                placeholder="http://127.0.0.1:8080",
                check=_host,
            ),
            Field(
                "sender",
                N_("Send from (the server's number)"),
                N_("With the country code, like +31612345678."),
                kind="tel",
                check=_phone,
            ),
            Field(
                "to",
                N_("Send to"),
                N_("The phone number that gets the messages, like +31687654321."),
                kind="tel",
                check=_phone,
            ),
        ),
        _signal,
    ),
)
BY_ID = {service.id: service for service in SERVICES}


def build(
    service_id: str, posted: Mapping[str, str], t: Language = ENGLISH
) -> tuple[str | None, dict[str, str]]:
    """The Apprise URL of what was typed into `service_id`'s form, or the errors by field, in
    `t` (the labels, helps and errors above are catalog messages, translated where shown)."""
    service = BY_ID[service_id]
    values: dict[str, str] = {}
    errors: dict[str, str] = {}
    for spec in service.fields:
        value = posted.get(spec.name, "").strip()
        if not value:
            if spec.required:
                errors[spec.name] = t.gettext("Fill this in.")
            continue
        try:
            values[spec.name] = spec.check(value) if spec.check else value
        except ValueError as error:
            errors[spec.name] = t.gettext(str(error))
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
    "mailto": N_("E-mail"),
    "mailtos": N_("E-mail"),
    "pover": "Pushover",
    "signal": "Signal",
    "signals": "Signal",
    "json": N_("A web address (JSON)"),
    "jsons": N_("A web address (JSON)"),
    "console": N_("This server's own log (for trying Guardian out)"),
}


def describe(privacy_url: str) -> tuple[str, str]:
    """A channel in words, and its masked address without Apprise's settings:
    (`Telegram`, `tgram://1...f/987654/`)."""
    scheme = privacy_url.split("://", 1)[0].lower() if "://" in privacy_url else ""
    return SCHEME_NAMES.get(scheme, scheme or N_("A channel")), privacy_url.split("?", 1)[0]
