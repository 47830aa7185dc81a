"""Quiet windows and daily times in household local time, resolved to UTC instants.

PRODUCT.md's DST rule, made explicit instead of left to `fold` defaults:
quiet hours never get shorter. A wall time that does not exist (spring forward) moves to the
first instant after the gap; an ambiguous start takes the earlier instant, an ambiguous end the
later one. Every boundary is computed per local date and resolved on its own: never by adding
24 hours to the previous one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import Enum
from functools import lru_cache
from zoneinfo import ZoneInfo

from babel.dates import get_day_names

from guardian.i18n import SOURCE_LANGUAGE, Language
from guardian.words import OverrideKind

DAY_NAMES = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
#: The same days as people read them: `Mon`, ... `Sun`.
DAY_LABELS = tuple(name.capitalize() for name in DAY_NAMES)


class Ambiguity(Enum):
    EARLIER = 0
    LATER = 1


@dataclass(frozen=True)
class QuietWindow:
    """Quiet from `start` to `end` on `days` (0 = Monday); end <= start crosses midnight."""

    days: frozenset[int]
    start: time
    end: time

    @property
    def crosses_midnight(self) -> bool:
        return self.end <= self.start


@dataclass(frozen=True)
class Override:
    """A one-off change to one member's quiet hours, made on the dashboard ("quiet now until
    07:30", "pause quiet hours tonight", "one more hour"): quiet from `start` to `end`
    (`quiet`), or no quiet hours then (`pause`). UTC instants; it is a state kept in the
    database, not a setting, and it counts wherever the member's windows do."""

    kind: OverrideKind
    start: datetime
    end: datetime


#: What a member's quiet hours are made of: the policy's weekly windows and the member's
#: overrides (guardian.policy_settings.PolicySettings.windows() gives both).
QuietPart = QuietWindow | Override


@dataclass(frozen=True)
class Interval:
    start: datetime
    end: datetime

    def __contains__(self, instant: datetime) -> bool:
        return self.start <= instant < self.end


def parse_days(spec: str) -> frozenset[int]:
    """`mon-thu,sun` → {0, 1, 2, 3, 6}; ranges may wrap (`fri-mon`); `daily` is every day."""
    spec = spec.strip().lower()
    if spec in ("daily", "every day", "*"):
        return frozenset(range(7))
    days: set[int] = set()
    for part in spec.split(","):
        part = part.strip()
        match = re.fullmatch(r"([a-z]{3})(?:\s*-\s*([a-z]{3}))?", part)
        if not match or match[1] not in DAY_NAMES or (match[2] and match[2] not in DAY_NAMES):
            raise ValueError(f"not a day or day range: {part!r} (use mon, tue, ..., sun)")
        first = DAY_NAMES.index(match[1])
        last = DAY_NAMES.index(match[2]) if match[2] else first
        day = first
        days.add(day)
        while day != last:
            day = (day + 1) % 7
            days.add(day)
    return frozenset(days)


def resolve_local(day: date, wall: time, zone: ZoneInfo, ambiguity: Ambiguity) -> datetime:
    """The UTC instant of `wall` on local `day`, by the DST rule above."""
    naive = datetime.combine(day, wall)
    earlier = naive.replace(tzinfo=zone, fold=0).astimezone(UTC)
    later = naive.replace(tzinfo=zone, fold=1).astimezone(UTC)
    if earlier == later:
        return earlier
    if _exists(earlier, naive, zone) and _exists(later, naive, zone):
        return earlier if ambiguity is Ambiguity.EARLIER else later
    # A gap: the wall time never happens; the first instant after it is the transition.
    return _transition_between(min(earlier, later), max(earlier, later), zone)


def _exists(instant: datetime, naive: datetime, zone: ZoneInfo) -> bool:
    return instant.astimezone(zone).replace(tzinfo=None) == naive


def _transition_between(low: datetime, high: datetime, zone: ZoneInfo) -> datetime:
    """The first instant in (low, high] whose UTC offset differs from low's (to the second)."""
    before = low.astimezone(zone).utcoffset()
    while high - low > timedelta(seconds=1):
        middle = low + (high - low) / 2
        middle = middle.replace(microsecond=0)
        if middle.astimezone(zone).utcoffset() == before:
            low = middle
        else:
            high = middle
    return high


def occurrences(
    windows: Iterable[QuietPart], zone: ZoneInfo, start: datetime, end: datetime
) -> list[Interval]:
    """Every quiet interval that overlaps [start, end), overlapping ones merged, in order:
    the weekly windows and the `quiet` overrides, less the `pause` overrides."""
    first_day = start.astimezone(zone).date() - timedelta(days=2)
    last_day = end.astimezone(zone).date() + timedelta(days=1)
    found: list[Interval] = []
    pauses: list[Interval] = []
    for window in windows:
        if isinstance(window, Override):
            if window.end > start and window.start < end and window.end > window.start:
                kept = pauses if window.kind == OverrideKind.PAUSE else found
                kept.append(Interval(window.start, window.end))
            continue
        day = first_day
        while day <= last_day:
            if day.weekday() in window.days:
                end_day = day + timedelta(days=1) if window.crosses_midnight else day
                interval = Interval(
                    resolve_local(day, window.start, zone, Ambiguity.EARLIER),
                    resolve_local(end_day, window.end, zone, Ambiguity.LATER),
                )
                # A window wholly inside a spring-forward gap is empty (start and end both move
                # to the end of the gap) but keeps its end: its summary is never skipped.
                if interval.end > start and interval.start < end and interval.end >= interval.start:
                    found.append(interval)
            day += timedelta(days=1)
    merged = _merge(found)
    return _without(merged, _merge(pauses)) if pauses else merged


def _without(intervals: Sequence[Interval], pauses: Sequence[Interval]) -> list[Interval]:
    """`intervals` less the paused spans: a pause from 23:00 makes a 21:30–07:00 interval end
    at 23:00 (its summary is then due at 23:00); one that covers it removes it."""
    kept: list[Interval] = []
    for interval in intervals:
        pieces = [interval]
        for pause in pauses:
            if not (pause.start < interval.end and interval.start < pause.end):
                continue
            cut: list[Interval] = []
            for piece in pieces:
                if piece.start < pause.start:
                    cut.append(Interval(piece.start, min(piece.end, pause.start)))
                if pause.end < piece.end:
                    cut.append(Interval(max(piece.start, pause.end), piece.end))
            pieces = cut
        kept.extend(pieces)
    return kept


def _merge(intervals: Sequence[Interval]) -> list[Interval]:
    merged: list[Interval] = []
    for interval in sorted(intervals, key=lambda i: i.start):
        if merged and interval.start <= merged[-1].end:
            last = merged[-1]
            merged[-1] = Interval(last.start, max(last.end, interval.end))
        else:
            merged.append(interval)
    return merged


def quiet_interval_at(
    windows: Sequence[QuietPart], zone: ZoneInfo, instant: datetime
) -> Interval | None:
    """The quiet interval containing `instant`, or None when it is not quiet hours."""
    for interval in _calendar(tuple(windows), zone, instant.astimezone(UTC).date()):
        if instant in interval:
            return interval
    return None


@lru_cache(maxsize=1024)
def _calendar(windows: tuple[QuietPart, ...], zone: ZoneInfo, day: date) -> tuple[Interval, ...]:
    """The merged quiet intervals around `day`, computed once per day: `decide` runs for every
    notification, and resolving boundaries in a zone is the expensive part."""
    # Merged intervals can chain across days; look far enough back to see a whole chain.
    middle = datetime.combine(day, time(12), tzinfo=UTC)
    return tuple(occurrences(windows, zone, middle - timedelta(days=9), middle + timedelta(days=9)))


def window_ends(
    windows: Sequence[QuietPart], zone: ZoneInfo, after: datetime, upto: datetime
) -> list[datetime]:
    """Ends of quiet intervals in (after, upto], oldest first."""
    span = occurrences(windows, zone, after - timedelta(days=8), upto + timedelta(days=8))
    return [i.end for i in span if after < i.end <= upto]


def daily_times(
    times: Sequence[time], zone: ZoneInfo, after: datetime, upto: datetime
) -> list[datetime]:
    """Instants of local daily `times` in (after, upto]; an ambiguous time fires once, the first."""
    found: set[datetime] = set()
    day = after.astimezone(zone).date() - timedelta(days=1)
    last_day = upto.astimezone(zone).date() + timedelta(days=1)
    while day <= last_day:
        for wall in times:
            instant = resolve_local(day, wall, zone, Ambiguity.EARLIER)
            if after < instant <= upto:
                found.add(instant)
        day += timedelta(days=1)
    return sorted(found)


def next_window_end(
    windows: Sequence[QuietPart], zone: ZoneInfo, after: datetime
) -> datetime | None:
    """The first quiet-interval end after `after`, looking up to two weeks ahead."""
    ends = window_ends(windows, zone, after, after + timedelta(days=15))
    return ends[0] if ends else None


def days_label(days: frozenset[int], t: Language | None = None) -> str:
    """{0, 1, 2, 3, 6} → `Sun–Thu`; runs of days wrap around the week, as windows do."""
    if len(days) == 7:
        # Translators: quiet hours on all seven days ("every day 21:00–07:00").
        return t.gettext("every day") if t is not None else "every day"
    runs: list[list[int]] = []
    # Start just after a day that is not in the set, so that a run over Sunday stays whole.
    first = next(d for d in range(7) if (d - 1) % 7 not in days and d in days)
    for offset in range(7):
        day = (first + offset) % 7
        if day not in days:
            continue
        if runs and (runs[-1][-1] + 1) % 7 == day:
            runs[-1].append(day)
        else:
            runs.append([day])
    labels = DAY_LABELS
    if t is not None and t.code != SOURCE_LANGUAGE:  # CLDR's: `ma`, `Mo.`, `lun.`
        names = get_day_names("abbreviated", locale=t.locale)
        labels = tuple(names[day] for day in range(7))
    parts = []
    for run in runs:
        if len(run) == 1:
            parts.append(labels[run[0]])
        elif len(run) == 2:
            parts.append(f"{labels[run[0]]}, {labels[run[1]]}")
        else:
            parts.append(f"{labels[run[0]]}–{labels[run[-1]]}")
    return ", ".join(parts)
