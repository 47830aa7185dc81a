"""Durations as people write them in settings.toml: `90s`, `10m`, `1h30m`, `2d`."""

from __future__ import annotations

from datetime import timedelta

import pytest

from guardian.durations import format_duration, parse_duration


@pytest.mark.parametrize(
    ("story", "text", "expected"),
    [
        ("a burst window", "10m", timedelta(minutes=10)),
        ("seconds", "90s", timedelta(seconds=90)),
        ("an hour and a half", "1h30m", timedelta(hours=1, minutes=30)),
        ("days", "2d", timedelta(days=2)),
        ("every unit", "1d2h3m4s", timedelta(days=1, hours=2, minutes=3, seconds=4)),
        ("capitals and spaces are forgiven", " 1H 30M ", timedelta(hours=1, minutes=30)),
        ("more than 60 of a unit is fine", "90m", timedelta(minutes=90)),
        ("a storm window", "30m", timedelta(minutes=30)),
        ("zero parts next to others", "1h0m", timedelta(hours=1)),
    ],
)
def test_parse_duration(story: str, text: str, expected: timedelta) -> None:
    assert parse_duration(text) == expected, story


@pytest.mark.parametrize(
    ("story", "text", "message"),
    [
        ("empty", "", "not a duration: ''"),
        ("only spaces", "   ", "not a duration: '   '"),
        ("a bare number has no unit", "10", "not a duration: '10'"),
        ("words", "ten minutes", "not a duration: 'ten minutes'"),
        ("spelled-out unit", "10 minutes", "not a duration: '10 minutes'"),
        ("fractions", "1.5h", "not a duration: '1.5h'"),
        ("negative", "-5m", "not a duration: '-5m'"),
        ("unknown unit", "3w", "not a duration: '3w'"),
        ("a trailing number", "1h30", "not a duration: '1h30'"),
        ("a unit twice over", "10mm", "not a duration: '10mm'"),
        ("zero", "0s", "a duration must be positive: '0s'"),
        ("zero in parts", "0h0m", "a duration must be positive: '0h0m'"),
        ("beyond what a timedelta holds", "1000000000d", "too long for a duration: '1000000000d'"),
    ],
)
def test_parse_duration_errors(story: str, text: str, message: str) -> None:
    with pytest.raises(ValueError) as raised:
        parse_duration(text)
    assert str(raised.value).startswith(message), story


def test_parse_duration_error_says_how_to_write_one() -> None:
    with pytest.raises(ValueError, match=r"use e\.g\. 30s, 10m, 1h30m, 2d"):
        parse_duration("soon")


@pytest.mark.parametrize(
    ("delta", "text"),
    [
        (timedelta(seconds=90), "1m30s"),
        (timedelta(minutes=10), "10m"),
        (timedelta(minutes=90), "1h30m"),
        (timedelta(days=2), "2d"),
        (timedelta(days=1, seconds=1), "1d1s"),
        (timedelta(hours=1, minutes=1, seconds=1), "1h1m1s"),
        (timedelta(seconds=59), "59s"),
        (timedelta(0), "0s"),
        (timedelta(seconds=10, microseconds=500_000), "10s"),  # below a second is not shown
    ],
)
def test_format_duration(delta: timedelta, text: str) -> None:
    assert format_duration(delta) == text


@pytest.mark.parametrize("text", ["90s", "10m", "1h30m", "2d", "1d2h3m4s", "15m", "5m"])
def test_format_then_parse_round_trips(text: str) -> None:
    delta = parse_duration(text)
    assert parse_duration(format_duration(delta)) == delta


@pytest.mark.parametrize(
    ("written", "canonical"),
    [("90s", "1m30s"), ("90m", "1h30m"), ("24h", "1d"), ("1H 30M", "1h30m"), ("60s", "1m")],
)
def test_format_is_the_canonical_spelling(written: str, canonical: str) -> None:
    assert format_duration(parse_duration(written)) == canonical
