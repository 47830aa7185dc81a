"""One person across networks: phone numbers in E.164, e-mail case-insensitively."""

from __future__ import annotations

import pytest

from guardian.contacts import canonical, contact_keys, match_keys, signal_address, signal_parts


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


UUID = "a1b2c3d4-0000-4000-8000-00000000beef"


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        (f"signal:{UUID}", f"signal:{UUID}"),
        (f"signal:{UUID.upper()}", f"signal:{UUID}"),
        (f"signal:{UUID}/+31 6 1234 5678", f"signal:{UUID}/+31612345678"),
        ("signal:+31 6 1234 5678", "signal:+31612345678"),
        ("signal:name:Sophie", "signal:name:Sophie"),  # as a phone's notification shows it
    ],
)
def test_canonical_signal(address: str, expected: str) -> None:
    assert canonical(address) == expected


@pytest.mark.parametrize(
    ("address", "keys"),
    [
        (f"signal:{UUID}", [f"signal:{UUID}"]),
        (
            f"signal:{UUID}/+31612345678",
            [
                f"signal:{UUID}/+31612345678",
                f"signal:{UUID}",
                "signal:+31612345678",
                "sms:+31612345678",
            ],
        ),
        ("signal:+31612345678", ["signal:+31612345678", "sms:+31612345678"]),
        ("signal:name:Sophie", ["signal:name:Sophie"]),
    ],
)
def test_a_signal_sender_matches_by_uuid_or_by_the_number_it_shows(
    address: str, keys: list[str]
) -> None:
    assert match_keys(address) == keys


def test_signal_address_and_parts_round_trip() -> None:
    assert signal_address(UUID.upper(), "+31 6 12345678") == f"{UUID}/+31612345678"
    assert signal_address(UUID, None) == UUID
    assert signal_address(UUID, "Mum") == UUID  # not a number: only the UUID
    assert signal_address(None, "+31612345678") == "+31612345678"
    assert signal_parts(f"{UUID}/+31612345678") == (UUID, "+31612345678")
    assert signal_parts(UUID) == (UUID, None)
    assert signal_parts("+31612345678") == ("", "+31612345678")


def test_a_contact_listing_a_signal_uuid_and_number_is_found_by_each() -> None:
    keys = contact_keys(f"signal:{UUID}/+31612345678")
    assert f"signal:{UUID}" in keys and "sms:+31612345678" in keys
    assert contact_keys("whatsapp:+31612345678") == ["whatsapp:31612345678"]
