"""Quick controls: change one member's quiet hours for tonight, at once, and undo it.

"Quiet now until 07:30", "pause quiet hours tonight" and "one more hour" each become one or two
quiet-hours overrides (guardian.windows.Override) kept in the database beside the member. They
are not settings: settings.toml and `guardian export` never carry them, and they run out by
themselves. The household view gives each member's policy its overrides, so that everything
that asks the policy's windows (the decision at ingest, the timer, the pages) takes them up;
each control goes through `Admin.change()` (audited, reloaded, the member's summary moved to the
new end of their quiet hours). `plan()` is pure: what a control does at `now`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from guardian.windows import Interval, Override, QuietPart, occurrences, quiet_interval_at
from guardian.words import OverrideKind

Control = Literal["quiet_until", "pause_tonight", "one_more_hour"]
CONTROLS: tuple[Control, ...] = ("quiet_until", "pause_tonight", "one_more_hour")
ONE_HOUR = timedelta(hours=1)
#: "Tonight" is the quiet interval going on, or the next one starting within this.
TONIGHT = timedelta(hours=24)
#: The furthest a "quiet now until" may reach.
LONGEST = timedelta(hours=24)
#: Overrides are kept this long after they ended (the activity chart shows the past weeks).
KEPT = timedelta(days=32)


class ControlError(ValueError):
    """A control that makes no sense now (nothing to pause, an end in the past)."""


def current_or_next(windows: Sequence[QuietPart], zone: ZoneInfo, now: datetime) -> Interval | None:
    """Tonight's quiet interval: the one going on, or the next one starting within TONIGHT."""
    going_on = quiet_interval_at(windows, zone, now)
    if going_on is not None:
        return going_on
    upcoming = [i for i in occurrences(windows, zone, now, now + TONIGHT) if i.start >= now]
    return upcoming[0] if upcoming else None


def plan(
    control: Control,
    windows: Sequence[QuietPart],
    zone: ZoneInfo,
    now: datetime,
    until: datetime | None = None,
) -> list[Override]:
    """The overrides that `control` adds at `now` to a member with these windows."""
    going_on = quiet_interval_at(windows, zone, now)
    if control == "quiet_until":
        if until is None:
            raise ControlError("say until when")
        if until <= now:
            raise ControlError("the end of the quiet time must be later than now")
        if until - now > LONGEST:
            raise ControlError("quiet now can last at most 24 hours")
        found = [Override(OverrideKind.QUIET, now, until)]
        # Quiet "until 06:30" ends at 06:30, even inside a window that would go on to 07:00.
        following = quiet_interval_at([*windows, *found], zone, until - timedelta(microseconds=1))
        if following is not None and following.end > until:
            found.append(Override(OverrideKind.PAUSE, until, following.end))
        return found
    if control == "pause_tonight":
        tonight = current_or_next(windows, zone, now)
        if tonight is None:
            raise ControlError("there are no quiet hours tonight to pause")
        return [Override(OverrideKind.PAUSE, max(now, tonight.start), tonight.end)]
    if going_on is not None:
        return [Override(OverrideKind.QUIET, going_on.end, going_on.end + ONE_HOUR)]
    return [Override(OverrideKind.QUIET, now, now + ONE_HOUR)]


@dataclass(frozen=True)
class Tonight:
    """A member's quiet hours as they stand at `now`, overrides included."""

    quiet_now: bool
    #: The end of the quiet hours going on, or of tonight's when they are still to come.
    start: datetime | None
    end: datetime | None


def tonight(windows: Sequence[QuietPart], zone: ZoneInfo, now: datetime) -> Tonight:
    interval = current_or_next(windows, zone, now)
    if interval is None:
        return Tonight(False, None, None)
    return Tonight(now in interval, interval.start, interval.end)
