"""One person across networks: phone numbers in E.164, e-mail case-insensitively."""

from __future__ import annotations

import pytest

from guardian.contacts import canonical, match_keys


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        ("sms:+31612345678", "sms:+31612345678"),
        ("sms:+31 6 1234 5678", "sms:+31612345678"),
        ("sms:0031612345678", "sms:+31612345678"),
        ("sms:+1 (212) 555-0123", "sms:+12125550123"),
        ("SMS:+31612345678", "sms:+31612345678"),
        ("sms:Mum", "sms:Mum"),  # an alphanumeric sender stays as it came
        ("email:Sophie@Example.ORG", "email:sophie@example.org"),
        ("mailto:sophie@example.org", "email:sophie@example.org"),
        ("whatsapp:+31612345678", "whatsapp:31612345678"),
        ("telegram:99887766", "telegram:99887766"),
        ("slack:U024BE7LH", "slack:U024BE7LH"),
    ],
)
def test_canonical(address: str, expected: str) -> None:
    assert canonical(address) == expected


@pytest.mark.parametrize(
    ("address", "keys"),
    [
        ("whatsapp:31612345678", ["whatsapp:31612345678", "sms:+31612345678"]),
        ("sms:+31 6 12345678", ["sms:+31612345678"]),
        ("telegram:1", ["telegram:1"]),
    ],
)
def test_match_keys(address: str, keys: list[str]) -> None:
    assert match_keys(address) == keys
