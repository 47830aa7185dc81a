"""Pure decisions: what happens to one notification at `now`. No I/O, no clock of its own."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, time, timedelta
from enum import StrEnum
from functools import lru_cache
from zoneinfo import ZoneInfo

from guardian.durations import format_duration
from guardian.policy_settings import PolicySettings
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


REPEATED = "repeated contact"


@dataclass(frozen=True)
class SenderState:
    """What the policy keeps of one sender's recent messages to one member.

    It lives in the database beside the notifications, and is read (under a lock) and written
    in the transaction that stores the next one: whichever instance takes a message decides from
    the same facts, and a retry or a refused request never reaches it. Only what the member's
    policy needs is kept: the arrivals within its longest window, at most its largest count.
    """

    #: Arrivals, oldest first: bursts and repeated contact count them.
    times: tuple[datetime, ...] = ()
    #: The arrivals in quiet hours: storms count them.
    quiet_times: tuple[datetime, ...] = ()
    last_at: datetime | None = None
    last_quiet_at: datetime | None = None
    #: The run of messages with gaps under `repeated.within` that `last_at` belongs to began.
    run_since: datetime | None = None
    #: The last repeated-contact breakthrough: once per run.
    repeated_at: datetime | None = None
    #: The run of quiet-hours messages with gaps under `storm.within` began; it became a storm.
    storm_since: datetime | None = None
    storm_at: datetime | None = None

    @classmethod
    def replayed(
        cls, policy: PolicySettings, history: Iterable[Seen], state: SenderState | None = None
    ) -> SenderState:
        """The state after `history` (oldest first): how a contact edit merges what two
        addresses sent, from the notifications stored for them."""
        state = state or cls()
        for seen in history:
            state = state.after(policy, seen.at, seen.quiet, seen.reason.startswith(REPEATED)).state
        return state

    def after(
        self, policy: PolicySettings, now: datetime, quiet: bool, repeated: bool
    ) -> StormOutcome:
        """This state with one more message at `now`, and what it does to the sender's storm."""
        storm, count, first = None, 0, None
        storm_since, storm_at = self.storm_since, self.storm_at
        quiet_times = self.quiet_times
        if quiet and policy.storm is not None:
            within = policy.storm.within
            last = self.last_quiet_at
            if last is None or now - last >= within or storm_since is None:
                storm_since = now  # a new run of quiet-hours messages
            window = [t for t in quiet_times if now - t < within]
            reached = storm_at is not None and storm_at >= storm_since
            if reached:
                storm = StormStep.GROW
            elif len(window) + 1 >= policy.storm.count:
                storm, count, first = StormStep.START, len(window) + 1, min([*window, now])
                storm_at = now
            quiet_times = (*window, now)[-policy.storm.count :]
        run_since = self.run_since
        gap = policy.breakthrough.repeated.within if policy.breakthrough.repeated else None
        if run_since is None or self.last_at is None or gap is None or now - self.last_at >= gap:
            run_since = now
        longest, most = _memory(policy)
        times = tuple(t for t in self.times if now - t < longest)
        state = SenderState(
            times=(*times, now)[-most:] if most else (),
            quiet_times=quiet_times if quiet else self.quiet_times,
            last_at=now,
            last_quiet_at=now if quiet else self.last_quiet_at,
            run_since=run_since,
            repeated_at=now if repeated else self.repeated_at,
            storm_since=storm_since,
            storm_at=storm_at,
        )
        return StormOutcome(state, storm, count, first)

    def recent(self, now: datetime, within: timedelta) -> int:
        """How many of the kept arrivals are less than `within` before `now`."""
        return sum(1 for t in self.times if now - t < within)


def _memory(policy: PolicySettings) -> tuple[timedelta, int]:
    """How far back, and how many arrivals, the policy's rules look."""
    windows, counts = [timedelta(0)], [0]
    if policy.burst is not None:
        windows.append(policy.burst.per)
        counts.append(policy.burst.limit)
    if policy.breakthrough.repeated is not None:
        windows.append(policy.breakthrough.repeated.within)
        counts.append(policy.breakthrough.repeated.count - 1)
    return max(windows), max(counts)


class StormStep(StrEnum):
    START = "start"  # this message makes the sender's run of quiet-hours messages a storm
    GROW = "grow"  # the storm goes on


@dataclass(frozen=True)
class StormOutcome:
    state: SenderState
    storm: StormStep | None = None
    #: A storm starts: how many messages it counts so far, and since when.
    count: int = 0
    since: datetime | None = None


@dataclass(frozen=True)
class Decision:
    """Everything decided for one notification: what happens to it, why, and to its sender."""

    action: Action
    reason: str
    #: The sender's state after this notification: stored with it.
    state: SenderState = SenderState()
    storm: StormStep | None = None
    storm_count: int = 0
    storm_since: datetime | None = None

    @property
    def pushed(self) -> bool:
        return self.action in (Action.FORWARD, Action.BREAKTHROUGH)

    @property
    def folded(self) -> bool:
        """It joins the sender's burst (one is opened if none is going on)."""
        return self.action is Action.FOLD


def decide(
    policy: PolicySettings,
    zone: ZoneInfo,
    now: datetime,
    *,
    trust: str = "normal",
    text: str = "",
    state: SenderState = SenderState(),
) -> Decision:
    """What happens to one notification at `now`, given who sent it and what they sent before.

    Muted contacts are never pushed; trusted contacts, keywords and repeated contact break
    through quiet hours and bursts; in quiet hours everything else is held; outside them a
    contact's notifications beyond `burst.limit` within `burst.per` are folded into a burst.
    The decision carries the sender's new state and what happens to their storm.
    """
    quiet = quiet_interval_at(policy.windows(), zone, now) is not None
    action, reason = _action(policy, now, quiet, trust, text, state)
    outcome = state.after(policy, now, quiet, repeated=reason.startswith(REPEATED))
    return Decision(action, reason, outcome.state, outcome.storm, outcome.count, outcome.since)


def _action(
    policy: PolicySettings,
    now: datetime,
    quiet: bool,
    trust: str,
    text: str,
    state: SenderState,
) -> tuple[Action, str]:
    if trust == "muted":
        return Action.HOLD, "muted contact"
    if trust == "trusted":
        return Action.BREAKTHROUGH, "trusted contact"
    keyword = matching_keyword(policy.breakthrough.keywords, text)
    if keyword is not None:
        return Action.BREAKTHROUGH, f"keyword “{keyword}”"
    repeated = policy.breakthrough.repeated
    if repeated is not None:
        count = state.recent(now, repeated.within) + 1
        run_goes_on = state.last_at is not None and now - state.last_at < repeated.within
        broke = (
            run_goes_on
            and state.repeated_at is not None
            and state.run_since is not None
            and state.repeated_at >= state.run_since
        )
        if count >= repeated.count and not broke:
            minutes = format_duration(repeated.within)
            return Action.BREAKTHROUGH, f"{REPEATED}: {count} messages within {minutes}"
    if quiet:
        return Action.HOLD, "quiet hours"
    burst = policy.burst
    if burst is not None and state.recent(now, burst.per) >= burst.limit:
        return Action.FOLD, "burst"
    return Action.FORWARD, "outside quiet hours"


def _fold_accents(text: str) -> str:
    spaced = " ".join(text.casefold().split())
    if spaced.isascii():  # nothing to decompose (the usual case, on every message)
        return spaced
    decomposed = unicodedata.normalize("NFKD", spaced)
    return "".join(c for c in decomposed if not unicodedata.combining(c))


@lru_cache(maxsize=1024)
def _keyword_pattern(keyword: str) -> re.Pattern[str] | None:
    needle = _fold_accents(keyword).strip()
    return re.compile(rf"(?<!\w){re.escape(needle)}(?!\w)") if needle else None


@lru_cache(maxsize=256)
def _any_keyword(keywords: tuple[str, ...]) -> re.Pattern[str] | None:
    """One pattern that matches where any of the keywords does (an alternation backtracks to
    the next keyword where one fails its word boundary)."""
    needles = [needle for needle in (_fold_accents(k).strip() for k in keywords) if needle]
    if not needles:
        return None
    return re.compile(rf"(?<!\w)(?:{'|'.join(map(re.escape, needles))})(?!\w)")


def matching_keyword(keywords: Sequence[str], text: str) -> str | None:
    """The first keyword found as a whole word (or phrase), case- and accent-insensitively."""
    if not keywords or not text:
        return None
    haystack = _fold_accents(text)
    # Nearly every message has none: one scan says so, instead of one per keyword (arrays of
    # 100: 7 % of ingest's time went to the keywords).
    anywhere = _any_keyword(tuple(keywords))
    if anywhere is None or anywhere.search(haystack) is None:
        return None
    for keyword in keywords:
        pattern = _keyword_pattern(keyword)
        if pattern is not None and pattern.search(haystack):
            return keyword
    return None


#: A policy with neither quiet hours nor summary times still holds what muted contacts send:
#: it goes out in a daily summary at this time.
DEFAULT_SUMMARY_TIME = time(18, 0)


def summary_times(
    policy: PolicySettings, zone: ZoneInfo, after: datetime, upto: datetime
) -> list[datetime]:
    """When summaries are due in (after, upto]: each quiet window's end, and the policy's daily
    summary times that fall outside quiet hours (nothing is pushed during them). A policy with
    neither has a daily summary at DEFAULT_SUMMARY_TIME: every held notification has a way out."""
    windows = policy.windows()
    due = set(window_ends(windows, zone, after, upto))
    times = policy.summaries or ([] if windows else [DEFAULT_SUMMARY_TIME])
    for instant in daily_times(times, zone, after, upto):
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
