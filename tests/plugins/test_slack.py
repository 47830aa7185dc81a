"""The Slack plugin: Events API payloads, v0 signing (with Slack's documented vector), e2e."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pydantic
import pytest

from guardian.plugin import BadRequest, IncomingMessage, InvalidFields, Unauthorized
from guardian.settings import Settings
from guardian.testing import PluginCase, SignedRequest, Signing, conformance_tests
from plugins.slack import SlackPlugin, SlackSettings, signature
from tests.plugins import (
    QUIET,
    Start,
    golden,
    golden_json,
    hook_request,
    only_notification,
    plugin,
    start_with_source,
    with_headers,
)

SECRET = "8f742231b10e8888abcd99yyyzzz85a5"  # the signing secret of Slack's docs example
NETWORK = "slack"


def slack() -> SlackPlugin:
    return plugin(SlackPlugin, signing_secret=SECRET)


def signed(body: bytes, at: datetime = QUIET, secret: str = SECRET) -> dict[str, str]:
    timestamp = str(int(at.timestamp()))
    return {
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": signature(secret, timestamp, body),
        "Content-Type": "application/json",
    }


async def read(name: str) -> list[IncomingMessage]:
    body = golden(NETWORK, name)
    return list((await slack().receive(hook_request(body, signed(body)))).messages)


# Slack's "Verifying requests from Slack" example: a slash command body signed at 1531420618.
DOC_TIMESTAMP = "1531420618"
DOC_BODY = (
    b"token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow"
    b"&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner"
    b"&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com"
    b"%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN"
    b"&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c"
)
DOC_SIGNATURE = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503"


def test_slacks_documented_signature_vector() -> None:
    assert signature(SECRET, DOC_TIMESTAMP, DOC_BODY) == DOC_SIGNATURE


async def test_the_plugin_accepts_slacks_documented_request() -> None:
    # The example is a slash command, not an Events API payload: it passes the signature check
    # and is then refused as unreadable (400), not as unsigned (401).
    at = datetime.fromtimestamp(int(DOC_TIMESTAMP), UTC)
    headers = {"X-Slack-Request-Timestamp": DOC_TIMESTAMP, "X-Slack-Signature": DOC_SIGNATURE}
    with pytest.raises(BadRequest):
        await slack().receive(hook_request(DOC_BODY, headers, received_at=at))
    with pytest.raises(Unauthorized):
        await slack().receive(hook_request(DOC_BODY + b"x", headers, received_at=at))
    with pytest.raises(Unauthorized, match="tolerance"):
        await slack().receive(hook_request(DOC_BODY, headers, received_at=QUIET))


async def test_url_verification_echoes_the_challenge() -> None:
    body = golden(NETWORK, "url_verification.json")
    received = await slack().receive(hook_request(body, signed(body)))
    assert received.messages == ()
    assert received.reply is not None
    assert received.reply.status == 200
    challenge = golden_json(NETWORK, "url_verification.json")["challenge"]
    assert json.loads(received.reply.body) == {"challenge": challenge}  # type: ignore[attr-defined]


async def test_direct_message() -> None:
    assert await read("message_im.json") == [
        IncomingMessage(
            external_id="Ev0PV52K25",
            network="slack",
            sender_id="U0G9QF9C6",
            sender_name=None,
            text="are you still up? need to talk & it's <urgent>",
            sent_at=datetime(2026, 11, 25, 21, 58, 0, 200, tzinfo=UTC),
            conversation_id="D0PNCRP9N",
            group=False,
        )
    ]


async def test_channel_message_is_a_group_with_the_profile_name() -> None:
    [message] = await read("message_channel.json")
    assert message.sender_address == "slack:U2147483697"
    assert message.sender_name == "noah"
    assert message.group
    assert message.conversation_id == "C2147483705"
    assert message.text == "Hello world"


@pytest.mark.parametrize(
    "name",
    [
        "message_changed.json",
        "message_deleted.json",
        "channel_join.json",
        "bot_message.json",
        "app_message_with_bot_id.json",
        "reaction_added.json",
        "app_rate_limited.json",
    ],
)
async def test_events_that_are_not_a_persons_new_message_yield_nothing(name: str) -> None:
    assert await read(name) == []


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"{not json", BadRequest),
        (b'"text"', InvalidFields),
        (b'{"type": "url_verification"}', InvalidFields),
        (b'{"type": "event_callback", "event": {"type": "message", "user": "U1"}}', InvalidFields),
    ],
    ids=["not-json", "not-object", "challenge-missing", "message-without-ids"],
)
async def test_unreadable_events(body: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        await slack().receive(hook_request(body, signed(body)))


async def test_invalid_fields_are_named_by_path() -> None:
    body = b'{"type": "event_callback", "event": {"type": "message", "user": "U1", "ts": "x"}}'
    with pytest.raises(InvalidFields) as raised:
        await slack().receive(hook_request(body, signed(body)))
    paths = {problem["path"] for problem in raised.value.detail}  # type: ignore[index]
    assert paths == {"event_id", "event.channel", "event.ts"}


def test_settings_hide_the_secret_and_name_the_field() -> None:
    assert SECRET not in repr(SlackSettings(signing_secret=SECRET))
    assert SECRET not in repr(slack())
    with pytest.raises(pydantic.ValidationError, match="signing_secret"):
        SlackSettings()  # type: ignore[call-arg]
    with pytest.raises(pydantic.ValidationError, match="signing_secret"):
        SlackSettings(signing_secret="")


SOURCE = f"""
id = "mia-slack"
plugin = "slack"
signing_secret = "{SECRET}"
"""


async def test_signed_event_is_held_and_a_retry_is_a_duplicate(
    write_settings: Callable[..., Settings], start_guardian: Start
) -> None:
    guardian = await start_with_source(write_settings, start_guardian, SOURCE)
    body = golden(NETWORK, "message_im.json")
    response = await guardian.client.post("/hooks/mia-slack", data=body, headers=signed(body))
    assert response.status == 202
    assert await response.json() == {"accepted": 1, "duplicates": 0}
    stored = await only_notification()
    assert stored.status == "held"
    assert stored.member.slug == "mia"
    assert (stored.network, stored.external_id) == ("slack", "Ev0PV52K25")
    assert stored.sender_address == "slack:U0G9QF9C6"
    assert stored.text == "are you still up? need to talk & it's <urgent>"
    assert stored.is_group is False
    assert stored.sent_at == datetime(2026, 11, 25, 21, 58, 0, 200, tzinfo=UTC)

    # Slack retries a minute later, signed afresh, with X-Slack-Retry-Num.
    await guardian.clock.advance(timedelta(minutes=1))
    retry = signed(body, guardian.clock.now())
    retry |= {"X-Slack-Retry-Num": "1", "X-Slack-Retry-Reason": "http_timeout"}
    again = await guardian.client.post("/hooks/mia-slack", data=body, headers=retry)
    assert await again.json() == {"accepted": 0, "duplicates": 1}


async def test_url_verification_end_to_end(
    write_settings: Callable[..., Settings], start_guardian: Start
) -> None:
    guardian = await start_with_source(write_settings, start_guardian, SOURCE)
    body = golden(NETWORK, "url_verification.json")
    response = await guardian.client.post("/hooks/mia-slack", data=body, headers=signed(body))
    assert response.status == 200
    challenge = golden_json(NETWORK, "url_verification.json")["challenge"]
    assert await response.json() == {"challenge": challenge}
    unsigned = await guardian.client.post("/hooks/mia-slack", data=body)
    assert unsigned.status == 401


# The conformance suite (guardian.testing), with requests built from the golden payloads.


def signed_request(body: bytes, at: datetime, secret: str = SECRET) -> SignedRequest:
    return SignedRequest(headers=signed(body, at, secret), body=body)


def event(unique: str, at: datetime) -> SignedRequest:
    document = golden_json(NETWORK, "message_im.json")
    document["event_id"] = f"Ev-{unique}"
    document["event"]["ts"] = document["event"]["event_ts"] = f"{at.timestamp():.6f}"
    return signed_request(json.dumps(document).encode(), at)


NON_MESSAGES = [
    "url_verification.json",
    "message_changed.json",
    "message_deleted.json",
    "channel_join.json",
    "bot_message.json",
    "app_message_with_bot_id.json",
    "reaction_added.json",
    "app_rate_limited.json",
]

CASE = PluginCase(
    plugin=SlackPlugin,
    settings={"signing_secret": SECRET},
    secrets=[SECRET],
    message=event,
    non_messages=lambda at: [signed_request(golden(NETWORK, name), at) for name in NON_MESSAGES],
    forge=lambda request: with_headers(request, {"X-Slack-Signature": "v0=" + "0" * 64}),
    unsign=lambda request: with_headers(request, {"X-Slack-Signature": None}),
    stale=lambda unique, at: event(unique, at - timedelta(minutes=6)),
    sign=signed_request,
    signing=Signing(
        sign=signed_request,
        secret=SECRET,
        header="X-Slack-Signature",
        timestamp_header="X-Slack-Request-Timestamp",
        tolerance=timedelta(minutes=5),
    ),
)

test_conformance = conformance_tests(CASE)
