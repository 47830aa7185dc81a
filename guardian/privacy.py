"""What a viewer is shown of a member's notifications and deliveries: the one privacy rule.

A guardian sees another member's notifications and deliveries at that member's
`guardian_view`: `counts` (how many and when), `senders` (also who wrote), `preview` (also
the start of what they wrote). Members see their own notifications at their own `content`
level, and their own deliveries in full, as sent.

A delivery record keeps what was sent. `shown()` is the one function that turns it into what
a viewer sees: as sent where that says no more than the viewer may see; otherwise rendered
again at the viewer's level, from the notifications it covered, by the same renderers that
made it (guardian.summary). A guardian never sees a delivery at more than it was sent at
either: the level is the lower of the member's `guardian_view` and `content`. Every page and
API answer that shows a notification or a delivery asks this module, and the transparency
page says what guardians see from it, with an example made by `shown()` itself.
"""

from __future__ import annotations

import uuid
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Final, Literal
from zoneinfo import ZoneInfo

from guardian import i18n
from guardian.household import HouseholdView, MemberView
from guardian.i18n import DEFAULT_LANGUAGE, N_
from guardian.models import Delivery, Episode, Notification
from guardian.reports import held_item
from guardian.setting_types import Level
from guardian.summary import (
    LEVELS,
    Item,
    Rendered,
    reason_at_level,
    render_breakthrough,
    render_burst_notice,
    render_forward,
    render_summary,
)
from guardian.windows import quiet_interval_at
from guardian.words import DeliveryKind, NotificationStatus

#: A delivery shown as it was sent: to its own member, or where that is within the level.
SENT: Final = "sent"
Shown = Literal["sent", "counts", "senders", "preview"]

#: Deliveries made of a member's own notifications. The others say nothing of the member
#: they went to: a guardian's report and a storm alert were rendered at each child's
#: `guardian_view` when they were built, a test send is a fixed sentence.
OF_NOTIFICATIONS = frozenset(
    {DeliveryKind.FORWARD, DeliveryKind.BREAKTHROUGH, DeliveryKind.SUMMARY, DeliveryKind.BURST}
)

#: What a delivery is called when the notifications it covered are no longer kept.
_UNKEPT_TITLES: dict[str, str] = {
    # Translators: the title of a delivery on the dashboard when the messages it was made of
    # are no longer kept.
    DeliveryKind.FORWARD: N_("New message"),
    DeliveryKind.BREAKTHROUGH: N_("Urgent message"),
    DeliveryKind.SUMMARY: N_("Summary"),
    DeliveryKind.BURST: N_("More messages"),
}
UNKEPT_TITLE = N_("Message")
# Translators: the text of a delivery whose messages are no longer kept.
UNKEPT = N_("What it said is no longer kept.")

#: What guardians see on the dashboard of a member's messages, by the member's level.
ON_THE_DASHBOARD: dict[str, str] = {
    # Translators: the end of "On the dashboard, your guardians see ...: {seen}." to a child.
    "counts": N_("how many messages came and when, but not who sent them and not what they said"),
    "senders": N_(
        "how many messages came, when and from whom (names and group chat titles), "
        "but not what they said"
    ),
    "preview": N_("how many messages came, when, from whom, and the first 80 characters of each"),
}


def lower(a: Level, b: Level) -> Level:
    return a if LEVELS.index(a) <= LEVELS.index(b) else b


def level_for(viewer: str | None, member: MemberView) -> Level:
    """How much `viewer` (the member a login belongs to, if any) sees of `member`'s
    notifications."""
    if viewer == member.id:
        return member.policy.content
    return member.policy.guardian_view


def shows_who_wrote(viewer: str | None, member: MemberView) -> bool:
    """Whether `viewer` may know who writes to `member` (a name, an address, how often): not
    at `counts`, where even a person's number of messages is not told."""
    return level_for(viewer, member) != "counts"


def who_wrote_to(
    viewer: str | None, members: Sequence[MemberView]
) -> tuple[list[MemberView], list[MemberView]]:
    """`members` split into those whose senders `viewer` may see, and those whose are private
    to them: the People page and its API list who wrote to the first only."""
    shown = [m for m in members if shows_who_wrote(viewer, m)]
    private = [m for m in members if not shows_who_wrote(viewer, m)]
    return shown, private


def delivery_level(viewer: str | None, member: MemberView | None) -> Shown:
    """How much `viewer` sees of the deliveries to `member`: their own in full; another's at
    its `guardian_view`, and never more than was sent (its `content`)."""
    if member is None:
        return "counts"
    if viewer == member.id:
        return SENT
    level = lower(member.policy.guardian_view, member.policy.content)
    return SENT if level == "preview" else level  # nothing sent says more than a preview


@dataclass(frozen=True)
class Sent:
    """What a delivery record keeps."""

    kind: str
    title: str
    body: str
    body_markdown: str | None = None


@dataclass(frozen=True)
class Seen:
    """What a viewer is shown of one delivery, and at which level (`sent`: as it was sent)."""

    title: str
    body: str
    body_markdown: str | None
    shown_at: Shown


@dataclass(frozen=True)
class Facts:
    """What a delivery was about besides its notifications: a breakthrough's reason and whether
    it came in quiet hours, whether a burst notice was the burst's last."""

    reason: str = ""
    quiet: bool = True
    final: bool = False


def shown(
    sent: Sent,
    level: Shown,
    covered: Sequence[Item],
    zone: ZoneInfo,
    facts: Facts = Facts(),
    language: str = DEFAULT_LANGUAGE,
) -> Seen:
    """`sent` as a viewer at `level` sees it; `covered` are the notifications it was made of
    (their text may be gone: below `preview` it is never needed). Made again, it is in
    `language`, its member's, as what was sent is."""
    if level == "sent" or sent.kind not in OF_NOTIFICATIONS:
        return Seen(sent.title, sent.body, sent.body_markdown, SENT)
    again, markdown = _rendered_again(sent, level, covered, zone, facts, language)
    return Seen(again.title, again.body, markdown, level)


def _rendered_again(
    sent: Sent, level: Level, covered: Sequence[Item], zone: ZoneInfo, facts: Facts, language: str
) -> tuple[Rendered, str | None]:
    items = sorted(covered, key=lambda i: i.at)
    if not items:
        t = i18n.language(language)
        title = t.gettext(_UNKEPT_TITLES.get(sent.kind, UNKEPT_TITLE))
        return Rendered(title, t.gettext(UNKEPT)), None
    if sent.kind == DeliveryKind.FORWARD:
        return render_forward(items[0], level, language=language), None
    if sent.kind == DeliveryKind.BREAKTHROUGH:
        again = render_breakthrough(
            items[0], level, facts.reason, quiet=facts.quiet, language=language
        )
        return again, None
    if sent.kind == DeliveryKind.BURST:
        notice = render_burst_notice(
            items[-1].sender_label,
            len(items),
            items[0].at,
            items[-1].at,
            zone,
            level,
            final=facts.final,
            language=language,
        )
        return notice, None
    markdown = render_summary(items, level, zone, markdown=True, language=language).body
    summary = render_summary(items, level, zone, language=language)
    return summary, markdown if sent.body_markdown else None


def _covered_id(delivery: Delivery) -> uuid.UUID | None:
    """A forward's or breakthrough's notification, named by its dedup key (`kind:member:id`)."""
    try:
        return uuid.UUID(delivery.dedup_key.rsplit(":", 1)[-1])
    except ValueError:
        return None


async def seen_deliveries(
    view: HouseholdView, viewer: str | None, deliveries: Sequence[Delivery]
) -> list[Seen]:
    """What `viewer` is shown of each of `deliveries`, in their order (two queries at most)."""
    members = {m.pk: m for m in view.members.values()}
    levels = [delivery_level(viewer, members.get(d.member_id)) for d in deliveries]
    again = [d for d, level in zip(deliveries, levels, strict=True) if level != SENT]
    singles = {
        d.id: found
        for d in again
        if d.kind in (DeliveryKind.FORWARD, DeliveryKind.BREAKTHROUGH)
        and (found := _covered_id(d)) is not None
    }
    rows: dict[uuid.UUID, Notification] = {}
    if singles:
        rows = {n.id: n for n in await Notification.filter(id__in=list(singles.values()))}
    grouped: dict[int | None, list[Notification]] = defaultdict(list)
    several = [d.id for d in again if d.kind in (DeliveryKind.SUMMARY, DeliveryKind.BURST)]
    if several:
        for n in await Notification.filter(delivery_id__in=several).order_by("received_at"):
            grouped[n.delivery_id].append(n)
    bursts = {
        n.episode_id for d in again if d.kind == DeliveryKind.BURST for n in grouped.get(d.id, [])
    }
    ended = {
        e.id: e.ended_at for e in await Episode.filter(id__in=[b for b in bursts if b is not None])
    }
    seen = []
    for delivery, level in zip(deliveries, levels, strict=True):
        single = rows.get(singles[delivery.id]) if delivery.id in singles else None
        covered = [single] if single is not None else grouped.get(delivery.id, [])
        sent = Sent(delivery.kind, delivery.title, delivery.body, delivery.body_markdown)
        items = [held_item(n, view) for n in covered]
        seen.append(
            shown(
                sent,
                level,
                items,
                view.zone,
                _facts(delivery, single, covered, members, view, ended),
                _language_of(members.get(delivery.member_id), view),
            )
        )
    return seen


def _language_of(member: MemberView | None, view: HouseholdView) -> str:
    return member.language if member is not None else view.language


def _facts(
    delivery: Delivery,
    single: Notification | None,
    covered: Sequence[Notification],
    members: dict[int, MemberView],
    view: HouseholdView,
    ended: dict[int, datetime | None],
) -> Facts:
    """A delivery's facts from the data, never from its text (which is in its member's language):
    a breakthrough came in quiet hours if its policy's windows say so; a burst notice was the
    last if its burst had ended when the notice was made."""
    if single is not None:
        member = members.get(delivery.member_id)
        windows = member.policy.windows() if member else []
        quiet = quiet_interval_at(windows, view.zone, single.received_at) is not None
        return Facts(reason=single.reason or "", quiet=quiet)
    if delivery.kind == DeliveryKind.BURST and covered:
        episode = covered[-1].episode_id
        end = ended.get(episode) if episode is not None else None
        return Facts(final=end is not None and end <= delivery.created_at)
    return Facts()


# -- tonight: who, and why something got through -------------------------------------------


def who(level: Level, label: str) -> str | None:
    """A sender's name as a viewer at `level` sees it: none at `counts`."""
    return None if level == "counts" else label


@dataclass(frozen=True)
class Through:
    """One message that was pushed to a member's phone at once, as a viewer sees it."""

    at: datetime
    kind: Literal["breakthrough", "forward"]
    sender: str | None
    #: Why, in plain words, at the viewer's level (no keyword and no name at `counts`).
    why: str


#: Why a message was passed on at once during the hours its policy keeps quiet: the quiet hours
#: had been paused or ended early from the dashboard.
# Translators: on Tonight, why a message was passed on at once ("passed on: quiet hours were
# paused").
PAUSED = N_("quiet hours were paused")


def got_through(
    level: Level,
    notifications: Sequence[Notification],
    view: HouseholdView,
    language: str = DEFAULT_LANGUAGE,
) -> list[Through]:
    """The pushed `notifications` as a viewer at `level` sees them, newest first, their reasons
    in `language`."""
    found = []
    for n in sorted(notifications, key=lambda n: n.received_at, reverse=True):
        item = held_item(n, view)
        if n.status == NotificationStatus.BREAKTHROUGH:
            why = reason_at_level(n.reason or "", level, language=language)
            kind: Literal["breakthrough", "forward"] = "breakthrough"
        else:
            why, kind = i18n.language(language).gettext(PAUSED), "forward"
        found.append(Through(n.received_at, kind, who(level, item.sender_label), why))
    return found
