"""The Telegram plugin: Bot API Updates from golden payloads, the secret-token header, e2e.

Golden payloads are Updates as core.telegram.org/bots/api documents them ("Update",
"Message", "User", "Chat"; Telegram Business: "BusinessConnection",
"BusinessMessagesDeleted", Message's `business_connection_id` and `sender_business_bot`).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable
from datetime import UTC, datetime

import pydantic
import pytest

from guardian.plugin import BadRequest, IncomingMessage, InvalidFields
from guardian.settings import Settings
from guardian.testing import PluginCase, SignedRequest, Signing, conformance_tests
from plugins.telegram import HEADER, TelegramPlugin, TelegramSettings
from tests.plugins import (
    QUIET,
    Start,
    golden,
    hook_request,
    only_notification,
    plugin,
    start_with_source,
    with_headers,
)

TOKEN = "tg-secret_0123456789"
NETWORK = "telegram"


def telegram() -> TelegramPlugin:
    return plugin(TelegramPlugin, secret_token=TOKEN)


async def read(name: str) -> list[IncomingMessage]:
    request = hook_request(golden(NETWORK, name), {HEADER: TOKEN})
    return list((await telegram().receive(request)).messages)


async def test_private_chat_text() -> None:
    assert await read("private_text.json") == [
        IncomingMessage(
            external_id="812345001",
            network="telegram",
            sender_id="99887766",
            sender_name="Sophie de Vries",
            text="are you awake? 😢",
            sent_at=datetime(2026, 11, 25, 21, 58, tzinfo=UTC),
            conversation_id="99887766",
            conversation_title=None,
            group=False,
        )
    ]


async def test_group_chat_text() -> None:
    [message] = await read("group_text.json")
    assert message.sender_address == "telegram:55443322"
    assert message.sender_name == "Noah"
    assert (message.conversation_id, message.conversation_title) == ("-4012345678", "Class 3B")
    assert message.group
    assert message.text == "who has the maths homework?"


async def test_supergroup_photo_takes_its_caption_and_a_username_as_name() -> None:
    [message] = await read("supergroup_photo_caption.json")
    assert message.text == "training moved to 18:00"
    assert message.sender_name == "jules_k"
    assert message.conversation_title == "Hockey team"
    assert message.group


async def test_media_without_text_is_a_placeholder() -> None:
    [message] = await read("voice_without_text.json")
    assert message.text == "[voice message]"
    assert message.external_id == "812345004"


async def test_a_business_message_is_the_members_own_private_chat() -> None:
    [message] = await read("business_message.json")
    assert message.sender_address == "telegram:99887766"
    assert message.sender_name == "Sophie de Vries"
    assert (message.conversation_id, message.group) == ("99887766", False)
    assert message.text == "are you still up? 😟"
    assert message.external_id == "812345101"


async def test_an_edited_business_message_is_a_notification_of_its_own() -> None:
    [message] = await read("edited_business_message.json")
    assert (message.external_id, message.text) == ("812345102", "are you still up??")


@pytest.mark.parametrize(
    "name",
    [
        "edited_message.json",
        "new_chat_members.json",
        "bot_message.json",
        "channel_post.json",
        "my_chat_member.json",
        "business_message_own.json",
        "business_message_by_bot.json",
        "business_connection.json",
        "deleted_business_messages.json",
    ],
)
async def test_updates_that_are_not_a_persons_new_message_yield_nothing(name: str) -> None:
    assert await read(name) == []


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"{not json", BadRequest),
        (b"\xff\xfe", BadRequest),
        (b"[]", InvalidFields),
        (b'{"message": {}}', InvalidFields),
        (b'{"update_id": 1, "message": {"message_id": 1, "date": 1}}', InvalidFields),
        (
            b'{"update_id": 1, "message": {"message_id": 1, "chat": {"id": 1, "type": "private"},'
            b' "date": -5, "text": "x"}}',
            InvalidFields,
        ),
    ],
    ids=["not-json", "not-utf8", "array", "no-update-id", "no-chat", "negative-date"],
)
async def test_unreadable_updates(body: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        await telegram().receive(hook_request(body, {HEADER: TOKEN}))


async def test_invalid_fields_are_named_by_path() -> None:
    body = b'{"update_id": 1, "message": {"message_id": 1, "date": 1}}'
    with pytest.raises(InvalidFields) as raised:
        await telegram().receive(hook_request(body, {HEADER: TOKEN}))
    assert {"path": "message.chat", "message": "Field required"} in raised.value.detail


def test_settings_hide_the_secret_and_name_the_field() -> None:
    settings = TelegramSettings(secret_token=TOKEN)
    assert TOKEN not in repr(settings)
    assert TOKEN not in repr(plugin(TelegramPlugin, secret_token=TOKEN))
    for bad in ("", "has space", "ünïcode", "x" * 257):
        with pytest.raises(pydantic.ValidationError, match="secret_token"):
            TelegramSettings(secret_token=bad)
    with pytest.raises(pydantic.ValidationError, match="secret_token"):
        TelegramSettings()  # type: ignore[call-arg]


async def test_signed_update_is_held_end_to_end(
    write_settings: Callable[..., Settings], start_guardian: Start
) -> None:
    guardian = await start_with_source(
        write_settings,
        start_guardian,
        f"""
        id = "mia-telegram"
        plugin = "telegram"
        secret_token = "{TOKEN}"
        """,
    )
    body = golden(NETWORK, "private_text.json")
    response = await guardian.client.post(
        "/hooks/mia-telegram",
        data=body,
        headers={HEADER: TOKEN, "Content-Type": "application/json"},
    )
    assert response.status == 202
    assert await response.json() == {"accepted": 1, "duplicates": 0}
    stored = await only_notification()
    assert stored.status == "held"
    assert stored.member.slug == "mia"
    assert stored.network == "telegram"
    assert stored.external_id == "812345001"
    assert stored.sender_address == "telegram:99887766"
    assert stored.contact is not None and stored.contact.slug == "sophie"
    assert stored.text == "are you awake? 😢"
    assert stored.sent_at == datetime(2026, 11, 25, 21, 58, tzinfo=UTC)
    assert stored.received_at == QUIET

    again = await guardian.client.post("/hooks/mia-telegram", data=body, headers={HEADER: TOKEN})
    assert await again.json() == {"accepted": 0, "duplicates": 1}

    forged = await guardian.client.post("/hooks/mia-telegram", data=body, headers={HEADER: "nope"})
    assert forged.status == 401
    assert (await forged.json())["error"] == "unauthorized"
    assert TOKEN not in json.dumps(await forged.json())


# The conformance suite (guardian.testing), with requests built from the golden payloads.


def with_token(body: bytes, token: str = TOKEN) -> SignedRequest:
    return SignedRequest(headers={HEADER: token, "Content-Type": "application/json"}, body=body)


def update(unique: str, at: datetime) -> SignedRequest:
    document = json.loads(golden(NETWORK, "private_text.json"))
    document["update_id"] = int.from_bytes(hashlib.sha256(unique.encode()).digest()[:6])
    document["message"]["date"] = int(at.timestamp())
    return with_token(json.dumps(document).encode())


NON_MESSAGES = [
    "edited_message.json",
    "new_chat_members.json",
    "bot_message.json",
    "channel_post.json",
    "my_chat_member.json",
    "business_message_own.json",
    "business_message_by_bot.json",
    "business_connection.json",
    "deleted_business_messages.json",
]

CASE = PluginCase(
    plugin=TelegramPlugin,
    settings={"secret_token": TOKEN},
    secrets=[TOKEN],
    message=update,
    non_messages=lambda at: [
        SignedRequest(headers={HEADER: TOKEN}, body=golden(NETWORK, name)) for name in NON_MESSAGES
    ],
    forge=lambda request: with_headers(request, {HEADER: TOKEN[::-1]}),
    unsign=lambda request: with_headers(request, {HEADER: None}),
    stale=None,  # Telegram signs no timestamp
    sign=lambda body, at: SignedRequest(headers={HEADER: TOKEN}, body=body),
    signing=Signing(
        sign=lambda body, at, token: with_token(body, token),
        secret=TOKEN,
        header=HEADER,
        covers_body=False,  # the secret token is sent as it is
        # Compared whole: neither a token with more after it nor one cut short passes.
        particular={
            "longer-token": lambda unique, at: with_token(update(unique, at).body, TOKEN + "x"),
            "shorter-token": lambda unique, at: with_token(update(unique, at).body, TOKEN[:-1]),
        },
    ),
)

test_conformance = conformance_tests(CASE)
