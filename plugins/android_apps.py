"""Android messaging apps by package name, and the sender a notification of theirs names.

A phone's notification knows its app (the package name) and shows a title and a text; it
never knows the sender's id on that network. So a notification from `com.whatsapp` titled
"Sophie" is sender `whatsapp:name:Sophie` (PRODUCT.md, "Sender addresses"), which a contact
lists to be the same person as at their other addresses; a title that is a phone number in
international form is that number (`whatsapp:31612345678`, `sms:+31612345678`).

Used by the `sms_forwarder` and `home_assistant` plugins. A source's `apps` setting adds
packages or renames a network; notifications of apps in neither are not messages.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass

from guardian.contacts import PHONE_NETWORKS, canonical_phone, is_e164


@dataclass(frozen=True)
class App:
    network: str
    #: The app's own name: a notification with it as title is the app talking (a summary of
    #: several chats, "Checking for new messages"), not a person.
    label: str | None = None


#: Common messaging apps (package names from each app's Play Store address).
MESSAGING_APPS: Mapping[str, App] = {
    "com.whatsapp": App("whatsapp", "WhatsApp"),
    "com.whatsapp.w4b": App("whatsapp", "WhatsApp Business"),
    "org.telegram.messenger": App("telegram", "Telegram"),
    "org.telegram.messenger.web": App("telegram", "Telegram"),
    "org.thunderdog.challegram": App("telegram", "Telegram X"),
    "org.thoughtcrime.securesms": App("signal", "Signal"),
    "com.instagram.android": App("instagram", "Instagram"),
    "com.facebook.orca": App("facebook", "Messenger"),
    "com.facebook.mlite": App("facebook", "Messenger Lite"),
    "com.facebook.katana": App("facebook", "Facebook"),
    "com.snapchat.android": App("snapchat", "Snapchat"),
    "com.zhiliaoapp.musically": App("tiktok", "TikTok"),
    "com.discord": App("discord", "Discord"),
    "com.Slack": App("slack", "Slack"),
    "com.microsoft.teams": App("teams", "Teams"),
    "com.viber.voip": App("viber", "Viber"),
    "jp.naver.line.android": App("line", "LINE"),
    "com.tencent.mm": App("wechat", "WeChat"),
    "ch.threema.app": App("threema", "Threema"),
    "ch.threema.app.libre": App("threema", "Threema"),
    "im.vector.app": App("matrix", "Element"),
    "com.skype.raider": App("skype", "Skype"),
    "com.google.android.apps.dynamite": App("googlechat", "Chat"),
    # SMS and RCS: Google Messages, Samsung Messages and the stock apps.
    "com.google.android.apps.messaging": App("sms", "Messages"),
    "com.samsung.android.messaging": App("sms", "Messages"),
    "com.android.mms": App("sms", "Messaging"),
    "com.android.messaging": App("sms", "Messaging"),
    # Mail apps: the title is the sender's name, the text the subject.
    "com.google.android.gm": App("email", "Gmail"),
    "com.microsoft.office.outlook": App("email", "Outlook"),
}

#: A network name as settings may give it: what `network:` addresses start with.
NETWORK_NAME = re.compile(r"[a-z][a-z0-9_]{0,31}")
#: A package name (`com.whatsapp`): at least two dot-separated parts.
PACKAGE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]*(\.[A-Za-z0-9_]+)+")
#: "Sophie (3 messages)": a count some apps add to a chat's title.
_COUNT_SUFFIX = re.compile(r"\s*\(\d+\s+(new\s+)?messages?\)\s*$", re.IGNORECASE)
#: Texts of summaries that stand for messages without being one ("5 new messages",
#: "12 messages from 3 chats").
_SUMMARY_TEXT = re.compile(r"\d+\s+(new\s+)?messages?(\s+from\s+\d+\s+chats?)?", re.IGNORECASE)
NAME_LENGTH = 200


def checked_apps(apps: dict[str, str]) -> dict[str, str]:
    """A source's `apps` setting, or a ValueError naming the entry that is wrong."""
    for package, network in apps.items():
        if not PACKAGE_NAME.fullmatch(package):
            raise ValueError(f"{package!r} is not an Android package name")
        if not NETWORK_NAME.fullmatch(network):
            raise ValueError(f"{network!r} is not a network name (a-z, 0-9, _)")
    return apps


def app_for(package: str, extra: Mapping[str, str]) -> App | None:
    """The messaging app a package is, with a source's own `apps` taking precedence."""
    if package in extra:
        known = MESSAGING_APPS.get(package)
        return App(extra[package], known.label if known else None)
    return MESSAGING_APPS.get(package)


def shown_name(title: str) -> str:
    """A notification title as the name it shows: trimmed, without a message count."""
    return _COUNT_SUFFIX.sub("", title).strip()[:NAME_LENGTH]


def is_app_talking(app: App, title: str, text: str) -> bool:
    """Whether a notification is the app's own (a summary, a status), not a person's."""
    if app.label is not None and title.strip().casefold() == app.label.casefold():
        return True
    return _SUMMARY_TEXT.fullmatch(text.strip()) is not None


def sender_id(network: str, name: str) -> str:
    """The sender id for a notification title: a phone number where it is one, else
    `name:<title>`."""
    number = canonical_phone(name)
    if is_e164(number):
        if network == "whatsapp":
            return number.removeprefix("+")
        if network in PHONE_NETWORKS:
            return number
    return f"name:{name}"
