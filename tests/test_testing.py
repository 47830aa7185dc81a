"""guardian.testing: the built-in `webhook` passes the conformance suite, and the suite has teeth:
each way a plugin can get it wrong fails exactly the checks it should."""

from __future__ import annotations

import base64
import itertools
import json
import re
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from pydantic import SecretStr, model_validator

from guardian.plugin import (
    HookRequest,
    PluginContext,
    PluginSettings,
    PushPlugin,
    Received,
    Unauthorized,
)
from guardian.signatures import signed_headers
from guardian.testing import (
    CONFORMANCE_NOW,
    PluginCase,
    SignedRequest,
    Signing,
    check_conformance,
    check_settings_errors,
    conformance_checks,
    conformance_tests,
    mount,
)
from guardian.webhook_format import parse_body
from plugins.webhook import WebhookPlugin, WebhookSettings
from tests.conftest import SECRET, TOKEN

KEY = SECRET.removeprefix("whsec_")  # the key itself is as secret as the whsec_ form


def webhook_body(unique: str, **fields: Any) -> bytes:
    body = {
        "id": f"msg-{unique}",
        "network": "sms",
        "from": {"id": "+31612345678", "name": "Sophie"},
        "conversation": {"id": "chat-42", "title": "Sophie"},
        "text": "are you awake?",
        **fields,
    }
    return json.dumps(body).encode()


def signed(unique: str, now: datetime) -> SignedRequest:
    body = webhook_body(unique)
    return SignedRequest(headers=signed_headers(SECRET, f"wh-{unique}", now, body), body=body)


def forge(request: SignedRequest) -> SignedRequest:
    headers = dict(request.headers)
    headers["webhook-signature"] = "v1,Zm9yZ2VkLXNpZ25hdHVyZS1vZi0zMi1ieXRlcy0hIQ=="
    return replace(request, headers=headers)


def unsign(request: SignedRequest) -> SignedRequest:
    headers = {k: v for k, v in request.headers.items() if k != "webhook-signature"}
    return replace(request, headers=headers)


def stale(unique: str, now: datetime) -> SignedRequest:
    return signed(unique, now - timedelta(minutes=6))


WEBHOOK = PluginCase(
    plugin=WebhookPlugin,
    settings={"secret": SECRET},
    secrets=[SECRET, KEY],
    message=signed,
    non_messages=lambda now: [],  # every webhook body is messages; there is nothing else to send
    forge=forge,
    unsign=unsign,
    stale=stale,
    sign=lambda body, now: SignedRequest(
        headers=signed_headers(SECRET, f"wh-{hash(body)}", now, body), body=body
    ),
)


def webhook_signed(body: bytes, now: datetime, secret: str) -> SignedRequest:
    """Signed as Standard Webhooks sign, with `secret` put in its `whsec_` form if it is not."""
    if not secret.startswith("whsec_"):
        secret = "whsec_" + base64.b64encode(secret.encode().ljust(24, b"-")).decode()
    return SignedRequest(headers=signed_headers(secret, f"wh-{hash(body)}", now, body), body=body)


#: The webhook with its signing told: it gets the tampering table too.
WEBHOOK_SIGNED = replace(
    WEBHOOK,
    signing=Signing(
        sign=webhook_signed,
        secret=SECRET,
        header="webhook-signature",
        timestamp_header="webhook-timestamp",
        tolerance=timedelta(minutes=5),
    ),
)
TAMPERING = [
    "wrong-secret-401",
    "signature-in-another-header-401",
    "body-changed-401",
    "missing-timestamp-401",
    "timestamp-not-a-number-401",
    "timestamp-not-an-integer-401",
    "timestamp-not-the-signed-one-401",
    "signed-before-tolerance-401",
    "signed-after-tolerance-401",
]


def bearer(unique: str, now: datetime) -> SignedRequest:
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    return SignedRequest(headers=headers, body=webhook_body(unique))


WEBHOOK_TOKEN = PluginCase(
    plugin=WebhookPlugin,
    settings={"token": TOKEN},
    secrets=[TOKEN],
    message=bearer,
    non_messages=lambda now: [],
    forge=lambda r: replace(r, headers={**r.headers, "Authorization": f"Bearer {TOKEN}x"}),
    unsign=lambda r: replace(r, headers={"Content-Type": "application/json"}),
)


GARBLED = "garbled-signature-401"


async def test_webhook_passes_the_conformance_suite(tmp_path: Path) -> None:
    await check_conformance(WEBHOOK, tmp_path)


async def test_webhook_answers_a_garbled_signature_with_401(tmp_path: Path) -> None:
    # Header bytes that are not UTF-8 reach a plugin as surrogates, which `str.encode()`
    # refuses: every plugin encodes headers with errors="surrogateescape".
    await check_conformance(WEBHOOK, tmp_path, only=[GARBLED])


# One test per check, as a plugin author writes it: one line.
test_webhook_token_conformance = conformance_tests(WEBHOOK_TOKEN)


def test_the_checks_a_case_gets() -> None:
    assert conformance_checks(WEBHOOK) == [
        "message-accepted",
        "replay-is-duplicate",
        "forged-signature-401",
        "missing-signature-401",
        "garbled-signature-401",
        "stale-signature-401",
        "non-messages-store-nothing",
        "secrets-stay-secret",
        "settings-errors-name-the-field",
    ]
    assert "stale-signature-401" not in conformance_checks(WEBHOOK_TOKEN)
    assert conformance_checks(WEBHOOK_SIGNED) == [
        *conformance_checks(WEBHOOK)[:6],
        *TAMPERING,
        "signed-within-tolerance-accepted",
        *conformance_checks(WEBHOOK)[6:],
    ]
    untimed = replace(WEBHOOK_SIGNED.signing, timestamp_header=None, covers_body=False)
    assert conformance_checks(replace(WEBHOOK_SIGNED, signing=untimed))[6:8] == [
        "wrong-secret-401",
        "signature-in-another-header-401",
    ]


async def test_the_webhook_passes_the_tampering_table(tmp_path: Path) -> None:
    await check_conformance(WEBHOOK_SIGNED, tmp_path)


def test_a_particular_tampering_adds_a_check_of_its_own() -> None:
    assert WEBHOOK_SIGNED.signing is not None

    def unsigned_id(unique: str, now: datetime) -> SignedRequest:
        request = signed(unique, now)
        return replace(request, headers={**request.headers, "webhook-id": "wh-other"})

    own = replace(WEBHOOK_SIGNED.signing, particular={"other-id": unsigned_id})
    assert "other-id-401" in conformance_checks(replace(WEBHOOK_SIGNED, signing=own))
    clash = replace(WEBHOOK_SIGNED.signing, particular={"wrong-secret": unsigned_id})
    with pytest.raises(ValueError, match="one of the suite's own"):
        conformance_checks(replace(WEBHOOK_SIGNED, signing=clash))


async def test_unknown_check_names_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown conformance checks"):
        await check_conformance(WEBHOOK_TOKEN, tmp_path, only=["stale-signature-401"])
    with pytest.raises(ValueError, match="unknown conformance checks"):
        conformance_tests(WEBHOOK_TOKEN, known_failures={"stale-signature-401": "none"})


# The harness.


async def test_mount_serves_the_plugin_and_gives_the_notifications_back(tmp_path: Path) -> None:
    async with mount(
        WebhookPlugin, {"secret": SECRET}, now=CONFORMANCE_NOW, folder=tmp_path
    ) as guardian:
        status, headers, body = await guardian.send(signed("one", CONFORMANCE_NOW))
        assert status == 202
        assert headers["Content-Type"].startswith("application/json")
        assert json.loads(body) == {"accepted": 1, "duplicates": 0}
        [stored] = await guardian.notifications()
        assert stored.external_id == "msg-one"
        assert stored.network == "sms"
        assert stored.sender_address == "sms:+31612345678"
        assert stored.sender_id == "+31612345678"
        assert stored.sender_name == "Sophie"
        assert stored.text == "are you awake?"
        assert (stored.conversation_id, stored.conversation_title) == ("chat-42", "Sophie")
        assert stored.member == "mia"
        assert stored.status == "held"  # the kit's member is always in quiet hours
        assert stored.received_at == CONFORMANCE_NOW
        assert guardian.clock.now() == CONFORMANCE_NOW
        assert repr(guardian.plugin) == "<WebhookPlugin source='under-test'>"
        assert guardian.url("?a=b").endswith("/hooks/under-test?a=b")
        assert guardian.url().startswith("http://127.0.0.1:")
        forged = await guardian.send(forge(signed("two", CONFORMANCE_NOW)))
        assert forged.status == 401
        assert guardian.error_replies == [forged]
        assert json.loads(forged.body)["error"] == "unauthorized"
    assert "seeded household" in guardian.logs
    supervisor = guardian.service.supervisor  # the app was shut down through its cleanup
    assert supervisor is not None and supervisor.tasks
    assert all(state.task is not None and state.task.done() for state in supervisor.tasks.values())


async def test_mount_refuses_settings_the_plugin_refuses(tmp_path: Path) -> None:
    with pytest.raises(AssertionError, match=r"not valid: \['\(root\): a webhook source needs"):
        async with mount(WebhookPlugin, {}, now=CONFORMANCE_NOW, folder=tmp_path):
            pass


class UrlEcho(PushPlugin[WebhookSettings]):
    """Answers with the URL it was reached at, as a plugin that signs over the URL sees it."""

    settings_model = WebhookSettings

    async def receive(self, request: HookRequest) -> Received:
        self.log.debug("reached at %s", request.url)
        return Received(reply=web.Response(text=request.url))


@pytest.mark.parametrize(
    ("public_url", "expected"),
    [
        (None, None),
        ("https://guardian.example.org", "https://guardian.example.org/hooks/under-test?x=1"),
        (
            "https://example.org:8443/guardian/hooks/sms",
            "https://example.org:8443/guardian/hooks/sms?x=1",
        ),
    ],
    ids=["served-url", "public-origin", "public-hook-url"],
)
async def test_request_url_is_what_url_says(
    tmp_path: Path, public_url: str | None, expected: str | None
) -> None:
    async with mount(
        UrlEcho,
        {"token": TOKEN},
        now=CONFORMANCE_NOW,
        folder=tmp_path,
        public_url=public_url,
    ) as guardian:
        reply = await guardian.send(SignedRequest(path="?x=1"))
        assert reply.body.decode() == guardian.url("?x=1")
        if expected is not None:
            assert guardian.url("?x=1") == expected
    assert f"reached at {guardian.url('?x=1')}" in guardian.logs


# The suite's teeth: each flawed plugin fails exactly the checks named.


class Careless(WebhookPlugin):
    """Reads the body and never checks who sent it."""

    async def receive(self, request: HookRequest) -> Received:
        return Received(parse_body(request.body))


class Chatty(WebhookPlugin):
    """Logs its secret while debugging a signature."""

    async def receive(self, request: HookRequest) -> Received:
        assert self.settings.secret is not None
        self.log.debug("checking with %s", self.settings.secret.get_secret_value())
        return await super().receive(request)


class Telling(WebhookPlugin):
    """Puts the key in its 401 detail."""

    async def receive(self, request: HookRequest) -> Received:
        try:
            return await super().receive(request)
        except Unauthorized as error:
            raise Unauthorized(f"{error} (expected a signature with {KEY})") from None


class PlainSettings(PluginSettings):
    secret: str


class Plain(PushPlugin[PlainSettings]):
    """Keeps its secret in a plain `str` setting."""

    settings_model = PlainSettings

    async def receive(self, request: HookRequest) -> Received:
        settings = WebhookSettings(secret=SecretStr(self.settings.secret))
        context = PluginContext(self.context.source_id, settings, None, self.log)
        return await WebhookPlugin(context).receive(request)


class Forgetful(WebhookPlugin):
    """Makes up an id per delivery instead of taking the network's."""

    # A counter, not id(request): a freed request's id is reused by the next one, and then
    # the replay looked like the same delivery after all (a CI run caught it).
    deliveries = itertools.count()

    async def receive(self, request: HookRequest) -> Received:
        messages = (await super().receive(request)).messages
        delivery = next(self.deliveries)
        return Received([replace(m, external_id=f"{m.external_id}-{delivery}") for m in messages])


@pytest.mark.parametrize(
    ("case", "failing"),
    [
        (
            replace(WEBHOOK, plugin=Careless),
            {
                "forged-signature-401",
                "missing-signature-401",
                "garbled-signature-401",
                "stale-signature-401",
            },
        ),
        (
            replace(WEBHOOK_SIGNED, plugin=Careless),
            {
                "forged-signature-401",
                "missing-signature-401",
                "garbled-signature-401",
                "stale-signature-401",
                *TAMPERING,
            },
        ),
        (replace(WEBHOOK, plugin=Chatty), {"secrets-in-logs-or-error-bodies"}),
        (replace(WEBHOOK, plugin=Telling), {"secrets-in-logs-or-error-bodies"}),
        (replace(WEBHOOK, plugin=Plain), {"secrets-stay-secret"}),
        (replace(WEBHOOK, plugin=Forgetful), {"replay-is-duplicate"}),
        (
            replace(WEBHOOK, non_messages=lambda now: [signed("sneaky", now)]),
            {"non-messages-store-nothing"},
        ),
        (replace(WEBHOOK, accepted_status=200), {"message-accepted", "replay-is-duplicate"}),
    ],
    ids=[
        "no-auth",
        "no-auth-tampered",
        "logs-its-secret",
        "secret-in-401-body",
        "plain-str-secret",
        "no-dedup",
        "stores-a-non-message",
        "wrong-status",
    ],
)
async def test_the_suite_catches(case: PluginCase, failing: set[str], tmp_path: Path) -> None:
    # The webhook these build on fails the garbled check itself (above): left out unless named.
    checks = [name for name in conformance_checks(case) if name != GARBLED or name in failing]
    with pytest.raises(AssertionError) as raised:
        await check_conformance(case, tmp_path, only=checks)
    report = str(raised.value)
    assert set(re.findall(r"^  - ([a-z0-9-]+):", report, re.MULTILINE)) == failing, report
    for secret in case.secrets:
        assert secret not in report  # a leak is named without repeating the secret


class OptionalSecret(PluginSettings):
    secret: SecretStr | None = None


class VagueSettings(PluginSettings):
    key: SecretStr | None = None

    @model_validator(mode="after")
    def _needs_key(self) -> VagueSettings:
        if self.key is None:
            raise ValueError("credentials are missing")
        return self


class EchoingSettings(PluginSettings):
    key: SecretStr
    region: str

    @model_validator(mode="before")
    @classmethod
    def _region(cls, data: Any) -> Any:
        if isinstance(data, dict) and "region" not in data:
            raise ValueError(f"region: needed for the key {data.get('key')}")
        return data


def settings_case(model: type[PluginSettings], settings: dict[str, Any]) -> PluginCase:
    plugin = type(f"With{model.__name__}", (WebhookPlugin,), {"settings_model": model})
    return replace(WEBHOOK, plugin=plugin, settings=settings, secrets=["k3y-0f-the-l0ft"])


@pytest.mark.parametrize(
    ("case", "complaint"),
    [
        (
            settings_case(OptionalSecret, {"secret": "k3y-0f-the-l0ft"}),
            r"settings without any secret \['secret'\] were accepted",
        ),
        (
            settings_case(VagueSettings, {"key": "k3y-0f-the-l0ft"}),
            r"names none of \['key'\]: \['\(root\): credentials are missing'\]",
        ),
        (
            settings_case(EchoingSettings, {"key": "k3y-0f-the-l0ft", "region": "eu"}),
            r"secrets leaked: \[.secret k3y…\(15 characters\) in the error for settings "
            r"without the required 'region'",
        ),
        (
            replace(WEBHOOK, settings={"secret": "whsec_short"}),
            r"the case's own settings are refused: \['secret: not a whsec_ secret",
        ),
    ],
    ids=["runs-without-secret", "error-names-no-field", "error-echoes-secret", "invalid-case"],
)
def test_settings_errors_must_name_the_field(case: PluginCase, complaint: str) -> None:
    with pytest.raises(AssertionError, match=complaint):
        check_settings_errors(case)


def test_webhook_settings_errors_name_the_field() -> None:
    check_settings_errors(WEBHOOK)
    check_settings_errors(WEBHOOK_TOKEN)
