"""The timer: on each tick at `now`, do what is due: burst notices, summaries, the guardians'
reports, the retention purge, then the deliveries.

The next due instant of every member's summary and report lives in the `schedules` table, so a
restart picks up exactly where the last run stopped: a window end missed during downtime is
found at start-up, and a summary already built is never built again (its schedule row was
moved forward, as a claim, in the same transaction that built it).

The loop and its jobs are one module because the jobs share the tick: one instant, one
household view, one order (burst notices before summaries, summaries before the deliverer).
What a report says of each child is counted in guardian.reports.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pypika_tortoise import functions
from tortoise.expressions import Function
from tortoise.transactions import in_transaction

from guardian.accounts import purge_sessions
from guardian.clock import Clock, sleep_or
from guardian.database import storage_failure
from guardian.delivery import Deliverer
from guardian.household import ContactView, HouseholdView, MemberView
from guardian.models import Delivery, Episode, Notification, Schedule
from guardian.policy import next_summary_time, summary_times
from guardian.reports import children_activity
from guardian.sql import Db, read_instant, transaction
from guardian.summary import (
    MAX_GROUPS,
    PREVIEW_CHARS,
    Group,
    Item,
    Rendered,
    counted_group,
    render_burst_notice,
    render_groups,
    render_report,
    render_summary,
)
from guardian.windows import daily_times, quiet_interval_at
from guardian.words import (
    WAITING,
    DeliveryKind,
    DeliveryStatus,
    EpisodeKind,
    NotificationStatus,
    Role,
    ScheduleKind,
)

log = logging.getLogger(__name__)

POLL = timedelta(seconds=30)
PURGE_EVERY = timedelta(hours=1)


@dataclass
class Scheduler:
    clock: Clock
    deliverer: Deliverer
    household: Callable[[], HouseholdView]
    wake: asyncio.Event
    start_delay: timedelta = timedelta(0)
    #: Called after every tick of the loop, so that open dashboards refresh.
    on_tick: Callable[[], None] | None = None
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    running: bool = False
    last_tick: datetime | None = None
    _last_purge: datetime | None = None
    #: Jobs failing now, with their error: logged once, shown by /readyz.
    failing: dict[str, str] = field(default_factory=dict)
    #: During one tick's summaries: each (policy, due instant)'s missed and following times.
    _times: dict[tuple[int, datetime], tuple[list[datetime], datetime | None]] = field(
        default_factory=dict
    )

    async def prepare(self, now: datetime) -> None:
        """Give every member its schedule rows with their next due instants (kept if set)."""
        view = self.household()
        for language in {m.language for m in view.members.values()}:
            _warm_up(language, view)
        summaries: dict[int, datetime | None] = {}
        rows = []
        for member in view.members.values():
            policy = member.policy
            if id(policy) not in summaries:
                summaries[id(policy)] = next_summary_time(policy, view.zone, now)
            rows.append((member.pk, ScheduleKind.SUMMARY, summaries[id(policy)]))
            rows.append((member.pk, ScheduleKind.REPORT, next_report_time(member, view, now)))
        # Several instances may prepare at once: a row another one created is kept (unique
        # member and kind), and the first due instant is set only where none is set yet.
        async with transaction() as db:
            await db.many(
                "INSERT INTO schedules (member_id, kind, next_due_at) VALUES (?, ?, ?) "
                "ON CONFLICT (member_id, kind) DO NOTHING",
                [(pk, kind, db.instant(due)) for pk, kind, due in rows],
            )
            await db.many(
                "UPDATE schedules SET next_due_at = ? "
                "WHERE member_id = ? AND kind = ? AND next_due_at IS NULL",
                [(db.instant(due), pk, kind) for pk, kind, due in rows if due is not None],
            )

    async def tick(self, now: datetime | None = None) -> None:
        """Do everything due at `now` (the clock's now by default), then send what is due and
        wait for it: the tests' and `guardian simulate`'s step. `serve` builds in `run` and
        leaves the sending to the deliverer's own task."""
        now = await self.build(now)
        await self.deliverer.send_due(now)

    async def build(self, now: datetime | None = None) -> datetime:
        """Build everything due at `now`, oldest kind of work first: burst notices, summaries,
        reports, the purge. Each job stands alone: one that fails is logged (once, until it
        works again) and the others go on."""
        async with self._lock:
            now = now or self.clock.now()
            view = self.household()
            for burst in await self._active_bursts(view):
                if _burst_due(burst, view) <= now:
                    await self._job(f"burst {burst.id}", self._burst_notice(burst, view, now))
            await self._summaries(view, now)
            reports = await Schedule.filter(
                kind=ScheduleKind.REPORT, next_due_at__lte=now, member__household_id=view.id
            ).order_by("next_due_at", "id")  # one lock order for every instance: no deadlock
            if reports:
                await self._job("reports", self._reports(reports, view, now))
            if self._last_purge is None or now - self._last_purge >= PURGE_EVERY:
                await self._job("purge", purge(view, now))
                await self._job("session purge", purge_sessions(now))
                self._last_purge = now
            self.last_tick = now
        self.deliverer.wake.set()
        return now

    async def _job(self, name: str, job: Awaitable[Any]) -> None:
        try:
            await job
        except Exception as error:
            if storage_failure(error):
                raise  # the whole tick waits for storage, in `run`
            said = f"{type(error).__name__}: {error}"
            if self.failing.get(name) != said:
                log.exception("scheduler: %s failed; the other jobs go on", name)
            self.failing[name] = said
        else:
            if self.failing.pop(name, None) is not None:
                log.info("scheduler: %s works again", name)

    async def _summaries(self, view: HouseholdView, now: datetime) -> None:
        """Every summary due at `now`, SUMMARY_CHUNK members per transaction.

        Each chunk claims its schedule rows (on PostgreSQL with `FOR UPDATE SKIP LOCKED`, so
        that instances ticking at the same moment take different members and none builds one
        twice), builds their summaries and moves their schedules on, all in one commit; the
        deliverer is woken as soon as a chunk is committed. A member whose summary fails is
        logged and left due for the next tick; the others go on.
        """
        failed: set[int] = set()
        self._times.clear()
        while True:
            try:
                built = await self._summary_chunk(view, now, failed)
            except _Raced:
                continue  # a notification committed between reading and marking: again
            except _MemberFailed as failure:
                failed.add(failure.schedule_id)
                name = f"summary for {failure.member}"
                error = failure.__cause__
                said = f"{type(error).__name__}: {error}"
                if self.failing.get(name) != said:
                    log.error(
                        "scheduler: %s failed; the other jobs go on",
                        name,
                        exc_info=(type(error), error, error.__traceback__) if error else None,
                    )
                self.failing[name] = said
                continue
            if built is None:
                return
            for line in built:
                log.info("summary for %s: %d held notifications (window end %s, %d missed)", *line)
            if built:
                self.deliverer.wake.set()

    async def _summary_chunk(
        self, view: HouseholdView, now: datetime, failed: set[int]
    ) -> list[tuple[str, int, str, int]] | None:
        """One chunk of due summaries; None when nothing (not failed already) is due."""
        async with transaction() as db:
            skip = f" AND s.id NOT IN ({db.placeholders(len(failed))})" if failed else ""
            lock = " FOR UPDATE OF s SKIP LOCKED" if db.postgres else ""
            due = await db.fetch(
                "SELECT s.id, s.member_id, s.next_due_at FROM schedules s "
                "JOIN members m ON m.id = s.member_id "
                f"WHERE s.kind = '{ScheduleKind.SUMMARY}' AND s.next_due_at <= ? "
                f"AND m.household_id = ?{skip} "
                f"ORDER BY s.next_due_at, s.id LIMIT {SUMMARY_CHUNK}{lock}",
                [db.instant(now), view.id, *sorted(failed)],
            )
            if not due:
                return None
            built = await _summarise(db, due, view, now, self._times)
        for line in built:
            if self.failing.pop(f"summary for {line[0]}", None) is not None:
                log.info("scheduler: summary for %s works again", line[0])
        return built

    async def _burst_notice(self, burst: Episode, view: HouseholdView, now: datetime) -> None:
        """A burst notice every `notice_every`, and a last one once `per` passed in silence."""
        member = view.member_by_pk(burst.member_id)
        policy = member.policy
        assert burst.next_notice_at is not None
        per = policy.burst.per if policy.burst else timedelta(0)
        every = policy.burst.notice_every if policy.burst else timedelta(minutes=15)
        over = now - burst.last_at >= per
        quiet = quiet_interval_at(policy.windows(), view.zone, now) is not None
        async with in_transaction():
            claimed = await Episode.filter(id=burst.id, next_notice_at=burst.next_notice_at).update(
                next_notice_at=None if over or quiet else now + every,
                ended_at=burst.last_at if over or quiet else None,
            )
            if not claimed:
                return
            folded = await Notification.filter(
                episode_id=burst.id, status=NotificationStatus.FOLDED
            ).order_by("received_at")
            if not folded:
                return
            if quiet:
                # Nothing is pushed in quiet hours: what is still folded waits for the summary.
                await Notification.filter(id__in=[n.id for n in folded]).update(
                    status=NotificationStatus.HELD
                )
                return
            level = policy.content
            rendered = render_burst_notice(
                burst.sender_label,
                len(folded),
                folded[0].received_at,
                folded[-1].received_at,
                view.zone,
                level,
                final=over,
                language=member.language,
            )
            delivery = _delivery(
                view,
                member,
                DeliveryKind.BURST,
                f"burst:{burst.id}:{now.isoformat()}",
                rendered,
                None,
                now,
            )
            await delivery.save()
            # What it covers is marked in one statement; their text is erased from here on.
            kept = {"preview": _Prefix("text", 1, PREVIEW_CHARS)} if _keeps_preview(member) else {}
            await Notification.filter(id__in=[n.id for n in folded]).update(
                status=NotificationStatus.NOTICED, delivery_id=delivery.id, text="", **kept
            )

    async def _active_bursts(self, view: HouseholdView) -> list[Episode]:
        return await Episode.filter(
            kind=EpisodeKind.BURST, next_notice_at__isnull=False, member__household_id=view.id
        )

    async def _reports(self, due: list[Schedule], view: HouseholdView, now: datetime) -> None:
        """One report per guardian for the children whose report times came, grouped by time."""
        by_instant: dict[datetime, list[Schedule]] = {}
        for schedule in due:
            assert schedule.next_due_at is not None
            by_instant.setdefault(schedule.next_due_at, []).append(schedule)
        for instant, schedules in by_instant.items():
            try:
                await self._report(schedules, view, instant, now)
            except _ReportRaced:
                continue  # another instance claimed some of them: it reports on those

    async def _report(
        self, schedules: list[Schedule], view: HouseholdView, instant: datetime, now: datetime
    ) -> None:
        """The report on the children of one instant, to every guardian, if this tick claims it."""
        async with in_transaction():
            claimed = await _claim_reports(schedules, view, instant, now)
            if not claimed:
                return
            children = await children_activity(
                [
                    (
                        view.member_by_pk(s.member_id),
                        s.last_due_at or instant - timedelta(days=1),
                    )
                    for s in claimed
                ],
                view,
                instant,
            )
            guardians = [m for m in view.members.values() if m.role == Role.GUARDIAN]
            await Delivery.bulk_create(
                [
                    _delivery(
                        view,
                        guardian,
                        DeliveryKind.REPORT,
                        f"report:{guardian.pk}:{instant.isoformat()}",
                        render_report(children, view.zone, language=guardian.language),
                        render_report(
                            children, view.zone, markdown=True, language=guardian.language
                        ),
                        now,
                    )
                    for guardian in guardians
                ]
            )
            # The previews were kept for this report only.
            await Notification.filter(
                member_id__in=[s.member_id for s in schedules],
                received_at__lte=instant,
                preview__isnull=False,
            ).update(preview=None)

    async def next_due(self) -> datetime | None:
        """The earliest instant at which something is due: a summary or a delivery attempt."""
        view = self.household()
        built = await self.next_build()
        delivery = (
            await Delivery.filter(status=DeliveryStatus.PENDING, household_id=view.id)
            .order_by("next_attempt_at")
            .first()
        )
        found = [i for i in (built, delivery.next_attempt_at if delivery else None) if i]
        return min(found) if found else None

    async def next_build(self) -> datetime | None:
        """The earliest instant at which a summary, report or burst notice is due."""
        view = self.household()
        schedule = (
            await Schedule.filter(next_due_at__isnull=False, member__household_id=view.id)
            .order_by("next_due_at")
            .first()
        )
        bursts = [_burst_due(b, view) for b in await self._active_bursts(view)]
        found = [i for i in (schedule.next_due_at if schedule else None, *bursts) if i]
        return min(found) if found else None

    async def run(self) -> None:
        """Tick whenever something is due, woken early by ingest; never sleeps past POLL."""
        self.running = True
        try:
            # Sources that retry (and pull sources) replay what they hold first, so that the
            # catch-up summaries include it.
            await self.clock.sleep(self.start_delay.total_seconds())
            while True:
                try:
                    await self.build()
                    if self.on_tick is not None:
                        self.on_tick()
                    due = await self.next_build()
                except Exception as error:
                    if not storage_failure(error):
                        raise
                    log.warning("scheduler: storage unavailable, retrying: %s", error)
                    due = None
                now = self.clock.now()
                delay = POLL if due is None else min(POLL, max(due - now, timedelta(0)))
                await self._sleep(delay)
        finally:
            self.running = False

    async def _sleep(self, delay: timedelta) -> None:
        await sleep_or(self.clock, delay.total_seconds(), self.wake)
        self.wake.clear()


def _warm_up(language: str, view: HouseholdView) -> None:
    """Render a summary once: the first one otherwise loads the language's CLDR data (dates,
    numbers), a fifth of a second, in the middle of the timer's busiest moment."""
    epoch = datetime(2000, 1, 1, tzinfo=view.zone)
    render_summary([Item("-", "-", "-", "-", epoch)], "senders", view.zone, language=language)


#: Members whose summaries one transaction builds: instances share the due ones chunk by chunk.
SUMMARY_CHUNK = 20


class _Raced(Exception):
    """A notification was held for the member between reading and marking (PostgreSQL)."""


class _MemberFailed(Exception):
    """One member's summary could not be built (its cause says why)."""

    def __init__(self, schedule_id: int, member: str) -> None:
        super().__init__(member)
        self.schedule_id, self.member = schedule_id, member


@dataclass(slots=True)
class _Due:
    """One member's claimed summary in a chunk: what it covers and what it read."""

    schedule_id: int
    member: MemberView
    covered_until: datetime
    missed: int
    #: What it read: each group's senders, as `_read_held` counted them.
    parts: dict[str, list[_Part]] = field(default_factory=dict)
    #: The keys of `parts`, newest group first.
    order: list[str] = field(default_factory=list)
    count: int = 0
    #: The sender label of its newest notification, read only when the title shows it.
    newest_label: str = ""
    delivery_id: int | None = None


async def _summarise(
    db: Db,
    due: Sequence[Sequence[Any]],
    view: HouseholdView,
    now: datetime,
    times: dict[tuple[int, datetime], tuple[list[datetime], datetime | None]],
) -> list[tuple[str, int, str, int]]:
    """Claim a chunk of due summaries, build each from what its member has held, and mark that.

    Plain SQL, set-based for the whole chunk: one statement claims the schedules that share a
    due instant, one query reads their held rows, one statement stores the deliveries and one
    marks the notifications, whatever the number of members (most share a policy, so all of
    these are one each). On SQLite the transaction holds the write lock, so nothing is held in
    between; on PostgreSQL the marking counts what it marked, and a count that differs from
    what was read (a notification committed meanwhile) rolls the chunk back to be built again.
    """
    claimed = await _claim(db, due, view, now, times)
    chunk = await _read_held(db, claimed, view.contacts_by_pk)
    if not chunk:
        return []
    rendered = []
    for d in chunk:
        try:
            groups = _groups(d)
            language, level = d.member.language, d.member.policy.content
            text = render_groups(
                groups, level, view.zone, newest_label=d.newest_label, language=language
            )
            markdown = render_groups(
                groups,
                level,
                view.zone,
                newest_label=d.newest_label,
                markdown=True,
                language=language,
            )
        except Exception as error:
            # The chunk is rolled back and built again without this member.
            raise _MemberFailed(d.schedule_id, d.member.id) from error
        rendered.append((d, text, markdown))
    kind, pending = DeliveryKind.SUMMARY, DeliveryStatus.PENDING
    row = f"(?, ?, '{kind}', ?, ?, ?, ?, ?, '{pending}', 0, ?, ?, '[]')"
    values = ", ".join([row] * len(chunk))
    inserted = await db.fetch(
        "INSERT INTO deliveries (household_id, member_id, kind, dedup_key, title, body, "
        "body_markdown, notify_type, status, attempts, created_at, next_attempt_at, channels) "
        f"VALUES {values} RETURNING id, member_id",
        [
            value
            for d, text, markdown in rendered
            for value in (
                view.id,
                d.member.pk,
                f"summary:{d.member.pk}:{d.covered_until.isoformat()}",
                text.title[:250],
                text.body,
                markdown.body,
                text.notify_type,
                db.instant(now),
                db.instant(now),
            )
        ],
    )
    delivery_of = {member_pk: delivery_id for delivery_id, member_pk in inserted}
    for d in chunk:
        d.delivery_id = delivery_of[d.member.pk]
    await _mark(db, chunk)
    return [(d.member.id, d.count, d.covered_until.isoformat(), d.missed) for d in chunk]


async def _claim(
    db: Db,
    due: Sequence[Sequence[Any]],
    view: HouseholdView,
    now: datetime,
    times: dict[tuple[int, datetime], tuple[list[datetime], datetime | None]],
) -> list[_Due]:
    """Move the schedules on: that is the claim, which only one tick (or instance) wins.

    Schedules due at the same instant under the same policy move to the same instants, so
    they are claimed with one conditional statement; a row another instance moved meanwhile
    is not returned, and that member is left to it.
    """
    groups: dict[tuple[Any, datetime, datetime | None], list[_Due]] = {}
    for schedule_id, member_pk, stored_due in due:
        member = view.members_by_pk.get(member_pk)
        if member is None:
            raise _MemberFailed(schedule_id, "?") from LookupError(
                f"no member with pk {member_pk} in the household"
            )
        first_due = read_instant(stored_due)
        # Members sharing a policy and a due instant share its times (pure, and not free).
        key = (id(member.policy), first_due)
        if key not in times:
            missed = summary_times(
                member.policy, view.zone, first_due - timedelta(microseconds=1), now
            )
            times[key] = (missed, next_summary_time(member.policy, view.zone, now))
        missed, following = times[key]
        covered_until = missed[-1] if missed else first_due
        claim = _Due(schedule_id, member, covered_until, len(missed))
        groups.setdefault((stored_due, covered_until, following), []).append(claim)
    claimed: list[_Due] = []
    for (stored_due, covered_until, following), members in groups.items():
        won = await db.fetch(
            "UPDATE schedules SET next_due_at = ?, last_due_at = ? "
            f"WHERE id IN ({db.placeholders(len(members))}) AND next_due_at = ? RETURNING id",
            [
                db.instant(following),
                db.instant(covered_until),
                *(d.schedule_id for d in members),
                stored_due,
            ],
        )
        ids = {row[0] for row in won}
        claimed += [d for d in members if d.schedule_id in ids]
    return claimed


@dataclass(slots=True)
class _Part:
    """One sender's held notifications in one group (a contact's, or a group chat's), counted
    in SQL; `newest` and `titled` are (instant, order, row) of its newest notification and of
    its newest with a conversation title, `order` breaking ties as the rows were read."""

    sender_key: str
    count: int
    first: datetime
    newest: tuple[datetime, int, Any]
    titled: tuple[datetime, int, Any] | None
    label: str = ""
    text: str = ""
    conversation: str | None = None


#: Rows of notifications fetched by their references at most per statement.
DETAIL_CHUNK = 5000


async def _read_held(db: Db, claimed: list[_Due], contacts: dict[int, ContactView]) -> list[_Due]:
    """What each claimed member has held, counted per group and sender in SQL: a summary shows
    counts and a few names, never every notification, so only the newest notification of each
    sender in each group is read. One counting query per window end the chunk covers, then the
    newest rows by reference. Returns the members with something held."""
    by_until: dict[tuple[datetime, bool], dict[int, _Due]] = {}
    for d in claimed:
        # Only the preview level shows any text.
        preview = d.member.policy.content == "preview"
        by_until.setdefault((d.covered_until, preview), {})[d.member.pk] = d
    for (until, preview), members in by_until.items():
        held = (
            f"member_id IN ({db.placeholders(len(members))}) "
            f"AND status = '{NotificationStatus.HELD}' AND received_at <= ?"
        )
        params = [*members, db.instant(until)]
        rows = await db.fetch(_counted(db, held), params)
        refs: dict[Any, list[tuple[_Part, bool]]] = {}
        for member_pk, chat, sender_key, count, first, *ends in rows:
            d = members[member_pk]
            try:
                newest, titled = _ends(db, ends)
                part = _Part(sender_key, count, read_instant(first), newest, titled)
            except Exception as error:
                # A row that cannot be read (a broken tool wrote it): only this member fails.
                raise _MemberFailed(d.schedule_id, d.member.id) from error
            key = f"chat:{chat}" if chat is not None else f"sender:{sender_key}"
            d.parts.setdefault(key, []).append(part)
            d.count += count
        for d in members.values():
            # Newest group first, as group_items orders them; past MAX_GROUPS only counted.
            last = {key: max(p.newest[0] for p in parts) for key, parts in d.parts.items()}
            d.order = sorted(sorted(last), key=last.__getitem__, reverse=True)
            for key in d.order[:MAX_GROUPS]:
                for part in d.parts[key]:
                    refs.setdefault(part.newest[2], []).append((part, False))
                    if part.titled is not None:
                        refs.setdefault(part.titled[2], []).append((part, True))
        text_columns = "text, preview" if preview else "'', NULL"
        wanted = list(refs)
        for start in range(0, len(wanted), DETAIL_CHUNK):
            some = wanted[start : start + DETAIL_CHUNK]
            for ref, label, contact_pk, text, kept, title in await db.fetch(
                f"SELECT {_REF[db.postgres]}, COALESCE(NULLIF(sender_name, ''), sender_address), "
                f"contact_id, {text_columns}, conversation_title FROM notifications "
                f"WHERE {_REF[db.postgres]} IN ({db.placeholders(len(some))})",
                some,
            ):
                contact = contacts.get(contact_pk) if contact_pk is not None else None
                for part, is_title in refs[ref]:
                    if is_title:
                        part.conversation = title
                    else:
                        part.label = contact.name if contact else label
                        part.text = text if text.strip() else (kept or "")
        await _newest_labels(db, held, params, members, contacts)
    return [d for d in claimed if d.count]


#: How a notification row is referred to: SQLite's rowid, PostgreSQL's primary key.
_REF = {False: "rowid", True: "id"}
#: The order rows are read in, which breaks ties between equal instants as the items did:
#: SQLite's rowid, PostgreSQL's physical position (ctid as block * 2^16 + line).
_ORDER = {
    False: "rowid",
    True: "((ctid::text::point)[0]::bigint * 65536 + (ctid::text::point)[1]::bigint)",
}
_CHAT = "CASE WHEN is_group THEN network || ':' || COALESCE(conversation_id, 'None') END"
_TITLED = "is_group AND conversation_title <> ''"


def _counted(db: Db, held: str) -> str:
    """Held notifications counted per member, group chat (or none) and sender, with the first
    instant and the (instant, order, reference) of the newest, and of the newest titled."""
    if db.postgres:
        newest = f"ORDER BY received_at DESC, {_ORDER[True]} DESC"
        ends = (
            f"max(received_at), (array_agg({_ORDER[True]} {newest}))[1], "
            f"(array_agg(id {newest}))[1], max(received_at) FILTER (WHERE {_TITLED}), "
            f"(array_agg({_ORDER[True]} {newest}) FILTER (WHERE {_TITLED}))[1], "
            f"(array_agg(id {newest}) FILTER (WHERE {_TITLED}))[1]"
        )
    else:
        # The newest as one text that sorts by instant, then by rowid (padded).
        ends = (
            "max(received_at || printf('%020d', rowid)), "
            f"max(CASE WHEN {_TITLED} THEN received_at || printf('%020d', rowid) END)"
        )
    return (
        f"SELECT member_id, {_CHAT}, sender_key, count(*), min(received_at), {ends} "
        # The sender first: the sort behind the grouping tells rows apart sooner.
        f"FROM notifications WHERE {held} GROUP BY sender_key, member_id, {_CHAT}"
    )


def _ends(
    db: Db, ends: Sequence[Any]
) -> tuple[tuple[datetime, int, Any], tuple[datetime, int, Any] | None]:
    """`_counted`'s newest and newest titled, as (instant, order, reference)."""
    if db.postgres:
        at, order, ref, titled_at, titled_order, titled_ref = ends
        titled = None if titled_at is None else (read_instant(titled_at), titled_order, titled_ref)
        return (read_instant(at), order, ref), titled
    newest, titled_text = ends

    def split(text: str) -> tuple[datetime, int, Any]:
        rowid = int(text[-20:])
        return read_instant(text[:-20]), rowid, rowid

    return split(newest), None if titled_text is None else split(titled_text)


async def _newest_labels(
    db: Db,
    held: str,
    params: list[Any],
    members: dict[int, _Due],
    contacts: dict[int, ContactView],
) -> None:
    """The label of each member's newest notification (the first read of the newest, if
    several share its instant), for the members whose title names their one sender."""
    wanted = [
        d
        for d in members.values()
        if d.member.policy.content != "counts"
        and len({p.sender_key for parts in d.parts.values() for p in parts}) == 1
    ]
    if not wanted:
        return
    one = (
        "SELECT * FROM (SELECT member_id, COALESCE(NULLIF(sender_name, ''), sender_address), "
        f"contact_id FROM notifications WHERE member_id = ? AND {held} "
        f"ORDER BY received_at DESC, {_ORDER[db.postgres]} LIMIT 1) AS newest_{{}}"
    )
    rows = await db.fetch(
        " UNION ALL ".join(one.format(n) for n in range(len(wanted))),
        [value for d in wanted for value in (d.member.pk, *params)],
    )
    for member_pk, label, contact_pk in rows:
        contact = contacts.get(contact_pk) if contact_pk is not None else None
        members[member_pk].newest_label = contact.name if contact else label


def _groups(d: _Due) -> list[Group]:
    """A member's groups from its counted parts, in `d.order`; those past MAX_GROUPS, which a
    summary only counts, with their count and senders alone."""
    groups = []
    for index, key in enumerate(d.order):
        parts = d.parts[key]
        if index >= MAX_GROUPS:
            first, last = min(p.first for p in parts), max(p.newest[0] for p in parts)
            senders = frozenset(p.sender_key for p in parts)
            count = sum(p.count for p in parts)
            groups.append(Group("", count, first, last, "", key, sender_keys=senders))
            continue
        parts.sort(key=lambda p: p.newest[:2], reverse=True)
        titled = max((p.titled for p in parts if p.titled), default=None, key=lambda t: t[:2])
        conversation = None
        if titled is not None:
            conversation = next(p.conversation for p in parts if p.titled == titled)
        newest = parts[0]
        groups.append(
            counted_group(
                key,
                sum(p.count for p in parts),
                min(p.first for p in parts),
                newest.newest[0],
                newest.text,
                [(p.sender_key, p.label) for p in parts],
                conversation,
                chat=key.startswith("chat:"),
            )
        )
    return groups


async def _mark(db: Db, chunk: list[_Due]) -> None:
    """Mark what each summary covers as summarised by its delivery, erasing the text.

    A guardian report at the preview level still needs 80 characters of each held message.
    """
    by_until: dict[tuple[datetime, bool], list[_Due]] = {}
    for d in chunk:
        by_until.setdefault((d.covered_until, _keeps_preview(d.member)), []).append(d)
    for (until, _), members in by_until.items():
        preview = _kept_preview(members[0].member)
        cases = " ".join(["WHEN ? THEN CAST(? AS INTEGER)"] * len(members))
        marked = await db.execute(
            f"UPDATE notifications SET status = '{NotificationStatus.SUMMARISED}', "
            f"delivery_id = CASE member_id {cases} END, text = ''{preview} "
            f"WHERE member_id IN ({db.placeholders(len(members))}) "
            f"AND status = '{NotificationStatus.HELD}' AND received_at <= ?",
            [
                *(value for d in members for value in (d.member.pk, d.delivery_id)),
                *(d.member.pk for d in members),
                db.instant(until),
            ],
        )
        if marked != sum(d.count for d in members):
            raise _Raced


def _burst_due(burst: Episode, view: HouseholdView) -> datetime:
    """The next notice, or the end of the burst (`per` of silence) if that comes first."""
    assert burst.next_notice_at is not None
    policy = view.member_by_pk(burst.member_id).policy
    if policy.burst is None:
        return burst.next_notice_at
    return min(burst.next_notice_at, burst.last_at + policy.burst.per)


async def reschedule(
    view: HouseholdView, now: datetime, members: Iterable[str] | None = None
) -> None:
    """After a policy or household change, move each member's schedule to the new next instants.

    Held notifications stay held and leave with the first summary of the new schedule; but when
    the change took away the window end or summary time they waited for (or the member's
    policy), they are summarised at once (or at the end of the quiet hours it is now). A
    schedule already due (not yet run) is left for the scheduler to run first.
    """
    wanted = set(members) if members is not None else set(view.members)
    for member in view.members.values():
        if member.id not in wanted:
            continue
        for kind, due in (
            (ScheduleKind.SUMMARY, next_summary_time(member.policy, view.zone, now)),
            (ScheduleKind.REPORT, next_report_time(member, view, now)),
        ):
            schedule, _ = await Schedule.get_or_create(member_id=member.pk, kind=kind)
            waited_for = schedule.next_due_at
            if waited_for is not None and waited_for <= now:
                continue
            if kind == ScheduleKind.SUMMARY and await _stranded(member, view, waited_for, now):
                due = now
            unchanged = (
                {"next_due_at__isnull": True} if waited_for is None else {"next_due_at": waited_for}
            )
            # Conditional, like every schedule change: an instance that just claimed it wins.
            await Schedule.filter(id=schedule.id, **unchanged).update(next_due_at=due)


async def _stranded(
    member: MemberView, view: HouseholdView, waited_for: datetime | None, now: datetime
) -> bool:
    """Whether what the member has held waited for a summary the policy no longer has, and can
    go now (nothing is pushed in quiet hours: then it waits for their end)."""
    if waited_for is not None and waited_for in summary_times(
        member.policy, view.zone, waited_for - timedelta(microseconds=1), waited_for
    ):
        return False
    if quiet_interval_at(member.policy.windows(), view.zone, now) is not None:
        return False
    return await Notification.filter(member_id=member.pk, status=NotificationStatus.HELD).exists()


def next_report_time(member: MemberView, view: HouseholdView, after: datetime) -> datetime | None:
    """A child's next report instant; guardians and children without a report time have none."""
    report = member.policy.report
    if member.role != Role.CHILD or report is None:
        return None
    upcoming = daily_times([report], view.zone, after, after + timedelta(days=2))
    return upcoming[0] if upcoming else None


def _keeps_preview(member: MemberView) -> bool:
    """A guardian report at the preview level still needs 80 characters of each held message."""
    return member.role == Role.CHILD and member.policy.guardian_view == "preview"


class _Prefix(Function):
    """The first characters of a text column, for an ORM update (`_kept_preview`'s SQL)."""

    database_func = functions.Substring


def _kept_preview(member: MemberView) -> str:
    """What marking a member's notifications as delivered sets besides erasing their text."""
    return f", preview = substr(text, 1, {PREVIEW_CHARS})" if _keeps_preview(member) else ""


class _ReportRaced(Exception):
    """Another instance claimed some of the report schedules this tick read as due."""


async def _claim_reports(
    schedules: Sequence[Schedule], view: HouseholdView, instant: datetime, now: datetime
) -> list[Schedule]:
    """Move the report schedules due at `instant` on, as a claim: those this tick won.

    One statement per next report instant (children sharing a report time share it), whatever
    the number of children. On PostgreSQL the rows are locked as they are read; on SQLite a
    claim that changed fewer rows than it read raced another instance: all is rolled back.
    """
    locked = Schedule.filter(id__in=[s.id for s in schedules], next_due_at=instant)
    won = {row.id for row in await locked.select_for_update().only("id")}
    by_next: dict[datetime | None, list[int]] = {}
    for schedule in schedules:
        if schedule.id in won:
            child = view.member_by_pk(schedule.member_id)
            by_next.setdefault(next_report_time(child, view, now), []).append(schedule.id)
    for following, ids in by_next.items():
        changed = await Schedule.filter(id__in=ids, next_due_at=instant).update(
            next_due_at=following, last_due_at=instant
        )
        if changed != len(ids):
            raise _ReportRaced
    return [s for s in schedules if s.id in won]


def _delivery(
    view: HouseholdView,
    member: MemberView,
    kind: DeliveryKind,
    dedup_key: str,
    text: Rendered,
    markdown: Rendered | None,
    now: datetime,
) -> Delivery:
    """A new delivery to `member`, not saved yet."""
    return Delivery(
        household_id=view.id,
        member_id=member.pk,
        kind=kind,
        dedup_key=dedup_key,
        title=text.title[:250],
        body=text.body,
        body_markdown=markdown.body if markdown else None,
        notify_type=text.notify_type,
        created_at=now,
        next_attempt_at=now,
    )


#: Members purged together: as many as share a retention, a few hundred per statement.
PURGE_CHUNK = 400


async def purge(view: HouseholdView, now: datetime) -> None:
    """Forget notification metadata, deliveries and episodes older than each policy's retention;
    never what still waits to be summarised or noticed, nor a burst still going on."""
    by_retention: dict[int, list[int]] = {}
    for member in view.members.values():
        by_retention.setdefault(member.policy.retention, []).append(member.pk)
    for retention, pks in sorted(by_retention.items()):
        cutoff = now - timedelta(days=retention)
        for start in range(0, len(pks), PURGE_CHUNK):
            chunk = pks[start : start + PURGE_CHUNK]
            await Notification.filter(
                member_id__in=chunk, received_at__lt=cutoff, status__not_in=WAITING
            ).delete()
            await Episode.filter(
                member_id__in=chunk, last_at__lt=cutoff, next_notice_at__isnull=True
            ).delete()
            await Delivery.filter(
                member_id__in=chunk,
                created_at__lt=cutoff,
                status__in=(DeliveryStatus.SENT, DeliveryStatus.FAILED),
            ).delete()
