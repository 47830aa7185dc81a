"""What the Sources page says per network: its name, what each secret is called there, and
the steps to connect it, in a parent's words (the facts are docs/connecting.md's and each
network's own documentation). `{url}` in a step is the source's web address for Guardian."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Network:
    name: str
    steps: tuple[str, ...]


NETWORKS: dict[str, Network] = {
    "webhook": Network(
        "A phone app or service that sends messages on (a webhook)",
        (
            "In the app's or service's settings, find where it sends messages to a web address "
            '(often called "webhook").',
            "Paste this source's address there: {url}",
            "Give it this source's signing secret (rotate it below to get one you can copy), or a "
            "password sent as Authorization: Bearer if it supports that.",
            "Send a test message and check that Last message changes here.",
        ),
    ),
    "sms_forwarder": Network(
        "SmsForwarder on an Android phone",
        (
            "With the member, install SmsForwarder from its GitHub releases; allow SMS, call "
            "log and notification access, and let it run without battery limits.",
            "In SmsForwarder: Senders → + → Webhook, method POST, server {url}.",
            "Set its Secret to this source's secret (rotate it below to get one you can copy).",
            "Add rules for SMS, missed calls and the chat apps, each sending to that webhook; "
            "press Test, then send the member a message.",
        ),
    ),
    "telegram": Network(
        "Telegram (a bot)",
        (
            "Make a bot with @BotFather in Telegram (/newbot) and keep its token.",
            "Tell Telegram to send the bot's messages here: call setWebhook with the url {url} "
            "and secret_token set to this source's secret token.",
            "Send the bot a message and check that Last message changes here.",
        ),
    ),
    "telegram_poll": Network(
        "Telegram (a bot that Guardian asks for messages)",
        (
            "Make a bot with @BotFather in Telegram (/newbot); for a member's own chats turn on "
            "Business Mode for it, and let the member add it under Settings → Telegram Business "
            "→ Chatbots.",
            "Give Guardian the bot's token (this source's bot token). Guardian then asks "
            "Telegram for new messages itself: nothing to paste into Telegram.",
        ),
    ),
    "slack": Network(
        "Slack",
        (
            "In your Slack app's settings, open Event Subscriptions and turn them on.",
            "As the Request URL, paste {url}; Slack checks it at once.",
            "Subscribe to the message events you want; copy the app's Signing Secret (Basic "
            "Information) into this source.",
        ),
    ),
    "whatsapp": Network(
        "WhatsApp Business (Cloud API)",
        (
            "In the Meta developer app of your WhatsApp number, open WhatsApp → Configuration.",
            "As the Callback URL, paste {url}, and as the Verify token this source's verify token.",
            "Subscribe to messages; copy the app's App secret into this source.",
        ),
    ),
    "twilio": Network(
        "Twilio (SMS to a Twilio number)",
        (
            "In Twilio's console, open your phone number's settings.",
            'Under Messaging, "A message comes in": Webhook, HTTP POST, {url}.',
            "Copy your account's Auth Token into this source.",
        ),
    ),
    "sms_gateway": Network(
        "SMS Gateway for Android",
        (
            "In the SMS Gateway app on the phone, add a webhook for incoming SMS (sms:received) "
            "to {url}.",
            "Copy the app's signing key into this source.",
        ),
    ),
    "home_assistant": Network(
        "Home Assistant (the phone's Companion app)",
        (
            "On the member's phone, in the Companion app: Settings → Companion app → Manage "
            "sensors → Last notification: enable it and list the chat apps in its Allow list.",
            "Make a long-lived access token of an administrator in Home Assistant (your profile "
            "→ Security) and give it to this source. Guardian reads Home Assistant itself.",
        ),
    ),
    "signal": Network(
        "Signal (a linked device)",
        (
            "Run signal-cli-rest-api next to Guardian (see docs/connecting.md).",
            "With the member, link it: open its QR code page and scan it in Signal → Settings → "
            'Linked devices → +. The member sees "Guardian" there and can remove it.',
            "Guardian reads the messages itself: nothing to paste into Signal.",
        ),
    ),
    "matrix": Network(
        "Matrix (and the chats its bridges connect)",
        (
            "Give this source the Matrix account's access token. Guardian reads the rooms "
            "itself; the member links WhatsApp, Instagram and the others in the bridges.",
        ),
    ),
    "imap": Network(
        "E-mail (a mailbox)",
        (
            "Give this source the mailbox's server, user name and an app password. Guardian "
            "reads new mail itself and never marks it as read.",
        ),
    ),
}

#: Each secret's name as the network calls it.
SECRET_NAMES = {
    "secret": "signing secret",
    "token": "password (bearer token)",
    "secret_token": "secret token",
    "signing_secret": "signing secret",
    "app_secret": "app secret",
    "verify_token": "verify token",
    "auth_token": "auth token",
    "signing_key": "signing key",
    "access_token": "access token",
    "bot_token": "bot token",
    "password": "password",
}


def network_of(plugin: str) -> Network:
    return NETWORKS.get(plugin, Network(plugin, ("Paste this source's address into it: {url}",)))


def secret_name(field: str) -> str:
    return SECRET_NAMES.get(field, field.replace("_", " "))
