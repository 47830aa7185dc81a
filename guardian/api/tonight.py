"""The admin API: tonight at a glance, the held notifications, and the quick controls, at each
member's privacy level.

What a guardian sees of a member follows the household's privacy choices (guardian.privacy):
at `counts` no sender and no text, at `senders` who but not what, at `preview` the first 80
characters of what is held. The quick controls ("quiet now until", "pause quiet hours tonight",
"one more hour") change one member's quiet hours at once (guardian.overrides).

One area because the page is one answer: who is quiet, what is held, and the controls that
change it, all from the same household view and privacy rule.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field
from tortoise.expressions import Q
from tortoise.functions import Count, Min

from guardian import overrides, privacy
from guardian.admin import Admin, AdminError, not_found
from guardian.api import Call, Endpoints
from guardian.household import MemberView
from guardian.i18n import DEFAULT_LANGUAGE
from guardian.models import Delivery, Episode, Notification, QuietOverride, Schedule
from guardian.overrides import KEPT, Control, ControlError
from guardian.reports import (
    SILENT_AFTER,
    after,
    counted,
    held_item,
    last_messages,
    went_silent,
)
from guardian.setting_types import Level
from guardian.summary import PREVIEW_CHARS
from guardian.windows import (
    Ambiguity,
    Override,
    QuietPart,
    occurrences,
    quiet_interval_at,
    resolve_local,
)
from guardian.words import (
    PUSHED,
    DeliveryKind,
    DeliveryStatus,
    EpisodeKind,
    NotificationStatus,
    OverrideKind,
    ScheduleKind,
)

endpoints = Endpoints("tonight")

#: When a member is not in quiet hours and none ended lately, "tonight" is this long back.
EVENING = timedelta(hours=12)
WEEK = timedelta(days=7)
#: What reached a member's phone: every delivery to them but a test of a channel.
INTERRUPTIONS = tuple(k for k in DeliveryKind if k != DeliveryKind.TEST)


class OverrideOut(BaseModel):
    id: int
    kind: Literal["quiet", "pause"] = Field(
        description="`quiet`: quiet hours from start to end; `pause`: none then"
    )
    control: str = Field(description="the quick control that made it")
    start: datetime
    end: datetime
    created_at: datetime
    created_by: str


class Quiet(BaseModel):
    now: bool
    until: datetime | None = Field(None, description="End of the current quiet window")
    starts_at: datetime | None = Field(
        None, description="Start of tonight's quiet hours (going on, or still to come today)"
    )
    ends_at: datetime | None = Field(None, description="End of tonight's quiet hours")
    overrides: list[OverrideOut] = Field(
        [], description="Quick-control changes to the member's quiet hours not yet over"
    )


class HeldSender(BaseModel):
    sender: str
    count: int


class Held(BaseModel):
    count: int
    senders: list[HeldSender] | None = Field(
        None, description="Who they are from; absent at the counts level"
    )
    people: int = Field(0, description="From how many people")


class EpisodeOut(BaseModel):
    kind: Literal["burst", "storm"]
    sender: str | None = Field(None, description="Absent at the counts level")
    count: int
    started_at: datetime
    last_at: datetime


class GotThrough(BaseModel):
    at: datetime
    kind: Literal["breakthrough", "forward"]
    sender: str | None = Field(None, description="Absent at the counts level")
    why: str = Field(description="Why it reached the phone at once, at the viewer's level")


class Calm(BaseModel):
    """How many messages came, and how many times the member's phone was interrupted."""

    since: datetime
    messages: int
    interruptions: int


class MemberTonight(BaseModel):
    id: str
    name: str
    role: str
    level: Level = Field(description="How much the signed-in guardian sees of this member")
    quiet: Quiet
    held: Held
    episodes: list[EpisodeOut]
    next_summary_at: datetime | None
    next_report_at: datetime | None
    failed_deliveries: int
    since: datetime | None = Field(
        None, description="Tonight starts here: the start of the last quiet hours"
    )
    got_through: list[GotThrough] = Field(
        [],
        description="Pushed at once during quiet hours tonight: breakthroughs, and what "
        "passed while quiet hours were paused",
    )
    tonight: Calm | None = None
    week: Calm | None = None


class SourceProblem(BaseModel):
    id: str
    member: str
    problem: str
    last_message_at: datetime | None = None


class Tonight(BaseModel):
    at: datetime
    members: list[MemberTonight]
    sources: list[SourceProblem] = Field(description="Sources that failed or went silent")
    failed_deliveries: int


async def tonight(admin: Admin, language: str = DEFAULT_LANGUAGE) -> Tonight:
    """Tonight for `admin`; the reasons of what got through in `language` (a page's)."""
    view = admin.view
    now = admin.now()
    found = await _gather(admin, list(view.members.values()), now)
    members = [
        _member_tonight(admin, member, now, found, language) for member in view.members.values()
    ]
    return Tonight(
        at=now,
        members=members,
        sources=await source_problems(admin, now),
        failed_deliveries=sum(m.failed_deliveries for m in members),
    )


def tonight_since(member: MemberView, admin: Admin, now: datetime) -> datetime:
    """Where "tonight" starts for `member`: at the start of their quiet hours going on, or of
    the last ones if they ended less than EVENING ago; otherwise EVENING ago."""
    zone = admin.view.zone
    past = [
        i
        for i in occurrences(member.policy.windows(), zone, now - 3 * EVENING, now)
        if i.start <= now
    ]
    if past and now - past[-1].end < EVENING:
        return max(past[-1].start, now - 2 * EVENING)
    return now - EVENING


def week_since(admin: Admin, now: datetime) -> datetime:
    """The start of this week: local midnight six days ago (today is the seventh day)."""
    zone = admin.view.zone
    day = now.astimezone(zone).date() - timedelta(days=6)
    return resolve_local(day, time(0), zone, Ambiguity.EARLIER)


async def calms(since: Mapping[int, datetime], until: datetime) -> dict[int, Calm]:
    """For each member (by pk): how many messages came in [since, until), and how many
    deliveries reached their phone then; two grouped queries whatever the number of members."""
    messages = await counted(
        Notification.filter(after("received_at", since, inclusive=True), received_at__lt=until)
    )
    interruptions = await counted(
        Delivery.filter(
            after("sent_at", since, inclusive=True),
            kind__in=INTERRUPTIONS,
            status=DeliveryStatus.SENT,
            sent_at__lt=until,
        )
    )
    return {
        pk: Calm(since=start, messages=messages.get(pk, 0), interruptions=interruptions.get(pk, 0))
        for pk, start in since.items()
    }


@dataclass
class _Found:
    """What Tonight shows of every member, read in a fixed number of grouped queries."""

    since: dict[int, datetime]
    held: dict[int, Held]
    schedules: dict[int, dict[str, datetime | None]]
    episodes: dict[int, list[Episode]]
    pushed: dict[int, list[Notification]]
    overrides: dict[int, list[OverrideOut]]
    failed: dict[int, int]
    tonight: dict[int, Calm]
    week: dict[int, Calm]


async def _gather(admin: Admin, members: Sequence[MemberView], now: datetime) -> _Found:
    pks = [m.pk for m in members]
    since = {m.pk: tonight_since(m, admin, now) for m in members}
    earliest = min(since.values(), default=now)
    schedules: dict[int, dict[str, datetime | None]] = {pk: {} for pk in pks}
    for s in await Schedule.filter(member_id__in=pks):
        schedules[s.member_id][s.kind] = s.next_due_at
    # The bursts and storms going on, and those of tonight that are over.
    episodes: dict[int, list[Episode]] = {pk: [] for pk in pks}
    for e in await Episode.filter(
        Q(ended_at__isnull=True) | Q(last_at__gte=earliest), member_id__in=pks
    ).order_by("started_at"):
        pk = e.member_id
        if e.ended_at is None or e.last_at >= since[pk]:
            episodes[pk].append(e)
    pushed: dict[int, list[Notification]] = {pk: [] for pk in pks}
    for n in await Notification.filter(
        member_id__in=pks,
        status__in=PUSHED,
        received_at__gte=earliest,
        received_at__lte=now,
    ):
        pk = n.member_id
        if n.received_at >= since[pk]:
            pushed[pk].append(n)
    until = now + timedelta(microseconds=1)
    week = week_since(admin, now)
    return _Found(
        since=since,
        held=await held_counts(admin, pks),
        schedules=schedules,
        episodes=episodes,
        pushed=pushed,
        overrides=await overrides_of(pks, now),
        failed=await counted(Delivery.filter(member_id__in=pks, status=DeliveryStatus.FAILED)),
        tonight=await calms(since, until),
        week=await calms(dict.fromkeys(pks, week), until),
    )


#: What tells one held sender's label from another's.
_SENDER = ("member_id", "sender_key", "contact_id", "sender_name", "sender_address")


async def held_counts(admin: Admin, pks: Sequence[int]) -> dict[int, Held]:
    """What each member (by pk) has held, from whom, in one grouped query: the held rows are
    counted per sender, never loaded."""
    view = admin.view
    rows = (
        await Notification.filter(member_id__in=pks, status=NotificationStatus.HELD)
        .annotate(rows=Count("id"), first=Min("received_at"))
        .group_by("member_id", "sender_key", "contact_id", "sender_name", "sender_address")
        .values_list(
            "member_id",
            "sender_key",
            "contact_id",
            "sender_name",
            "sender_address",
            "rows",
            "first",
        )
    )
    labels: dict[int, dict[str, list[Any]]] = {pk: {} for pk in pks}
    people: dict[int, set[str]] = {pk: set() for pk in pks}
    for pk, key, contact_pk, name, address, count, first in rows:
        contact = view.contact_by_pk(contact_pk)
        label = contact.name if contact else (name or address)
        seen = labels[pk].setdefault(label, [0, str(first)])
        seen[0] += count
        seen[1] = min(seen[1], str(first))
        people[pk].add(key)
    held = {}
    for pk, by_label in labels.items():
        ordered = sorted(by_label.items(), key=lambda item: (-item[1][0], item[1][1]))
        held[pk] = Held(
            count=sum(count for count, _ in by_label.values()),
            senders=[HeldSender(sender=label, count=c) for label, (c, _) in ordered],
            people=len(people[pk]),
        )
    return held


def _member_tonight(
    admin: Admin, member: MemberView, now: datetime, found: _Found, language: str
) -> MemberTonight:
    view = admin.view
    level = admin.level_for(member)
    windows = member.policy.windows()
    interval = quiet_interval_at(windows, view.zone, now)
    coming = overrides.tonight(windows, view.zone, now)
    held = found.held[member.pk]
    schedules = found.schedules[member.pk]
    # The policy's own windows: a forward in them passed because quiet hours were paused.
    own = view.policies[member.policy_name].windows() if member.policy_name in view.policies else []
    through = [
        n
        for n in found.pushed[member.pk]
        if n.status == NotificationStatus.BREAKTHROUGH
        or quiet_interval_at(own, view.zone, n.received_at)
    ]
    return MemberTonight(
        id=member.id,
        name=member.name,
        role=member.role,
        level=level,
        quiet=Quiet(
            now=interval is not None,
            until=interval.end if interval else None,
            starts_at=coming.start,
            ends_at=coming.end,
            overrides=found.overrides[member.pk],
        ),
        held=held if level != "counts" else held.model_copy(update={"senders": None}),
        episodes=[
            EpisodeOut(
                kind=EpisodeKind.STORM if e.kind == EpisodeKind.STORM else EpisodeKind.BURST,
                sender=privacy.who(level, e.sender_label),
                count=e.count,
                started_at=e.started_at,
                last_at=e.last_at,
            )
            for e in found.episodes[member.pk]
        ],
        next_summary_at=schedules.get(ScheduleKind.SUMMARY),
        next_report_at=schedules.get(ScheduleKind.REPORT),
        failed_deliveries=found.failed.get(member.pk, 0),
        since=found.since[member.pk],
        got_through=[
            GotThrough(at=t.at, kind=t.kind, sender=t.sender, why=t.why)
            for t in privacy.got_through(level, through, view, language)
        ],
        tonight=found.tonight[member.pk],
        week=found.week[member.pk],
    )


async def source_problems(admin: Admin, now: datetime) -> list[SourceProblem]:
    """Sources whose plugin failed to load, and sources that went silent."""
    service = admin.service
    problems = []
    last = await last_messages(admin.view.id)
    for source in admin.view.sources.values():
        last_at = last.get(source.pk)
        error = service.plugin_errors.get(source.id)
        if error is not None:
            problem = error
        elif went_silent(last_at, now):
            problem = f"silent: no message in {SILENT_AFTER.total_seconds() / 3600:.0f} h"
        else:
            continue
        problems.append(
            SourceProblem(
                id=source.id, member=source.member, problem=problem, last_message_at=last_at
            )
        )
    return problems


@endpoints.route("GET", "/tonight", response=Tonight)
async def get_tonight(call: Call) -> Tonight:
    """Tonight at a glance: quiet hours, what got through and why, what is held, bursts and
    storms, the calm it brought, what comes next, problems."""
    return await tonight(call.admin)


# -- quick controls: quiet now until, pause quiet hours tonight, one more hour -----------------


class QuietControlIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    control: Control = Field(
        description="`quiet_until`: quiet from now until `until`; `pause_tonight`: no quiet "
        "hours for the rest of tonight's; `one_more_hour`: tonight's quiet hours end an hour "
        "later (or, outside them, quiet for the next hour)"
    )
    until: str | None = Field(
        None,
        description="For `quiet_until`: a local time (`07:30`, the next one to come) or an "
        "ISO instant with its offset",
        max_length=40,
    )


class QuietState(BaseModel):
    member: str
    quiet: Quiet
    next_summary_at: datetime | None


async def member_overrides(member: MemberView, now: datetime) -> list[OverrideOut]:
    """The member's overrides that are not over yet, oldest first."""
    return (await overrides_of([member.pk], now))[member.pk]


async def overrides_of(pks: Sequence[int], now: datetime) -> dict[int, list[OverrideOut]]:
    """Each member's (by pk) overrides that are not over yet, oldest first, in one query."""
    found: dict[int, list[OverrideOut]] = {pk: [] for pk in pks}
    for r in await QuietOverride.filter(member_id__in=pks, end_at__gt=now).order_by("id"):
        found[r.member_id].append(
            OverrideOut(
                id=r.id,
                kind=OverrideKind.of(r.kind),
                control=r.control,
                start=r.start_at,
                end=r.end_at,
                created_at=r.created_at,
                created_by=r.created_by,
            )
        )
    return found


async def quiet_state(admin: Admin, member: MemberView) -> QuietState:
    now = admin.now()
    windows = member.policy.windows()
    interval = quiet_interval_at(windows, admin.view.zone, now)
    coming = overrides.tonight(windows, admin.view.zone, now)
    schedule = await Schedule.get_or_none(member_id=member.pk, kind=ScheduleKind.SUMMARY)
    return QuietState(
        member=member.id,
        quiet=Quiet(
            now=interval is not None,
            until=interval.end if interval else None,
            starts_at=coming.start,
            ends_at=coming.end,
            overrides=await member_overrides(member, now),
        ),
        next_summary_at=schedule.next_due_at if schedule else None,
    )


def _until(admin: Admin, text: str | None, now: datetime) -> datetime | None:
    """`07:30` (the next 07:30 in the household's zone) or an ISO instant with an offset."""
    if text is None or not text.strip():
        return None
    text = text.strip()
    try:
        wall = time.fromisoformat(text)
    except ValueError:
        wall = None
    if wall is not None and len(text) <= 8:
        zone = admin.view.zone
        day = now.astimezone(zone).date()
        for offset in (0, 1):
            instant = resolve_local(day + timedelta(days=offset), wall, zone, Ambiguity.LATER)
            if instant > now:
                return instant
    given: datetime | None
    try:
        given = datetime.fromisoformat(text)
    except ValueError:
        given = None
    if given is None or given.tzinfo is None:
        message = "not a time: use 07:30, or a date and time with its offset"
        raise AdminError(422, "invalid", f"until: {message}", {"until": message})
    return given.astimezone(UTC)


async def apply_control(
    admin: Admin, member_id: str, control: Control, until: str | None = None
) -> QuietState:
    """Apply one quick control at once: stored, audited, taken up by the decisions and the
    timer (the member's next summary moves to the new end of their quiet hours)."""
    member = admin.member(member_id)
    now = admin.now()
    try:
        planned = overrides.plan(
            control, member.policy.windows(), admin.view.zone, now, _until(admin, until, now)
        )
    except ControlError as error:
        field = "until" if control == "quiet_until" else "control"
        raise AdminError(422, "invalid", f"{field}: {error}", {field: str(error)}) from None
    return await add_overrides(admin, member_id, control, planned)


async def add_overrides(
    admin: Admin, member_id: str, control: str, planned: Sequence[Override]
) -> QuietState:
    """Store the overrides one control makes, audited, and take them up at once."""
    member = admin.member(member_id)
    now = admin.now()
    batch = uuid.uuid4().hex
    async with admin.change("quiet.override", member.id) as change:
        await QuietOverride.filter(member_id=member.pk, end_at__lt=now - KEPT).delete()
        rows = [
            await QuietOverride.create(
                member_id=member.pk,
                kind=o.kind,
                start_at=o.start,
                end_at=o.end,
                control=control,
                batch=batch,
                created_at=now,
                created_by=admin.actor,
            )
            for o in planned
        ]
        change.detail = {
            "control": control,
            "overrides": [
                {
                    "id": r.id,
                    "kind": r.kind,
                    "start": r.start_at.isoformat(),
                    "end": r.end_at.isoformat(),
                }
                for r in rows
            ],
        }
        change.before, change.after = _tonight_change(admin, member, [*planned], [], now)
        change.reschedule = {member.id}
    return await quiet_state(admin, admin.member(member_id))


def _tonight_change(
    admin: Admin,
    member: MemberView,
    added: Sequence[Override],
    removed: Sequence[Override],
    now: datetime,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Tonight's quiet hours before and after a quick control (or its undoing), for the audit
    log's before → after."""
    windows = member.policy.windows()
    after = [*(w for w in windows if w not in removed), *added]

    def told(parts: Sequence[QuietPart]) -> dict[str, Any]:
        coming = overrides.tonight(parts, admin.view.zone, now)
        return {
            "now": coming.quiet_now,
            "start": coming.start.isoformat() if coming.start else None,
            "end": coming.end.isoformat() if coming.end else None,
        }

    return {"tonight": told(windows)}, {"tonight": told(after)}


async def undo_control(admin: Admin, member_id: str, override_id: str) -> QuietState:
    """Undo a quick control: its overrides go (the ones one control made together)."""
    member = admin.member(member_id)
    row = None
    if override_id.isdigit() and len(override_id) < 18:
        row = await QuietOverride.get_or_none(id=int(override_id), member_id=member.pk)
    if row is None:
        raise not_found("quiet-hours change", override_id)
    together = QuietOverride.filter(member_id=member.pk, batch=row.batch)
    async with admin.change("quiet.undo", member.id) as change:
        gone = [
            {
                "id": r.id,
                "kind": r.kind,
                "start": r.start_at.isoformat(),
                "end": r.end_at.isoformat(),
            }
            for r in await together
        ]
        removed = [Override(OverrideKind.of(r.kind), r.start_at, r.end_at) for r in await together]
        await together.delete()
        change.detail = {"control": row.control, "overrides": gone}
        change.before, change.after = _tonight_change(admin, member, [], removed, admin.now())
        change.reschedule = {member.id}
    return await quiet_state(admin, admin.member(member_id))


@endpoints.route("GET", "/members/{member_id}/quiet", response=QuietState)
async def get_quiet(call: Call) -> QuietState:
    """A member's quiet hours tonight, with the quick-control changes not over yet."""
    return await quiet_state(call.admin, call.admin.member(call.path["member_id"]))


@endpoints.route("POST", "/members/{member_id}/quiet", response=QuietState, body=QuietControlIn)
async def post_quiet(call: Call) -> QuietState:
    """Apply a quick control now: quiet now until a time, pause tonight's quiet hours, or one
    more hour. It is audited and can be undone."""
    body = call.body_as(QuietControlIn)
    return await apply_control(call.admin, call.path["member_id"], body.control, body.until)


@endpoints.route("DELETE", "/members/{member_id}/quiet/{override_id}", response=QuietState)
async def delete_quiet(call: Call) -> QuietState:
    """Undo a quick control (every change it made): the member's quiet hours are as before."""
    return await undo_control(call.admin, call.path["member_id"], call.path["override_id"])


class HeldQuery(BaseModel):
    model_config = ConfigDict(extra="ignore")

    member: str | None = None
    limit: int = Field(200, ge=1, le=1000)


class HeldNotification(BaseModel):
    id: str
    member: str
    received_at: datetime
    network: str
    level: Level
    sender: str | None = Field(None, description="Absent at the counts level")
    conversation: str | None = Field(None, description="Absent at the counts level")
    preview: str | None = Field(None, description="Only at the preview level")


class HeldList(BaseModel):
    items: list[HeldNotification]


async def held_notifications(admin: Admin, member: str | None, limit: int = 200) -> HeldList:
    """The newest `limit` held notifications of one member or of all, in two queries whatever
    the number of members; at the same instant, in the order of the household's members."""
    view = admin.view
    members = [admin.member(member)] if member is not None else list(view.members.values())
    order = {m.pk: position for position, m in enumerate(members)}
    held = Notification.filter(member_id__in=list(order), status=NotificationStatus.HELD)
    # The limit-th newest instant: every row from it on is read, so that of the rows held at
    # that very instant those of the members first in order are kept (not the database's pick).
    oldest = (
        await held.order_by("-received_at")
        .offset(limit - 1)
        .limit(1)
        .values_list("received_at", flat=True)
    )
    rows = await (held.filter(received_at__gte=oldest[0]) if oldest else held)
    rows.sort(key=lambda n: order[n.member_id])
    rows.sort(key=lambda n: n.received_at, reverse=True)  # stable: members' order kept
    items = []
    for n in rows[:limit]:
        m = members[order[n.member_id]]
        level = admin.level_for(m)
        item = held_item(n, view)
        items.append(
            HeldNotification(
                id=str(n.id),
                member=m.id,
                received_at=n.received_at,
                network=n.network,
                level=level,
                sender=None if level == "counts" else item.sender_label,
                conversation=None if level == "counts" else item.conversation,
                preview=(item.text or item.preview or "")[:PREVIEW_CHARS]
                if level == "preview"
                else None,
            )
        )
    return HeldList(items=items)


@endpoints.route("GET", "/held", response=HeldList, query=HeldQuery)
async def get_held(call: Call) -> HeldList:
    """Held notifications, newest first, filtered to each member's privacy level."""
    query = call.query_as(HeldQuery)
    return await held_notifications(call.admin, query.member, query.limit)
