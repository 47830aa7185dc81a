"""Pigeonpost passes Guardian's conformance suite, and a message arrives as sent."""

import hashlib
import hmac
import json
from dataclasses import replace
from datetime import datetime, timedelta

from guardian.testing import CONFORMANCE_NOW, PluginCase, SignedRequest, conformance_tests, mount

from guardian_pigeonpost import PigeonpostPlugin

KEY = "pigeon-key-7f3a9c"


def signed(event: dict[str, object]) -> SignedRequest:
    body = json.dumps(event).encode()
    signature = hmac.new(KEY.encode(), body, hashlib.sha256).hexdigest()
    return SignedRequest(headers={"X-Pigeon-Signature": signature}, body=body)


def message(unique: str, now: datetime) -> SignedRequest:
    sender = {"loft": "loft-7", "name": "Sophie"}
    sent = int(now.timestamp())
    return signed({"event": "message", "id": unique, "from": sender, "text": "coo", "sent": sent})


CASE = PluginCase(
    plugin=PigeonpostPlugin,
    settings={"signing_key": KEY},
    secrets=[KEY],
    message=message,
    non_messages=lambda now: [signed({"event": "delivered", "id": "pp-1"})],
    forge=lambda r: replace(r, headers={"X-Pigeon-Signature": "0" * 64}),
    unsign=lambda r: replace(r, headers={}),
)

test_conformance = conformance_tests(CASE)


async def test_a_message_arrives_with_its_sender(tmp_path):
    async with mount(
        PigeonpostPlugin, CASE.settings, now=CONFORMANCE_NOW, folder=tmp_path
    ) as guardian:
        status, _, _ = await guardian.send(message("pp-42", CONFORMANCE_NOW - timedelta(minutes=3)))
        assert status == 202
        [stored] = await guardian.notifications()
    assert stored.sender_address == "pigeonpost:loft-7"
    assert (stored.sender_name, stored.text) == ("Sophie", "coo")
    assert stored.sent_at == CONFORMANCE_NOW - timedelta(minutes=3)
