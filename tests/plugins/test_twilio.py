"""The Twilio plugin: form webhooks, X-Twilio-Signature (Twilio's documented vector), TwiML, e2e."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import datetime
from urllib.parse import parse_qsl, urlencode

import pydantic
import pytest

from guardian.plugin import BadRequest, IncomingMessage, InvalidFields, Unauthorized
from guardian.settings import Settings
from guardian.testing import SOURCE_ID, PluginCase, SignedRequest, Signing, conformance_tests
from plugins.twilio import EMPTY_TWIML, HEADER, TwilioPlugin, TwilioSettings, signature
from tests.plugins import (
    HOOK_URL,
    QUIET,
    Start,
    golden_json,
    hook_request,
    only_notification,
    plugin,
    start_with_source,
    with_headers,
)

AUTH_TOKEN = "12345"  # the auth token of Twilio's docs example
NETWORK = "twilio"
FORM = {"Content-Type": "application/x-www-form-urlencoded"}

# Twilio's "Webhooks security" example: a voice call's parameters, posted to this URL.
DOC_URL = "https://mycompany.com/myapp.php?foo=1&bar=2"
DOC_PARAMS = {
    "CallSid": "CA1234567890ABCDE",
    "Caller": "+12349013030",
    "Digits": "1234",
    "From": "+12349013030",
    "To": "+18005551212",
}
DOC_SIGNATURE = "0/KCTR6DLpKmkAf8muzZqo1nDgQ="


def twilio(**settings: str) -> TwilioPlugin:
    return plugin(TwilioPlugin, auth_token=AUTH_TOKEN, **settings)


def form(name: str) -> tuple[bytes, dict[str, str]]:
    """A golden payload as Twilio posts it, and its parameters."""
    params: dict[str, str] = golden_json(NETWORK, name)
    return urlencode(params).encode(), params


def signed(url: str, params: dict[str, str], token: str = AUTH_TOKEN) -> dict[str, str]:
    return {HEADER: signature(token, url, params.items()), **FORM}


async def read(name: str) -> list[IncomingMessage]:
    body, params = form(name)
    received = await twilio().receive(hook_request(body, signed(HOOK_URL, params)))
    return list(received.messages)


def test_twilios_documented_signature_vector() -> None:
    assert signature(AUTH_TOKEN, DOC_URL, DOC_PARAMS.items()) == DOC_SIGNATURE


async def test_the_plugin_accepts_twilios_documented_request() -> None:
    # Posted in another order than signed: the signature sorts the parameters by name.
    body = urlencode(dict(reversed(DOC_PARAMS.items()))).encode()
    headers = {HEADER: DOC_SIGNATURE, **FORM}
    for source in (twilio(), twilio(public_url=DOC_URL)):
        url = DOC_URL if source.settings.public_url is None else HOOK_URL
        received = await source.receive(hook_request(body, headers, url=url))
        assert received.messages == []  # a voice call, not an SMS
        assert received.reply is not None
    with pytest.raises(Unauthorized):
        await twilio().receive(hook_request(body.replace(b"1234", b"1235"), headers, url=DOC_URL))


async def test_sms() -> None:
    assert await read("sms.json") == [
        IncomingMessage(
            external_id="SM1f0e8ae6ade43cb3c0ce4525424e404f",
            network="sms",
            sender_id="+31612345678",
            text="are you awake? it's late & I can't sleep",
            conversation_id="+31612345678",
        )
    ]


async def test_mms_without_text_is_a_placeholder() -> None:
    [message] = await read("mms.json")
    assert message.text == "[image]"
    assert message.sender_address == "sms:+14155550123"


async def test_whatsapp_through_twilio_is_whatsapp() -> None:
    [message] = await read("whatsapp.json")
    assert message.sender_address == "whatsapp:31612345678"
    assert message.sender_name == "Sophie"
    assert message.text == "did you see my message?"


async def test_status_callback_yields_nothing_but_twiml() -> None:
    body, params = form("status_callback.json")
    received = await twilio().receive(hook_request(body, signed(HOOK_URL, params)))
    assert received.messages == []
    assert received.reply is not None


async def test_reply_is_empty_twiml() -> None:
    body, params = form("sms.json")
    received = await twilio().receive(hook_request(body, signed(HOOK_URL, params)))
    reply = received.reply
    assert reply is not None
    assert reply.status == 200
    assert reply.content_type == "text/xml"
    assert reply.body == EMPTY_TWIML.encode()  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("signed_url", "request_url"),
    [
        ("https://guardian.example.org/hooks/x", "https://guardian.example.org:443/hooks/x"),
        ("https://guardian.example.org:443/hooks/x", "https://guardian.example.org/hooks/x"),
    ],
)
async def test_the_default_port_may_be_written_or_not(signed_url: str, request_url: str) -> None:
    body, params = form("sms.json")
    request = hook_request(body, signed(signed_url, params), url=request_url)
    assert len((await twilio().receive(request)).messages) == 1


async def test_behind_a_proxy_the_public_url_is_signed() -> None:
    body, params = form("sms.json")
    public = "https://guardian.example.org/hooks/mia-twilio"
    request = hook_request(
        body, signed(public, params), url="http://10.0.0.5:8080/hooks/mia-twilio"
    )
    assert len((await twilio(public_url=public).receive(request)).messages) == 1
    with pytest.raises(Unauthorized):
        await twilio().receive(request)


async def test_get_webhooks_sign_the_query_string() -> None:
    params = golden_json(NETWORK, "sms.json")
    url = f"{HOOK_URL}?{urlencode(params)}"
    request = hook_request(method="GET", url=url, headers={HEADER: signature(AUTH_TOKEN, url)})
    [message] = (await twilio().receive(request)).messages
    assert message.external_id == params["MessageSid"]


@pytest.mark.parametrize(
    ("params", "error"),
    [
        ({"Body": "hi", "From": "+31612345678"}, InvalidFields),
        ({"MessageSid": "SM1", "Body": "hi"}, InvalidFields),
        ({"MessageSid": "SM" + "1" * 300, "From": "+31612345678"}, InvalidFields),
    ],
    ids=["no-sid", "no-from", "sid-too-long"],
)
async def test_invalid_fields(params: dict[str, str], error: type[Exception]) -> None:
    body = urlencode(params).encode()
    with pytest.raises(error):
        await twilio().receive(hook_request(body, signed(HOOK_URL, params)))


async def test_a_body_that_is_not_utf8_is_a_bad_request() -> None:
    headers = {HEADER: signature(AUTH_TOKEN, HOOK_URL), **FORM}
    with pytest.raises(BadRequest):
        await twilio().receive(hook_request(b"Body=%ff\xff", headers))


def test_settings_hide_the_token_and_check_the_url() -> None:
    settings = TwilioSettings(auth_token="s3cr3t-auth-token")
    assert "s3cr3t-auth-token" not in repr(settings)
    assert AUTH_TOKEN not in repr(twilio())
    with pytest.raises(pydantic.ValidationError, match="public_url"):
        TwilioSettings(auth_token="x", public_url="guardian.example.org/hooks")
    with pytest.raises(pydantic.ValidationError, match="auth_token"):
        TwilioSettings()  # type: ignore[call-arg]


async def test_signed_sms_is_held_end_to_end(
    write_settings: Callable[..., Settings], start_guardian: Start
) -> None:
    guardian = await start_with_source(
        write_settings,
        start_guardian,
        f"""
        id = "mia-twilio"
        plugin = "twilio"
        auth_token = "{AUTH_TOKEN}"
        """,
    )
    body, params = form("sms.json")
    url = str(guardian.client.make_url("/hooks/mia-twilio"))
    response = await guardian.client.post(
        "/hooks/mia-twilio", data=body, headers=signed(url, params)
    )
    assert response.status == 200
    assert response.content_type == "text/xml"
    assert await response.text() == EMPTY_TWIML
    stored = await only_notification()
    assert stored.status == "held"
    assert stored.member.slug == "mia"
    assert (stored.network, stored.external_id) == ("sms", params["MessageSid"])
    assert stored.sender_address == "sms:+31612345678"
    assert stored.contact is not None and stored.contact.slug == "sophie"
    assert stored.text == "are you awake? it's late & I can't sleep"
    assert stored.sent_at == QUIET  # Twilio does not say when it was sent

    again = await guardian.client.post("/hooks/mia-twilio", data=body, headers=signed(url, params))
    assert again.status == 200
    assert await only_notification()  # still one: the retry was a duplicate


async def test_behind_a_proxy_end_to_end(
    write_settings: Callable[..., Settings], start_guardian: Start
) -> None:
    public = "https://guardian.example.org/hooks/mia-twilio"
    guardian = await start_with_source(
        write_settings,
        start_guardian,
        f"""
        id = "mia-twilio"
        plugin = "twilio"
        auth_token = "{AUTH_TOKEN}"
        public_url = "{public}"
        """,
    )
    body, params = form("sms.json")
    response = await guardian.client.post(
        "/hooks/mia-twilio", data=body, headers=signed(public, params)
    )
    assert response.status == 200
    assert (await only_notification()).status == "held"


# The conformance suite (guardian.testing), with requests built from the golden payloads.
# Twilio signs the URL it calls: the kit serves the plugin as if behind a proxy at PUBLIC.

PUBLIC = "https://guardian.example.org"
PUBLIC_HOOK = f"{PUBLIC}/hooks/{SOURCE_ID}"


def signed_form(params: dict[str, str], url: str = PUBLIC_HOOK) -> SignedRequest:
    return SignedRequest(headers=signed(url, params), body=urlencode(params).encode())


def signed_form_body(
    body: bytes, url: str = PUBLIC_HOOK, token: str = AUTH_TOKEN, path: str = ""
) -> SignedRequest:
    """Any body, signed over the parameters Twilio's signature covers as they parse from it."""
    params = dict(parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True))
    return SignedRequest(headers=signed(url, params, token), body=body, path=path)


def sms(unique: str, at: datetime, url: str = PUBLIC_HOOK) -> SignedRequest:
    params: dict[str, str] = golden_json(NETWORK, "sms.json")
    params["MessageSid"] = params["SmsSid"] = params["SmsMessageSid"] = f"SM{unique}"
    return signed_form(params, url)


def non_messages(at: datetime, url: str = PUBLIC_HOOK) -> list[SignedRequest]:
    status_callback = golden_json(NETWORK, "status_callback.json")
    return [signed_form(status_callback, url), signed_form(DOC_PARAMS, url)]  # and a voice call


def forge(request: SignedRequest) -> SignedRequest:
    return with_headers(request, {HEADER: signature("not-the-auth-token", PUBLIC_HOOK)})


def signing(url: str) -> Signing:
    """How Twilio signs what it posts to `url`: over the URL and the parameters, sorted."""
    other_source = url.rsplit("/", 1)[0] + "/other-source"

    def query_dropped(unique: str, at: datetime) -> SignedRequest:
        # Signed over the URL with its query, sent without it.
        return signed_form_body(sms(unique, at, url).body, url + "?member=mia")

    return Signing(
        sign=lambda body, at, token: signed_form_body(body, url, token),
        secret=AUTH_TOKEN,
        header=HEADER,
        particular={
            "param-added": lambda unique, at: replace(
                sms(unique, at, url), body=sms(unique, at, url).body + b"&Extra=1"
            ),
            "other-url": lambda unique, at: sms(unique, at, other_source),
            "query-dropped": query_dropped,
        },
    )


CASE = PluginCase(
    plugin=TwilioPlugin,
    settings={"auth_token": AUTH_TOKEN},
    secrets=[AUTH_TOKEN],
    message=sms,
    non_messages=non_messages,
    forge=forge,
    unsign=lambda request: with_headers(request, {HEADER: None}),
    stale=None,  # Twilio signs no timestamp
    accepted_status=200,
    public_url=PUBLIC,
    sign=lambda body, at: signed_form_body(body),
    signing=signing(PUBLIC_HOOK),
)

#: The same, with the URL Twilio calls given in the plugin's own `public_url` setting instead.
CONFIGURED = "https://proxy.example.net/guardian/twilio"
CASE_WITH_PUBLIC_URL = replace(
    CASE,
    settings={"auth_token": AUTH_TOKEN, "public_url": CONFIGURED},
    message=lambda unique, at: sms(unique, at, CONFIGURED),
    non_messages=lambda at: non_messages(at, CONFIGURED),
    public_url=None,
    signing=signing(CONFIGURED),
)

test_conformance = conformance_tests(CASE)
test_conformance_with_public_url = conformance_tests(CASE_WITH_PUBLIC_URL)
