"""The quick controls as a table: what each adds at `now`, and the quiet hours that result."""

from __future__ import annotations

from datetime import time
from zoneinfo import ZoneInfo

import pytest

from guardian.overrides import ControlError, plan
from guardian.windows import Override, QuietWindow, quiet_interval_at, window_ends
from tests.conftest import at

ZONE = ZoneInfo("Europe/Amsterdam")
SCHOOL_NIGHT = [QuietWindow(frozenset({0, 1, 2, 3, 6}), time(21, 30), time(7, 0))]
TUE_2200 = at("2026-11-24T22:00:00+01:00")
TUE_1900 = at("2026-11-24T19:00:00+01:00")
WED_0700 = at("2026-11-25T07:00:00+01:00")


@pytest.mark.parametrize(
    ("control", "now", "until", "added", "quiet_until"),
    [
        # In quiet hours: an hour more, a pause from now, quiet until a time (later or earlier).
        (
            "one_more_hour",
            TUE_2200,
            None,
            [Override("quiet", WED_0700, at("2026-11-25T08:00:00+01:00"))],
            at("2026-11-25T08:00:00+01:00"),
        ),
        ("pause_tonight", TUE_2200, None, [Override("pause", TUE_2200, WED_0700)], None),
        (
            "quiet_until",
            TUE_2200,
            at("2026-11-25T09:00:00+01:00"),
            [Override("quiet", TUE_2200, at("2026-11-25T09:00:00+01:00"))],
            at("2026-11-25T09:00:00+01:00"),
        ),
        (
            "quiet_until",
            TUE_2200,
            at("2026-11-25T06:30:00+01:00"),
            [
                Override("quiet", TUE_2200, at("2026-11-25T06:30:00+01:00")),
                Override("pause", at("2026-11-25T06:30:00+01:00"), WED_0700),
            ],
            at("2026-11-25T06:30:00+01:00"),
        ),
        # Before tonight's quiet hours: the pause takes all of tonight's; an hour from now.
        (
            "pause_tonight",
            TUE_1900,
            None,
            [Override("pause", at("2026-11-24T21:30:00+01:00"), WED_0700)],
            None,
        ),
        (
            "one_more_hour",
            TUE_1900,
            None,
            [Override("quiet", TUE_1900, at("2026-11-24T20:00:00+01:00"))],
            at("2026-11-24T20:00:00+01:00"),
        ),
    ],
)
def test_what_a_control_adds(
    control: str, now: object, until: object, added: list[Override], quiet_until: object
) -> None:
    found = plan(control, SCHOOL_NIGHT, ZONE, now, until)  # type: ignore[arg-type]
    assert found == added
    interval = quiet_interval_at([*SCHOOL_NIGHT, *found], ZONE, now)  # type: ignore[arg-type]
    assert (interval.end if interval else None) == quiet_until


def test_a_pause_in_quiet_hours_makes_the_summary_due_now() -> None:
    paused = [*SCHOOL_NIGHT, *plan("pause_tonight", SCHOOL_NIGHT, ZONE, TUE_2200)]
    assert window_ends(paused, ZONE, TUE_1900, WED_0700) == [TUE_2200]


def test_controls_that_make_no_sense_are_refused() -> None:
    saturday = at("2026-11-28T12:00:00+01:00")  # Fri and Sat nights are not quiet
    with pytest.raises(ControlError):
        plan("pause_tonight", SCHOOL_NIGHT, ZONE, saturday)
    with pytest.raises(ControlError):
        plan("quiet_until", SCHOOL_NIGHT, ZONE, TUE_2200, TUE_1900)
    with pytest.raises(ControlError):
        plan("quiet_until", SCHOOL_NIGHT, ZONE, TUE_2200, at("2026-11-26T22:00:00+01:00"))
    with pytest.raises(ControlError):
        plan("quiet_until", SCHOOL_NIGHT, ZONE, TUE_2200, None)
