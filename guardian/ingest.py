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
from datetime import datetime

from aiohttp import web
from tortoise.transactions import in_transaction

from guardian.clock import Clock
from guardian.database import STORAGE_ERRORS, StorageUnavailable
from guardian.household import HouseholdView, SourceView
from guardian.models import Delivery, Notification
from guardian.plugin import HookError, HookRequest, IncomingMessage, InvalidFields, PushPlugin
from guardian.policy import Action, decide
from guardian.summary import Item, Rendered, render_forward

log = logging.getLogger(__name__)

MAX_ROWS_PER_COMMIT = 2000
RETRY_AFTER_SECONDS = 5


@dataclass(frozen=True)
class NewNotification:
    """A notification ready to store, with the decision taken for it."""

    row: Notification
    forward: Rendered | None


@dataclass(frozen=True)
class Outcome:
    accepted: int
    duplicates: int
    forwarded: int


def item_of(message: IncomingMessage, view: HouseholdView, at: datetime) -> Item:
    contact = view.contact_for(message.sender_address)
    return Item(
        sender_key=f"contact:{contact.id}" if contact else message.sender_address,
        sender_label=contact.name if contact else (message.sender_name or message.sender_address),
        network=message.network,
        text=message.text,
        at=at,
        conversation=message.conversation_title,
    )


def normalise(
    messages: Sequence[IncomingMessage], source: SourceView, view: HouseholdView, now: datetime
) -> list[NewNotification]:
    """Turn plugin messages into rows and decisions; raise InvalidFields for unknown members."""
    problems = []
    rows = []
    for index, message in enumerate(messages):
        member_id = message.to or source.member
        member = view.members.get(member_id)
        if member is None:
            path = f"[{index}].to" if len(messages) > 1 else "to"
            problems.append({"path": path, "message": f"unknown member {member_id!r}"})
            continue
        contact = view.contact_for(message.sender_address)
        decision = decide(member.policy, view.zone, now)
        forward = None
        if decision.action is Action.FORWARD:
            forward = render_forward(item_of(message, view, now), member.policy.content)
        row = Notification(
            id=uuid.uuid4(),
            household_id=view.id,
            source_id=source.pk,
            member_id=member.pk,
            external_id=message.external_id,
            network=message.network,
            sender_address=message.sender_address[:300],
            sender_name=message.sender_name,
            contact_id=contact.pk if contact else None,
            conversation_id=message.conversation_id,
            conversation_title=message.conversation_title,
            is_group=message.group,
            text=message.text,
            sent_at=message.sent_at or now,
            received_at=now,
            status="forwarded" if forward else "held",
            reason=decision.reason,
        )
        rows.append(NewNotification(row, forward))
    if problems:
        raise InvalidFields(problems)
    return rows


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
            forwarded = sum(1 for new in taken if new.forward is not None)
            if not future.done():
                future.set_result(Outcome(len(taken), len(part) - len(taken), forwarded))


async def store(rows: list[NewNotification]) -> set[uuid.UUID]:
    """Insert what is new, skip what was seen before (same source and id); return the new ids."""
    if not rows:
        return set()
    async with in_transaction():
        await Notification.bulk_create([new.row for new in rows], ignore_conflicts=True)
        # Our ids are fresh UUIDs: the ones now in the table are exactly the rows inserted.
        inserted = set(
            await Notification.filter(id__in=[new.row.id for new in rows]).values_list(
                "id", flat=True
            )
        )
        forwards = [
            Delivery(
                household_id=new.row.household_id,  # type: ignore[attr-defined]
                member_id=new.row.member_id,  # type: ignore[attr-defined]
                kind="forward",
                dedup_key=f"forward:{new.row.id}",
                title=new.forward.title[:250],
                body=new.forward.body,
                notify_type=new.forward.notify_type,
                created_at=new.row.received_at,
                next_attempt_at=new.row.received_at,
            )
            for new in rows
            if new.forward is not None and new.row.id in inserted
        ]
        if forwards:
            await Delivery.bulk_create(forwards, ignore_conflicts=True)
    return {uuid.UUID(str(i)) for i in inserted}


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
            rows = normalise(received.messages, source, view, now)
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
        if outcome.forwarded:
            self.wake.set()  # a forward goes out at once; held notifications can wait
        if received.reply is not None:
            return received.reply
        return web.json_response(
            {"accepted": outcome.accepted, "duplicates": outcome.duplicates}, status=202
        )
