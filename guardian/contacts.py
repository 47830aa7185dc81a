"""Sender addresses in one canonical form, so that one person is one contact across networks.

Phone numbers compare in E.164 (`sms:+31612345678`, whatever spacing or `00` prefix they
arrived with), e-mail addresses case-insensitively, and a WhatsApp id is also the phone number
it belongs to (`whatsapp:31612345678` matches `sms:+31612345678`).
"""

from __future__ import annotations

import re

PHONE_NETWORKS = frozenset({"sms", "tel", "phone", "signal"})
_PHONE_NOISE = re.compile(r"[\s\-.()/]")


def canonical_phone(number: str) -> str:
    """`+31 6 1234-5678` and `0031612345678` → `+31612345678`; other text is left as it is."""
    compact = _PHONE_NOISE.sub("", number)
    if compact.startswith("00") and compact[2:].isdigit():
        compact = "+" + compact[2:]
    if compact.startswith("+") and compact[1:].isdigit() and 7 <= len(compact) <= 16:
        return compact
    return number.strip()


def canonical(address: str) -> str:
    """One spelling per address: `network:id` with the id normalised for its network."""
    network, sep, ident = address.partition(":")
    if not sep:
        return address
    network = network.strip().lower()
    ident = ident.strip()
    if network in PHONE_NETWORKS:
        ident = canonical_phone(ident)
    elif network in ("email", "mailto"):
        network, ident = "email", ident.lower()
    elif network == "whatsapp":
        ident = ident.lstrip("+")
    return f"{network}:{ident}"


def match_keys(address: str) -> list[str]:
    """Every canonical address that names the same sender (a WhatsApp id is also a phone)."""
    key = canonical(address)
    network, _, ident = key.partition(":")
    keys = [key]
    if network == "whatsapp" and ident.isdigit():
        keys.append(f"sms:+{ident}")
    return keys
