"""Delivery through Apprise: claim a due delivery, send it outside any transaction, record it.

Each channel (Apprise URL) is read by Apprise once, and its service built once and reused.
Each channel has its own result: a retry sends only to the channels that have not succeeded
yet. A failed delivery is retried with exponential backoff from the database, so retries
survive a restart. A channel that Apprise cannot parse, or that matches no service, is
reported as misconfigured and not retried; it is never counted as a success.

One module for the one job of getting a delivery out: the sender (Apprise), the deliverer's
claims, retries and bounds, and the failure report they lead to; guardian.channels holds what a
channel may do, and why a send failed in plain words.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import random
from collections import Counter, OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import lru_cache
from pathlib import Path
from typing import Any, Protocol

import apprise

from guardian.channels import (
    CONSOLE_FILE,
    NO_ANSWER,
    NOT_UNDERSTOOD,
    apprise_reading,
    failure_reason,
    refusal_of,
)
from guardian.clock import Clock, sleep_or
from guardian.durations import format_duration
from guardian.household import HouseholdView, MemberView
from guardian.models import Delivery
from guardian.settings import DeliverySettings
from guardian.sql import Db, read_instant, statement, transaction
from guardian.summary import render_failure_report
from guardian.supervise import stopped as stopped_tasks
from guardian.words import DeliveryKind, DeliveryStatus, Role

log = logging.getLogger(__name__)

SUCCESS = "SUCCESS"
TIMEOUT = "TIMEOUT"
MISCONFIGURED = "MISCONFIGURED"
#: Seconds a sender may take beyond `delivery.timeout` before its attempt is abandoned.
SLACK = 5.0


@dataclass(frozen=True)
class ChannelResult:
    status: str  # an AppriseResultStatus name, or MISCONFIGURED
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.status == SUCCESS

    @property
    def permanent(self) -> bool:
        return self.status in (MISCONFIGURED, "NOMATCH")


def channel_id(url: str) -> str:
    """A stable, secret-free name for a channel URL (to match results to channels)."""
    return hashlib.sha256(url.encode()).hexdigest()[:16]


#: How Apprise's services are built: one asset for all (Apprise makes one per object otherwise).
ASSET = apprise.AppriseAsset()


@dataclass(frozen=True, slots=True)
class Reading:
    """A channel URL as Apprise reads it, read once (parsing it is most of a send's cost)."""

    #: Why Guardian will not send to it (guardian.channels.refusal), or None.
    refused: str | None
    #: The URL with its secrets masked, as Apprise prints it.
    shown: str
    #: Apprise's parse of it (`url_to_dict`), from which a service is built without reading the
    #: URL again; None when Apprise cannot read it or knows no such service.
    parsed: dict[str, Any] | None


@lru_cache(maxsize=1024)
def reading(url: str) -> Reading:
    parsed = apprise_reading(url.strip())
    refused = refusal_of(url, parsed)
    service = apprise.Apprise.instantiate(dict(parsed), asset=ASSET) if parsed else None
    if service is None:
        scheme = url.split("://", 1)[0] if "://" in url else "?"
        return Reading(refused, f"{scheme}://… (not understood by Apprise)", None)
    masked: Any = service.url(privacy=True)  # type: ignore[no-untyped-call]
    return Reading(refused, str(masked), parsed)


def privacy_url(url: str) -> str:
    """The URL with its secrets masked, as Apprise prints it; never the raw URL."""
    return reading(url).shown


@dataclass(frozen=True)
class Message:
    title: str
    body: str
    #: The same body in Markdown, for channels that render it; plain channels get `body`.
    markdown: str | None = None
    notify_type: str = "info"

    @property
    def urgent(self) -> bool:
        return self.notify_type in ("warning", "failure")


class Sender(Protocol):
    async def send(self, url: str, message: Message) -> ChannelResult: ...


#: Where a service has a priority, urgent deliveries (breakthroughs, storm alerts) use it.
URGENT_PARAMS = {"ntfy": "priority=max", "ntfys": "priority=max", "pover": "priority=high"}


def urgent_url(url: str) -> str:
    scheme = url.split("://", 1)[0].lower()
    extra = URGENT_PARAMS.get(scheme)
    if extra is None or "priority=" in url:
        return url
    return f"{url}{'&' if '?' in url else '?'}{extra}"


def timeouts(seconds: float) -> dict[str, str]:
    """Apprise's connect and read timeouts (`cto`, `rto`) for a channel without its own:
    Apprise's defaults (a few seconds) would give up on a slow channel that got the message, and
    the retry would send it again."""
    return {"cto": f"{min(seconds, 30.0):g}", "rto": f"{seconds:g}"}


#: Apprise services kept at most: one per channel URL in use (urgent and plain count apart).
MAX_SERVICES = 512


@dataclass(frozen=True, slots=True)
class _Service:
    notify: Any  # an Apprise NotifyBase
    rich: bool  # it renders Markdown


class AppriseSender:
    """Sends through one reusable Apprise service per channel URL (the most recent few
    hundred), built from the URL's one reading; the Apprise objects that run a send are pooled,
    one per send in flight."""

    def __init__(self, timeout: timedelta) -> None:
        self._timeout = timeout.total_seconds()
        self._services: OrderedDict[str, _Service | None] = OrderedDict()
        self._idle: list[apprise.Apprise] = []

    def _service(self, url: str) -> _Service | None:
        if url in self._services:
            self._services.move_to_end(url)
            return self._services[url]
        parsed = reading(url).parsed
        built = None
        if parsed is not None:
            # As Apprise.add(url?cto=..&rto=..) would build it, keeping the URL's own values.
            parameters = {**timeouts(self._timeout), **parsed}
            built = apprise.Apprise.instantiate(parameters, asset=ASSET)
        service = None if built is None else _Service(built, _renders_rich_text(built))
        self._services[url] = service
        while len(self._services) > MAX_SERVICES:
            self._services.popitem(last=False)
        return service

    async def send(self, url: str, message: Message) -> ChannelResult:
        # Checked again here: a channel stored before a rule existed is refused too.
        refused = reading(url).refused
        if refused is not None:
            return ChannelResult(MISCONFIGURED, f"refused: {refused}")
        service = self._service(urgent_url(url) if message.urgent else url)
        if service is None:
            return ChannelResult(MISCONFIGURED, NOT_UNDERSTOOD)
        rich = message.markdown is not None and service.rich
        instance = self._idle.pop() if self._idle else apprise.Apprise(asset=ASSET)
        instance.add(service.notify)
        loop = asyncio.get_running_loop()
        began = loop.time()
        try:
            result = await instance.async_notify(
                body=message.markdown if rich else message.body,
                title=message.title,
                notify_type=message.notify_type,
                body_format=apprise.NotifyFormat.MARKDOWN if rich else apprise.NotifyFormat.TEXT,
                timeout=self._timeout,
            )
        finally:
            instance.clear()
            self._idle.append(instance)
        status = result.status.name
        if status == "NOMATCH":
            return ChannelResult(status, NOT_UNDERSTOOD)
        # A service that gave up at its read timeout says only that it failed.
        timed_out = not result and loop.time() - began >= self._timeout * 0.95
        if status == TIMEOUT or timed_out:
            return ChannelResult(TIMEOUT, NO_ANSWER)
        return ChannelResult(status, "" if result else failure_reason(_logged(result)))


def _logged(result: Any) -> list[str]:
    """What Apprise logged at warning level or above while sending (its own words, used only
    to pick a plain reason: they can name the channel's host or chat)."""
    lines: list[str] = []
    for service in result:
        for entry in service.logs():
            if str(getattr(entry, "level", "")).upper() in ("WARNING", "ERROR", "CRITICAL"):
                lines.append(str(getattr(entry, "message", "")))
    return lines


def _renders_rich_text(service: Any) -> bool:
    """Markdown for services that prefer Markdown or HTML (Apprise converts it to HTML);
    plain text where the service prefers text (a Markdown body would show its asterisks)."""
    formats = service.notify_format
    preferred = formats[0] if isinstance(formats, tuple) else formats
    return bool(preferred != apprise.NotifyFormat.TEXT)


class RecordingSender:
    """Sends nothing; remembers what would have been sent (for `guardian simulate`)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Message]] = []

    async def send(self, url: str, message: Message) -> ChannelResult:
        self.sent.append((url, message))
        return ChannelResult(SUCCESS)


#: The deliverer looks for due deliveries at least this often.
POLL = timedelta(seconds=30)
#: Stale claims are looked for at most this often (and four times per lease).
RELEASE_EVERY = timedelta(seconds=10)
#: At shutdown, sends in flight get this long to finish; the claims of the rest are released.
FINISH_GRACE = timedelta(seconds=3)


@dataclass
class Deliverer:
    """Sends due deliveries: in due order, concurrently across channels, bounded overall
    (`delivery.concurrency` deliveries in flight) and per channel (`delivery.per_channel`
    sends): a slow or hanging channel holds up only the deliveries that go to it."""

    sender: Sender
    settings: DeliverySettings
    household: Callable[[], HouseholdView]
    clock: Clock | None = None
    rng: random.Random = field(default_factory=random.Random)
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    _flying: dict[int, asyncio.Task[None]] = field(default_factory=dict)
    _busy: Counter[str] = field(default_factory=Counter)
    _landed: asyncio.Event = field(default_factory=asyncio.Event)
    _dispatching: asyncio.Lock = field(default_factory=asyncio.Lock)
    #: When stale claims were last released: once in a while is enough, not every dispatch.
    _released_at: datetime | None = None
    #: The last claim found a due delivery waiting for its busy channel (see `_claim`).
    _contended: bool = False

    @property
    def _release_every(self) -> timedelta:
        return min(self.settings.claim_lease / 4, RELEASE_EVERY)

    def backoff(self, attempts: int) -> timedelta:
        """Exponential, capped, with jitter so that failing channels do not retry in lockstep."""
        base = self.settings.backoff * (1 << min(max(attempts - 1, 0), 30))
        capped = min(base, self.settings.backoff_max)
        return capped * self.rng.uniform(0.8, 1.0)

    @property
    def in_flight(self) -> int:
        return len(self._flying)

    async def dispatch(self, now: datetime) -> int:
        """Start every due delivery that may go now; return how many were started."""
        # One at a time: what one dispatch claimed is in flight before another one looks.
        async with self._dispatching:
            return await self._dispatch(now)

    async def _dispatch(self, now: datetime) -> int:
        # A worker that died mid-send (kill -9, here or on another instance) left its claim
        # behind: once the lease is over the delivery goes out again, without waiting for a
        # restart of this process.
        if self._released_at is None or now - self._released_at >= self._release_every:
            await release_stale_claims(now, self.settings.claim_lease)
            self._released_at = now
        room = self.settings.concurrency - len(self._flying)
        if room <= 0:
            return 0
        claimed = await self._claim(self.household(), now, room)
        for delivery, keys in claimed:
            self._busy.update(keys)
            task = asyncio.create_task(
                self._send(delivery, now, keys), name=f"delivery-{delivery.id}"
            )
            self._flying[delivery.id] = task
        return len(claimed)

    async def _claim(
        self, view: HouseholdView, now: datetime, room: int
    ) -> list[tuple[Delivery, list[str]]]:
        """Claim up to `room` due deliveries, in due order, skipping those whose channel is
        busy; each with its channel keys.

        Setting them `sending` is the claim: two workers never send the same delivery. On
        PostgreSQL the candidates are locked with SKIP LOCKED, so that instances claiming at
        the same moment take different ones instead of queueing for the same rows.

        Most claims find no busy channel among the first `room` due: one statement picks and
        marks those. When one of them must wait for its channel it is given back, and the
        claim looks further in a transaction that reads the candidates before it marks any;
        claims go that way until one of them finds no busy channel again.
        """
        busy = Counter(self._busy)
        chosen: list[tuple[Delivery, list[str]]] = []
        if not self._contended:
            async with statement() as db:
                due, params = self._due(db, view, now, room, "id")
                taken = await self._mark(db, now, due, params)
            waiting: list[int] = []
            for delivery in taken:
                keys = _keys(delivery.channels, view, delivery.member_id)
                if self._waits(keys, busy):
                    waiting.append(delivery.id)
                else:
                    busy.update(keys)
                    chosen.append((delivery, keys))
            if not waiting:
                return chosen
            self._contended = True
            async with statement() as db:
                await db.execute(
                    f"UPDATE deliveries SET status = '{DeliveryStatus.PENDING}', claimed_at = NULL "
                    f"WHERE id IN ({db.placeholders(len(waiting))}) "
                    f"AND status = '{DeliveryStatus.SENDING}'",
                    waiting,
                )
            room -= len(chosen)
            if room <= 0:
                return chosen
        async with transaction() as db:
            due, params = self._due(db, view, now, room * 4 + 16, "id, member_id, channels")
            picks: list[int] = []
            blocked = False
            for delivery_id, member_pk, states in await db.fetch(due, params):
                if len(picks) >= room:
                    break
                known = json.loads(states) if isinstance(states, str) else states
                keys = _keys(known or [], view, member_pk)
                if self._waits(keys, busy):
                    blocked = True
                    continue  # its channel is busy: later ones to other channels go first
                busy.update(keys)
                picks.append(delivery_id)
            self._contended = blocked
            if not picks:
                return chosen
            taken = await self._mark(db, now, db.placeholders(len(picks)), picks)
        return chosen + [(d, _keys(d.channels, view, d.member_id)) for d in taken]

    def _waits(self, keys: list[str], busy: Counter[str]) -> bool:
        """Whether a delivery to these channels waits: one of them has `per_channel` sends."""
        return any(busy[key] >= self.settings.per_channel for key in keys)

    def _not_mine(self, db: Db) -> tuple[str, list[int]]:
        """A condition leaving out the deliveries in flight here (a claim released by its lease
        while its send still runs is not taken twice, nor waited for), with its parameters."""
        mine = list(self._flying)
        return (f" AND id NOT IN ({db.placeholders(len(mine))})" if mine else ""), mine

    def _due(
        self, db: Db, view: HouseholdView, now: datetime, limit: int, columns: str
    ) -> tuple[str, list[Any]]:
        """The query of the first `limit` due deliveries not in flight here."""
        others, mine = self._not_mine(db)
        lock = " FOR UPDATE SKIP LOCKED" if db.postgres else ""
        sql = (
            f"SELECT {columns} FROM deliveries WHERE status = '{DeliveryStatus.PENDING}' "
            f"AND next_attempt_at <= ? AND household_id = ?{others} "
            f"ORDER BY next_attempt_at, id LIMIT {int(limit)}{lock}"
        )
        return sql, [db.instant(now), view.id, *mine]

    async def _mark(self, db: Db, now: datetime, ids: str, params: list[Any]) -> list[Delivery]:
        """Set the deliveries `ids` (a list or a query of them) `sending`; those still pending,
        read whole, in due order."""
        columns = delivery_columns()
        rows = await db.fetch(
            f"UPDATE deliveries SET status = '{DeliveryStatus.SENDING}', claimed_at = ? "
            f"WHERE id IN ({ids}) AND status = '{DeliveryStatus.PENDING}' "
            f"RETURNING {', '.join(columns)}",
            [db.instant(now), *params],
        )
        taken = [Delivery._init_from_db(**dict(zip(columns, row, strict=True))) for row in rows]
        return sorted(taken, key=lambda d: (d.next_attempt_at, d.id))

    async def _send(self, delivery: Delivery, now: datetime, keys: list[str]) -> None:
        try:
            await self._attempt(delivery, now)
        except asyncio.CancelledError:
            raise
        except Exception:  # recorded nowhere else: the claim runs out and it goes again
            log.exception("delivery %s could not be attempted", delivery.id)
        finally:
            self._busy.subtract(keys)
            self._busy += Counter()  # drop the zeros
            self._flying.pop(delivery.id, None)
            self._landed.set()

    async def send_due(self, now: datetime) -> int:
        """Send everything due at `now` and wait for it to land (the timer's tick, simulate)."""
        total = 0
        while True:
            total += await self.dispatch(now)
            if not self._flying:
                return total
            self._landed.clear()
            await self._landed.wait()

    async def send_one(self, delivery: Delivery, now: datetime) -> bool:
        """Claim the delivery and attempt it at once; False if another worker claimed it first."""
        taken = await Delivery.filter(id=delivery.id, status=DeliveryStatus.PENDING).update(
            status=DeliveryStatus.SENDING, claimed_at=now
        )
        if taken:
            await self._attempt(delivery, now)
        return bool(taken)

    async def run(self) -> None:
        """Dispatch whenever something is due, a channel came free, or the timer says so."""
        assert self.clock is not None, "a running deliverer needs the clock"
        while True:
            # Cleared before looking, never after: a send that lands (or a wake that comes)
            # while this turn dispatches or looks ahead must end the wait below at once; cleared
            # after the look, it was forgotten and its retry waited for the whole POLL.
            self._landed.clear()
            self.wake.clear()
            now = self.clock.now()
            await self.dispatch(now)
            # With every slot taken, the next landing wakes this loop: no need to look ahead.
            full = len(self._flying) >= self.settings.concurrency
            following = None if full else await self._next_due(now)
            delay = POLL if following is None else min(POLL, max(following - now, timedelta(0)))
            await sleep_or(self.clock, delay.total_seconds(), self.wake, self._landed)

    async def _next_due(self, now: datetime) -> datetime | None:
        """The next attempt due after `now`, or the moment a claim left by a dead worker runs
        out; in one statement.

        Deliveries due already but not claimed are waiting for their channel, and the send
        that frees it wakes the deliverer: counting them made it look again at once, and
        again, as long as the channel stayed busy (thousands of queries a second).
        """
        household_id = self.household().id
        async with statement() as db:
            others, mine = self._not_mine(db)
            ((pending, stale),) = await db.fetch(
                "SELECT (SELECT MIN(next_attempt_at) FROM deliveries "
                f"WHERE status = '{DeliveryStatus.PENDING}' AND household_id = ? "
                f"AND next_attempt_at > ?{others}), "
                "(SELECT MIN(claimed_at) FROM deliveries "
                f"WHERE status = '{DeliveryStatus.SENDING}' AND household_id = ?{others})",
                [household_id, db.instant(now), *mine, household_id, *mine],
            )
        found = [
            *([read_instant(pending)] if pending is not None else []),
            *([self._stale_due(read_instant(stale))] if stale is not None else []),
        ]
        return min(found) if found else None

    def _stale_due(self, claimed_at: datetime) -> datetime:
        """When a claim left by a dead worker is released: its lease is over, and so is the
        pause between two releases."""
        lease_over = claimed_at + self.settings.claim_lease
        if self._released_at is None:
            return lease_over
        return max(lease_over, self._released_at + self._release_every)

    async def finish(self, grace: timedelta = FINISH_GRACE) -> None:
        """At shutdown: sends in flight get `grace` to land; the rest are stopped and their
        claims released, so that a restart (here or on another instance) sends them at once."""
        flying = dict(self._flying)
        if not flying:
            return
        _, pending = await asyncio.wait(flying.values(), timeout=grace.total_seconds())
        stopped = [delivery_id for delivery_id, task in flying.items() if task in pending]
        for task in pending:
            task.cancel()
        if pending:
            await stopped_tasks(pending, grace, "delivery")
        if stopped:
            try:
                async with asyncio.timeout(grace.total_seconds()):
                    released = await Delivery.filter(
                        id__in=stopped, status=DeliveryStatus.SENDING
                    ).update(status=DeliveryStatus.PENDING, claimed_at=None)
            except TimeoutError:
                # Never a hang at shutdown: the claims run out by their lease instead.
                log.error("stopping: %d claims not released in time", len(stopped))
                return
            log.info("stopping: %d deliveries in flight released for the next start", released)

    async def _attempt(self, delivery: Delivery, now: datetime) -> None:
        view = self.household()
        member = view.member_by_pk(delivery.member_id)
        channels = _channels_of(delivery, member)
        states: dict[str, dict[str, Any]] = {s["id"]: s for s in delivery.channels}
        message = Message(
            delivery.title, delivery.body, delivery.body_markdown, delivery.notify_type
        )
        for url in channels:
            key = channel_id(url)
            states.setdefault(
                key, {"id": key, "channel": privacy_url(url), "status": "pending", "attempts": 0}
            )
        to_send = _still_to_send(states, channels)
        results = await asyncio.gather(
            *(self._channel(url, states[channel_id(url)], message) for url in to_send)
        )
        for url, result in zip(to_send, results, strict=True):
            states[channel_id(url)].update(
                status=result.status,
                detail=result.detail,
                attempts=states[channel_id(url)]["attempts"] + 1,
                at=now.isoformat(),
            )
        current = {channel_id(url) for url in channels}
        results_now = [s for key, s in states.items() if key in current]
        delivery.channels = list(states.values())
        delivery.attempts += 1
        delivery.claimed_at = None
        failing = [s for s in results_now if s["status"] != SUCCESS]
        if not results_now:
            delivery.status, delivery.last_error = (
                DeliveryStatus.FAILED,
                "the member has no channels",
            )
        elif not failing:
            delivery.status, delivery.sent_at = DeliveryStatus.SENT, now
            delivery.last_error = None
        elif delivery.kind == DeliveryKind.TEST:
            # A test says how its channel answered this time: never retried by itself.
            delivery.status = DeliveryStatus.FAILED
            delivery.last_error = "; ".join(
                f"{s['channel']}: {_said(s['status'])}" for s in failing
            )
        elif all(s["status"] in PERMANENT for s in failing):
            delivery.status = DeliveryStatus.FAILED
            delivery.last_error = "misconfigured channel: " + ", ".join(
                s["channel"] for s in failing
            )
        elif delivery.attempts >= self.settings.max_attempts:
            delivery.status = DeliveryStatus.FAILED
            delivery.last_error = f"gave up after {delivery.attempts} attempts"
        elif now - delivery.created_at >= self.settings.max_age:
            delivery.status = DeliveryStatus.FAILED
            delivery.last_error = f"gave up after {format_duration(now - delivery.created_at)}"
        else:
            delivery.status = DeliveryStatus.PENDING
            delivery.next_attempt_at = now + self.backoff(delivery.attempts)
            delivery.last_error = "; ".join(
                f"{s['channel']}: {_said(s['status'])}" for s in failing
            )
        await delivery.save(
            update_fields=[
                "channels",
                "attempts",
                "claimed_at",
                "status",
                "sent_at",
                "last_error",
                "next_attempt_at",
            ]
        )
        if delivery.status == DeliveryStatus.FAILED:
            await report_failure(delivery, member.name, view, now)
        level = logging.INFO if delivery.status == DeliveryStatus.SENT else logging.WARNING
        log.log(
            level,
            "delivery %s (%s to %s): %s",
            delivery.id,
            delivery.kind,
            member.id,
            delivery.status,
        )

    async def _channel(self, url: str, state: dict[str, Any], message: Message) -> ChannelResult:
        try:
            # Apprise bounds its own wait (`cto`, `rto`, the call's timeout); this bounds any
            # sender, so that a hanging channel can never hold a delivery for long.
            return await asyncio.wait_for(
                self.sender.send(url, message), self.settings.timeout.total_seconds() + SLACK
            )
        except TimeoutError:
            log.warning("channel %s: no answer within the timeout", state["channel"])
            return ChannelResult(TIMEOUT, NO_ANSWER)
        except Exception as error:  # a channel plugin bug must not lose the delivery
            log.exception("channel %s raised", state["channel"])
            return ChannelResult("FAILURE", type(error).__name__)


PERMANENT = (MISCONFIGURED, "NOMATCH")


@lru_cache(maxsize=1)
def delivery_columns() -> tuple[str, ...]:
    """A delivery's columns, in the order a claim reads them back: known once tortoise is
    set up (the foreign keys' columns are added then)."""
    return tuple(sorted(Delivery._meta.db_fields))


def _said(status: str) -> str:
    return "timed out" if status == TIMEOUT else status


def _channels_of(delivery: Delivery, member: MemberView) -> tuple[str, ...]:
    """The channels a delivery goes to: the member's; a test only to the channels it tests
    (one, from the dashboard; `guardian send-test` records none first, and tests them all)."""
    if delivery.kind == DeliveryKind.TEST and delivery.channels:
        tested = {s.get("id") for s in delivery.channels}
        return tuple(url for url in member.channels if channel_id(url) in tested)
    return member.channels


def _keys(states: Sequence[dict[str, Any]], view: HouseholdView, member_pk: int) -> list[str]:
    """The keys of the channels a delivery (its `channels` states) still goes to."""
    member = view.members_by_pk.get(member_pk)
    return [channel_id(url) for url in _still_to_send(states, member.channels if member else ())]


def _still_to_send(
    states: Sequence[dict[str, Any]] | dict[str, dict[str, Any]], channels: Sequence[str]
) -> list[str]:
    """The channels that have neither succeeded nor failed for good (`states`: a delivery's
    `channels` list, or the same by channel id)."""
    known = states if isinstance(states, dict) else {s["id"]: s for s in states}
    done = {key for key, s in known.items() if s["status"] == SUCCESS or s["status"] in PERMANENT}
    return [url for url in channels if channel_id(url) not in done]


FAILURE_PREFIX = "failed:"


async def report_failure(
    delivery: Delivery, member_name: str, view: HouseholdView, now: datetime
) -> None:
    """Tell the guardians, through their own channels, that a delivery was given up."""
    if delivery.kind == DeliveryKind.TEST or delivery.dedup_key.startswith(FAILURE_PREFIX):
        return  # a failing report about a failure is not reported again
    guardians = [
        m for m in view.members.values() if m.role == Role.GUARDIAN and m.pk != delivery.member_id
    ]
    for guardian in guardians:
        failure = render_failure_report(
            member_name, delivery.kind, delivery.last_error, language=guardian.language
        )
        await Delivery.get_or_create(
            dedup_key=f"{FAILURE_PREFIX}{delivery.id}:{guardian.pk}",
            defaults={
                "household_id": view.id,
                "member_id": guardian.pk,
                "kind": DeliveryKind.REPORT,
                "title": failure.title,
                "body": failure.body,
                "notify_type": "failure",
                "created_at": now,
                "next_attempt_at": now,
            },
        )


async def release_stale_claims(now: datetime, lease: timedelta) -> int:
    """Deliveries left `sending` by a crashed worker go back to pending (at most one repeat)."""
    return await Delivery.filter(status=DeliveryStatus.SENDING, claimed_at__lt=now - lease).update(
        status=DeliveryStatus.PENDING, claimed_at=None
    )


@apprise.decorators.notify(  # type: ignore[untyped-decorator, no-untyped-call]
    on="console", name="Guardian console (offline demo channel)"
)
def console_channel(
    body: str, title: str, notify_type: str, meta: dict[str, Any], *args: Any, **kwargs: Any
) -> bool:
    """`console://` prints each delivery; `console://?file=var/deliveries.log` also appends it
    to var/deliveries.log, its one fixed place (guardian.channels refuses any other file)."""
    block = f"── {title} ──\n{body}\n"
    print(block, flush=True)
    if (meta.get("qsd") or {}).get("file") == CONSOLE_FILE:
        log_file = Path(CONSOLE_FILE)
        log_file.parent.mkdir(exist_ok=True)
        with log_file.open("a", encoding="utf-8") as out:
            out.write(block + "\n")
    return True
