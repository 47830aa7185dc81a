"""`POST /hooks/{source}`: plugin → normalise → decide → group commit → 202.

The core owns the route and its error policy; the plugin only reads the request. A 202 is
answered only after the notifications (and the forwards decided for them) are committed.
Concurrent requests share one transaction and one commit (group commit), so ingest is not
bound by one fsync per request.
"""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from aiohttp import web
from tortoise.transactions import in_transaction

from guardian.activity import Activity
from guardian.clock import Clock
from guardian.contacts import canonical
from guardian.database import STORAGE_ERRORS, StorageUnavailable
from guardian.events import Events
from guardian.household import HouseholdView, SourceView
from guardian.metrics import Counters
from guardian.models import Delivery, Episode, Notification
from guardian.plugin import HookError, HookRequest, IncomingMessage, InvalidFields, PushPlugin
from guardian.policy import Action, Seen, decide, storm_running
from guardian.summary import (
    Item,
    Rendered,
    render_breakthrough,
    render_forward,
    render_storm_alert,
)
from guardian.windows import quiet_interval_at

log = logging.getLogger(__name__)

MAX_ROWS_PER_COMMIT = 2000
MAX_ID, MAX_ADDRESS, MAX_NAME = 255, 300, 200
RETRY_AFTER_SECONDS = 5


STATUS = {
    Action.FORWARD: "forwarded",
    Action.BREAKTHROUGH: "breakthrough",
    Action.HOLD: "held",
    Action.FOLD: "folded",
}


@dataclass(frozen=True)
class Outgoing:
    """A delivery decided at ingest: a forward, a breakthrough or a storm alert."""

    member_pk: int
    kind: str
    rendered: Rendered


@dataclass(frozen=True)
class NewNotification:
    """A notification ready to store, with what was decided for it."""

    row: Notification
    outgoing: tuple[Outgoing, ...] = ()
    #: Folded: the burst's notice interval. Storm: the window a storm is counted in.
    burst_every: timedelta | None = None
    storm_within: timedelta | None = None
    #: A storm starts with this notification: how many it counts, since when.
    storm_count: int = 0
    storm_first: datetime | None = None
    label: str = ""


@dataclass(frozen=True)
class Outcome:
    accepted: int
    duplicates: int
    pushed: int


def item_of(
    message: IncomingMessage, key: str, label: str, at: datetime, text: str | None = None
) -> Item:
    return Item(
        sender_key=key,
        sender_label=label,
        network=message.network,
        text=message.text if text is None else text,
        at=at,
        conversation=message.conversation_title,
        conversation_key=f"{message.network}:{message.conversation_id}" if message.group else None,
        group=message.group,
    )


def normalise(
    messages: Sequence[IncomingMessage],
    source: SourceView,
    view: HouseholdView,
    now: datetime,
    activity: Activity,
) -> list[NewNotification]:
    """Turn plugin messages into rows and decisions; raise InvalidFields for what cannot be
    stored: an unknown member, or ids longer than the database keeps (a third-party plugin
    may not bound them)."""
    problems = []
    for index, message in enumerate(messages):
        prefix = f"[{index}]." if len(messages) > 1 else ""
        if (message.to or source.member) not in view.members:
            problems.append({"path": f"{prefix}to", "message": f"unknown member {message.to!r}"})
        for field, value, limit in (
            ("id", message.external_id, MAX_ID),
            ("from.id", message.sender_address, MAX_ADDRESS),
            ("conversation.id", message.conversation_id or "", MAX_ID),
        ):
            if len(value) > limit:
                problems.append(
                    {"path": f"{prefix}{field}", "message": f"longer than {limit} characters"}
                )
    if problems:
        raise InvalidFields(problems)
    return [decided(message, source, view, now, activity) for message in messages]


def decided(
    message: IncomingMessage,
    source: SourceView,
    view: HouseholdView,
    now: datetime,
    activity: Activity,
) -> NewNotification:
    """Decide on one message from the member's policy and the sender's recent messages."""
    member = view.members[message.to or source.member]
    policy = member.policy
    contact = view.contact_for(message.sender_address)
    key = f"contact:{contact.id}" if contact else canonical(message.sender_address)
    label = contact.name if contact else (message.sender_name or message.sender_address)
    quiet = quiet_interval_at(policy.windows(), view.zone, now) is not None
    recent = activity.recent(member.pk, key, now)
    decision = decide(
        policy,
        view.zone,
        now,
        trust=contact.trust if contact else "normal",
        text=message.text,
        recent=recent,
    )
    activity.record(member.pk, key, Seen(now, decision.action, decision.reason, quiet))
    item = item_of(message, key, label, now)
    outgoing: list[Outgoing] = []
    if decision.action is Action.FORWARD:
        outgoing.append(
            Outgoing(
                member.pk,
                "forward",
                render_forward(item, policy.content, language=member.language),
            )
        )
    elif decision.action is Action.BREAKTHROUGH:
        rendered = render_breakthrough(
            item, policy.content, decision.reason, quiet=quiet, language=member.language
        )
        outgoing.append(Outgoing(member.pk, "breakthrough", rendered))
    storm_count, storm_first = 0, now
    if decision.storm and policy.storm is not None:
        window = [s.at for s in recent if s.quiet and now - s.at < policy.storm.within]
        storm_count, storm_first = len(window) + 1, min([*window, now])
    if decision.storm and policy.storm is not None and policy.storm.alert_guardians:
        outgoing += [
            Outgoing(
                guardian.pk,
                "storm",
                render_storm_alert(
                    member.name,
                    label,
                    storm_count,
                    storm_first,
                    now,
                    view.zone,
                    policy.guardian_view,
                    language=guardian.language,
                ),
            )
            for guardian in view.members.values()
            if guardian.role == "guardian"
        ]
    keeps_text = decision.action in (Action.HOLD, Action.FOLD)
    row = Notification(
        id=uuid.uuid4(),
        household_id=view.id,
        source_id=source.pk,
        member_id=member.pk,
        external_id=message.external_id,
        network=message.network,
        sender_address=canonical(message.sender_address)[:MAX_ADDRESS],
        sender_name=message.sender_name[:MAX_NAME] if message.sender_name else None,
        sender_key=key[:MAX_ADDRESS],
        contact_id=contact.pk if contact else None,
        conversation_id=message.conversation_id,
        conversation_title=(message.conversation_title or "")[:MAX_NAME] or None,
        is_group=message.group,
        # Pushed notifications have been delivered at the member's level: their text goes.
        text=message.text if keeps_text else "",
        sent_at=message.sent_at or now,
        received_at=now,
        status=STATUS[decision.action],
        reason=decision.reason,
    )
    return NewNotification(
        row,
        tuple(outgoing),
        burst_every=policy.burst.notice_every
        if decision.action is Action.FOLD and policy.burst
        else None,
        # Only a starting or running storm needs its episode kept up to date in the database.
        storm_within=policy.storm.within
        if policy.storm and (decision.storm or (quiet and storm_running(policy, now, recent)))
        else None,
        storm_count=storm_count,
        storm_first=storm_first,
        label=label,
    )


class GroupCommitter:
    """One writer task; every request waiting when it wakes shares one transaction and commit."""

    def __init__(self) -> None:
        self._queue: asyncio.Queue[tuple[list[NewNotification], asyncio.Future[Outcome]]] = (
            asyncio.Queue()
        )

    async def submit(self, rows: list[NewNotification]) -> Outcome:
        future: asyncio.Future[Outcome] = asyncio.get_running_loop().create_future()
        await self._queue.put((rows, future))
        return await future

    async def run(self) -> None:
        while True:
            batch = [await self._queue.get()]
            size = len(batch[0][0])
            while not self._queue.empty() and size < MAX_ROWS_PER_COMMIT:
                batch.append(self._queue.get_nowait())
                size += len(batch[-1][0])
            await self._commit(batch)

    async def _commit(
        self, batch: list[tuple[list[NewNotification], asyncio.Future[Outcome]]]
    ) -> None:
        rows = [new for part, _ in batch for new in part]
        try:
            accepted = await store(rows)
        except STORAGE_ERRORS as error:
            log.warning("storage unavailable, %d notifications refused: %s", len(rows), error)
            for _, future in batch:
                if not future.done():
                    future.set_exception(StorageUnavailable(str(error)))
            return
        for part, future in batch:
            taken = [new for new in part if new.row.id in accepted]
            pushed = sum(len(new.outgoing) for new in taken)
            if not future.done():
                future.set_result(Outcome(len(taken), len(part) - len(taken), pushed))


async def store(rows: list[NewNotification]) -> set[uuid.UUID]:
    """Insert what is new, skip what was seen before (same source and id); return the new ids.

    The notifications, the deliveries decided for them and their bursts and storms are one
    transaction: a 202 means all of it is stored, a failure means none of it is.
    """
    if not rows:
        return set()
    async with in_transaction():
        await Notification.bulk_create([new.row for new in rows], ignore_conflicts=True)
        # Our ids are fresh UUIDs: the ones now in the table are exactly the rows inserted.
        inserted = {
            uuid.UUID(str(i))
            for i in await Notification.filter(id__in=[new.row.id for new in rows]).values_list(
                "id", flat=True
            )
        }
        new_rows = [new for new in rows if new.row.id in inserted]
        deliveries = [
            Delivery(
                household_id=new.row.household_id,  # type: ignore[attr-defined]
                member_id=out.member_pk,
                kind=out.kind,
                dedup_key=f"{out.kind}:{out.member_pk}:{new.row.id}",
                title=out.rendered.title[:250],
                body=out.rendered.body,
                notify_type=out.rendered.notify_type,
                created_at=new.row.received_at,
                next_attempt_at=new.row.received_at,
            )
            for new in new_rows
            for out in new.outgoing
        ]
        if deliveries:
            await Delivery.bulk_create(deliveries, ignore_conflicts=True)
        for new in new_rows:
            if new.burst_every is not None or new.storm_within is not None:
                await _episodes(new)
    return inserted


async def _episodes(new: NewNotification) -> None:
    """Keep the sender's burst or storm up to date with this notification."""
    row = new.row
    member_pk = row.member_id  # type: ignore[attr-defined]
    now = row.received_at
    if new.burst_every is not None:
        burst = await Episode.filter(
            member_id=member_pk, kind="burst", sender_key=row.sender_key, ended_at__isnull=True
        ).first()
        if burst is None:
            burst = await Episode.create(
                member_id=member_pk,
                kind="burst",
                sender_key=row.sender_key,
                sender_label=new.label[:200],
                started_at=now,
                last_at=now,
                next_notice_at=now + new.burst_every,
            )
        burst.last_at, burst.count = now, burst.count + 1
        await burst.save(update_fields=["last_at", "count"])
        await Notification.filter(id=row.id).update(episode_id=burst.id)
    if new.storm_within is not None:
        storm = await Episode.filter(
            member_id=member_pk, kind="storm", sender_key=row.sender_key, ended_at__isnull=True
        ).first()
        if storm is not None and now - storm.last_at >= new.storm_within:
            storm.ended_at = storm.last_at
            await storm.save(update_fields=["ended_at"])
            storm = None
        if storm is None and new.storm_count:
            await Episode.create(
                member_id=member_pk,
                kind="storm",
                sender_key=row.sender_key,
                sender_label=new.label[:200],
                started_at=new.storm_first or now,
                last_at=now,
                count=new.storm_count,
            )
        elif storm is not None:
            storm.last_at, storm.count = now, storm.count + 1
            await storm.save(update_fields=["last_at", "count"])


def error_response(status: int, error: str, detail: object, **headers: str) -> web.Response:
    return web.json_response({"error": error, "detail": detail}, status=status, headers=headers)


async def read_body(request: web.Request, limit: int) -> bytes:
    """The body, refused with 413 as soon as it is known to exceed `limit` bytes."""
    if request.content_length is not None and request.content_length > limit:
        raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=request.content_length)
    chunks = []
    size = 0
    async for chunk in request.content.iter_chunked(64 * 1024):
        size += len(chunk)
        if size > limit:
            raise web.HTTPRequestEntityTooLarge(max_size=limit, actual_size=size)
        chunks.append(chunk)
    return b"".join(chunks)


@dataclass
class Ingest:
    """What the hook handler needs, held by the app."""

    clock: Clock
    committer: GroupCommitter
    max_body_bytes: int
    wake: asyncio.Event
    activity: Activity
    counters: Counters
    events: Events

    async def handle(
        self,
        request: web.Request,
        view: HouseholdView,
        plugins: dict[str, PushPlugin],  # type: ignore[type-arg]
    ) -> web.StreamResponse:
        source_id = request.match_info["source"]
        source = view.sources.get(source_id)
        if source is None:
            return error_response(404, "unknown_source", f"no source {source_id!r}")
        plugin = plugins.get(source_id)
        if plugin is None:
            return error_response(
                503,
                "source_unavailable",
                f"the {source.plugin!r} plugin of this source is not loaded",
                **{"Retry-After": "60"},
            )
        try:
            body = await read_body(request, self.max_body_bytes)
        except web.HTTPRequestEntityTooLarge:
            return error_response(413, "too_large", f"the body is over {self.max_body_bytes} bytes")
        now = self.clock.now()
        hook_request = HookRequest(
            method=request.method,
            url=str(request.url),
            headers=request.headers,
            query=request.query,
            body=body,
            received_at=now,
        )
        try:
            received = await plugin.receive(hook_request)
            rows = normalise(received.messages, source, view, now, self.activity)
        except HookError as error:
            return error_response(error.status, error.error, error.detail)
        if not rows and received.reply is not None:
            return received.reply
        try:
            outcome = await self.committer.submit(rows)
        except StorageUnavailable:
            return error_response(
                503,
                "storage_unavailable",
                "the database cannot take writes right now; nothing was stored",
                **{"Retry-After": str(RETRY_AFTER_SECONDS)},
            )
        self.counters.accepted += outcome.accepted
        self.counters.duplicates += outcome.duplicates
        if outcome.pushed:
            self.wake.set()  # a forward goes out at once; held notifications can wait
        if outcome.accepted:
            self.events.publish("notification")
        if received.reply is not None:
            return received.reply
        return web.json_response(
            {"accepted": outcome.accepted, "duplicates": outcome.duplicates}, status=202
        )
