"""The pure policy: hold during quiet hours, forward outside; when summaries are due.

Times are worked out by hand: Amsterdam is UTC+1 in winter, UTC+2 in summer; it springs forward
on Sunday 29 March 2026 at 01:00 UTC and falls back on Sunday 25 October 2026 at 01:00 UTC.
In January 2026, the 8th is a Thursday, the 12th a Monday.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from guardian.policy import Action, Decision, decide, next_summary_time, summary_times
from guardian.policy_settings import PolicySettings

AMS = ZoneInfo("Europe/Amsterdam")


def policy(*quiet: tuple[str, str, str], summaries: tuple[str, ...] = ()) -> PolicySettings:
    spec: dict[str, Any] = {
        "quiet": [{"days": days, "start": start, "end": end} for days, start, end in quiet],
        "summaries": list(summaries),
    }
    return PolicySettings.model_validate(spec)


SCHOOL_NIGHT = policy(("mon-thu,sun", "21:30", "07:00"), ("mon-fri", "08:30", "15:00"))
HOLD = Decision(Action.HOLD, "quiet hours")
FORWARD = Decision(Action.FORWARD, "outside quiet hours")


@pytest.mark.parametrize(
    ("story", "rules", "now", "expected"),
    [
        (
            "Thursday 23:00, a friend texts: held",
            SCHOOL_NIGHT,
            datetime(2026, 1, 8, 22, 0, tzinfo=UTC),
            HOLD,
        ),
        (
            "Friday 06:59: still held",
            SCHOOL_NIGHT,
            datetime(2026, 1, 9, 5, 59, tzinfo=UTC),
            HOLD,
        ),
        (
            "Friday 07:00: the window has ended, forwarded",
            SCHOOL_NIGHT,
            datetime(2026, 1, 9, 6, 0, tzinfo=UTC),
            FORWARD,
        ),
        (
            "Friday 10:00, in school: held",
            SCHOOL_NIGHT,
            datetime(2026, 1, 9, 9, 0, tzinfo=UTC),
            HOLD,
        ),
        (
            "Friday 23:00, no school night: forwarded",
            SCHOOL_NIGHT,
            datetime(2026, 1, 9, 22, 0, tzinfo=UTC),
            FORWARD,
        ),
        (
            "Saturday 10:00, no school: forwarded",
            SCHOOL_NIGHT,
            datetime(2026, 1, 10, 9, 0, tzinfo=UTC),
            FORWARD,
        ),
        (
            "a policy without quiet hours forwards at any hour",
            policy(),
            datetime(2026, 1, 8, 2, 0, tzinfo=UTC),
            FORWARD,
        ),
        (
            "spring night, 01:00–02:30: 01:30 CET is held",
            policy(("daily", "01:00", "02:30")),
            datetime(2026, 3, 29, 0, 30, tzinfo=UTC),
            HOLD,
        ),
        (
            "spring night, 01:00–02:30: 03:00 CEST is forwarded",
            policy(("daily", "01:00", "02:30")),
            datetime(2026, 3, 29, 1, 0, tzinfo=UTC),
            FORWARD,
        ),
        (
            "fall-back night, 22:00–02:30: the second 02:15 (CET) is held",
            policy(("daily", "22:00", "02:30")),
            datetime(2026, 10, 25, 1, 15, tzinfo=UTC),
            HOLD,
        ),
        (
            "fall-back night, 22:00–02:30: the second 02:30 (CET) is forwarded",
            policy(("daily", "22:00", "02:30")),
            datetime(2026, 10, 25, 1, 30, tzinfo=UTC),
            FORWARD,
        ),
    ],
)
def test_decide(story: str, rules: PolicySettings, now: datetime, expected: Decision) -> None:
    decision = decide(rules, AMS, now)
    assert (decision.action, decision.reason) == (expected.action, expected.reason), story


@pytest.mark.parametrize(
    ("story", "rules", "after", "upto", "expected"),
    [
        (
            "Monday: the night's end at 07:00 and a 07:00 summary are one; 12:30 is in school"
            " and skipped; 15:00 ends school; 22:00 is in the school night and skipped",
            policy(
                ("mon-thu,sun", "21:30", "07:00"),
                ("mon-fri", "08:30", "15:00"),
                summaries=("07:00", "12:30", "22:00"),
            ),
            datetime(2026, 1, 11, 23, 0, tzinfo=UTC),
            datetime(2026, 1, 12, 23, 0, tzinfo=UTC),
            [
                datetime(2026, 1, 12, 6, 0, tzinfo=UTC),
                datetime(2026, 1, 12, 14, 0, tzinfo=UTC),
            ],
        ),
        (
            "Monday without school: 12:30 is sent as well",
            policy(("mon-thu,sun", "21:30", "07:00"), summaries=("07:00", "12:30", "22:00")),
            datetime(2026, 1, 11, 23, 0, tzinfo=UTC),
            datetime(2026, 1, 12, 23, 0, tzinfo=UTC),
            [
                datetime(2026, 1, 12, 6, 0, tzinfo=UTC),
                datetime(2026, 1, 12, 11, 30, tzinfo=UTC),
            ],
        ),
        (
            "Friday: 22:00 is outside quiet hours on a Friday, so it is sent",
            policy(("mon-thu,sun", "21:30", "07:00"), summaries=("07:00", "12:30", "22:00")),
            datetime(2026, 1, 8, 23, 0, tzinfo=UTC),
            datetime(2026, 1, 9, 23, 0, tzinfo=UTC),
            [
                datetime(2026, 1, 9, 6, 0, tzinfo=UTC),
                datetime(2026, 1, 9, 11, 30, tzinfo=UTC),
                datetime(2026, 1, 9, 21, 0, tzinfo=UTC),
            ],
        ),
        (
            "a daily time at a window's start is inside it: skipped on Monday",
            policy(("mon-thu,sun", "21:30", "07:00"), summaries=("21:30",)),
            datetime(2026, 1, 12, 12, 0, tzinfo=UTC),
            datetime(2026, 1, 12, 23, 0, tzinfo=UTC),
            [],
        ),
        (
            "a daily time at a window's end is sent once, with the window's summary",
            policy(("daily", "22:00", "07:00"), summaries=("07:00",)),
            datetime(2026, 1, 12, 0, 0, tzinfo=UTC),
            datetime(2026, 1, 14, 0, 0, tzinfo=UTC),
            [
                datetime(2026, 1, 12, 6, 0, tzinfo=UTC),
                datetime(2026, 1, 13, 6, 0, tzinfo=UTC),
            ],
        ),
        (
            "no quiet hours: only the daily times",
            policy(summaries=("18:00",)),
            datetime(2026, 1, 12, 0, 0, tzinfo=UTC),
            datetime(2026, 1, 14, 0, 0, tzinfo=UTC),
            [
                datetime(2026, 1, 12, 17, 0, tzinfo=UTC),
                datetime(2026, 1, 13, 17, 0, tzinfo=UTC),
            ],
        ),
        (
            "spring night: the window 01:00–02:30 ends at 03:00 CEST, and so does a 03:00"
            " summary; one",
            policy(("daily", "01:00", "02:30"), summaries=("03:00",)),
            datetime(2026, 3, 28, 12, 0, tzinfo=UTC),
            datetime(2026, 3, 29, 12, 0, tzinfo=UTC),
            [datetime(2026, 3, 29, 1, 0, tzinfo=UTC)],
        ),
        (
            "spring night: a window wholly in the gap still has its summary at 03:00 CEST",
            policy(("daily", "02:15", "02:45")),
            datetime(2026, 3, 28, 12, 0, tzinfo=UTC),
            datetime(2026, 3, 29, 12, 0, tzinfo=UTC),
            [datetime(2026, 3, 29, 1, 0, tzinfo=UTC)],
        ),
        (
            "fall-back night: a 02:30 summary falls in the first 02:30, inside quiet hours that"
            " run to the second 02:30; skipped, the window's end is the one summary",
            policy(("daily", "22:00", "02:30"), summaries=("02:30",)),
            datetime(2026, 10, 24, 12, 0, tzinfo=UTC),
            datetime(2026, 10, 25, 12, 0, tzinfo=UTC),
            [datetime(2026, 10, 25, 1, 30, tzinfo=UTC)],
        ),
        (
            "fall-back night: a 07:00 summary at the end of 22:00–07:00 is sent once",
            policy(("daily", "22:00", "07:00"), summaries=("07:00",)),
            datetime(2026, 10, 24, 12, 0, tzinfo=UTC),
            datetime(2026, 10, 25, 12, 0, tzinfo=UTC),
            [datetime(2026, 10, 25, 6, 0, tzinfo=UTC)],
        ),
    ],
)
def test_summary_times(
    story: str,
    rules: PolicySettings,
    after: datetime,
    upto: datetime,
    expected: list[datetime],
) -> None:
    assert summary_times(rules, AMS, after, upto) == expected, story


@pytest.mark.parametrize(
    ("story", "rules", "after", "expected"),
    [
        (
            "Thursday 23:00 on a school night: Friday 07:00",
            policy(("mon-thu,sun", "21:30", "07:00"), summaries=("12:30",)),
            datetime(2026, 1, 8, 22, 0, tzinfo=UTC),
            datetime(2026, 1, 9, 6, 0, tzinfo=UTC),
        ),
        (
            "right at Friday 07:00: the 12:30 summary",
            policy(("mon-thu,sun", "21:30", "07:00"), summaries=("12:30",)),
            datetime(2026, 1, 9, 6, 0, tzinfo=UTC),
            datetime(2026, 1, 9, 11, 30, tzinfo=UTC),
        ),
        (
            "right at Sunday 29 March 18:00 CEST: the next day's 18:00 CEST",
            policy(summaries=("18:00",)),
            datetime(2026, 3, 29, 16, 0, tzinfo=UTC),
            datetime(2026, 3, 30, 16, 0, tzinfo=UTC),
        ),
        (
            "a Saturday-only window, asked on Sunday morning: a week ahead",
            policy(("sat", "23:00", "09:00")),
            datetime(2026, 1, 11, 8, 0, tzinfo=UTC),
            datetime(2026, 1, 18, 8, 0, tzinfo=UTC),
        ),
        (
            "Saturday before the spring night, window in the gap: Sunday 03:00 CEST",
            policy(("daily", "02:15", "02:45")),
            datetime(2026, 3, 28, 12, 0, tzinfo=UTC),
            datetime(2026, 3, 29, 1, 0, tzinfo=UTC),
        ),
        (
            "between the two 02:30s of the fall-back night: the second one",
            policy(("daily", "22:00", "02:30"), summaries=("02:30",)),
            datetime(2026, 10, 25, 0, 30, tzinfo=UTC),
            datetime(2026, 10, 25, 1, 30, tzinfo=UTC),
        ),
        (
            "nothing configured: a daily summary at 18:00, for what muted contacts send",
            policy(),
            datetime(2026, 1, 8, 22, 0, tzinfo=UTC),
            datetime(2026, 1, 9, 17, 0, tzinfo=UTC),
        ),
    ],
)
def test_next_summary_time(
    story: str, rules: PolicySettings, after: datetime, expected: datetime | None
) -> None:
    assert next_summary_time(rules, AMS, after) == expected, story


def test_summaries_over_a_fall_back_week_are_one_a_night() -> None:
    """Wednesday noon to Wednesday noon around 25 October: seven nights, seven summaries at
    the windows' ends and none doubled by the repeated hour, plus seven 18:00 summaries."""
    rules = policy(("daily", "22:00", "02:30"), summaries=("18:00",))
    due = summary_times(
        rules,
        AMS,
        datetime(2026, 10, 21, 10, 0, tzinfo=UTC),
        datetime(2026, 10, 28, 11, 0, tzinfo=UTC),
    )
    assert len(due) == 14
    assert len(set(due)) == 14
