"""Pure decisions: what happens to one notification at `now`. No I/O, no clock of its own."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from zoneinfo import ZoneInfo

from guardian.settings import PolicySettings
from guardian.windows import daily_times, quiet_interval_at, window_ends


class Action(StrEnum):
    FORWARD = "forward"
    HOLD = "hold"


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str


def decide(policy: PolicySettings, zone: ZoneInfo, now: datetime) -> Decision:
    """Hold during quiet hours, forward at once outside them."""
    quiet = quiet_interval_at(policy.windows(), zone, now)
    if quiet is not None:
        return Decision(Action.HOLD, "quiet hours")
    return Decision(Action.FORWARD, "outside quiet hours")


def summary_times(
    policy: PolicySettings, zone: ZoneInfo, after: datetime, upto: datetime
) -> list[datetime]:
    """When summaries are due in (after, upto]: each quiet window's end, and the policy's daily
    summary times that fall outside quiet hours (nothing is pushed during them)."""
    windows = policy.windows()
    due = set(window_ends(windows, zone, after, upto))
    for instant in daily_times(policy.summaries, zone, after, upto):
        if quiet_interval_at(windows, zone, instant) is None:
            due.add(instant)
    return sorted(due)


def next_summary_time(policy: PolicySettings, zone: ZoneInfo, after: datetime) -> datetime | None:
    from datetime import timedelta

    horizon = after
    for days in (1, 8, 15):
        upto = after + timedelta(days=days)
        due = summary_times(policy, zone, horizon, upto)
        if due:
            return due[0]
        horizon = upto
    return None
