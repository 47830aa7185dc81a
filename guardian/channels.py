"""What a channel may do: reach a person's phone, mail or chat, and nothing on this server.

Apprise can do more than notify. Some of its services read a file that the URL names (a
message template, a key, a subscription file), attach files, notify the server's own desktop
or system log, or run a program. A channel URL is typed by whoever has a dashboard login, and
the text it carries by whoever writes to the household: such a URL would let them read or
change the server's files. `refusal()` says why a URL is refused (or None); the settings
file, `guardian import`, the admin API and the sender itself all ask it.

What touches the server, from Apprise's own source (caronc/apprise, `apprise/plugins/`, as
of 2.3, the version installed here):
- `macosx.py` runs the `terminal-notifier` program with `subprocess`;
- `dbus.py` (`dbus://`, `kde://`, `qt://`), `glib.py`, `gnome.py` and `windows.py` notify the
  server's own desktop, `syslog.py` writes to its system log, `blink1.py` drives a USB light;
- `discord.py` (and `guilded.py`, built on it), `slack.py`, `telegram.py` and `workflows.py`
  read `template=`, a JSON file, through `AppriseAttachment`, which opens any local path or
  `file://` URL;
- `email/base.py` (`mailto://`) and `deltachat.py` read PGP keys from `pgppub=` and `pgpprv=`;
- `fcm/__init__.py` reads a service account from `keyfile=`; `vapid/` reads `keyfile=` and
  reads and writes the subscription file `subfile=`;
- `ntfy.py` and others take attachments (`attach=`), and any `file://` value names a file;
- `Apprise.add` reads a string as several URLs (`utils/parse.py`, `parse_urls`, splits on commas
  and spaces before a scheme): one channel could carry a second service.
Guardian's own `console://` (guardian.delivery) prints, and appends to `var/deliveries.log`
when asked with `?file=var/deliveries.log`: that one file, never another.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Iterable, Iterator
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from apprise import plugins as apprise_plugins
from apprise.manager_plugins import NotificationManager
from apprise.utils.parse import parse_urls

from guardian import apprise_services

# Before anything asks Apprise's registry: it imports only the services channels use.
apprise_services.start_lazily()

#: The one file a channel writes to: the demo's log of what `console://` delivered.
CONSOLE_FILE = "var/deliveries.log"
CONSOLE_SCHEME = "console"

#: Services that act on the server itself, by scheme (each service's `protocol`).
ON_THE_SERVER = {
    "macosx": "runs a program on the server",
    "windows": "notifies the server's own desktop, not a person",
    "dbus": "notifies the server's own desktop, not a person",
    "kde": "notifies the server's own desktop, not a person",
    "qt": "notifies the server's own desktop, not a person",
    "glib": "notifies the server's own desktop, not a person",
    "gio": "notifies the server's own desktop, not a person",
    "gnome": "notifies the server's own desktop, not a person",
    "syslog": "writes to the server's system log, not to a person",
    "blink1": "drives a device plugged into the server, not a person's phone",
}
#: The same services by their Apprise class, for forms of a URL without those schemes.
ON_THE_SERVER_CLASSES = {
    "NotifyMacOSX": "macosx",
    "NotifyWindows": "windows",
    "NotifyDBus": "dbus",
    "NotifyGLib": "glib",
    "NotifyGnome": "gnome",
    "NotifySyslog": "syslog",
    "NotifyBlink1": "blink1",
}
#: Parameters that name a file for the service to read (or write), by Apprise class; a class
#: built on one of these (Guilded on Discord) inherits its parameters.
FILE_PARAMETERS = {
    "NotifyDiscord": frozenset({"template"}),
    "NotifySlack": frozenset({"template"}),
    "NotifyTelegram": frozenset({"template"}),
    "NotifyWorkflows": frozenset({"template"}),
    "NotifyEmail": frozenset({"pgppub", "pgpprv"}),
    "NotifyFCM": frozenset({"keyfile"}),
    "NotifyVapid": frozenset({"keyfile", "subfile"}),
}
#: Parameters that attach or name files, whatever the service.
ATTACHMENTS = frozenset({"attach", "attachment", "attachments", "attach-as", "file"})

_MANAGER = NotificationManager()  # type: ignore[no-untyped-call]  # the registry singleton


@contextlib.contextmanager
def apprise_silenced() -> Iterator[None]:
    """Apprise logs a URL it cannot use, whole: a mistyped channel would put its secret in
    the log."""
    apprise_log = logging.getLogger("apprise")
    level = apprise_log.level
    apprise_log.setLevel(logging.CRITICAL + 1)
    try:
        yield
    finally:
        apprise_log.setLevel(level)


def apprise_reading(url: str) -> dict[str, Any] | None:
    """Apprise's reading of `url`: its service (`schema`) and parameters, as `Apprise.add`
    reads them; None for a URL it cannot read. Read silently (Apprise would log the URL)."""
    apprise_services.load_for(url)
    with apprise_silenced():
        try:
            # Nothing is logged while silenced, so Apprise need not mask the URL for its log
            # (cwe312_loggable: a third of the parse).
            parsed: dict[str, Any] | None = apprise_plugins.url_to_dict(  # type: ignore[no-untyped-call]
                url, secure_logging=False
            )
        except Exception:  # a malformed URL can make a service's parser raise
            parsed = None
    return parsed or None


def _apprise_view(parsed: dict[str, Any] | None) -> tuple[list[str], dict[str, str]]:
    """The names of the Apprise service class behind a URL Apprise read (also for native forms
    such as `https://discord.com/api/webhooks/...`) and of the classes it is built on, and the
    parameters as Apprise reads them."""
    if not parsed:
        return [], {}
    schema = parsed.get("schema")
    service = _MANAGER[schema] if isinstance(schema, str) and schema in _MANAGER else None
    lineage = [cls.__name__ for cls in service.__mro__] if service is not None else []
    qsd = parsed.get("qsd")
    found = qsd if isinstance(qsd, dict) else {}
    return lineage, {str(key).lower(): str(value) for key, value in found.items()}


def _parameters(url: str) -> dict[str, str]:
    try:
        query = urlsplit(url).query
    except ValueError:
        return {}
    return {key.lower(): value for key, value in parse_qsl(query, keep_blank_values=True)}


def refusal(url: str) -> str | None:
    """Why Guardian will not send to `url`: it would touch the server's files or run
    something there. None for a URL that only reaches a person. Never contains the URL (a
    secret), only its scheme and the names of its parameters."""
    return refusal_of(url, apprise_reading(url.strip()))


def refusal_of(url: str, parsed: dict[str, Any] | None) -> str | None:
    """`refusal(url)` for a URL that Apprise has read already (`apprise_reading(url)`)."""
    url = url.strip()
    # What Apprise.add would make of it: several services (a word that is no URL is not one).
    if len(parse_urls(url, store_unparseable=False)) > 1:  # type: ignore[no-untyped-call]
        return "a channel is one address: give each address its own channel"
    scheme = url.split("://", 1)[0].lower() if "://" in url else ""
    own = _parameters(url)
    if scheme == CONSOLE_SCHEME:
        others = sorted(key for key in own if key != "file")
        if others or own.get("file", CONSOLE_FILE) != CONSOLE_FILE:
            return (
                f"console:// writes only to {CONSOLE_FILE} (console://?file={CONSOLE_FILE}), "
                "no other file"
            )
        return None
    if scheme in ON_THE_SERVER:
        return f"{scheme}:// {ON_THE_SERVER[scheme]}"
    lineage, parameters = _apprise_view(parsed)
    for name in lineage:
        if name in ON_THE_SERVER_CLASSES:
            local = ON_THE_SERVER_CLASSES[name]
            return f"{local}:// {ON_THE_SERVER[local]}"
    parameters = {**own, **parameters}
    for key in sorted(parameters):
        if key in ATTACHMENTS:
            return f"{key}= adds attachments: a channel sends messages, never files"
        if any(key in FILE_PARAMETERS.get(name, ()) for name in lineage):
            return f"{key}= names a file on the server: a channel never reads the server's files"
        if parameters[key].strip().lower().startswith("file:"):
            return f"{key}= is a file:// URL: a channel never reads the server's files"
    return None


# --- why a send failed, in plain words ---------------------------------------------------------

#: A channel's address that Apprise cannot read, or that names no service it knows.
NOT_UNDERSTOOD = (
    "Guardian cannot read this channel's address: remove it and add it again with one of the forms"
)
#: No answer within `delivery.timeout`.
NO_ANSWER = "the service did not answer in time"

#: What a service's HTTP answer means for the person who set the channel up.
_HTTP_REASONS = {
    400: "the service refused the message as malformed (error 400): check the channel's details",
    401: "the service refused the password, token or key (error 401): check them",
    403: "the service refused access (error 403): the token or account may not send here",
    404: "the service does not know this address (error 404): check the topic, chat or user",
    413: "the service refused the message as too large (error 413)",
    429: "the service is limiting how many messages it takes (error 429): it will work again later",
}


def failure_reason(messages: Iterable[str]) -> str:
    """Why a send failed, for the dashboard, from what Apprise logged while sending (its
    warnings and errors). Only fixed phrases and an HTTP status are ever returned: Apprise's
    own lines can name a host, a chat id or a topic, which are private to the channel."""
    lines = [line.lower() for line in messages]
    for line in lines:
        if "connection error" in line or "socket exception" in line or "connectionerror" in line:
            return (
                "Guardian could not connect to the service: the server refused the connection "
                "or its name was not found. Check the server's address and that it is running"
            )
        if "timed out" in line or "timeout" in line:
            return NO_ANSWER
        if "ssl" in line or "certificate" in line:
            return "the service's secure connection could not be checked (its certificate)"
        if "authentication" in line or ("login" in line and "fail" in line):
            return "the service refused the user name or password"
    for line in lines:
        status = re.search(r"error=(\d{3})", line)
        if status:
            code = int(status.group(1))
            if code in _HTTP_REASONS:
                return _HTTP_REASONS[code]
            if code >= 500:
                return f"the service had a problem on its side (error {code}): try again later"
            return f"the service refused the message (error {code})"
    return "the service did not take the message (the server's log has the details)"
