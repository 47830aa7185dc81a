"""The WhatsApp plugin: Cloud API batches, statuses, the GET handshake, X-Hub-Signature-256, e2e."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pydantic
import pytest

from guardian.models import Notification
from guardian.plugin import BadRequest, IncomingMessage, InvalidFields, Unauthorized
from guardian.settings import Settings
from guardian.testing import PluginCase, SignedRequest, Signing, conformance_tests
from plugins.whatsapp import HEADER, WhatsAppPlugin, WhatsAppSettings, signature
from tests.plugins import (
    HOOK_URL,
    Start,
    golden,
    hook_request,
    only_notification,
    plugin,
    start_with_source,
    with_headers,
)

APP_SECRET = "3a9f1c2b7d4e5f60718293a4b5c6d7e8"
VERIFY_TOKEN = "guardian-verify-2f9c"
NETWORK = "whatsapp"


def whatsapp() -> WhatsAppPlugin:
    return plugin(WhatsAppPlugin, app_secret=APP_SECRET, verify_token=VERIFY_TOKEN)


def signed(body: bytes, secret: str = APP_SECRET) -> dict[str, str]:
    return {HEADER: signature(secret, body), "Content-Type": "application/json"}


async def read(name: str) -> list[IncomingMessage]:
    body = golden(NETWORK, name)
    return list((await whatsapp().receive(hook_request(body, signed(body)))).messages)


def test_signature_is_hex_hmac_sha256_of_the_raw_body() -> None:
    # Meta publishes no test vector; this is RFC 4231's HMAC-SHA256 test case 2.
    assert signature("Jefe", b"what do ya want for nothing?") == (
        "sha256=5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    )


async def test_one_text_message() -> None:
    assert await read("text.json") == [
        IncomingMessage(
            external_id="wamid.HBgLMzE2MTIzNDU2NzgVAgASGBQzQUY1QjQ2RTdDNEQ2NUQ4RjRBMwA=",
            network="whatsapp",
            sender_id="31612345678",
            sender_name="Sophie",
            text="are you awake?",
            sent_at=datetime(2026, 11, 25, 21, 58, tzinfo=UTC),
            conversation_id="31612345678",
            group=False,
        )
    ]


async def test_a_batch_of_entries_changes_and_messages() -> None:
    messages = await read("batch.json")
    assert [(m.sender_address, m.sender_name, m.text) for m in messages] == [
        ("whatsapp:31612345678", "Sophie", "please answer"),
        ("whatsapp:447700900123", "Noah", "look at this"),  # an image's caption
        ("whatsapp:31612345678", "Sophie", "[voice message]"),  # from the second entry
    ]  # the reaction and the read status yield nothing
    assert len({m.external_id for m in messages}) == 3


@pytest.mark.parametrize("name", ["statuses.json", "reaction.json", "account_update.json"])
async def test_notifications_without_messages_yield_nothing(name: str) -> None:
    assert await read(name) == []


def handshake(token: str = VERIFY_TOKEN, mode: str = "subscribe") -> str:
    return f"{HOOK_URL}?hub.mode={mode}&hub.challenge=1158201444&hub.verify_token={token}"


async def test_subscription_handshake_echoes_the_challenge() -> None:
    received = await whatsapp().receive(hook_request(method="GET", url=handshake()))
    assert received.messages == ()
    assert received.reply is not None
    assert received.reply.status == 200
    assert received.reply.body == b"1158201444"  # type: ignore[attr-defined]


async def test_handshake_with_a_wrong_token_is_refused() -> None:
    with pytest.raises(Unauthorized):
        await whatsapp().receive(hook_request(method="GET", url=handshake("wrong")))
    with pytest.raises(BadRequest):
        await whatsapp().receive(hook_request(method="GET", url=handshake(mode="unsubscribe")))
    with pytest.raises(BadRequest):
        await whatsapp().receive(hook_request(method="GET"))


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"{not json", BadRequest),
        (b"[]", InvalidFields),
        (
            b'{"entry": [{"changes": [{"field": "messages", "value": {"messages": [{}]}}]}]}',
            InvalidFields,
        ),
        (b'{"entry": "x"}', InvalidFields),
    ],
    ids=["not-json", "not-object", "message-without-fields", "entry-not-a-list"],
)
async def test_unreadable_notifications(body: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        await whatsapp().receive(hook_request(body, signed(body)))


async def test_invalid_fields_are_named_by_path() -> None:
    body = b'{"entry": [{"changes": [{"value": {"messages": [{"id": "wamid.1"}]}}]}]}'
    with pytest.raises(InvalidFields) as raised:
        await whatsapp().receive(hook_request(body, signed(body)))
    paths = {problem["path"] for problem in raised.value.detail}  # type: ignore[index]
    assert paths == {
        "entry[0].changes[0].value.messages[0].from",
        "entry[0].changes[0].value.messages[0].timestamp",
    }


def test_settings_hide_the_secrets_and_name_the_fields() -> None:
    settings = WhatsAppSettings(app_secret=APP_SECRET, verify_token=VERIFY_TOKEN)
    for text in (repr(settings), repr(whatsapp())):
        assert APP_SECRET not in text
        assert VERIFY_TOKEN not in text
    with pytest.raises(pydantic.ValidationError) as raised:
        WhatsAppSettings()  # type: ignore[call-arg]
    assert {e["loc"][0] for e in raised.value.errors()} == {"app_secret", "verify_token"}


SOURCE = f"""
id = "mia-whatsapp"
plugin = "whatsapp"
app_secret = "{APP_SECRET}"
verify_token = "{VERIFY_TOKEN}"
"""


async def test_signed_batch_is_held_end_to_end(
    write_settings: Callable[..., Settings], start_guardian: Start
) -> None:
    guardian = await start_with_source(write_settings, start_guardian, SOURCE)
    body = golden(NETWORK, "text.json")
    response = await guardian.client.post("/hooks/mia-whatsapp", data=body, headers=signed(body))
    assert response.status == 202
    assert await response.json() == {"accepted": 1, "duplicates": 0}
    stored = await only_notification()
    assert stored.status == "held"
    assert stored.member.slug == "mia"
    assert stored.network == "whatsapp"
    assert stored.sender_address == "whatsapp:31612345678"
    assert stored.sender_name == "Sophie"
    assert stored.contact is not None and stored.contact.slug == "sophie"  # as sms:+31612345678
    assert stored.text == "are you awake?"
    assert stored.sent_at == datetime(2026, 11, 25, 21, 58, tzinfo=UTC)

    # Meta redelivers the first message inside a later batch: only the new ones count.
    batch = golden(NETWORK, "batch.json")
    first = json.loads(body)["entry"][0]["changes"][0]["value"]["messages"][0]
    document = json.loads(batch)
    document["entry"][0]["changes"][0]["value"]["messages"].append(first)
    batch = json.dumps(document).encode()
    again = await guardian.client.post("/hooks/mia-whatsapp", data=batch, headers=signed(batch))
    assert await again.json() == {"accepted": 3, "duplicates": 1}


async def test_handshake_end_to_end(
    write_settings: Callable[..., Settings], start_guardian: Start
) -> None:
    guardian = await start_with_source(write_settings, start_guardian, SOURCE)
    query = f"hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token={VERIFY_TOKEN}"
    response = await guardian.client.get(f"/hooks/mia-whatsapp?{query}")
    assert response.status == 200
    assert await response.text() == "1158201444"
    wrong = await guardian.client.get("/hooks/mia-whatsapp?" + query.replace("2f9c", "0000"))
    assert wrong.status == 401
    assert VERIFY_TOKEN not in await wrong.text()


# The conformance suite (guardian.testing), with requests built from the golden payloads.


def signed_request(body: bytes, secret: str = APP_SECRET) -> SignedRequest:
    return SignedRequest(headers=signed(body, secret), body=body)


def notification(unique: str, at: datetime) -> SignedRequest:
    document = json.loads(golden(NETWORK, "text.json"))
    message = document["entry"][0]["changes"][0]["value"]["messages"][0]
    message["id"] = f"wamid.{unique}"
    message["timestamp"] = str(int(at.timestamp()))
    return signed_request(json.dumps(document).encode())


def non_messages(at: datetime) -> list[SignedRequest]:
    query = f"?hub.mode=subscribe&hub.challenge=1158201444&hub.verify_token={VERIFY_TOKEN}"
    return [
        SignedRequest(method="GET", path=query),
        *(
            signed_request(golden(NETWORK, name))
            for name in ("statuses.json", "reaction.json", "account_update.json")
        ),
    ]


def rewritten(request: SignedRequest, prefix: str) -> SignedRequest:
    """The request with its signature's `sha256=` replaced by `prefix`."""
    digest = request.headers[HEADER].removeprefix("sha256=")
    return with_headers(request, {HEADER: prefix + digest})


CASE = PluginCase(
    plugin=WhatsAppPlugin,
    settings={"app_secret": APP_SECRET, "verify_token": VERIFY_TOKEN},
    secrets=[APP_SECRET, VERIFY_TOKEN],
    message=notification,
    non_messages=non_messages,
    forge=lambda request: with_headers(request, {HEADER: "sha256=" + "0" * 64}),
    unsign=lambda request: with_headers(request, {HEADER: None}),
    stale=None,  # Meta signs no timestamp
    sign=lambda body, at: signed_request(body),
    signing=Signing(
        sign=lambda body, at, secret: signed_request(body, secret),
        secret=APP_SECRET,
        header=HEADER,
        # Meta's header is `sha256=<hex>`: the algorithm named some other way, or not at all,
        # is refused too.
        particular={
            "sha1-prefix": lambda unique, at: rewritten(notification(unique, at), "sha1="),
            "bare-hex": lambda unique, at: rewritten(notification(unique, at), ""),
        },
    ),
)

test_conformance = conformance_tests(CASE)


async def test_a_batch_of_twelve_thousand_messages_is_refused_at_once(
    write_settings: Any, start_guardian: Any
) -> None:
    """Meta batches, but never like this: more than the 500 any request may carry is refused
    before any of them is read (reading 12,000 took the event loop 5-6 s)."""
    document = json.loads(golden(NETWORK, "text.json"))
    value = document["entry"][0]["changes"][0]["value"]
    one = value["messages"][0]
    short = {"from": one["from"], "timestamp": one["timestamp"], "type": "text"}
    value["messages"] = [{**short, "id": f"w{n}"} for n in range(12_000)]
    body = json.dumps(document, separators=(",", ":")).encode()
    assert len(body) < 1024 * 1024  # within the body limit: it is the count that refuses it
    running = await start_with_source(write_settings, start_guardian, SOURCE)
    started = time.monotonic()
    response = await running.client.post(
        "/hooks/mia-whatsapp", data=io.BytesIO(body), headers=signed(body)
    )
    assert response.status == 413
    answer = await response.json()
    assert answer == {
        "error": "too_large",
        "detail": "at most 500 messages per request, got 12000",
    }
    assert time.monotonic() - started < 1
    assert await Notification.all().count() == 0
