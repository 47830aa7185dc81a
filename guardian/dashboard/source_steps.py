"""What the Sources page says per network: its name, what each secret is called there, and
the steps to connect it, in a parent's words (the facts are docs/connecting.md's and each
network's own documentation). `{url}` in a step is the source's web address for Guardian."""

from __future__ import annotations

from dataclasses import dataclass

from guardian.i18n import N_


@dataclass(frozen=True)
class Network:
    name: str
    steps: tuple[str, ...]


# Translators: the networks' names and the steps to connect each, on the Sources page. {url} is
# the source's web address (shown in code style); the names of buttons and menus in a network's
# app (Event Subscriptions, Senders → + → Webhook) are as that app shows them in English.
NETWORKS: dict[str, Network] = {
    "webhook": Network(
        N_("A phone app or service that sends messages on (a webhook)"),
        (
            N_(
                "In the app's or service's settings, find where it sends messages to a web address "
                '(often called "webhook").'
            ),
            N_("Paste this source's address there: {url}"),
            N_(
                "Give it this source's signing secret (rotate it below to get one you can copy), "
                "or a "
                "password sent as Authorization: Bearer if it supports that."
            ),
            N_("Send a test message and check that Last message changes here."),
        ),
    ),
    "sms_forwarder": Network(
        N_("SmsForwarder on an Android phone"),
        (
            N_(
                "With the member, install SmsForwarder from its GitHub releases; allow SMS, call "
                "log and notification access, and let it run without battery limits."
            ),
            N_("In SmsForwarder: Senders → + → Webhook, method POST, server {url}."),
            N_("Set its Secret to this source's secret (rotate it below to get one you can copy)."),
            N_(
                "Add rules for SMS, missed calls and the chat apps, each sending to that webhook; "
                "press Test, then send the member a message."
            ),
        ),
    ),
    "telegram": Network(
        N_("Telegram (a bot)"),
        (
            N_("Make a bot with @BotFather in Telegram (/newbot) and keep its token."),
            N_(
                "Tell Telegram to send the bot's messages here: call setWebhook with the url {url} "
                "and secret_token set to this source's secret token."
            ),
            N_("Send the bot a message and check that Last message changes here."),
        ),
    ),
    "telegram_poll": Network(
        N_("Telegram (a bot that Guardian asks for messages)"),
        (
            N_(
                "Make a bot with @BotFather in Telegram (/newbot); for a member's own chats turn "
                "on "
                "Business Mode for it, and let the member add it under Settings → Telegram "
                "Business "
                "→ Chatbots."
            ),
            N_(
                "Give Guardian the bot's token (this source's bot token). Guardian then asks "
                "Telegram for new messages itself: nothing to paste into Telegram."
            ),
        ),
    ),
    "slack": Network(
        N_("Slack"),
        (
            N_("In your Slack app's settings, open Event Subscriptions and turn them on."),
            N_("As the Request URL, paste {url}; Slack checks it at once."),
            N_(
                "Subscribe to the message events you want; copy the app's Signing Secret (Basic "
                "Information) into this source."
            ),
        ),
    ),
    "whatsapp": Network(
        N_("WhatsApp Business (Cloud API)"),
        (
            N_("In the Meta developer app of your WhatsApp number, open WhatsApp → Configuration."),
            N_(
                "As the Callback URL, paste {url}, and as the Verify token this source's verify "
                "token."
            ),
            N_("Subscribe to messages; copy the app's App secret into this source."),
        ),
    ),
    "twilio": Network(
        N_("Twilio (SMS to a Twilio number)"),
        (
            N_("In Twilio's console, open your phone number's settings."),
            N_('Under Messaging, "A message comes in": Webhook, HTTP POST, {url}.'),
            N_("Copy your account's Auth Token into this source."),
        ),
    ),
    "sms_gateway": Network(
        N_("SMS Gateway for Android"),
        (
            N_(
                "In the SMS Gateway app on the phone, add a webhook for incoming SMS "
                "(sms:received) "
                "to {url}."
            ),
            N_("Copy the app's signing key into this source."),
        ),
    ),
    "home_assistant": Network(
        N_("Home Assistant (the phone's Companion app)"),
        (
            N_(
                "On the member's phone, in the Companion app: Settings → Companion app → Manage "
                "sensors → Last notification: enable it and list the chat apps in its Allow list."
            ),
            N_(
                "Make a long-lived access token of an administrator in Home Assistant (your "
                "profile "
                "→ Security) and give it to this source. Guardian reads Home Assistant itself."
            ),
        ),
    ),
    "signal": Network(
        N_("Signal (a linked device)"),
        (
            N_("Run signal-cli-rest-api next to Guardian (see docs/connecting.md)."),
            N_(
                "With the member, link it: open its QR code page and scan it in Signal → "
                "Settings → "
                'Linked devices → +. The member sees "Guardian" there and can remove it.'
            ),
            N_("Guardian reads the messages itself: nothing to paste into Signal."),
        ),
    ),
    "matrix": Network(
        N_("Matrix (and the chats its bridges connect)"),
        (
            N_(
                "Give this source the Matrix account's access token. Guardian reads the rooms "
                "itself; the member links WhatsApp, Instagram and the others in the bridges."
            ),
        ),
    ),
    "imap": Network(
        N_("E-mail (a mailbox)"),
        (
            N_(
                "Give this source the mailbox's server, user name and an app password. Guardian "
                "reads new mail itself and never marks it as read."
            ),
        ),
    ),
}

#: Each secret's name as the network calls it.
# Translators: a secret's name as the network calls it, inside sentences ("New signing secret for
# webhook: copy it now"); small letters.
SECRET_NAMES = {
    "secret": N_("signing secret"),
    "token": N_("password (bearer token)"),
    "secret_token": N_("secret token"),
    "signing_secret": N_("signing secret"),
    "app_secret": N_("app secret"),
    "verify_token": N_("verify token"),
    "auth_token": N_("auth token"),
    "signing_key": N_("signing key"),
    "access_token": N_("access token"),
    "bot_token": N_("bot token"),
    "password": N_("password"),
}


def network_of(plugin: str) -> Network:
    return NETWORKS.get(
        plugin, Network(plugin, (N_("Paste this source's address into it: {url}"),))
    )


def secret_name(field: str) -> str:
    return SECRET_NAMES.get(field, field.replace("_", " "))
