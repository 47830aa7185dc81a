"""The sources API and page: what each source shows (never a secret) and rotating its secret."""

from __future__ import annotations

import base64
import json
import uuid
from datetime import timedelta
from typing import Any

import pytest

from guardian.models import AuditEntry, Source
from guardian.signatures import signed_headers
from tests.admin import admin_client
from tests.conftest import SECRET, TEST_SECRETS, TOKEN, at, message

NOW = at("2026-11-25T20:00:00+01:00")
SLACK_SECRET = "slack-signing-secret-8e2b1c"
SLACK = f"""
[[sources]]
id = "team-slack"
plugin = "slack"
member = "mia"
signing_secret = "{SLACK_SECRET}"
"""


async def _start(write_settings: Any, start_guardian: Any, **kwargs: Any) -> Any:
    running = await start_guardian(write_settings(**kwargs), NOW)
    return running, await admin_client(running)


def _no_secret(text: str, *more: str) -> None:
    for secret in (*TEST_SECRETS, SLACK_SECRET, *more):
        assert secret not in text


async def _signed(running: Any, secret: str, n: str) -> Any:
    raw = json.dumps(message(n)).encode()
    headers = signed_headers(secret, f"wh-{uuid.uuid4()}", running.clock.now(), raw)
    return await running.client.post("/hooks/mia-phone", data=raw, headers=headers)


async def test_sources_show_urls_counts_and_status_but_no_secret(
    write_settings: Any, start_guardian: Any
) -> None:
    running, admin = await _start(write_settings, start_guardian, extra=SLACK)
    port = running.service.settings.server.port
    listed = await admin.get("/sources")
    assert listed.status == 200
    text = await listed.text()
    _no_secret(text)
    items = {item["id"]: item for item in json.loads(text)["items"]}
    assert list(items) == ["family-sms", "mia-bridge", "mia-phone", "team-slack"]
    assert items["mia-phone"] == {
        "id": "mia-phone",
        "plugin": "webhook",
        "member": "mia",
        "webhook_url": f"http://127.0.0.1:{port}/hooks/mia-phone",
        "last_message_at": None,
        "notifications": {"total": 0, "last_24h": 0},
        "status": "ok",
        "silent": False,
        "secret_fields": ["secret", "token"],
        "kind": "push",
        "enabled": True,
        "pull": None,
    }
    assert items["team-slack"]["secret_fields"] == ["signing_secret"]

    assert (await running.post(message(1))).status == 202
    one = await (await admin.get("/sources/mia-phone")).json()
    assert one["notifications"] == {"total": 1, "last_24h": 1}
    assert one["last_message_at"] == "2026-11-25T19:00:00Z"
    assert one["silent"] is False
    await running.clock.advance(timedelta(hours=25))
    later = await (await admin.get("/sources/mia-phone")).json()
    assert later["notifications"] == {"total": 1, "last_24h": 0}
    assert later["silent"] is True
    quiet = await (await admin.get("/sources/mia-bridge")).json()
    assert quiet["silent"] is False  # never had a message: not silent, just unused

    for path in ("/sources/nope", "/sources/%00", "/sources/nope/rotate"):
        answer = await (admin.post(path, {}) if path.endswith("rotate") else admin.get(path))
        assert answer.status == 404, path
    assert (await admin.post("/sources/mia-phone/rotate")).status == 400  # a body is required


async def test_public_url_and_plugin_errors(write_settings: Any, start_guardian: Any) -> None:
    settings = write_settings()
    server = settings.server.model_copy(update={"public_url": "https://guardian.example.org/"})
    running = await start_guardian(settings.model_copy(update={"server": server}), NOW)
    admin = await admin_client(running)
    await Source.filter(slug="mia-bridge").update(settings={})
    await running.service.reload()
    items = {i["id"]: i for i in (await (await admin.get("/sources")).json())["items"]}
    assert items["mia-phone"]["webhook_url"] == "https://guardian.example.org/hooks/mia-phone"
    assert items["mia-phone"]["status"] == "ok"
    assert "needs a secret" in items["mia-bridge"]["status"]


async def test_rotate_generates_a_whsec_secret_and_refuses_the_old_one(
    write_settings: Any, start_guardian: Any, caplog: pytest.LogCaptureFixture
) -> None:
    running, admin = await _start(write_settings, start_guardian)
    assert (await _signed(running, SECRET, "before")).status == 202
    rotated = await admin.post("/sources/mia-phone/rotate", {})
    assert rotated.status == 200, await rotated.text()
    answer = await rotated.json()
    assert (answer["source"], answer["field"]) == ("mia-phone", "secret")
    new = answer["secret"]
    assert new.startswith("whsec_") and len(base64.b64decode(new.removeprefix("whsec_"))) == 24

    assert (await _signed(running, new, "after")).status == 202
    old = await _signed(running, SECRET, "old")
    assert old.status == 401
    stored = await Source.get(slug="mia-phone")
    assert stored.settings["secret"] == new

    entry = await AuditEntry.filter(action="source.rotate").get()
    assert (entry.target, entry.detail) == ("mia-phone", {"field": "secret"})
    for path in ("/sources", "/sources/mia-phone", "/audit"):
        _no_secret(await (await admin.get(path)).text(), new)
    for record in caplog.records:
        assert new not in record.getMessage()


async def test_rotate_a_token_and_paste_a_value(write_settings: Any, start_guardian: Any) -> None:
    running, admin = await _start(write_settings, start_guardian)
    rotated = await (await admin.post("/sources/mia-bridge/rotate", {})).json()
    assert rotated["field"] == "token"  # the secret this source uses, not the unset one
    token = rotated["secret"]
    assert len(token) >= 40

    def bearer(value: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {value}", "content-type": "application/json"}

    good = await running.post(message(1), source="mia-bridge", headers=bearer(token))
    assert good.status == 202
    bad = await running.post(message(2), source="mia-bridge", headers=bearer(TOKEN))
    assert bad.status == 401

    pasted = "whsec_" + base64.b64encode(b"pasted-key-of-24-bytes!!").decode()
    answer = await admin.post("/sources/mia-phone/rotate", {"field": "secret", "value": pasted})
    assert (await answer.json())["secret"] == pasted
    assert (await _signed(running, pasted, "pasted")).status == 202


async def test_rotate_refuses_bad_input_without_echoing_it(
    write_settings: Any, start_guardian: Any
) -> None:
    running, admin = await _start(write_settings, start_guardian, extra=SLACK)
    cases = [
        ({"field": "secret", "value": "not-a-whsec-value-xyz"}, "value"),
        ({"field": "url"}, "field"),
        ({"value": ""}, "value"),
        ({"field": "token", "value": "has a space inside"}, "value"),
        ({"field": "secret", "colour": "red"}, "colour"),
    ]
    for body, path in cases:
        refused = await admin.post("/sources/mia-phone/rotate", body)
        assert refused.status == 422, body
        text = await refused.text()
        assert path in json.loads(text)["fields"], text
        assert "not-a-whsec-value-xyz" not in text
    # Slack issues its signing secret: it is pasted, never made up.
    made_up = await admin.post("/sources/team-slack/rotate", {})
    assert made_up.status == 422
    assert list((await made_up.json())["fields"]) == ["value"]
    pasted = await admin.post("/sources/team-slack/rotate", {"value": "new-slack-secret-42"})
    assert (await pasted.json()) == {
        "source": "team-slack",
        "field": "signing_secret",
        "secret": "new-slack-secret-42",
    }
    assert (await Source.get(slug="team-slack")).settings["signing_secret"] == "new-slack-secret-42"
    assert (await _signed(running, SECRET, "still")).status == 202
    assert await AuditEntry.filter(action="source.rotate").count() == 1


async def test_sources_page_shows_the_new_secret_once(
    write_settings: Any, start_guardian: Any
) -> None:
    running, admin = await _start(write_settings, start_guardian)
    csrf = await admin.login()
    page = await running.client.get("/sources")
    assert page.status == 200
    html = await page.text()
    _no_secret(html)
    assert "/hooks/mia-phone" in html and 'name="field"' in html

    # Rotating cuts the network off: the form refuses without its confirmation.
    unconfirmed = await running.client.post(
        "/sources/mia-phone/rotate", data={"field": "secret", "value": "", "csrf_token": csrf}
    )
    assert unconfirmed.status == 422
    assert 'id="source-mia-phone-confirm-error"' in await unconfirmed.text()
    assert (await Source.get(slug="mia-phone")).settings["secret"] == SECRET
    rotated = await running.client.post(
        "/sources/mia-phone/rotate",
        data={"field": "secret", "value": "", "confirm": "yes", "csrf_token": csrf},
        allow_redirects=False,
    )
    assert rotated.status == 200
    assert rotated.headers["Cache-Control"] == "no-store"
    html = await rotated.text()
    new = (await Source.get(slug="mia-phone")).settings["secret"]
    assert html.count(new) == 1
    assert "Paste it into the network now" in html
    assert new not in str(rotated.url)
    _no_secret(await (await running.client.get("/sources")).text(), new)

    refused = await running.client.post(
        "/sources/mia-phone/rotate",
        data={
            "field": "secret",
            "value": "typed-but-wrong-value",
            "confirm": "yes",
            "csrf_token": csrf,
        },
    )
    assert refused.status == 422
    html = await refused.text()
    assert "typed-but-wrong-value" not in html
    assert 'id="source-mia-phone-value-error"' in html
    missing = await running.client.post("/sources/nope/rotate", data={"csrf_token": csrf})
    assert missing.status == 404
    no_csrf = await running.client.post("/sources/mia-phone/rotate", data={"field": "secret"})
    assert no_csrf.status == 403
