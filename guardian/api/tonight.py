"""The admin API: tonight at a glance, and the held notifications, at each member's privacy level.

What a guardian sees of a member follows the household's privacy choices (guardian.privacy):
at `counts` no sender and no text, at `senders` who but not what, at `preview` the first 80
characters of what is held.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from guardian.admin import Admin
from guardian.api import Call, Endpoints
from guardian.household import MemberView
from guardian.models import Delivery, Episode, Notification, Schedule
from guardian.scheduler import SILENT_AFTER, held_item, last_messages, went_silent
from guardian.settings import Level
from guardian.summary import PREVIEW_CHARS
from guardian.windows import quiet_interval_at

endpoints = Endpoints("tonight")


class Quiet(BaseModel):
    now: bool
    until: datetime | None = Field(None, description="End of the current quiet window")


class HeldSender(BaseModel):
    sender: str
    count: int


class Held(BaseModel):
    count: int
    senders: list[HeldSender] | None = Field(
        None, description="Who they are from; absent at the counts level"
    )


class EpisodeOut(BaseModel):
    kind: Literal["burst", "storm"]
    sender: str | None = Field(None, description="Absent at the counts level")
    count: int
    started_at: datetime
    last_at: datetime


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


async def tonight(admin: Admin) -> Tonight:
    view = admin.view
    now = admin.now()
    members = [await _member_tonight(admin, member, now) for member in view.members.values()]
    return Tonight(
        at=now,
        members=members,
        sources=await source_problems(admin, now),
        failed_deliveries=sum(m.failed_deliveries for m in members),
    )


async def _member_tonight(admin: Admin, member: MemberView, now: datetime) -> MemberTonight:
    view = admin.view
    level = admin.level_for(member)
    interval = quiet_interval_at(member.policy.windows(), view.zone, now)
    held = await Notification.filter(member_id=member.pk, status="held")
    senders = Counter(held_item(n, view).sender_label for n in held)
    schedules = {s.kind: s.next_due_at for s in await Schedule.filter(member_id=member.pk)}
    episodes = await Episode.filter(member_id=member.pk, ended_at__isnull=True).order_by(
        "started_at"
    )
    return MemberTonight(
        id=member.id,
        name=member.name,
        role=member.role,
        level=level,
        quiet=Quiet(now=interval is not None, until=interval.end if interval else None),
        held=Held(
            count=len(held),
            senders=None
            if level == "counts"
            else [HeldSender(sender=s, count=c) for s, c in senders.most_common()],
        ),
        episodes=[
            EpisodeOut(
                kind="storm" if e.kind == "storm" else "burst",
                sender=None if level == "counts" else e.sender_label,
                count=e.count,
                started_at=e.started_at,
                last_at=e.last_at,
            )
            for e in episodes
        ],
        next_summary_at=schedules.get("summary"),
        next_report_at=schedules.get("report"),
        failed_deliveries=await Delivery.filter(member_id=member.pk, status="failed").count(),
    )


async def source_problems(admin: Admin, now: datetime) -> list[SourceProblem]:
    """Sources whose plugin failed to load, and sources that went silent."""
    guardian = admin.guardian
    problems = []
    last = await last_messages(admin.view.id)
    for source in admin.view.sources.values():
        last_at = last.get(source.pk)
        error = guardian.plugin_errors.get(source.id)
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
    """Tonight at a glance: quiet hours, held notifications, bursts, what comes next, problems."""
    return await tonight(call.admin)


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
    view = admin.view
    members = [admin.member(member)] if member is not None else list(view.members.values())
    items = []
    for m in members:
        level = admin.level_for(m)
        for n in (
            await Notification.filter(member_id=m.pk, status="held")
            .order_by("-received_at")
            .limit(limit)
        ):
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
    items.sort(key=lambda i: i.received_at, reverse=True)
    return HeldList(items=items[:limit])


@endpoints.route("GET", "/held", response=HeldList, query=HeldQuery)
async def get_held(call: Call) -> HeldList:
    """Held notifications, newest first, filtered to each member's privacy level."""
    query = call.query_as(HeldQuery)
    return await held_notifications(call.admin, query.member, query.limit)
