"""Sender addresses in one canonical form, so that one person is one contact across networks.

Phone numbers compare in E.164 (`sms:+31612345678`, whatever spacing or `00` prefix they
arrived with), e-mail addresses case-insensitively, and a WhatsApp id is also the phone number
it belongs to (`whatsapp:31612345678` matches `sms:+31612345678`).

A Signal sender is its account's UUID, `signal:<uuid>`; when Signal shows the number too, the
address carries both, `signal:<uuid>/+31612345678`, and matches a contact by either: the UUID,
`signal:+31612345678` or `sms:+31612345678`.
"""

from __future__ import annotations

import re

PHONE_NETWORKS = frozenset({"sms", "tel", "phone", "signal"})
_PHONE_NOISE = re.compile(r"[\s\-.()/]")
#: Between a Signal UUID and the number it shows, in one sender address.
SIGNAL_NUMBER_SEPARATOR = "/"


def canonical_phone(number: str) -> str:
    """`+31 6 1234-5678` and `0031612345678` → `+31612345678`; other text is left as it is."""
    compact = _PHONE_NOISE.sub("", number)
    if compact.startswith("00") and compact[2:].isdigit():
        compact = "+" + compact[2:]
    if compact.startswith("+") and compact[1:].isdigit() and 7 <= len(compact) <= 16:
        return compact
    return number.strip()


def is_e164(number: str) -> bool:
    """Whether `number` is already a phone number in E.164 form (`+31612345678`)."""
    return number.startswith("+") and number[1:].isdigit() and 7 <= len(number) <= 16


def canonical(address: str) -> str:
    """One spelling per address: `network:id` with the id normalised for its network."""
    network, sep, ident = address.partition(":")
    if not sep:
        return address
    network = network.strip().lower()
    ident = ident.strip()
    if network == "signal":
        ident = _canonical_signal(ident)
    elif network in PHONE_NETWORKS:
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
    elif network == "signal":
        account, number = signal_parts(ident)
        if number is not None:
            keys += [f"signal:{account}"] if account else []
            keys += [f"signal:{number}", f"sms:{number}"]
        keys = list(dict.fromkeys(keys))
    return keys


def contact_keys(address: str) -> list[str]:
    """The keys under which a contact's own address is found: its canonical form, and for a
    Signal address that names both a UUID and a number, each of them (see `match_keys`)."""
    key = canonical(address)
    return match_keys(key) if key.startswith("signal:") else [key]


def signal_address(uuid: str | None, number: str | None) -> str:
    """The sender id of a Signal account (without `signal:`): its UUID, with the number when
    Signal shows it (`<uuid>/+31612345678`); the number alone for an account without a UUID."""
    shown = canonical_phone(number) if number else None
    if uuid and shown and is_e164(shown):
        return f"{uuid.strip().lower()}{SIGNAL_NUMBER_SEPARATOR}{shown}"
    if uuid:
        return uuid.strip().lower()
    return shown or ""


def signal_parts(ident: str) -> tuple[str, str | None]:
    """A Signal sender id as (UUID or "", E.164 number or None)."""
    account, sep, number = ident.partition(SIGNAL_NUMBER_SEPARATOR)
    if sep:
        shown = canonical_phone(number)
        return account.strip().lower(), shown if is_e164(shown) else None
    shown = canonical_phone(ident)
    if is_e164(shown):
        return "", shown
    return ident.strip().lower(), None


def _canonical_signal(ident: str) -> str:
    account, number = signal_parts(ident)
    if account and number:
        return f"{account}{SIGNAL_NUMBER_SEPARATOR}{number}"
    if number:
        return number
    # Not a number nor a UUID/number pair: a UUID (lowercase, as Signal writes it), or
    # whatever a source named the account by.
    return account if _looks_like_uuid(account) else ident.strip()


_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _looks_like_uuid(text: str) -> bool:
    return _UUID.fullmatch(text) is not None
