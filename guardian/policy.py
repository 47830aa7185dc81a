"""Pure decisions: what happens to one notification at `now`. No I/O, no clock of its own."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from guardian.durations import format_duration
from guardian.settings import PolicySettings
from guardian.windows import daily_times, quiet_interval_at, window_ends


class Action(StrEnum):
    FORWARD = "forward"  # pushed at once
    HOLD = "hold"  # kept for the next summary
    FOLD = "fold"  # part of a burst: counted in a burst notice
    BREAKTHROUGH = "breakthrough"  # pushed at once, urgent, through quiet hours and bursts


@dataclass(frozen=True)
class Seen:
    """An earlier notification from the same sender to the same member, as decided then."""

    at: datetime
    action: Action
    reason: str = ""
    quiet: bool = False


@dataclass(frozen=True)
class Decision:
    action: Action
    reason: str
    #: This notification starts a storm (`storm.count` within `storm.within` in quiet hours).
    storm: bool = False

    @property
    def pushed(self) -> bool:
        return self.action in (Action.FORWARD, Action.BREAKTHROUGH)


REPEATED = "repeated contact"


def decide(
    policy: PolicySettings,
    zone: ZoneInfo,
    now: datetime,
    *,
    trust: str = "normal",
    text: str = "",
    recent: Sequence[Seen] = (),
) -> Decision:
    """What happens to one notification at `now`, given who sent it and what they sent before.

    Muted contacts are never pushed; trusted contacts, keywords and repeated contact break
    through quiet hours and bursts; in quiet hours everything else is held; outside them a
    contact's notifications beyond `burst.limit` within `burst.per` are folded into a burst.
    """
    quiet = quiet_interval_at(policy.windows(), zone, now) is not None
    storm = quiet and _starts_storm(policy, now, recent)
    if trust == "muted":
        return Decision(Action.HOLD, "muted contact", storm)
    if trust == "trusted":
        return Decision(Action.BREAKTHROUGH, "trusted contact", storm)
    keyword = matching_keyword(policy.breakthrough.keywords, text)
    if keyword is not None:
        return Decision(Action.BREAKTHROUGH, f"keyword “{keyword}”", storm)
    repeated = policy.breakthrough.repeated
    if repeated is not None:
        within = [s for s in recent if now - s.at < repeated.within]
        if len(within) + 1 >= repeated.count and not _episode_broke_through(
            recent, now, repeated.within
        ):
            minutes = format_duration(repeated.within)
            return Decision(
                Action.BREAKTHROUGH,
                f"{REPEATED}: {len(within) + 1} messages within {minutes}",
                storm,
            )
    if quiet:
        return Decision(Action.HOLD, "quiet hours", storm)
    burst = policy.burst
    if burst is not None and sum(1 for s in recent if now - s.at < burst.per) >= burst.limit:
        return Decision(Action.FOLD, "burst")
    return Decision(Action.FORWARD, "outside quiet hours")


def _chain(recent: Sequence[Seen], now: datetime, gap: timedelta) -> list[Seen]:
    """The run of messages leading up to `now` with less than `gap` between neighbours."""
    chain: list[Seen] = []
    later = now
    for seen in sorted(recent, key=lambda s: s.at, reverse=True):
        if later - seen.at >= gap:
            break
        chain.append(seen)
        later = seen.at
    return chain


def _episode_broke_through(recent: Sequence[Seen], now: datetime, gap: timedelta) -> bool:
    """Repeated contact breaks through once per episode, not on every later message."""
    return any(s.reason.startswith(REPEATED) for s in _chain(recent, now, gap))


def _starts_storm(policy: PolicySettings, now: datetime, recent: Sequence[Seen]) -> bool:
    """True for the message that makes `count` within `within` in quiet hours, once per storm."""
    storm = policy.storm
    if storm is None:
        return False
    quiet = [s for s in recent if s.quiet]
    in_window = [s for s in quiet if now - s.at < storm.within]
    if len(in_window) + 1 < storm.count:
        return False
    return not _storm_reached(quiet, now, storm.count, storm.within)


def storm_running(policy: PolicySettings, now: datetime, recent: Sequence[Seen]) -> bool:
    """True while the sender's unbroken run of quiet-hours messages is already a storm."""
    storm = policy.storm
    if storm is None:
        return False
    return _storm_reached([s for s in recent if s.quiet], now, storm.count, storm.within)


def _storm_reached(quiet: Sequence[Seen], now: datetime, count: int, within: timedelta) -> bool:
    """Whether the run leading up to `now` had `count` messages within `within` (a sliding
    window over the run, linear in its length: a long storm stays cheap)."""
    chain = sorted(_chain(quiet, now, within), key=lambda s: s.at)
    first = 0
    for last, seen in enumerate(chain):
        while seen.at - chain[first].at >= within:
            first += 1
        if last - first + 1 >= count:
            return True
    return False


def _fold_accents(text: str) -> str:
    decomposed = unicodedata.normalize("NFKD", " ".join(text.casefold().split()))
    return "".join(c for c in decomposed if not unicodedata.combining(c))


def matching_keyword(keywords: Sequence[str], text: str) -> str | None:
    """The first keyword found as a whole word (or phrase), case- and accent-insensitively."""
    if not keywords or not text:
        return None
    haystack = _fold_accents(text)
    for keyword in keywords:
        needle = _fold_accents(keyword).strip()
        if needle and re.search(rf"(?<!\w){re.escape(needle)}(?!\w)", haystack):
            return keyword
    return None


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
    horizon = after
    for days in (1, 8, 15):
        upto = after + timedelta(days=days)
        due = summary_times(policy, zone, horizon, upto)
        if due:
            return due[0]
        horizon = upto
    return None
