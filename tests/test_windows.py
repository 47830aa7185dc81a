"""Quiet windows in household local time, resolved to UTC by PRODUCT.md's DST rule.

Every expected instant below is worked out by hand from the zone's offsets:
Europe/Amsterdam is CET (+01:00) in winter and CEST (+02:00) in summer; in 2026 it springs
forward on Sunday 29 March at 01:00 UTC (02:00 CET → 03:00 CEST, so 02:00–02:59 never happens)
and falls back on Sunday 25 October at 01:00 UTC (03:00 CEST → 02:00 CET, so 02:00–02:59 happens
twice). America/New_York is EST (-05:00) / EDT (-04:00); it springs forward on Sunday 8 March at
07:00 UTC (02:00 EST → 03:00 EDT) and falls back on Sunday 1 November at 06:00 UTC (02:00 EDT →
01:00 EST, so 01:00–01:59 happens twice). 1 January 2026 is a Thursday.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import pytest

from guardian.windows import (
    Ambiguity,
    Interval,
    QuietWindow,
    daily_times,
    next_window_end,
    occurrences,
    parse_days,
    quiet_interval_at,
    resolve_local,
    window_ends,
)

AMS = ZoneInfo("Europe/Amsterdam")
NYC = ZoneInfo("America/New_York")
EARLIER, LATER = Ambiguity.EARLIER, Ambiguity.LATER


def hm(text: str) -> time:
    hours, minutes = text.split(":")
    return time(int(hours), int(minutes))


def window(days: str, start: str, end: str) -> QuietWindow:
    return QuietWindow(parse_days(days), hm(start), hm(end))


def local_noon(zone: ZoneInfo, day: date) -> datetime:
    """An input bound between nights: noon local time, as UTC."""
    return datetime(day.year, day.month, day.day, 12, tzinfo=zone).astimezone(UTC)


# --- parse_days ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("spec", "days"),
    [
        ("mon-thu,sun", {0, 1, 2, 3, 6}),  # the school-night example
        ("daily", {0, 1, 2, 3, 4, 5, 6}),
        ("fri-sat", {4, 5}),
        ("fri-mon", {4, 5, 6, 0}),  # a range that wraps over the weekend
        ("sat", {5}),
        ("tue,thu", {1, 3}),
        (" MON - WED ", {0, 1, 2}),  # case and spaces are forgiven
        ("sun-sun", {6}),
    ],
)
def test_parse_days(spec: str, days: set[int]) -> None:
    assert parse_days(spec) == frozenset(days)


@pytest.mark.parametrize("spec", ["", "monday", "mon-", "mon,,tue", "mon-fry", "1-3", "mon;tue"])
def test_parse_days_refuses_what_is_not_a_day(spec: str) -> None:
    with pytest.raises(ValueError, match="not a day or day range"):
        parse_days(spec)


# --- resolve_local ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("story", "zone", "day", "wall", "ambiguity", "expected"),
    [
        (
            "an ordinary winter noon in Amsterdam is CET",
            AMS,
            date(2026, 1, 15),
            "12:00",
            EARLIER,
            datetime(2026, 1, 15, 11, 0, tzinfo=UTC),
        ),
        (
            "an ordinary summer noon in Amsterdam is CEST",
            AMS,
            date(2026, 7, 1),
            "12:00",
            LATER,
            datetime(2026, 7, 1, 10, 0, tzinfo=UTC),
        ),
        (
            "01:59 on the spring night is still CET",
            AMS,
            date(2026, 3, 29),
            "01:59",
            EARLIER,
            datetime(2026, 3, 29, 0, 59, tzinfo=UTC),
        ),
        (
            "02:00 does not exist on the spring night: the first instant after the gap",
            AMS,
            date(2026, 3, 29),
            "02:00",
            EARLIER,
            datetime(2026, 3, 29, 1, 0, tzinfo=UTC),
        ),
        (
            "02:30 in the gap, as a start, moves to 03:00 CEST (not to 03:30)",
            AMS,
            date(2026, 3, 29),
            "02:30",
            EARLIER,
            datetime(2026, 3, 29, 1, 0, tzinfo=UTC),
        ),
        (
            "02:30 in the gap, as an end, moves to 03:00 CEST too",
            AMS,
            date(2026, 3, 29),
            "02:30",
            LATER,
            datetime(2026, 3, 29, 1, 0, tzinfo=UTC),
        ),
        (
            "03:00 on the spring night is the first CEST minute",
            AMS,
            date(2026, 3, 29),
            "03:00",
            LATER,
            datetime(2026, 3, 29, 1, 0, tzinfo=UTC),
        ),
        (
            "01:59 on the fall-back night is still CEST",
            AMS,
            date(2026, 10, 25),
            "01:59",
            EARLIER,
            datetime(2026, 10, 24, 23, 59, tzinfo=UTC),
        ),
        (
            "an ambiguous 02:30 as a start takes the first pass (CEST)",
            AMS,
            date(2026, 10, 25),
            "02:30",
            EARLIER,
            datetime(2026, 10, 25, 0, 30, tzinfo=UTC),
        ),
        (
            "an ambiguous 02:30 as an end takes the second pass (CET)",
            AMS,
            date(2026, 10, 25),
            "02:30",
            LATER,
            datetime(2026, 10, 25, 1, 30, tzinfo=UTC),
        ),
        (
            "an ambiguous 02:00 as a start is the first 02:00 (CEST)",
            AMS,
            date(2026, 10, 25),
            "02:00",
            EARLIER,
            datetime(2026, 10, 25, 0, 0, tzinfo=UTC),
        ),
        (
            "an ambiguous 02:00 as an end is the second 02:00, the transition itself",
            AMS,
            date(2026, 10, 25),
            "02:00",
            LATER,
            datetime(2026, 10, 25, 1, 0, tzinfo=UTC),
        ),
        (
            "03:00 on the fall-back night happens once, in CET",
            AMS,
            date(2026, 10, 25),
            "03:00",
            EARLIER,
            datetime(2026, 10, 25, 2, 0, tzinfo=UTC),
        ),
        (
            "01:59 on New York's spring night is still EST",
            NYC,
            date(2026, 3, 8),
            "01:59",
            EARLIER,
            datetime(2026, 3, 8, 6, 59, tzinfo=UTC),
        ),
        (
            "02:30 in New York's gap moves to 03:00 EDT",
            NYC,
            date(2026, 3, 8),
            "02:30",
            EARLIER,
            datetime(2026, 3, 8, 7, 0, tzinfo=UTC),
        ),
        (
            "02:30 in New York's gap, as an end, also 03:00 EDT",
            NYC,
            date(2026, 3, 8),
            "02:30",
            LATER,
            datetime(2026, 3, 8, 7, 0, tzinfo=UTC),
        ),
        (
            "an ambiguous 01:30 in New York as a start: EDT",
            NYC,
            date(2026, 11, 1),
            "01:30",
            EARLIER,
            datetime(2026, 11, 1, 5, 30, tzinfo=UTC),
        ),
        (
            "an ambiguous 01:30 in New York as an end: EST",
            NYC,
            date(2026, 11, 1),
            "01:30",
            LATER,
            datetime(2026, 11, 1, 6, 30, tzinfo=UTC),
        ),
        (
            "02:00 on New York's fall-back night happens once, in EST",
            NYC,
            date(2026, 11, 1),
            "02:00",
            LATER,
            datetime(2026, 11, 1, 7, 0, tzinfo=UTC),
        ),
        (
            "00:59 on New York's fall-back night is EDT",
            NYC,
            date(2026, 11, 1),
            "00:59",
            EARLIER,
            datetime(2026, 11, 1, 4, 59, tzinfo=UTC),
        ),
    ],
)
def test_resolve_local(
    story: str, zone: ZoneInfo, day: date, wall: str, ambiguity: Ambiguity, expected: datetime
) -> None:
    resolved = resolve_local(day, hm(wall), zone, ambiguity)
    assert resolved == expected, story
    assert resolved.utcoffset() == timedelta(0), "instants are UTC"


# --- windows crossing midnight ------------------------------------------------------------------

SCHOOL_NIGHTS = [window("mon-thu,sun", "21:30", "07:00")]


@pytest.mark.parametrize(
    ("story", "instant", "expected"),
    [
        (
            "Thursday 23:00: Thursday's window runs to Friday 07:00",
            datetime(2026, 1, 8, 22, 0, tzinfo=UTC),
            Interval(
                datetime(2026, 1, 8, 20, 30, tzinfo=UTC), datetime(2026, 1, 9, 6, 0, tzinfo=UTC)
            ),
        ),
        (
            "Friday 06:59: still Thursday's window",
            datetime(2026, 1, 9, 5, 59, tzinfo=UTC),
            Interval(
                datetime(2026, 1, 8, 20, 30, tzinfo=UTC), datetime(2026, 1, 9, 6, 0, tzinfo=UTC)
            ),
        ),
        ("Friday 07:00: the end is not quiet", datetime(2026, 1, 9, 6, 0, tzinfo=UTC), None),
        ("Friday 23:00: no window starts on Friday", datetime(2026, 1, 9, 22, 0, tzinfo=UTC), None),
        ("Saturday 06:00: nothing from Friday", datetime(2026, 1, 10, 5, 0, tzinfo=UTC), None),
        ("Sunday 21:29: not yet", datetime(2026, 1, 11, 20, 29, tzinfo=UTC), None),
        (
            "Sunday 21:30: the start is quiet",
            datetime(2026, 1, 11, 20, 30, tzinfo=UTC),
            Interval(
                datetime(2026, 1, 11, 20, 30, tzinfo=UTC), datetime(2026, 1, 12, 6, 0, tzinfo=UTC)
            ),
        ),
        (
            "Sunday 22:00: quiet",
            datetime(2026, 1, 11, 21, 0, tzinfo=UTC),
            Interval(
                datetime(2026, 1, 11, 20, 30, tzinfo=UTC), datetime(2026, 1, 12, 6, 0, tzinfo=UTC)
            ),
        ),
        (
            "Monday 06:00: Sunday's window",
            datetime(2026, 1, 12, 5, 0, tzinfo=UTC),
            Interval(
                datetime(2026, 1, 11, 20, 30, tzinfo=UTC), datetime(2026, 1, 12, 6, 0, tzinfo=UTC)
            ),
        ),
        ("Monday noon: not quiet", datetime(2026, 1, 12, 11, 0, tzinfo=UTC), None),
        (
            "Wednesday 02:00: Tuesday's window",
            datetime(2026, 1, 7, 1, 0, tzinfo=UTC),
            Interval(
                datetime(2026, 1, 6, 20, 30, tzinfo=UTC), datetime(2026, 1, 7, 6, 0, tzinfo=UTC)
            ),
        ),
        (
            "a summer Thursday 23:00 (CEST): Friday 07:00 CEST is 05:00 UTC",
            datetime(2026, 7, 2, 21, 0, tzinfo=UTC),
            Interval(
                datetime(2026, 7, 2, 19, 30, tzinfo=UTC), datetime(2026, 7, 3, 5, 0, tzinfo=UTC)
            ),
        ),
    ],
)
def test_quiet_interval_at_crossing_midnight(
    story: str, instant: datetime, expected: Interval | None
) -> None:
    assert quiet_interval_at(SCHOOL_NIGHTS, AMS, instant) == expected, story


def test_quiet_interval_at_takes_any_aware_instant() -> None:
    # Thursday 23:00 in Amsterdam, given in New York's zone (17:00 EST).
    instant = datetime(2026, 1, 8, 17, 0, tzinfo=NYC)
    assert quiet_interval_at(SCHOOL_NIGHTS, AMS, instant) == Interval(
        datetime(2026, 1, 8, 20, 30, tzinfo=UTC), datetime(2026, 1, 9, 6, 0, tzinfo=UTC)
    )


@pytest.mark.parametrize(
    ("story", "start", "end", "expected"),
    [
        (
            "Monday noon to Wednesday noon: two school nights",
            datetime(2026, 1, 12, 11, 0, tzinfo=UTC),
            datetime(2026, 1, 14, 11, 0, tzinfo=UTC),
            [
                Interval(
                    datetime(2026, 1, 12, 20, 30, tzinfo=UTC),
                    datetime(2026, 1, 13, 6, 0, tzinfo=UTC),
                ),
                Interval(
                    datetime(2026, 1, 13, 20, 30, tzinfo=UTC),
                    datetime(2026, 1, 14, 6, 0, tzinfo=UTC),
                ),
            ],
        ),
        (
            "a range starting inside a window includes that window",
            datetime(2026, 1, 12, 5, 0, tzinfo=UTC),
            datetime(2026, 1, 12, 11, 0, tzinfo=UTC),
            [
                Interval(
                    datetime(2026, 1, 11, 20, 30, tzinfo=UTC),
                    datetime(2026, 1, 12, 6, 0, tzinfo=UTC),
                )
            ],
        ),
        (
            "a range starting at a window's end does not include it",
            datetime(2026, 1, 12, 6, 0, tzinfo=UTC),
            datetime(2026, 1, 12, 20, 30, tzinfo=UTC),
            [],
        ),
        (
            "Friday and Saturday have no school night",
            datetime(2026, 1, 9, 11, 0, tzinfo=UTC),
            datetime(2026, 1, 11, 11, 0, tzinfo=UTC),
            [],
        ),
    ],
)
def test_occurrences(story: str, start: datetime, end: datetime, expected: list[Interval]) -> None:
    assert occurrences(SCHOOL_NIGHTS, AMS, start, end) == expected, story


# --- overlapping windows are merged -------------------------------------------------------------


@pytest.mark.parametrize(
    ("story", "windows", "expected_ends"),
    [
        (
            "night 22:00–07:00 overlapped by a morning 06:00–09:00: one end, at 09:00",
            [window("daily", "22:00", "07:00"), window("daily", "06:00", "09:00")],
            [datetime(2026, 1, 13, 8, 0, tzinfo=UTC)],
        ),
        (
            "school 08:30–12:00 touching lunch 12:00–15:00: one end, at 15:00",
            [window("mon-fri", "08:30", "12:00"), window("mon-fri", "12:00", "15:00")],
            [datetime(2026, 1, 13, 14, 0, tzinfo=UTC)],
        ),
        (
            "a window inside another adds no end",
            [window("daily", "21:00", "08:00"), window("daily", "23:00", "06:00")],
            [datetime(2026, 1, 13, 7, 0, tzinfo=UTC)],
        ),
        (
            "night, morning and school chained: one end, at 15:00",
            [
                window("daily", "22:00", "07:00"),
                window("mon-fri", "06:30", "08:30"),
                window("mon-fri", "08:30", "15:00"),
            ],
            [datetime(2026, 1, 13, 14, 0, tzinfo=UTC)],
        ),
        (
            "separate windows each end",
            [window("daily", "21:30", "07:00"), window("mon-fri", "08:30", "15:00")],
            [datetime(2026, 1, 13, 6, 0, tzinfo=UTC), datetime(2026, 1, 13, 14, 0, tzinfo=UTC)],
        ),
    ],
)
def test_overlapping_windows_have_only_the_merged_end(
    story: str, windows: list[QuietWindow], expected_ends: list[datetime]
) -> None:
    # Tuesday 13 January 2026, from local midnight to the next: (Monday 23:00, Tuesday 23:00] UTC.
    after = datetime(2026, 1, 12, 23, 0, tzinfo=UTC)
    upto = datetime(2026, 1, 13, 23, 0, tzinfo=UTC)
    assert window_ends(windows, AMS, after, upto) == expected_ends, story


def test_merged_interval_spans_the_overlap() -> None:
    windows = [window("daily", "22:00", "07:00"), window("daily", "06:00", "09:00")]
    at_half_past_seven = datetime(2026, 1, 13, 6, 30, tzinfo=UTC)
    assert quiet_interval_at(windows, AMS, at_half_past_seven) == Interval(
        datetime(2026, 1, 12, 21, 0, tzinfo=UTC), datetime(2026, 1, 13, 8, 0, tzinfo=UTC)
    )


# --- the DST nights -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("story", "zone", "morning", "quiet", "expected"),
    [
        # Amsterdam, spring forward (Sunday 29 March, 02:00 CET → 03:00 CEST at 01:00 UTC).
        (
            "22:00–07:00 over the spring night: 8 real hours, nothing cut",
            AMS,
            date(2026, 3, 29),
            window("daily", "22:00", "07:00"),
            Interval(
                datetime(2026, 3, 28, 21, 0, tzinfo=UTC), datetime(2026, 3, 29, 5, 0, tzinfo=UTC)
            ),
        ),
        (
            "01:00–02:30: the end is in the gap, it moves to 03:00 CEST",
            AMS,
            date(2026, 3, 29),
            window("daily", "01:00", "02:30"),
            Interval(
                datetime(2026, 3, 29, 0, 0, tzinfo=UTC), datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
            ),
        ),
        (
            "02:30–06:00: the start is in the gap, it moves to 03:00 CEST",
            AMS,
            date(2026, 3, 29),
            window("daily", "02:30", "06:00"),
            Interval(
                datetime(2026, 3, 29, 1, 0, tzinfo=UTC), datetime(2026, 3, 29, 4, 0, tzinfo=UTC)
            ),
        ),
        (
            "02:15–02:45: start and end in the gap; empty, but it still ends at 03:00 CEST",
            AMS,
            date(2026, 3, 29),
            window("daily", "02:15", "02:45"),
            Interval(
                datetime(2026, 3, 29, 1, 0, tzinfo=UTC), datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
            ),
        ),
        (
            "23:00–02:00: an end at the gap's first minute is the transition",
            AMS,
            date(2026, 3, 29),
            window("daily", "23:00", "02:00"),
            Interval(
                datetime(2026, 3, 28, 22, 0, tzinfo=UTC), datetime(2026, 3, 29, 1, 0, tzinfo=UTC)
            ),
        ),
        # Amsterdam, fall back (Sunday 25 October, 03:00 CEST → 02:00 CET at 01:00 UTC).
        (
            "22:00–07:00 over the fall-back night: 10 real hours",
            AMS,
            date(2026, 10, 25),
            window("daily", "22:00", "07:00"),
            Interval(
                datetime(2026, 10, 24, 20, 0, tzinfo=UTC), datetime(2026, 10, 25, 6, 0, tzinfo=UTC)
            ),
        ),
        (
            "end 02:30 in the repeated hour: the second 02:30 (CET)",
            AMS,
            date(2026, 10, 25),
            window("sat", "22:00", "02:30"),
            Interval(
                datetime(2026, 10, 24, 20, 0, tzinfo=UTC), datetime(2026, 10, 25, 1, 30, tzinfo=UTC)
            ),
        ),
        (
            "start 02:30 in the repeated hour: the first 02:30 (CEST)",
            AMS,
            date(2026, 10, 25),
            window("sun", "02:30", "06:00"),
            Interval(
                datetime(2026, 10, 25, 0, 30, tzinfo=UTC), datetime(2026, 10, 25, 5, 0, tzinfo=UTC)
            ),
        ),
        (
            "02:15–02:45 inside the repeated hour: first 02:15 to second 02:45",
            AMS,
            date(2026, 10, 25),
            window("daily", "02:15", "02:45"),
            Interval(
                datetime(2026, 10, 25, 0, 15, tzinfo=UTC), datetime(2026, 10, 25, 1, 45, tzinfo=UTC)
            ),
        ),
        (
            "01:00–02:30: from 01:00 CEST to the second 02:30",
            AMS,
            date(2026, 10, 25),
            window("daily", "01:00", "02:30"),
            Interval(
                datetime(2026, 10, 24, 23, 0, tzinfo=UTC), datetime(2026, 10, 25, 1, 30, tzinfo=UTC)
            ),
        ),
        # New York, spring forward (Sunday 8 March, 02:00 EST → 03:00 EDT at 07:00 UTC).
        (
            "22:00–07:00 over New York's spring night",
            NYC,
            date(2026, 3, 8),
            window("daily", "22:00", "07:00"),
            Interval(
                datetime(2026, 3, 8, 3, 0, tzinfo=UTC), datetime(2026, 3, 8, 11, 0, tzinfo=UTC)
            ),
        ),
        (
            "01:00–02:30 in New York: the end moves to 03:00 EDT",
            NYC,
            date(2026, 3, 8),
            window("daily", "01:00", "02:30"),
            Interval(
                datetime(2026, 3, 8, 6, 0, tzinfo=UTC), datetime(2026, 3, 8, 7, 0, tzinfo=UTC)
            ),
        ),
        (
            "02:15–02:45 in New York's gap: empty, ending at 03:00 EDT",
            NYC,
            date(2026, 3, 8),
            window("daily", "02:15", "02:45"),
            Interval(
                datetime(2026, 3, 8, 7, 0, tzinfo=UTC), datetime(2026, 3, 8, 7, 0, tzinfo=UTC)
            ),
        ),
        # New York, fall back (Sunday 1 November, 02:00 EDT → 01:00 EST at 06:00 UTC).
        (
            "22:00–07:00 over New York's fall-back night",
            NYC,
            date(2026, 11, 1),
            window("daily", "22:00", "07:00"),
            Interval(
                datetime(2026, 11, 1, 2, 0, tzinfo=UTC), datetime(2026, 11, 1, 12, 0, tzinfo=UTC)
            ),
        ),
        (
            "22:00–01:30 in New York: the second 01:30 (EST)",
            NYC,
            date(2026, 11, 1),
            window("daily", "22:00", "01:30"),
            Interval(
                datetime(2026, 11, 1, 2, 0, tzinfo=UTC), datetime(2026, 11, 1, 6, 30, tzinfo=UTC)
            ),
        ),
        (
            "01:30–06:00 in New York: the first 01:30 (EDT)",
            NYC,
            date(2026, 11, 1),
            window("daily", "01:30", "06:00"),
            Interval(
                datetime(2026, 11, 1, 5, 30, tzinfo=UTC), datetime(2026, 11, 1, 11, 0, tzinfo=UTC)
            ),
        ),
        (
            "01:15–01:45 in New York: first 01:15 to second 01:45",
            NYC,
            date(2026, 11, 1),
            window("daily", "01:15", "01:45"),
            Interval(
                datetime(2026, 11, 1, 5, 15, tzinfo=UTC), datetime(2026, 11, 1, 6, 45, tzinfo=UTC)
            ),
        ),
    ],
)
def test_transition_nights(
    story: str, zone: ZoneInfo, morning: date, quiet: QuietWindow, expected: Interval
) -> None:
    night = occurrences(
        [quiet], zone, local_noon(zone, morning - timedelta(days=1)), local_noon(zone, morning)
    )
    assert night == [expected], story


@pytest.mark.parametrize(
    ("story", "zone", "quiet", "instant", "is_quiet"),
    [
        (
            "spring, 01:00–02:30: 01:59 CET is quiet",
            AMS,
            window("daily", "01:00", "02:30"),
            datetime(2026, 3, 29, 0, 59, tzinfo=UTC),
            True,
        ),
        (
            "spring, 01:00–02:30: 03:00 CEST is the end, not quiet",
            AMS,
            window("daily", "01:00", "02:30"),
            datetime(2026, 3, 29, 1, 0, tzinfo=UTC),
            False,
        ),
        (
            "spring, 02:15–02:45 in the gap: 03:00 CEST is not quiet",
            AMS,
            window("daily", "02:15", "02:45"),
            datetime(2026, 3, 29, 1, 0, tzinfo=UTC),
            False,
        ),
        (
            "fall, end 02:30: the first 02:15 (CEST) is quiet",
            AMS,
            window("sat", "22:00", "02:30"),
            datetime(2026, 10, 25, 0, 15, tzinfo=UTC),
            True,
        ),
        (
            "fall, end 02:30: 02:45 CEST, between the two 02:30s, is quiet",
            AMS,
            window("sat", "22:00", "02:30"),
            datetime(2026, 10, 25, 0, 45, tzinfo=UTC),
            True,
        ),
        (
            "fall, end 02:30: the second 02:15 (CET) is quiet",
            AMS,
            window("sat", "22:00", "02:30"),
            datetime(2026, 10, 25, 1, 15, tzinfo=UTC),
            True,
        ),
        (
            "fall, end 02:30: the second 02:30 (CET) is the end",
            AMS,
            window("sat", "22:00", "02:30"),
            datetime(2026, 10, 25, 1, 30, tzinfo=UTC),
            False,
        ),
        (
            "fall, start 02:30: the first 02:30 (CEST) is quiet",
            AMS,
            window("sun", "02:30", "06:00"),
            datetime(2026, 10, 25, 0, 30, tzinfo=UTC),
            True,
        ),
        (
            "fall, start 02:30: the first 02:29 (CEST) is not",
            AMS,
            window("sun", "02:30", "06:00"),
            datetime(2026, 10, 25, 0, 29, tzinfo=UTC),
            False,
        ),
        (
            "fall, start 02:30: the second 02:10 (CET) is quiet, the window has begun",
            AMS,
            window("sun", "02:30", "06:00"),
            datetime(2026, 10, 25, 1, 10, tzinfo=UTC),
            True,
        ),
        (
            "New York fall, end 01:30: the second 01:15 (EST) is quiet",
            NYC,
            window("sat", "22:00", "01:30"),
            datetime(2026, 11, 1, 6, 15, tzinfo=UTC),
            True,
        ),
        (
            "New York spring, start 02:30: 03:00 EDT is quiet",
            NYC,
            window("sun", "02:30", "06:00"),
            datetime(2026, 3, 8, 7, 0, tzinfo=UTC),
            True,
        ),
        (
            "New York spring, start 02:30: 01:59 EST is not",
            NYC,
            window("sun", "02:30", "06:00"),
            datetime(2026, 3, 8, 6, 59, tzinfo=UTC),
            False,
        ),
    ],
)
def test_quiet_on_transition_nights(
    story: str, zone: ZoneInfo, quiet: QuietWindow, instant: datetime, is_quiet: bool
) -> None:
    assert (quiet_interval_at([quiet], zone, instant) is not None) is is_quiet, story


TRANSITION_DAYS = [
    (AMS, date(2026, 3, 29)),
    (AMS, date(2026, 10, 25)),
    (NYC, date(2026, 3, 8)),
    (NYC, date(2026, 11, 1)),
]
NIGHT_WINDOWS = [
    ("22:00", "07:00"),
    ("23:00", "02:00"),
    ("22:00", "02:30"),
    ("01:00", "02:30"),
    ("01:15", "01:45"),
    ("02:00", "03:00"),
    ("02:15", "02:45"),
    ("02:30", "06:00"),
    ("03:00", "05:00"),
]


def _wall_in_window(wall: time, start: time, end: time) -> bool:
    if start < end:
        return start <= wall < end
    return wall >= start or wall < end


@pytest.mark.parametrize(("zone", "day"), TRANSITION_DAYS)
@pytest.mark.parametrize(("start", "end"), NIGHT_WINDOWS)
def test_quiet_hours_never_get_shorter(zone: ZoneInfo, day: date, start: str, end: str) -> None:
    """Every instant whose local wall-clock time lies in the window is quiet, also when that wall
    time happens twice; resolving a boundary may only add quiet time, never take it away."""
    quiet = [window("daily", start, end)]
    instant = datetime(day.year, day.month, day.day, tzinfo=UTC) - timedelta(hours=12)
    last = instant + timedelta(hours=36)
    while instant < last:
        wall = instant.astimezone(zone).time()
        if _wall_in_window(wall, hm(start), hm(end)):
            assert quiet_interval_at(quiet, zone, instant) is not None, (
                f"{instant:%Y-%m-%d %H:%M} UTC ({wall:%H:%M} local) should be quiet"
            )
        instant += timedelta(minutes=5)


@pytest.mark.parametrize(("zone", "day"), TRANSITION_DAYS)
@pytest.mark.parametrize(("start", "end"), NIGHT_WINDOWS)
def test_one_window_end_per_night_across_transitions(
    zone: ZoneInfo, day: date, start: str, end: str
) -> None:
    """A week around the transition (Wednesday noon to Wednesday noon, local) holds seven
    mornings: exactly seven ends, one per local date — none skipped, none doubled."""
    after = local_noon(zone, day - timedelta(days=4))
    upto = local_noon(zone, day + timedelta(days=3))
    ends = window_ends([window("daily", start, end)], zone, after, upto)
    assert len(ends) == 7
    assert len({e.astimezone(zone).date() for e in ends}) == 7
    assert ends == sorted(ends)


@pytest.mark.parametrize(("zone", "day"), TRANSITION_DAYS)
def test_one_window_end_per_night_with_the_demo_policy(zone: ZoneInfo, day: date) -> None:
    demo = [window("mon-thu,sun", "21:30", "07:00"), window("fri-sat", "23:00", "09:00")]
    after = local_noon(zone, day - timedelta(days=4))
    upto = local_noon(zone, day + timedelta(days=3))
    assert len(window_ends(demo, zone, after, upto)) == 7


@pytest.mark.parametrize(
    ("story", "zone", "quiet", "after", "upto", "expected"),
    [
        (
            "spring weekend, 02:15–02:45: Saturday 01:45, Sunday 03:00 CEST, Monday 00:45",
            AMS,
            window("daily", "02:15", "02:45"),
            datetime(2026, 3, 28, 0, 0, tzinfo=UTC),
            datetime(2026, 3, 31, 0, 0, tzinfo=UTC),
            [
                datetime(2026, 3, 28, 1, 45, tzinfo=UTC),
                datetime(2026, 3, 29, 1, 0, tzinfo=UTC),
                datetime(2026, 3, 30, 0, 45, tzinfo=UTC),
            ],
        ),
        (
            "Amsterdam fall weekend, 22:00–02:30: the Sunday end is the second 02:30",
            AMS,
            window("daily", "22:00", "02:30"),
            datetime(2026, 10, 24, 0, 0, tzinfo=UTC),
            datetime(2026, 10, 27, 0, 0, tzinfo=UTC),
            [
                datetime(2026, 10, 24, 0, 30, tzinfo=UTC),
                datetime(2026, 10, 25, 1, 30, tzinfo=UTC),
                datetime(2026, 10, 26, 1, 30, tzinfo=UTC),
            ],
        ),
        (
            "New York fall weekend, 22:00–07:00",
            NYC,
            window("daily", "22:00", "07:00"),
            datetime(2026, 10, 31, 0, 0, tzinfo=UTC),
            datetime(2026, 11, 3, 0, 0, tzinfo=UTC),
            [
                datetime(2026, 10, 31, 11, 0, tzinfo=UTC),
                datetime(2026, 11, 1, 12, 0, tzinfo=UTC),
                datetime(2026, 11, 2, 12, 0, tzinfo=UTC),
            ],
        ),
        (
            "New York spring weekend, 01:00–02:30: Sunday's end is 03:00 EDT",
            NYC,
            window("daily", "01:00", "02:30"),
            datetime(2026, 3, 7, 0, 0, tzinfo=UTC),
            datetime(2026, 3, 10, 0, 0, tzinfo=UTC),
            [
                datetime(2026, 3, 7, 7, 30, tzinfo=UTC),
                datetime(2026, 3, 8, 7, 0, tzinfo=UTC),
                datetime(2026, 3, 9, 6, 30, tzinfo=UTC),
            ],
        ),
        (
            "(after, upto]: an end at `after` is left out, an end at `upto` is in",
            AMS,
            window("daily", "22:00", "07:00"),
            datetime(2026, 1, 12, 6, 0, tzinfo=UTC),
            datetime(2026, 1, 13, 6, 0, tzinfo=UTC),
            [datetime(2026, 1, 13, 6, 0, tzinfo=UTC)],
        ),
    ],
)
def test_window_ends(
    story: str,
    zone: ZoneInfo,
    quiet: QuietWindow,
    after: datetime,
    upto: datetime,
    expected: list[datetime],
) -> None:
    assert window_ends([quiet], zone, after, upto) == expected, story


@pytest.mark.parametrize(
    ("story", "zone", "windows", "after", "expected"),
    [
        (
            "Thursday 23:00 on a school night: Friday 07:00",
            AMS,
            SCHOOL_NIGHTS,
            datetime(2026, 1, 8, 22, 0, tzinfo=UTC),
            datetime(2026, 1, 9, 6, 0, tzinfo=UTC),
        ),
        (
            "exactly at an end: the next one (Friday 07:00 → Monday 07:00)",
            AMS,
            SCHOOL_NIGHTS,
            datetime(2026, 1, 9, 6, 0, tzinfo=UTC),
            datetime(2026, 1, 12, 6, 0, tzinfo=UTC),
        ),
        (
            "Saturday before the spring night, 02:15–02:45: 03:00 CEST on Sunday",
            AMS,
            [window("daily", "02:15", "02:45")],
            datetime(2026, 3, 28, 12, 0, tzinfo=UTC),
            datetime(2026, 3, 29, 1, 0, tzinfo=UTC),
        ),
        (
            "right after the spring night's end: Monday 02:45 CEST",
            AMS,
            [window("daily", "02:15", "02:45")],
            datetime(2026, 3, 29, 1, 0, tzinfo=UTC),
            datetime(2026, 3, 30, 0, 45, tzinfo=UTC),
        ),
        (
            "between the two passes of 02:30 on the fall-back night: the second one",
            AMS,
            [window("daily", "22:00", "02:30")],
            datetime(2026, 10, 25, 0, 45, tzinfo=UTC),
            datetime(2026, 10, 25, 1, 30, tzinfo=UTC),
        ),
        (
            "New York fall-back, 01:15–01:45: the second 01:45",
            NYC,
            [window("daily", "01:15", "01:45")],
            datetime(2026, 11, 1, 0, 0, tzinfo=UTC),
            datetime(2026, 11, 1, 6, 45, tzinfo=UTC),
        ),
        (
            "a Saturday-only window, asked on Sunday: next Sunday morning",
            AMS,
            [window("sat", "23:00", "09:00")],
            datetime(2026, 1, 11, 8, 0, tzinfo=UTC),
            datetime(2026, 1, 18, 8, 0, tzinfo=UTC),
        ),
        ("no windows, no end", AMS, [], datetime(2026, 1, 11, 8, 0, tzinfo=UTC), None),
    ],
)
def test_next_window_end(
    story: str,
    zone: ZoneInfo,
    windows: list[QuietWindow],
    after: datetime,
    expected: datetime | None,
) -> None:
    assert next_window_end(windows, zone, after) == expected, story


# --- daily times --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("story", "zone", "times", "after", "upto", "expected"),
    [
        (
            "18:00 in a winter week: 17:00 UTC each day",
            AMS,
            ["18:00"],
            datetime(2026, 1, 5, 0, 0, tzinfo=UTC),
            datetime(2026, 1, 7, 0, 0, tzinfo=UTC),
            [datetime(2026, 1, 5, 17, 0, tzinfo=UTC), datetime(2026, 1, 6, 17, 0, tzinfo=UTC)],
        ),
        (
            "18:00 across the spring change: 17:00 UTC, then 16:00 UTC",
            AMS,
            ["18:00"],
            datetime(2026, 3, 28, 0, 0, tzinfo=UTC),
            datetime(2026, 3, 30, 0, 0, tzinfo=UTC),
            [datetime(2026, 3, 28, 17, 0, tzinfo=UTC), datetime(2026, 3, 29, 16, 0, tzinfo=UTC)],
        ),
        (
            "02:30 on the spring night does not exist: it fires at 03:00 CEST, not skipped",
            AMS,
            ["02:30"],
            datetime(2026, 3, 28, 12, 0, tzinfo=UTC),
            datetime(2026, 3, 30, 12, 0, tzinfo=UTC),
            [datetime(2026, 3, 29, 1, 0, tzinfo=UTC), datetime(2026, 3, 30, 0, 30, tzinfo=UTC)],
        ),
        (
            "02:30 on the fall-back night happens twice: it fires once, the first time",
            AMS,
            ["02:30"],
            datetime(2026, 10, 24, 12, 0, tzinfo=UTC),
            datetime(2026, 10, 26, 12, 0, tzinfo=UTC),
            [datetime(2026, 10, 25, 0, 30, tzinfo=UTC), datetime(2026, 10, 26, 1, 30, tzinfo=UTC)],
        ),
        (
            "02:15 and 02:45 both in the gap land on 03:00 CEST: one instant",
            AMS,
            ["02:15", "02:45"],
            datetime(2026, 3, 28, 12, 0, tzinfo=UTC),
            datetime(2026, 3, 29, 12, 0, tzinfo=UTC),
            [datetime(2026, 3, 29, 1, 0, tzinfo=UTC)],
        ),
        (
            "New York 02:30 on the spring night: 03:00 EDT",
            NYC,
            ["02:30"],
            datetime(2026, 3, 7, 17, 0, tzinfo=UTC),
            datetime(2026, 3, 9, 17, 0, tzinfo=UTC),
            [datetime(2026, 3, 8, 7, 0, tzinfo=UTC), datetime(2026, 3, 9, 6, 30, tzinfo=UTC)],
        ),
        (
            "New York 01:30 on the fall-back night: once, in EDT",
            NYC,
            ["01:30"],
            datetime(2026, 10, 31, 17, 0, tzinfo=UTC),
            datetime(2026, 11, 2, 17, 0, tzinfo=UTC),
            [datetime(2026, 11, 1, 5, 30, tzinfo=UTC), datetime(2026, 11, 2, 6, 30, tzinfo=UTC)],
        ),
        (
            "two times a day, in order",
            AMS,
            ["18:00", "12:30"],
            datetime(2026, 1, 5, 0, 0, tzinfo=UTC),
            datetime(2026, 1, 6, 0, 0, tzinfo=UTC),
            [datetime(2026, 1, 5, 11, 30, tzinfo=UTC), datetime(2026, 1, 5, 17, 0, tzinfo=UTC)],
        ),
        (
            "(after, upto]: a time at `after` is left out, one at `upto` is in",
            AMS,
            ["18:00"],
            datetime(2026, 1, 5, 17, 0, tzinfo=UTC),
            datetime(2026, 1, 6, 17, 0, tzinfo=UTC),
            [datetime(2026, 1, 6, 17, 0, tzinfo=UTC)],
        ),
        (
            "no times",
            AMS,
            [],
            datetime(2026, 1, 5, tzinfo=UTC),
            datetime(2026, 1, 9, tzinfo=UTC),
            [],
        ),
    ],
)
def test_daily_times(
    story: str,
    zone: ZoneInfo,
    times: list[str],
    after: datetime,
    upto: datetime,
    expected: list[datetime],
) -> None:
    assert daily_times([hm(t) for t in times], zone, after, upto) == expected, story


@pytest.mark.parametrize(("zone", "day"), TRANSITION_DAYS)
@pytest.mark.parametrize("wall", ["00:30", "01:30", "02:00", "02:30", "03:00", "18:00"])
def test_daily_time_once_a_day_across_transitions(zone: ZoneInfo, day: date, wall: str) -> None:
    after = local_noon(zone, day - timedelta(days=4))
    upto = local_noon(zone, day + timedelta(days=3))
    fired = daily_times([hm(wall)], zone, after, upto)
    assert len(fired) == 7
    assert len({f.astimezone(zone).date() for f in fired}) == 7
