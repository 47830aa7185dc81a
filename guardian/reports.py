"""What happened, counted for the people who look: the guardians' report about each child, and
the counts Tonight and the sources page show, each in a fixed number of grouped queries whatever
the number of members (the report job of guardian.scheduler and the Tonight API both read here).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from tortoise.expressions import Q
from tortoise.functions import Count, Max

from guardian.delivery import SUCCESS
from guardian.household import HouseholdView, MemberView
from guardian.models import Delivery, Episode, Notification
from guardian.summary import (
    BreakthroughNote,
    Calm,
    ChildActivity,
    EpisodeNote,
    Item,
)
from guardian.windows import quiet_interval_at
from guardian.words import (
    KEPT,
    PUSHED,
    DeliveryKind,
    DeliveryStatus,
    EpisodeKind,
    NotificationStatus,
)

#: A source that had messages and then none for this long is reported as silent.
SILENT_AFTER = timedelta(hours=24)


def held_item(n: Notification, view: HouseholdView) -> Item:
    contact = view.contact_by_pk(n.contact_id)
    return Item(
        sender_key=n.sender_key,
        sender_label=contact.name if contact else (n.sender_name or n.sender_address),
        network=n.network,
        text=n.text,
        at=n.received_at,
        conversation=n.conversation_title,
        conversation_key=f"{n.network}:{n.conversation_id}" if n.is_group else None,
        group=n.is_group,
        preview=n.preview,
    )


async def child_activity(
    child: MemberView, view: HouseholdView, since: datetime, until: datetime
) -> ChildActivity:
    """What a guardian's report says about one child for (since, until]."""
    return (await children_activity([(child, since)], view, until))[0]


async def children_activity(
    children: Sequence[tuple[MemberView, datetime]], view: HouseholdView, until: datetime
) -> list[ChildActivity]:
    """What a guardian's report says about each child for (its since, until], in a fixed
    number of grouped queries whatever the number of children."""
    since = {child.pk: start for child, start in children}
    rows: dict[int, list[Notification]] = {pk: [] for pk in since}
    for n in await Notification.filter(
        after("received_at", since), received_at__lte=until
    ).order_by("received_at"):
        rows[n.member_id].append(n)
    episodes: dict[int, list[Episode]] = {pk: [] for pk in since}
    for e in await Episode.filter(after("started_at", since), started_at__lte=until).order_by(
        "started_at"
    ):
        episodes[e.member_id].append(e)
    failed_channels: dict[int, set[str]] = {pk: set() for pk in since}
    for d in await Delivery.filter(
        after("created_at", since), status=DeliveryStatus.FAILED, created_at__lte=until
    ):
        failed_channels[d.member_id].update(
            c["channel"] for c in d.channels if c.get("status") != SUCCESS
        )
    last = await last_messages(view.id)
    reached = await interruptions(since, until)
    week = dict.fromkeys(since, until - WEEK)
    week_reached = await interruptions(week, until)
    week_messages = await counted(
        Notification.filter(after("received_at", week), received_at__lte=until)
    )

    def episode(e: Episode) -> EpisodeNote:
        return EpisodeNote(e.sender_label, e.count, e.started_at, e.last_at)

    def activity(child: MemberView) -> ChildActivity:
        came = rows[child.pk]
        windows = child.policy.windows()
        return ChildActivity(
            name=child.name,
            level=child.policy.guardian_view,
            passed=sum(1 for n in came if n.status in PUSHED),
            held=sum(1 for n in came if n.status in KEPT),
            quiet_activity=sum(
                1 for n in came if quiet_interval_at(windows, view.zone, n.received_at) is not None
            ),
            bursts=[episode(e) for e in episodes[child.pk] if e.kind == EpisodeKind.BURST],
            storms=[episode(e) for e in episodes[child.pk] if e.kind == EpisodeKind.STORM],
            breakthroughs=[
                BreakthroughNote(held_item(n, view).sender_label, n.reason or "", n.received_at)
                for n in came
                if n.status == NotificationStatus.BREAKTHROUGH
            ],
            failed_channels=sorted(failed_channels[child.pk]),
            held_items=[held_item(n, view) for n in came if n.status in KEPT],
            silent_sources=[
                (source.id, last[source.pk])
                for source in view.sources.values()
                if source.member == child.id and went_silent(last.get(source.pk), until)
            ],
            # The calm it brought: messages that came, and how many reached the phone.
            calm=Calm(
                len(came),
                reached.get(child.pk, 0),
                week_messages.get(child.pk, 0),
                week_reached.get(child.pk, 0),
            ),
        )

    return [activity(child) for child, _ in children]


WEEK = timedelta(days=7)


def after(column: str, since: Mapping[int, datetime], *, inclusive: bool = False) -> Q:
    """Rows of the members (by pk) whose `column` is after each member's own `since` (or at
    it, `inclusive`): one condition for every member, grouped by their since."""
    by_since: dict[datetime, list[int]] = {}
    for pk, start in since.items():
        by_since.setdefault(start, []).append(pk)
    bound = f"{column}__gte" if inclusive else f"{column}__gt"
    conditions: list[Q] = []
    for start, pks in by_since.items():
        condition: dict[str, Any] = {"member_id__in": pks, bound: start}
        conditions.append(Q(**condition))
    return Q(*conditions, join_type=Q.OR) if conditions else Q(member_id__in=[])


async def counted(query: Any) -> dict[int, int]:
    """A query's rows counted per member (by pk), in one grouped query."""
    rows = (
        await query.annotate(rows=Count("id"))
        .group_by("member_id")
        .values_list("member_id", "rows")
    )
    return {int(pk): int(count) for pk, count in rows}


async def interruptions(since: Mapping[int, datetime], until: datetime) -> dict[int, int]:
    """How many times each member's (by pk) phone was reached in (since, until]: every delivery
    made to them but a test, unless it failed; one grouped query."""
    return await counted(
        Delivery.filter(after("created_at", since), created_at__lte=until)
        .exclude(kind=DeliveryKind.TEST)
        .exclude(status=DeliveryStatus.FAILED)
    )


def went_silent(last: datetime | None, now: datetime) -> bool:
    """A source that had messages, and then none for SILENT_AFTER."""
    return last is not None and now - last >= SILENT_AFTER


async def last_messages(household_id: str) -> dict[int, datetime]:
    """When each source's last notification arrived, by source pk, in one grouped query."""
    rows = (
        await Notification.filter(household_id=household_id)
        .annotate(last=Max("received_at"))
        .group_by("source_id")
        .values_list("source_id", "last")
    )
    # SQLite's MAX() answers the stored text, PostgreSQL a datetime.
    return {
        int(pk): last if isinstance(last, datetime) else datetime.fromisoformat(str(last))
        for pk, last in rows
    }
