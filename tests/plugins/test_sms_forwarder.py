"""The SmsForwarder plugin: its form body and JSON template, `sign`, kinds of forward, e2e.

Golden payloads in tests/plugins/sms_forwarder/ are written as the app builds them, read from
pppscn/SmsForwarder (main, 2026-06): `utils/sender/WebhookUtils.kt` (the default form
`from=[from]&content=[content]&timestamp=[timestamp]&sign=[sign]` posted as form parameters,
so `sign`, already URL-encoded by the app, is encoded once more; a template starting with `{`
posted as JSON with every placeholder but `[from]` JSON-escaped by Gson, which also escapes
`'` as `\\u0027`; a GET template URL-encoding each value and `[sign]` once more),
`entity/MsgInfo.kt` (`getContentForSend`'s default template: from, text, SIM or title,
`SubId：n` or `UID：n`, receive time, device name), `service/NotificationService.kt` (an app
notification: from = package, text = `android.bigText` or `android.text`, title =
`android.title`), `receiver/CallReceiver.kt` and `utils/PhoneUtils.kt` `getCallMsg` (a call's
text: `Contact:`, `Call date: `, `Ring duration: `, `Call Type: ` lines), and
`res/values*/strings.xml` (the English and Chinese strings of those lines, the test message).
They are signed with SECRET at 2026-11-25 21:59Z, a minute before QUIET.
"""

from __future__ import annotations

import json
import textwrap
import urllib.parse
from collections.abc import Callable, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pydantic
import pytest

from guardian.models import Notification
from guardian.plugin import BadRequest, IncomingMessage, InvalidFields, PluginRegistry, Unauthorized
from guardian.settings import Settings, load_settings
from guardian.testing import PluginCase, SignedRequest, conformance_tests
from plugins.signal import envelope_message
from plugins.sms_forwarder import SmsForwarderPlugin, SmsForwarderSettings, sign
from tests.conftest import Running, free_port
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

SECRET = "SECc7f2a91e4b"
TOKEN = "sf-bearer-5d0c2e8a"
NETWORK = "sms_forwarder"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
JSON = {"Content-Type": "application/json"}


def forwarder(**settings: Any) -> SmsForwarderPlugin:
    return plugin(SmsForwarderPlugin, **(settings or {"secret": SECRET}))


async def read(name: str, **settings: Any) -> list[IncomingMessage]:
    headers = JSON if name.endswith(".json") else FORM
    request = hook_request(golden(NETWORK, name), headers)
    return list((await forwarder(**settings).receive(request)).messages)


def millis(at: datetime) -> str:
    return str(int(at.timestamp() * 1000))


def quoted_sign(at: datetime, secret: str = SECRET) -> str:
    """`sign` as the app puts it into a request: URLEncoder-encoded base64."""
    return urllib.parse.quote_plus(sign(secret, millis(at)))


def template(document: Mapping[str, str], at: datetime, secret: str = SECRET) -> bytes:
    """A JSON template body, signed at `at`, as Gson writes it."""
    signed = {**document, "timestamp": millis(at), "sign": quoted_sign(at, secret)}
    return json.dumps(signed, ensure_ascii=False).replace("'", "\\u0027").encode()


def golden_template(name: str, at: datetime) -> bytes:
    return template(golden_json(NETWORK, name), at)


# What each kind of forward becomes.


async def test_default_form_sms() -> None:
    assert await read("form_sms.txt") == [
        IncomingMessage(
            external_id=(await read("form_sms.txt"))[0].external_id,
            network="sms",
            sender_id="+31612345678",
            text="are you awake?",
            sent_at=datetime(2026, 11, 25, 21, 59, tzinfo=UTC),
            conversation_id="+31612345678",
        )
    ]


async def test_default_form_app_notification_reads_title_and_text_from_the_content() -> None:
    [message] = await read("form_whatsapp.txt")
    assert message.sender_address == "whatsapp:name:Sophie"
    assert message.sender_name == "Sophie"
    assert message.text == "are you awake? 😢\ncan we talk"


async def test_json_template_app_notification() -> None:
    [message] = await read("json_whatsapp.json")
    assert (message.network, message.sender_id) == ("whatsapp", "name:Sophie")
    assert message.text == "are you awake? 😢"
    assert message.sent_at == datetime(2026, 11, 25, 21, 59, 10, tzinfo=UTC)
    assert message.external_id.startswith("sf-")


@pytest.mark.parametrize(
    ("name", "address", "sender_name", "text"),
    [
        ("json_whatsapp_unknown_number.json", "whatsapp:31612345678", "+31 6 12345678", None),
        ("json_signal_app.json", "signal:name:Sophie", "Sophie", "are you there?"),
        ("json_google_messages.json", "sms:name:Sophie", "Sophie", "please answer"),
        ("json_missed_call.json", "sms:+31612345678", "Sophie", "[missed call]"),
        ("json_missed_call_zh.json", "sms:+31612345678", "Sophie", "[missed call]"),
    ],
)
async def test_the_sender_follows_from_the_app_and_title(
    name: str, address: str, sender_name: str, text: str | None
) -> None:
    [message] = await read(name)
    assert message.sender_address == address
    assert message.sender_name == sender_name
    if text is not None:
        assert message.text == text


NON_MESSAGES = [
    "json_call_ended.json",  # a call that was answered
    "json_test_message.json",  # the app's Test button
    "json_media_player.json",  # not a messaging app
    "json_whatsapp_summary.json",  # the app's own summary of several chats
    "json_automation_notice.json",  # SmsForwarder's own automations
]


@pytest.mark.parametrize("name", NON_MESSAGES)
async def test_forwards_that_are_no_ones_message_yield_nothing(name: str) -> None:
    assert await read(name) == []


async def test_a_source_can_add_a_messaging_app() -> None:
    body = golden(NETWORK, "json_media_player.json")
    settings = {"secret": SECRET, "apps": {"com.spotify.music": "spotify"}}
    [message] = (await forwarder(**settings).receive(hook_request(body, JSON))).messages
    assert message.sender_address == "spotify:name:Blinding Lights"


async def test_a_get_with_a_query_template() -> None:
    query = (GOLDEN_DIR / "get_query.txt").read_text().strip()
    request = hook_request(method="GET", url=f"http://127.0.0.1/hooks/test-source{query}")
    [message] = (await forwarder().receive(request)).messages
    assert message.sender_address == "sms:+31612345678"
    assert message.text == "are you awake?"


GOLDEN_DIR = Path(__file__).parent / NETWORK


# Duplicates: the app sends no id, so one is derived from the message.


async def test_a_resend_with_a_new_timestamp_is_the_same_message() -> None:
    document = golden_json(NETWORK, "json_whatsapp.json")
    first = template(document, QUIET - timedelta(minutes=1))
    again = template(document, QUIET)
    [one] = (await forwarder().receive(hook_request(first, JSON))).messages
    [two] = (await forwarder().receive(hook_request(again, JSON))).messages
    assert one.external_id == two.external_id


async def test_the_same_text_received_later_is_another_message() -> None:
    document = golden_json(NETWORK, "json_whatsapp.json")
    later = template({**document, "receive_time": "2026-11-25 23:10:00"}, QUIET)
    [one] = await read("json_whatsapp.json")
    [two] = (await forwarder().receive(hook_request(later, JSON))).messages
    assert one.external_id != two.external_id


# Authentication.


@pytest.mark.parametrize(
    "tamper",
    [
        "no-sign",
        "no-timestamp",
        "wrong-secret",
        "older-than-an-hour",
        "an-hour-ahead",
        "timestamp-not-a-number",
        "sign-of-another-timestamp",
        "garbage-sign",
    ],
)
async def test_a_bad_sign_is_refused(tamper: str) -> None:
    document = dict(golden_json(NETWORK, "json_whatsapp.json"))
    at = QUIET - timedelta(minutes=1)
    body = template(document, at)
    fields = json.loads(body)
    if tamper == "no-sign":
        del fields["sign"]
    elif tamper == "no-timestamp":
        del fields["timestamp"]
    elif tamper == "wrong-secret":
        fields["sign"] = quoted_sign(at, "another-secret")
    elif tamper == "older-than-an-hour":
        stale = QUIET - timedelta(hours=1, seconds=1)
        fields.update(timestamp=millis(stale), sign=quoted_sign(stale))
    elif tamper == "an-hour-ahead":
        ahead = QUIET + timedelta(hours=1, seconds=1)
        fields.update(timestamp=millis(ahead), sign=quoted_sign(ahead))
    elif tamper == "timestamp-not-a-number":
        fields["timestamp"] = "soon"
    elif tamper == "sign-of-another-timestamp":
        fields["timestamp"] = str(int(fields["timestamp"]) + 1)
    elif tamper == "garbage-sign":
        fields["sign"] = "%E2%9C%93%FF"
    with pytest.raises(Unauthorized) as refused:
        await forwarder().receive(hook_request(json.dumps(fields).encode(), JSON))
    assert SECRET not in str(refused.value.detail)


@pytest.mark.parametrize("layers", [0, 1, 2, 3])
async def test_sign_is_accepted_however_often_it_was_url_encoded(layers: int) -> None:
    at = QUIET - timedelta(minutes=1)
    value = sign(SECRET, millis(at))
    for _ in range(layers):
        value = urllib.parse.quote(value, safe="")
    document = {**golden_json(NETWORK, "json_whatsapp.json"), "timestamp": millis(at)}
    body = json.dumps({**document, "sign": value}).encode()
    assert len((await forwarder().receive(hook_request(body, JSON))).messages) == 1


async def test_a_bearer_token_instead_of_the_secret() -> None:
    body = json.dumps({"from": "+31612345678", "org_content": "hi"}).encode()
    token_only = forwarder(token=TOKEN)
    ok = await token_only.receive(hook_request(body, {"Authorization": f"Bearer {TOKEN}"}))
    assert [m.sender_address for m in ok.messages] == ["sms:+31612345678"]
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": TOKEN}):
        with pytest.raises(Unauthorized):
            await token_only.receive(hook_request(body, headers))


async def test_with_a_token_and_a_secret_both_are_checked() -> None:
    both = forwarder(secret=SECRET, token=TOKEN)
    body = golden(NETWORK, "json_whatsapp.json")
    with pytest.raises(Unauthorized, match="Bearer"):
        await both.receive(hook_request(body, JSON))
    unsigned = json.dumps({"from": "+31612345678", "org_content": "hi"}).encode()
    with pytest.raises(Unauthorized, match="sign"):
        await both.receive(hook_request(unsigned, {"Authorization": f"Bearer {TOKEN}"}))
    signed = {"Authorization": f"Bearer {TOKEN}", **JSON}
    assert len((await both.receive(hook_request(body, signed))).messages) == 1


# Bad input.


async def test_an_unescaped_quote_in_from_is_a_clear_400() -> None:
    with pytest.raises(BadRequest) as refused:
        await read("template_with_unescaped_from.txt")
    assert "[from]" in str(refused.value.detail)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        (b"[1, 2]", BadRequest),
        (b"just some text", BadRequest),
        (b"\xff\xfe", BadRequest),
        (b'{"org_content": "no sender"}', InvalidFields),
    ],
    ids=["json-array", "plain-text", "not-utf8", "no-from"],
)
async def test_unreadable_forwards(body: bytes, error: type[Exception]) -> None:
    with pytest.raises(error):
        await forwarder(token=TOKEN).receive(
            hook_request(body, {"Authorization": f"Bearer {TOKEN}"})
        )


def test_settings_need_a_secret_or_a_token_and_hide_them() -> None:
    with pytest.raises(pydantic.ValidationError, match="secret"):
        SmsForwarderSettings()
    settings = SmsForwarderSettings(secret=SECRET, token=TOKEN)
    assert SECRET not in repr(settings) and TOKEN not in repr(settings)
    with pytest.raises(pydantic.ValidationError, match="apps"):
        SmsForwarderSettings(secret=SECRET, apps={"com.example": "Not A Network"})


# End to end, through /hooks, and one person across networks.


async def test_a_signed_sms_is_held_and_a_retry_is_a_duplicate(
    write_settings: Callable[..., Settings], start_guardian: Start
) -> None:
    guardian = await start_with_source(
        write_settings,
        start_guardian,
        f"""
        id = "mia-android"
        plugin = "sms_forwarder"
        secret = "{SECRET}"
        """,
    )
    body = golden(NETWORK, "form_sms.txt")
    response = await guardian.client.post("/hooks/mia-android", data=body, headers=FORM)
    assert response.status == 202, await response.text()
    assert await response.json() == {"accepted": 1, "duplicates": 0}
    stored = await only_notification()
    assert stored.status == "held"
    assert stored.sender_address == "sms:+31612345678"
    assert stored.contact is not None and stored.contact.slug == "sophie"
    again = await guardian.client.post("/hooks/mia-android", data=body, headers=FORM)
    assert await again.json() == {"accepted": 0, "duplicates": 1}
    broken = await guardian.client.post(
        "/hooks/mia-android", data=golden(NETWORK, "template_with_unescaped_from.txt"), headers=JSON
    )
    assert broken.status == 400
    assert (await broken.json())["error"] == "bad_request"
    forged = await guardian.client.post(
        "/hooks/mia-android", data=body.replace(b"sign=", b"sign=x"), headers=FORM
    )
    assert forged.status == 401
    assert SECRET not in await forged.text()


SOPHIE_UUID = "3f0c8e52-5d7b-4d7e-9a61-2b8f4c1e9d07"


def one_person_settings(folder: Path) -> Settings:
    """Sophie known by her number, by the name WhatsApp shows, and nothing on Signal."""
    path = folder / "settings.toml"
    path.write_text(
        textwrap.dedent(
            f"""
            [server]
            port = {free_port()}

            [database]
            url = "sqlite://{folder / "guardian.db"}"

            [household]
            name = "One person"
            timezone = "Europe/Amsterdam"

            [[members]]
            id = "mia"
            name = "Mia"
            role = "child"
            policy = "night"

            [[contacts]]
            id = "sophie"
            name = "Sophie"
            addresses = ["sms:+31612345678", "whatsapp:name:Sophie"]

            [policies.night]
            quiet = [{{ days = "mon-sun", start = "21:30", end = "07:00" }}]

            [[sources]]
            id = "mia-android"
            plugin = "sms_forwarder"
            member = "mia"
            secret = "{SECRET}"

            [[sources]]
            id = "mia-relay"
            plugin = "webhook"
            member = "mia"
            token = "{TOKEN}"
            """
        )
    )
    return load_settings(path, PluginRegistry.discover().settings_models())


async def test_sophie_on_sms_whatsapp_and_signal_is_one_person(
    tmp_path: Path, start_guardian: Start
) -> None:
    guardian: Running = await start_guardian(one_person_settings(tmp_path), QUIET)
    for name, headers in (("form_sms.txt", FORM), ("json_whatsapp.json", JSON)):
        reply = await guardian.client.post(
            "/hooks/mia-android", data=golden(NETWORK, name), headers=headers
        )
        assert reply.status == 202, await reply.text()
    # A Signal message as the signal plugin reads it (its number shown), handed to Guardian
    # with the same address through the webhook plugin: the core's contact matching decides.
    envelope = golden_json("signal", "data_message.json")["envelope"]
    read = envelope_message(envelope, account="+31600000001")
    assert read is not None
    relayed = {
        "id": read.external_id,
        "network": read.network,
        "from": {"id": read.sender_id, "name": read.sender_name},
        "text": read.text,
    }
    reply = await guardian.client.post(
        "/hooks/mia-relay", json=relayed, headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert reply.status == 202, await reply.text()
    stored = await Notification.all().order_by("received_at").prefetch_related("contact")
    assert [(n.network, n.sender_address) for n in stored] == [
        ("sms", "sms:+31612345678"),
        ("whatsapp", "whatsapp:name:Sophie"),
        ("signal", f"signal:{SOPHIE_UUID}/+31612345678"),
    ]
    assert {n.contact.slug if n.contact else None for n in stored} == {"sophie"}
    # One person: bursts, repeated contact and storms count her messages together.
    [key] = {n.sender_key for n in stored}
    assert key.startswith("contact:")


# The conformance suite (guardian.testing), with requests built from the golden payloads.


def message(unique: str, at: datetime) -> SignedRequest:
    document = {**golden_json(NETWORK, "json_whatsapp.json"), "org_content": f"hi {unique}"}
    return SignedRequest(headers=JSON, body=template(document, at))


CASE = PluginCase(
    plugin=SmsForwarderPlugin,
    settings={"secret": SECRET},
    secrets=[SECRET],
    message=message,
    non_messages=lambda at: [
        SignedRequest(headers=JSON, body=golden_template(name, at)) for name in NON_MESSAGES
    ],
    forge=lambda request: SignedRequest(
        headers=request.headers,
        body=json.dumps({**json.loads(request.body), "sign": "AAAA"}).encode(),
    ),
    unsign=lambda request: SignedRequest(
        headers=request.headers,
        body=json.dumps(
            {k: v for k, v in json.loads(request.body).items() if k != "sign"}
        ).encode(),
    ),
    stale=lambda unique, at: message(unique, at - timedelta(hours=2)),
)

test_conformance = conformance_tests(CASE)


def bearer(request: SignedRequest) -> SignedRequest:
    return with_headers(request, {"Authorization": f"Bearer {TOKEN}"})


TOKEN_CASE = PluginCase(
    plugin=SmsForwarderPlugin,
    settings={"token": TOKEN},
    secrets=[TOKEN],
    message=lambda unique, at: bearer(message(unique, at)),
    non_messages=lambda at: [bearer(r) for r in CASE.non_messages(at)],
    forge=lambda request: with_headers(request, {"Authorization": "Bearer " + TOKEN[::-1]}),
    unsign=lambda request: with_headers(request, {"Authorization": None}),
)

test_conformance_with_a_token = conformance_tests(TOKEN_CASE)
