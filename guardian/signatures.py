"""Standard Webhooks (standardwebhooks.com): HMAC-SHA256 over `{id}.{timestamp}.{body}`.

The secret is `whsec_` + base64; the signature header holds space-separated `v1,<base64>`
entries (several during a key rotation). Used by the `webhook` plugin and by test kits.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from datetime import datetime, timedelta

TOLERANCE = timedelta(minutes=5)
PREFIX = "whsec_"


class SignatureInvalid(ValueError):
    pass


MIN_KEY_BYTES = 16


def secret_key(secret: str) -> bytes:
    """The signing key in a `whsec_<base64>` secret; too short a key is refused."""
    if not secret.startswith(PREFIX):
        raise ValueError("not a whsec_ secret (whsec_ followed by base64)")
    try:
        key = base64.b64decode(secret.removeprefix(PREFIX), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("not a whsec_ secret (whsec_ followed by base64)") from None
    if len(key) < MIN_KEY_BYTES:
        raise ValueError(f"the whsec_ key is too short (at least {MIN_KEY_BYTES} bytes)")
    return key


def sign(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    """The `webhook-signature` header value for one request."""
    signed = f"{message_id}.{timestamp}.".encode("utf-8", "surrogateescape") + body
    digest = hmac.new(secret_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def signed_headers(secret: str, message_id: str, now: datetime, body: bytes) -> dict[str, str]:
    timestamp = int(now.timestamp())
    return {
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": sign(secret, message_id, timestamp, body),
        "content-type": "application/json",
    }


def verify(
    secret: str, message_id: str, timestamp: str, signatures: str, body: bytes, now: datetime
) -> None:
    """Raise SignatureInvalid unless one `v1` signature matches and the timestamp is fresh."""
    stamp = timestamp.strip()
    if not (stamp.isascii() and stamp.isdigit() and len(stamp) <= 12):
        raise SignatureInvalid("webhook-timestamp is not a Unix time")
    sent = int(stamp)
    if abs(now.timestamp() - sent) > TOLERANCE.total_seconds():
        raise SignatureInvalid("webhook-timestamp is outside the 5-minute tolerance")
    expected = sign(secret, message_id, sent, body).split(",", 1)[1]
    for entry in signatures.split():
        version, _, value = entry.partition(",")
        # Bytes, not str: compare_digest refuses non-ASCII text, and a header may carry any
        # bytes (aiohttp keeps undecodable ones as surrogates).
        if version == "v1" and hmac.compare_digest(
            value.encode("utf-8", "surrogateescape"), expected.encode()
        ):
            return
    raise SignatureInvalid("no matching v1 signature")
