"""Every built-in network plugin, fed correctly signed but mangled golden payloads, answers with
messages or a HookError (400/401/413/422), never another exception (which would be a 500)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from typing import Any
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from guardian.plugin import HookError, HookRequest, PushPlugin
from plugins import (
    home_assistant,
    signal,
    slack,
    sms_forwarder,
    sms_gateway,
    telegram,
    twilio,
    whatsapp,
)
from tests.plugins import GOLDEN, QUIET, hook_request, plugin

STAMP = str(int(QUIET.timestamp()))

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Every path to a value inside a JSON document, the root included."""
    found = [prefix]
    if isinstance(value, dict):
        for key, child in value.items():
            found += paths(child, (*prefix, key))
    elif isinstance(value, list):
        for index, child in enumerate(value):
            found += paths(child, (*prefix, index))
    return found


DELETE = object()


def replaced(document: Any, path: tuple[Any, ...], new: Any) -> Any:
    """A copy of the document with the value at `path` replaced (or deleted: DELETE)."""
    if not path:
        return new
    copy = json.loads(json.dumps(document))
    parent = copy
    for part in path[:-1]:
        parent = parent[part]
    if new is DELETE:
        del parent[path[-1]]
    else:
        parent[path[-1]] = new
    return copy


@st.composite
def mangled(draw: st.DrawFn, network: str) -> Any:
    name = draw(st.sampled_from(sorted((GOLDEN / network).glob("*.json"))))
    document = json.loads(name.read_bytes())
    path = draw(st.sampled_from(paths(document)))
    if path and draw(st.booleans()):
        return replaced(document, path, DELETE)
    return replaced(document, path, draw(json_values))


Sign = Callable[[bytes], HookRequest]

NETWORKS: dict[str, tuple[PushPlugin[Any], Sign]] = {
    "telegram": (
        plugin(telegram.TelegramPlugin, secret_token="t0ken"),
        lambda body: hook_request(body, {telegram.HEADER: "t0ken"}),
    ),
    "slack": (
        plugin(slack.SlackPlugin, signing_secret="s3cret"),
        lambda body: hook_request(
            body,
            {
                "X-Slack-Request-Timestamp": STAMP,
                "X-Slack-Signature": slack.signature("s3cret", STAMP, body),
            },
        ),
    ),
    "whatsapp": (
        plugin(whatsapp.WhatsAppPlugin, app_secret="s3cret", verify_token="v"),
        lambda body: hook_request(body, {whatsapp.HEADER: whatsapp.signature("s3cret", body)}),
    ),
    "sms_gateway": (
        plugin(sms_gateway.SmsGatewayPlugin, signing_key="k3y"),
        lambda body: hook_request(
            body,
            {"X-Timestamp": STAMP, "X-Signature": sms_gateway.signature("k3y", body, STAMP)},
        ),
    ),
    # With a token, so that the mangled documents reach the reading (their `sign` is mangled too).
    "sms_forwarder": (
        plugin(sms_forwarder.SmsForwarderPlugin, token="t0ken"),
        lambda body: hook_request(body, {"Authorization": "Bearer t0ken"}),
    ),
}


def outcome(source: PushPlugin[Any], request: HookRequest) -> str:
    try:
        received = asyncio.run(source.receive(request))
    except HookError as error:
        return f"refused {error.status}"
    assert all(m.external_id and m.sender_id for m in received.messages)
    return "read"


@pytest.mark.parametrize("network", sorted(NETWORKS))
def test_mangled_json_payloads(network: str) -> None:
    source, sign = NETWORKS[network]

    @settings(
        max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
    )
    @given(document=mangled(network))
    def check(document: Any) -> None:
        outcome(source, sign(json.dumps(document).encode()))

    check()


def test_mangled_twilio_forms() -> None:
    source = plugin(twilio.TwilioPlugin, auth_token="t0ken")
    names = sorted((GOLDEN / "twilio").glob("*.json"))

    @settings(max_examples=150, deadline=None, database=None)
    @given(
        params=st.sampled_from(names).map(lambda name: json.loads(name.read_bytes())),
        changes=st.dictionaries(
            st.sampled_from(["MessageSid", "From", "Body", "NumMedia", "SmsStatus", "WaId"]),
            st.text(max_size=300),
            max_size=3,
        ),
    )
    def check(params: dict[str, str], changes: dict[str, str]) -> None:
        params = {**params, **changes}
        url = "http://127.0.0.1/hooks/test-source"
        headers = {twilio.HEADER: twilio.signature("t0ken", url, params.items())}
        outcome(source, hook_request(urlencode(params).encode(), headers, url=url))

    check()


GARBLED = "v0=sïgnåture\u00e9"  # headers arrive as text; a non-ASCII one must still be a 401
ARABIC_DIGITS = "١٧٩٥٦٤٤٠٠٠"  # str.isdigit() says yes, int() reads them: not a Unix time here


@pytest.mark.parametrize(
    ("source", "headers"),
    [
        (NETWORKS["telegram"][0], {telegram.HEADER: GARBLED}),
        (
            NETWORKS["slack"][0],
            {"X-Slack-Request-Timestamp": STAMP, "X-Slack-Signature": GARBLED},
        ),
        (
            NETWORKS["slack"][0],
            {"X-Slack-Request-Timestamp": ARABIC_DIGITS, "X-Slack-Signature": "v0=0"},
        ),
        (NETWORKS["whatsapp"][0], {whatsapp.HEADER: GARBLED}),
        (NETWORKS["sms_gateway"][0], {"X-Timestamp": STAMP, "X-Signature": GARBLED}),
        (plugin(twilio.TwilioPlugin, auth_token="t0ken"), {twilio.HEADER: GARBLED}),
        (NETWORKS["sms_forwarder"][0], {"Authorization": f"Bearer {GARBLED}"}),
        (
            plugin(sms_forwarder.SmsForwarderPlugin, secret="s3cret"),
            {"Content-Type": "application/json"},
        ),
    ],
    ids=[
        "telegram",
        "slack",
        "slack-arabic-digits",
        "whatsapp",
        "sms_gateway",
        "twilio",
        "sms_forwarder-token",
        "sms_forwarder-no-sign",
    ],
)
async def test_garbled_signature_headers_are_a_401(
    source: PushPlugin[Any], headers: dict[str, str]
) -> None:
    with pytest.raises(HookError) as raised:
        await source.receive(hook_request(b"{}", headers))
    assert raised.value.status == 401


PULL_READERS: dict[str, Callable[[Any], Any]] = {
    "signal": lambda frame: (
        signal.envelope_message(frame.get("envelope"), "+31600000001")
        if isinstance(frame, dict)
        else None
    ),
    "home_assistant": lambda state: (
        home_assistant.notification_messages(state["attributes"], {})
        if isinstance(state, dict) and isinstance(state.get("attributes"), dict)
        else None
    ),
}


@pytest.mark.parametrize("network", sorted(PULL_READERS))
def test_pull_plugins_read_or_skip_mangled_frames(network: str) -> None:
    """A frame a pull plugin cannot read is skipped: it must never stop the stream."""
    read = PULL_READERS[network]

    @settings(
        max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow]
    )
    @given(document=mangled(network))
    def check(document: Any) -> None:
        read(document)

    check()
