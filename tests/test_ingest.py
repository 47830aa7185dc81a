"""POST /hooks/{source}: statuses and bodies as PRODUCT.md specifies, nothing half-stored."""

from __future__ import annotations

import io
import json
import sqlite3
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from guardian.models import Delivery, Notification
from guardian.plugin import PluginInfo, PluginRegistry
from guardian.settings import DatabaseSettings, Settings
from guardian.signatures import signed_headers
from tests.conftest import SECRET, TOKEN, Running, Start, at, message

QUIET = at("2026-11-25T23:00:00+01:00")  # a Wednesday night, inside 21:30–07:00
DAYTIME = at("2026-11-25T16:00:00+01:00")


@pytest.fixture
async def guardian(write_settings: Callable[..., Settings], start_guardian: Start) -> Running:
    return await start_guardian(write_settings(), QUIET)


async def test_signed_message_is_accepted_and_held(guardian: Running) -> None:
    response = await guardian.post(message(1))
    assert response.status == 202
    assert await response.json() == {"accepted": 1, "duplicates": 0}
    stored = await Notification.get(external_id="msg-1")
    assert stored.status == "held"
    assert stored.sender_address == "sms:+31612345678"
    assert stored.received_at == QUIET
    assert stored.sent_at == QUIET  # defaults to the time of receipt
    assert await Delivery.all().count() == 0


async def test_array_with_repeated_id_counts_duplicates(guardian: Running) -> None:
    first = await guardian.post([message(1), message(2)])
    assert await first.json() == {"accepted": 2, "duplicates": 0}
    again = await guardian.post([message(2), message(3), message(3)])
    assert again.status == 202
    assert await again.json() == {"accepted": 1, "duplicates": 2}
    assert await Notification.all().count() == 3


async def test_duplicate_changes_nothing(guardian: Running) -> None:
    await guardian.post(message(1, text="first"))
    await guardian.post(message(1, text="changed"))
    stored = await Notification.get(external_id="msg-1")
    assert stored.text == "first"


async def test_same_id_from_another_source_is_not_a_duplicate(guardian: Running) -> None:
    await guardian.post(message(1))
    other = await guardian.post(
        message(1), source="mia-bridge", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert await other.json() == {"accepted": 1, "duplicates": 0}


async def test_bearer_token(guardian: Running) -> None:
    ok = await guardian.post(
        message(1), source="mia-bridge", headers={"Authorization": f"Bearer {TOKEN}"}
    )
    assert ok.status == 202
    wrong = await guardian.post(
        message(2), source="mia-bridge", headers={"Authorization": "Bearer nope"}
    )
    assert wrong.status == 401
    assert (await wrong.json())["error"] == "unauthorized"


async def test_fields_default_and_text_is_cut(guardian: Running) -> None:
    body = message(1, text="x" * 5000, to="sam", network="whatsapp")
    body["sent_at"] = "2026-11-25T22:10:00+01:00"
    assert (await guardian.post(body, source="family-sms")).status == 202
    stored = await Notification.get(external_id="msg-1").prefetch_related("member")
    assert stored.text == ""  # Sam has no quiet hours: forwarded, and pushed text is not kept
    assert stored.member.slug == "sam"
    assert stored.network == "whatsapp"
    assert stored.sent_at == at("2026-11-25T22:10:00+01:00")
    assert (await guardian.post(message(2, text="y" * 5000))).status == 202
    held = await Notification.get(external_id="msg-2")
    assert (held.status, len(held.text)) == ("held", 4096)


def _raw(guardian: Running, raw: bytes, **headers: str) -> dict[str, str]:
    return {**signed_headers(SECRET, "wh-raw", guardian.clock.now(), raw), **headers}


@pytest.mark.parametrize(
    ("raw", "status", "error"),
    [
        (b"{not json", 400, "bad_request"),
        (b"\xff\xfe{}", 400, "bad_request"),
        (b'"just a string"', 422, "invalid"),
        (b"[]", 422, "invalid"),
    ],
    ids=["not-json", "invalid-utf8", "not-object", "empty-array"],
)
async def test_unreadable_bodies(guardian: Running, raw: bytes, status: int, error: str) -> None:
    response = await guardian.client.post("/hooks/mia-phone", data=raw, headers=_raw(guardian, raw))
    assert response.status == status
    answer = await response.json()
    assert answer["error"] == error
    assert answer["detail"]
    assert await Notification.all().count() == 0


async def test_invalid_fields_are_named_by_path(guardian: Running) -> None:
    bad = [message(1), {"id": "", "from": {}}, message(3, sent_at="2026-11-25T22:10:00")]
    response = await guardian.post(bad)
    assert response.status == 422
    detail = (await response.json())["detail"]
    paths = {d["path"] for d in detail}
    assert {"[1].id", "[1].from.id", "[2].sent_at"} <= paths
    assert await Notification.all().count() == 0  # nothing half-stored


async def test_unknown_member_in_to(guardian: Running) -> None:
    response = await guardian.post(message(1, to="nobody"))
    assert response.status == 422
    assert (await response.json())["detail"] == [
        {"path": "to", "message": "unknown member 'nobody'"}
    ]


async def test_a_source_writes_only_to_its_own_member(guardian: Running) -> None:
    # Mia's phone cannot make an "emergency" reach Sam: refused, and nothing of it stored.
    body = [message(1), message(2, text="emergency: call me", to="sam")]
    response = await guardian.post(body)
    assert response.status == 403
    answer = await response.json()
    assert answer["error"] == "forbidden_member"
    assert "sam" in answer["detail"]
    assert await Notification.all().count() == 0
    assert await Delivery.all().count() == 0
    # A household hub lists the members it serves.
    assert (await guardian.post(body, source="family-sms")).status == 202
    assert await Notification.filter(member__slug="sam").count() == 1


async def test_unknown_source(guardian: Running) -> None:
    response = await guardian.post(message(1), source="no-such-source")
    assert response.status == 404
    assert (await response.json())["error"] == "unknown_source"


async def test_batch_over_500_is_too_large(guardian: Running) -> None:
    response = await guardian.post([message(i) for i in range(501)])
    assert response.status == 413
    assert (await response.json())["error"] == "too_large"
    full = await guardian.post([message(i) for i in range(500)])
    assert await full.json() == {"accepted": 500, "duplicates": 0}


async def test_oversized_body(guardian: Running) -> None:
    raw = json.dumps(message(1, text="x" * 2_000_000)).encode()
    response = await guardian.client.post(
        "/hooks/mia-phone", data=io.BytesIO(raw), headers=_raw(guardian, raw)
    )
    assert response.status == 413
    assert (await response.json())["error"] == "too_large"


@pytest.mark.parametrize(
    "tamper",
    ["wrong-signature", "stale", "future", "missing", "other-secret", "body-changed"],
)
async def test_bad_signatures_get_401(guardian: Running, tamper: str) -> None:
    raw = json.dumps(message(1)).encode()
    now = guardian.clock.now()
    headers = signed_headers(SECRET, "wh-1", now, raw)
    if tamper == "wrong-signature":
        headers["webhook-signature"] = "v1,AAAA" + headers["webhook-signature"][7:]
    elif tamper == "stale":
        headers = signed_headers(SECRET, "wh-1", now - timedelta(minutes=5, seconds=1), raw)
    elif tamper == "future":
        headers = signed_headers(SECRET, "wh-1", now + timedelta(minutes=6), raw)
    elif tamper == "missing":
        del headers["webhook-signature"]
    elif tamper == "other-secret":
        headers = signed_headers(
            "whsec_YW5vdGhlci1zZWNyZXQtb2YtZW5vdWdoLWxlbmd0aA==", "wh-1", now, raw
        )
    elif tamper == "body-changed":
        raw = raw.replace(b"awake", b"asleep")
    response = await guardian.client.post("/hooks/mia-phone", data=raw, headers=headers)
    assert response.status == 401
    assert (await response.json())["error"] == "unauthorized"
    assert await Notification.all().count() == 0


async def test_signature_within_tolerance_is_accepted(guardian: Running) -> None:
    raw = json.dumps(message(1)).encode()
    old = guardian.clock.now() - timedelta(minutes=4, seconds=59)
    headers = signed_headers(SECRET, "wh-1", old, raw)
    response = await guardian.client.post("/hooks/mia-phone", data=raw, headers=headers)
    assert response.status == 202


async def test_key_rotation_any_v1_signature_matches(guardian: Running) -> None:
    raw = json.dumps(message(1)).encode()
    headers = signed_headers(SECRET, "wh-1", guardian.clock.now(), raw)
    headers["webhook-signature"] = "v1,bm90LXRoaXMtb25l " + headers["webhook-signature"]
    response = await guardian.client.post("/hooks/mia-phone", data=raw, headers=headers)
    assert response.status == 202


async def test_outside_quiet_hours_a_forward_is_stored_with_the_notification(
    write_settings: Callable[..., Settings], start_guardian: Start
) -> None:
    guardian = await start_guardian(write_settings(), DAYTIME)
    await guardian.post(message(1))
    stored = await Notification.get(external_id="msg-1")
    assert stored.status == "forwarded"
    delivery = await Delivery.get(kind="forward")
    assert delivery.title == "Sophie (sms)"


async def test_health(guardian: Running) -> None:
    alive = await guardian.client.get("/healthz")
    assert alive.status == 200
    ready = await guardian.client.get("/readyz")
    assert ready.status == 200
    checks = (await ready.json())["checks"]
    assert checks["database"] == "ok"
    assert checks["scheduler"] == "running"
    assert checks["sources"] == {"mia-phone": "ok", "mia-bridge": "ok", "family-sms": "ok"}


def test_webhook_settings_refuse_weak_or_malformed_secrets() -> None:
    import pydantic

    from plugins.webhook import WebhookSettings

    for secret in ("whsec_", "whsec_c2hvcnQ=", "not-a-whsec-secret", "whsec_***"):
        with pytest.raises(pydantic.ValidationError):
            WebhookSettings(secret=secret)  # type: ignore[arg-type]
    with pytest.raises(pydantic.ValidationError, match="needs a secret"):
        WebhookSettings()
    settings = WebhookSettings(secret=SECRET, token=TOKEN)  # type: ignore[arg-type]
    assert SECRET not in repr(settings)
    assert TOKEN not in repr(settings)


async def test_locked_database_answers_503_and_stores_nothing(
    tmp_path: Path, write_settings: Callable[..., Settings], start_guardian: Start
) -> None:
    settings = write_settings()
    locked_url = settings.database.url + "?busy_timeout=200"
    settings = settings.model_copy(update={"database": DatabaseSettings(url=locked_url)})
    guardian = await start_guardian(settings, QUIET)
    blocker = sqlite3.connect(tmp_path / "guardian.db", isolation_level=None)
    try:
        blocker.execute("BEGIN EXCLUSIVE")
        response = await guardian.post(message(1))
        assert response.status == 503
        assert response.headers["Retry-After"] == "5"
        assert (await response.json())["error"] == "storage_unavailable"
    finally:
        blocker.execute("ROLLBACK")
        blocker.close()
    assert await Notification.all().count() == 0
    retried = await guardian.post(message(1))  # the sender retries: nothing was half-written
    assert await retried.json() == {"accepted": 1, "duplicates": 0}


async def test_a_source_whose_plugin_is_not_installed_answers_503(
    write_settings: Callable[..., Settings], start_guardian: Start
) -> None:
    settings = write_settings()
    registry = PluginRegistry(
        plugins={"webhook": PluginInfo("webhook", "guardian", "0", error="ImportError: gone")}
    )
    client = (await start_guardian(settings, QUIET, registry=registry)).client
    response = await client.post("/hooks/mia-phone", json=message(1))
    assert response.status == 503
    assert (await response.json())["error"] == "source_unavailable"
    ready = await client.get("/readyz")
    sources = (await ready.json())["checks"]["sources"]
    assert sources["mia-phone"] == "plugin 'webhook': ImportError: gone"


async def test_the_core_refuses_ids_too_long_to_store(guardian: Running) -> None:
    """A third-party plugin may not bound its ids; the core answers 422 instead of failing."""
    from guardian.ingest import checked
    from guardian.plugin import IncomingMessage, InvalidFields

    view = guardian.service.household()
    too_long = IncomingMessage(external_id="x" * 256, network="sms", sender_id="+31612345678")
    with pytest.raises(InvalidFields) as refused:
        checked([too_long], view.sources["mia-phone"], view)
    assert refused.value.detail == [{"path": "id", "message": "longer than 255 characters"}]


# --- bad input: a JSON 4xx, never a 500, and nothing stored ----------------------------------


def _encoded(encoding: str, raw: bytes) -> bytes:
    import gzip
    import zlib

    import brotli  # type: ignore[import-untyped]
    from backports import zstd  # type: ignore[import-not-found]

    return {
        "gzip": gzip.compress,
        "deflate": zlib.compress,
        "br": brotli.compress,
        "zstd": zstd.compress,
    }[encoding](raw)


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br", "zstd"])
async def test_a_compressed_body_is_read(guardian: Running, encoding: str) -> None:
    raw = json.dumps(message(1)).encode()
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Encoding": encoding}
    response = await guardian.client.post(
        "/hooks/mia-bridge", data=_encoded(encoding, raw), headers=headers
    )
    assert response.status == 202, await response.text()
    assert await Notification.all().count() == 1


@pytest.mark.parametrize(
    ("encoding", "status"),
    [("gzip", 400), ("deflate", 400), ("br", 400), ("zstd", 400), ("compress", 415), ("x", 415)],
)
async def test_a_body_that_does_not_decode_is_refused(
    guardian: Running, encoding: str, status: int
) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Encoding": encoding}
    response = await guardian.client.post(
        "/hooks/mia-bridge", data=json.dumps(message(1)).encode(), headers=headers
    )
    assert response.status == status
    assert response.content_type == "application/json"
    assert (await response.json())["detail"]
    assert await Notification.all().count() == 0


@pytest.mark.parametrize(
    ("story", "raw", "status"),
    [
        ("100,000 nested arrays", b"[" * 100_000, 400),
        ("an id of 5,000 digits", b'{"id": ' + b"9" * 5000 + b', "from": {"id": "x"}}', 400),
        (
            "sent at the end of year 9999 in New York",
            json.dumps(message(1, sent_at="9999-12-31T23:00:00-05:00")).encode(),
            422,
        ),
        (
            "sent before year 1 in UTC",
            json.dumps(message(1, sent_at="0001-01-01T00:00:00+05:00")).encode(),
            422,
        ),
    ],
)
async def test_extreme_bodies_get_a_json_4xx(
    guardian: Running, caplog: pytest.LogCaptureFixture, story: str, raw: bytes, status: int
) -> None:
    headers = {"Authorization": f"Bearer {TOKEN}", "Content-Type": "application/json"}
    response = await guardian.client.post("/hooks/mia-bridge", data=raw, headers=headers)
    assert response.status == status, story
    assert (await response.json())["error"] in ("bad_request", "invalid")
    assert await Notification.all().count() == 0
    assert not [r for r in caplog.records if r.levelname in ("ERROR", "CRITICAL")], story


async def test_a_timestamp_of_400_digits_is_unauthorized(guardian: Running) -> None:
    raw = json.dumps(message(1)).encode()
    headers = {
        "webhook-id": "wh-1",
        "webhook-timestamp": "9" * 400,
        "webhook-signature": "v1,AAAA",
        "Content-Type": "application/json",
    }
    response = await guardian.client.post("/hooks/mia-phone", data=raw, headers=headers)
    assert response.status == 401
    assert (await response.json())["error"] == "unauthorized"


async def test_a_nul_character_is_stored_without_it(guardian: Running) -> None:
    # PostgreSQL refuses NUL in text; every string is made storable before it gets there.
    assert (
        await guardian.post(message(1, text="a\x00b", **{"from": {"id": "x\x00"}}))
    ).status == 202
    stored = await Notification.get(external_id="msg-1")
    assert (stored.text, stored.sender_address) == ("ab", "sms:x")
