"""The SMS Gateway for Android plugin: webhook events, X-Signature over body + X-Timestamp, e2e."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pydantic
import pytest

from guardian.plugin import BadRequest, IncomingMessage, InvalidFields
from guardian.settings import Settings
from guardian.testing import PluginCase, SignedRequest, Signing, conformance_tests
from plugins.sms_gateway import SmsGatewayPlugin, SmsGatewaySettings, signature
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

SIGNING_KEY = "x7Kp2mQ9vR4tW8yZ"
NETWORK = "sms_gateway"


def gateway() -> SmsGatewayPlugin:
    return plugin(SmsGatewayPlugin, signing_key=SIGNING_KEY)


def signed(body: bytes, at: datetime = QUIET, key: str = SIGNING_KEY) -> dict[str, str]:
    timestamp = str(int(at.timestamp()))
    return {
        "X-Signature": signature(key, body, timestamp),
        "X-Timestamp": timestamp,
        "Content-Type": "application/json",
    }


async def read(name: str) -> list[IncomingMessage]:
    body = golden(NETWORK, name)
    return list((await gateway().receive(hook_request(body, signed(body)))).messages)


def test_signature_is_hex_hmac_sha256_of_body_then_timestamp() -> None:
    # The app's docs publish no vector. RFC 4231 test case 2 ("what do ya want for nothing?"
    # keyed with "Jefe"), split into a body and a timestamp, must give that case's digest.
    assert signature("Jefe", b"what do ya want ", "for nothing?") == (
        "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
    )


async def test_sms_received() -> None:
    assert await read("sms_received.json") == [
        IncomingMessage(
            external_id="Ey6ECgOkVVFjz3CL48B8C",
            network="sms",
            sender_id="+31612345678",
            text="are you awake?",
            sent_at=datetime(2026, 11, 25, 21, 58, tzinfo=UTC),
            conversation_id="+31612345678",
        )
    ]


async def test_a_national_number_is_kept_as_the_phone_shows_it() -> None:
    # The docs' own example: a number without country code, a time in the phone's zone.
    [message] = await read("sms_received_national.json")
    assert message.sender_address == "sms:6505551212"
    assert message.text == "Android is always a sweet treat!"
    assert message.sent_at == datetime(2024, 6, 22, 8, 46, 11, tzinfo=UTC)


@pytest.mark.parametrize(
    ("shown", "address"),
    [
        ("+31612345678", "+31612345678"),
        ("+31 6 1234-5678", "+31612345678"),
        ("0031612345678", "+31612345678"),
        ("ING Bank", "ING Bank"),
    ],
)
async def test_phone_numbers_are_e164_where_they_can_be(shown: str, address: str) -> None:
    body = json.dumps(
        {"id": "e1", "event": "sms:received", "payload": {"phoneNumber": shown, "message": "hi"}}
    ).encode()
    [message] = (await gateway().receive(hook_request(body, signed(body)))).messages
    assert message.sender_address == f"sms:{address}"


@pytest.mark.parametrize("name", ["sms_sent.json", "sms_delivered.json", "system_ping.json"])
async def test_other_events_yield_nothing(name: str) -> None:
    assert await read(name) == []


async def test_an_uppercase_hex_signature_is_accepted() -> None:
    body = golden(NETWORK, "sms_received.json")
    headers = signed(body)
    headers["X-Signature"] = headers["X-Signature"].upper()
    assert len((await gateway().receive(hook_request(body, headers))).messages) == 1


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"{not json", BadRequest),
        (b"[]", InvalidFields),
        (b'{"event": "sms:received"}', InvalidFields),
        (b'{"id": "e1", "event": "sms:received", "payload": {"message": "hi"}}', InvalidFields),
    ],
    ids=["not-json", "not-object", "no-id", "no-phone-number"],
)
async def test_unreadable_events(body: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        await gateway().receive(hook_request(body, signed(body)))


async def test_invalid_fields_are_named_by_path() -> None:
    body = b'{"id": "e1", "event": "sms:received", "payload": {"message": "hi"}}'
    with pytest.raises(InvalidFields) as raised:
        await gateway().receive(hook_request(body, signed(body)))
    assert raised.value.detail == [{"path": "payload.phoneNumber", "message": "Field required"}]


async def test_a_received_at_without_offset_falls_back_to_the_time_of_receipt() -> None:
    body = (
        b'{"id": "e2", "event": "sms:received", "payload": {"phoneNumber": "+31612345678",'
        b' "message": "hi", "receivedAt": "2026-11-25T22:58:00"}}'
    )
    [message] = (await gateway().receive(hook_request(body, signed(body)))).messages
    assert message.sent_at is None


def test_settings_hide_the_key_and_name_the_field() -> None:
    assert SIGNING_KEY not in repr(SmsGatewaySettings(signing_key=SIGNING_KEY))
    assert SIGNING_KEY not in repr(gateway())
    with pytest.raises(pydantic.ValidationError, match="signing_key"):
        SmsGatewaySettings()  # type: ignore[call-arg]


async def test_signed_sms_is_held_end_to_end(
    write_settings: Callable[..., Settings], start_guardian: Start
) -> None:
    guardian = await start_with_source(
        write_settings,
        start_guardian,
        f"""
        id = "mia-phone-sms"
        plugin = "sms_gateway"
        signing_key = "{SIGNING_KEY}"
        """,
    )
    body = golden(NETWORK, "sms_received.json")
    response = await guardian.client.post("/hooks/mia-phone-sms", data=body, headers=signed(body))
    assert response.status == 202
    assert await response.json() == {"accepted": 1, "duplicates": 0}
    stored = await only_notification()
    assert stored.status == "held"
    assert stored.member.slug == "mia"
    assert (stored.network, stored.external_id) == ("sms", "Ey6ECgOkVVFjz3CL48B8C")
    assert stored.sender_address == "sms:+31612345678"
    assert stored.contact is not None and stored.contact.slug == "sophie"
    assert stored.sent_at == datetime(2026, 11, 25, 21, 58, tzinfo=UTC)

    # The app retries the same event ten seconds later, signed afresh.
    await guardian.clock.advance(timedelta(seconds=10))
    retry = signed(body, guardian.clock.now())
    again = await guardian.client.post("/hooks/mia-phone-sms", data=body, headers=retry)
    assert await again.json() == {"accepted": 0, "duplicates": 1}


# The conformance suite (guardian.testing), with requests built from the golden payloads.


def signed_request(body: bytes, at: datetime, key: str = SIGNING_KEY) -> SignedRequest:
    return SignedRequest(headers=signed(body, at, key), body=body)


def sms_received(unique: str, at: datetime) -> SignedRequest:
    document = json.loads(golden(NETWORK, "sms_received.json"))
    document["id"] = unique
    document["payload"]["receivedAt"] = at.isoformat()
    return signed_request(json.dumps(document).encode(), at)


CASE = PluginCase(
    plugin=SmsGatewayPlugin,
    settings={"signing_key": SIGNING_KEY},
    secrets=[SIGNING_KEY],
    message=sms_received,
    non_messages=lambda at: [
        signed_request(golden(NETWORK, name), at)
        for name in ("sms_sent.json", "sms_delivered.json", "system_ping.json")
    ],
    forge=lambda request: with_headers(request, {"X-Signature": "0" * 64}),
    unsign=lambda request: with_headers(request, {"X-Signature": None}),
    stale=lambda unique, at: sms_received(unique, at - timedelta(minutes=6)),
    sign=signed_request,
    signing=Signing(
        sign=signed_request,
        secret=SIGNING_KEY,
        header="X-Signature",
        timestamp_header="X-Timestamp",
        tolerance=timedelta(minutes=5),
    ),
)

test_conformance = conformance_tests(CASE)
