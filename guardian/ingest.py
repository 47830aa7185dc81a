"""The path of every notification:

    receive → read → deduplicate → decide → store → answer

`Ingest.handle` **receives** a request on `/hooks/{source}` (the core owns the route and its
errors) and **reads** it through the source's plugin: bounded, decoded, every field checked
before anything is queued. The writer (`guardian.writer`) takes every request waiting into one
transaction, where `accept` **deduplicates** (a network's retry changes nothing), **decides**
each new notification from its sender's state as the database holds it (`guardian.policy`,
pure), and **stores** the notifications, the deliveries decided for them, their bursts and
storms and the senders' new state. Only then is the request **answered** 202: everything in it
is stored, or nothing is.

The whole path is one module on purpose, so that it can be read in order: every step a
notification takes between the request and the 202 is below, in that order.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import uuid
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from aiohttp import web
from aiohttp.http_exceptions import HttpProcessingError
from aiohttp.web_protocol import RequestPayloadError

from guardian import senders
from guardian.clock import Clock
from guardian.contacts import canonical
from guardian.database import StorageUnavailable
from guardian.errors import error_response
from guardian.events import Events
from guardian.household import ContactView, HouseholdView, MemberView, SourceView
from guardian.metrics import Counters
from guardian.plugin import (
    MAX_MESSAGES,
    HookError,
    HookRequest,
    IncomingMessage,
    InvalidFields,
    PullBatch,
    PushPlugin,
)
from guardian.policy import Action, Decision, StormStep, decide
from guardian.pull import PulledCursor, save_cursor
from guardian.senders import SenderRow
from guardian.setting_types import MAX_ADDRESS, MAX_NAME
from guardian.sql import Db
from guardian.summary import (
    Item,
    Rendered,
    render_breakthrough,
    render_forward,
    render_storm_alert,
)
from guardian.windows import quiet_interval_at
from guardian.words import DeliveryKind, DeliveryStatus, EpisodeKind, NotificationStatus, Role
from guardian.writer import Pending, Stale, Unstorable, Writer

log = logging.getLogger(__name__)

MAX_ID, MAX_NETWORK, MAX_TEXT = 255, 32, 4096
MAX_TITLE = 250
RETRY_AFTER_SECONDS = 5
#: What a paused source asks its network to wait before trying again.
PAUSED_RETRY_AFTER = 600
#: A request whose transaction is committing when its time is up waits this much longer.
COMMIT_GRACE = timedelta(seconds=2)
#: Instants a notification may carry: what every time zone and both databases can hold.
EARLIEST, LATEST = datetime(1900, 1, 1, tzinfo=UTC), datetime(9000, 1, 1, tzinfo=UTC)
#: Content encodings a body may arrive in (aiohttp decodes them); anything else is 415.
ENCODINGS = frozenset({"", "identity", "gzip", "x-gzip", "deflate", "br", "zstd"})

STATUS = {
    Action.FORWARD: NotificationStatus.FORWARDED,
    Action.BREAKTHROUGH: NotificationStatus.BREAKTHROUGH,
    Action.HOLD: NotificationStatus.HELD,
    Action.FOLD: NotificationStatus.FOLDED,
}


@dataclass(frozen=True)
class Outcome:
    accepted: int
    duplicates: int
    pushed: int


@dataclass(frozen=True)
class Arrival:
    """One request's messages, checked, as they wait for the writer."""

    messages: Sequence[IncomingMessage]
    source: SourceView
    received_at: datetime
    #: A pull source's batch: its cursor is stored with it (`guardian.pull.save_cursor`).
    pulled: PulledCursor | None = None


# --- the path -----------------------------------------------------------------------------------


async def accept(db: Db, batch: Sequence[Pending[Outcome]], view: HouseholdView) -> list[Outcome]:
    """Deduplicate, decide and store a batch of requests in the writer's transaction."""
    await read_household(db, view)
    people = [[_person(m, a.source, view) for m in a.messages] for a in _arrivals(batch)]
    rows = await senders.lock(db, ((p.member.pk, p.key) for part in people for p in part))
    fresh = await deduplicate(db, _arrivals(batch))
    decided: list[Decided] = []
    outcomes = []
    for arrival, part, new in zip(_arrivals(batch), people, fresh, strict=True):
        mine = [
            _decide(message, person, rows[(person.member.pk, person.key)], arrival, view)
            for message, person, is_new in zip(arrival.messages, part, new, strict=True)
            if is_new
        ]
        decided += mine
        pushed = sum(len(d.outgoing) for d in mine)
        outcomes.append(Outcome(len(mine), len(arrival.messages) - len(mine), pushed))
    await store(db, decided, rows, view)
    for arrival in _arrivals(batch):
        if arrival.pulled is not None:
            await save_cursor(db, arrival.pulled, arrival.received_at)
    return outcomes


def _arrivals(batch: Sequence[Pending[Outcome]]) -> list[Arrival]:
    return [pending.work for pending in batch]


async def read_household(db: Db, view: HouseholdView) -> None:
    """The household these decisions follow is the one stored now (another instance may have
    changed it): on PostgreSQL, a shared lock keeps it so until the batch is stored."""
    lock = " FOR SHARE" if db.postgres else ""
    rows = await db.fetch(f"SELECT revision FROM households WHERE id = ?{lock}", [view.id])
    if not rows or rows[0][0] != view.revision:
        raise Stale


async def deduplicate(db: Db, arrivals: Sequence[Arrival]) -> list[list[bool]]:
    """Which messages are new: not stored before from the same source, nor earlier in the batch.

    Runs after the senders are locked, so that a retry arriving at another instance at the same
    moment sees this one's notification once it is committed.
    """
    wanted: dict[int, set[str]] = {}
    for arrival in arrivals:
        wanted.setdefault(arrival.source.pk, set()).update(m.external_id for m in arrival.messages)
    stored: set[tuple[int, str]] = set()
    for source_pk, ids in wanted.items():
        listed = sorted(ids)
        for start in range(0, len(listed), senders.CHUNK):
            chunk = listed[start : start + senders.CHUNK]
            stored.update(
                (source_pk, row[0])
                for row in await db.fetch(
                    "SELECT external_id FROM notifications WHERE source_id = ? "
                    f"AND external_id IN ({db.placeholders(len(chunk))})",
                    [source_pk, *chunk],
                )
            )
    fresh = []
    for arrival in arrivals:
        flags = []
        for message in arrival.messages:
            key = (arrival.source.pk, message.external_id)
            flags.append(key not in stored)
            stored.add(key)
        fresh.append(flags)
    return fresh


@dataclass(frozen=True)
class Person:
    """Who a message is from and for, as the household knows them."""

    member: MemberView
    contact: ContactView | None
    key: str
    label: str


def _person(message: IncomingMessage, source: SourceView, view: HouseholdView) -> Person:
    member = view.members.get(message.to or source.member)
    if member is None:  # removed since the request was read
        raise Unstorable(f"no member {message.to or source.member!r} any more")
    contact = view.contact_for(message.sender_address)
    key = f"contact:{contact.id}" if contact else canonical(message.sender_address)
    label = contact.name if contact else (message.sender_name or message.sender_address)
    return Person(member, contact, key[:MAX_ADDRESS], label[:MAX_NAME])


#: Random bytes for notification ids, read from the OS 256 ids at a time (one call each).
_ID_BYTES: list[bytes] = []


def _new_id() -> uuid.UUID:
    """`uuid.uuid4()`, without a system call per notification."""
    if not _ID_BYTES:
        raw = os.urandom(16 * 256)
        _ID_BYTES.extend(raw[start : start + 16] for start in range(0, len(raw), 16))
    return uuid.UUID(bytes=_ID_BYTES.pop(), version=4)


@dataclass(frozen=True)
class Outgoing:
    """A delivery decided at ingest: a forward, a breakthrough or a storm alert."""

    member_pk: int
    kind: DeliveryKind
    rendered: Rendered


@dataclass
class Decided:
    """A new notification with everything decided for it, ready to store."""

    id: uuid.UUID
    message: IncomingMessage
    person: Person
    arrival: Arrival
    decision: Decision
    sender: SenderRow
    outgoing: tuple[Outgoing, ...] = ()
    episode_id: int | None = None


def _decide(
    message: IncomingMessage,
    person: Person,
    sender: SenderRow,
    arrival: Arrival,
    view: HouseholdView,
) -> Decided:
    """Decide on one message from the member's policy and the sender's state, and move the state
    on (the next message of the batch from the same sender sees it)."""
    now = arrival.received_at
    member, policy = person.member, person.member.policy
    decision = decide(
        policy,
        view.zone,
        now,
        trust=person.contact.trust if person.contact else "normal",
        text=message.text,
        state=sender.state,
    )
    sender.state = decision.state
    item = Item(
        sender_key=person.key,
        sender_label=person.label,
        network=message.network,
        text=message.text,
        at=now,
        conversation=message.conversation_title,
        conversation_key=f"{message.network}:{message.conversation_id}" if message.group else None,
        group=message.group,
    )
    outgoing: list[Outgoing] = []
    if decision.action is Action.FORWARD:
        outgoing.append(
            Outgoing(
                member.pk,
                DeliveryKind.FORWARD,
                render_forward(item, policy.content, language=member.language),
            )
        )
    elif decision.action is Action.BREAKTHROUGH:
        quiet = quiet_interval_at(policy.windows(), view.zone, now) is not None
        rendered = render_breakthrough(
            item, policy.content, decision.reason, quiet=quiet, language=member.language
        )
        outgoing.append(Outgoing(member.pk, DeliveryKind.BREAKTHROUGH, rendered))
    if decision.storm is StormStep.START and policy.storm and policy.storm.alert_guardians:
        outgoing += [
            Outgoing(
                guardian.pk,
                DeliveryKind.STORM,
                render_storm_alert(
                    member.name,
                    person.label,
                    decision.storm_count,
                    decision.storm_since or now,
                    now,
                    view.zone,
                    policy.guardian_view,
                    language=guardian.language,
                ),
            )
            for guardian in view.members.values()
            if guardian.role == Role.GUARDIAN
        ]
    return Decided(_new_id(), message, person, arrival, decision, sender, tuple(outgoing))


async def store(
    db: Db, decided: Sequence[Decided], rows: Mapping[senders.Key, SenderRow], view: HouseholdView
) -> None:
    """The notifications, their deliveries, bursts and storms, and the senders' state."""
    if not decided:
        return
    await _episodes(db, decided)
    # The instants as the columns hold them, each encoded once (a request's messages share
    # their time of receipt, and often the time they were sent).
    instants: dict[datetime, Any] = {}
    await db.many(
        "INSERT INTO notifications (id, household_id, source_id, member_id, external_id, network, "
        "sender_address, sender_name, sender_key, contact_id, conversation_id, "
        "conversation_title, is_group, text, sent_at, received_at, status, reason, episode_id) "
        "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        [_notification(db, d, view, instants) for d in decided],
    )
    await db.many(
        "INSERT INTO deliveries (household_id, member_id, kind, dedup_key, title, body, "
        "notify_type, status, attempts, created_at, next_attempt_at, channels) "
        f"VALUES (?, ?, ?, ?, ?, ?, ?, '{DeliveryStatus.PENDING}', 0, ?, ?, '[]') "
        "ON CONFLICT (dedup_key) DO NOTHING",
        [
            (
                view.id,
                out.member_pk,
                out.kind,
                f"{out.kind}:{out.member_pk}:{d.id}",
                out.rendered.title[:MAX_TITLE],
                out.rendered.body,
                out.rendered.notify_type,
                db.instant(d.arrival.received_at),
                db.instant(d.arrival.received_at),
            )
            for d in decided
            for out in d.outgoing
        ],
    )
    await senders.save(db, list(rows.values()))


def _notification(
    db: Db, d: Decided, view: HouseholdView, instants: dict[datetime, Any]
) -> tuple[Any, ...]:
    message, person, now = d.message, d.person, d.arrival.received_at
    sent = message.sent_at or now
    if sent not in instants:
        instants[sent] = db.instant(sent)
    if now not in instants:
        instants[now] = db.instant(now)
    # Pushed notifications were delivered at the member's level: their text goes.
    keeps_text = d.decision.action in (Action.HOLD, Action.FOLD)
    return (
        db.uuid(d.id),
        view.id,
        d.arrival.source.pk,
        person.member.pk,
        message.external_id,
        message.network,
        canonical(message.sender_address)[:MAX_ADDRESS],
        message.sender_name[:MAX_NAME] if message.sender_name else None,
        person.key,
        person.contact.pk if person.contact else None,
        message.conversation_id,
        (message.conversation_title or "")[:MAX_NAME] or None,
        message.group,
        message.text if keeps_text else "",
        instants[sent],
        instants[now],
        STATUS[d.decision.action],
        d.decision.reason[:200],
        d.episode_id,
    )


async def _episodes(db: Db, decided: Sequence[Decided]) -> None:
    """Folded notifications join their sender's burst; storms start and grow.

    The episodes referred to are locked first: the timer may be ending one right now, and a
    notification must never join a burst whose last notice was already built.
    """
    wanted = {
        ref
        for d in decided
        for ref in (d.sender.burst_id, d.sender.storm_id)
        if ref is not None and (d.decision.folded or d.decision.storm is not None)
    }
    open_ids: set[int] = set()
    if wanted:
        open_ids = {
            row[0]
            for row in await db.fetch(
                f"SELECT id FROM episodes WHERE id IN ({db.placeholders(len(wanted))}) "
                f"AND ended_at IS NULL ORDER BY id{db.for_update}",
                sorted(wanted),
            )
        }
    grown: dict[int, tuple[int, datetime]] = {}

    def grow(episode_id: int, now: datetime) -> None:
        count, _ = grown.get(episode_id, (0, now))
        grown[episode_id] = (count + 1, now)

    for d in decided:
        now, sender, person = d.arrival.received_at, d.sender, d.person
        policy = person.member.policy
        if d.decision.folded and policy.burst is not None:
            if sender.burst_id in open_ids:
                grow(sender.burst_id, now)
            else:
                sender.burst_id = await _new_episode(
                    db,
                    person,
                    EpisodeKind.BURST,
                    now,
                    now,
                    1,
                    next_notice_at=now + policy.burst.notice_every,
                )
                open_ids.add(sender.burst_id)
            d.episode_id = sender.burst_id
        if d.decision.storm is StormStep.START:
            if sender.storm_id in open_ids:
                # An earlier storm of this sender's that nothing ended: it is over now.
                await db.execute(
                    "UPDATE episodes SET ended_at = last_at WHERE id = ?", [sender.storm_id]
                )
                open_ids.discard(sender.storm_id)
                grown.pop(sender.storm_id, None)
            since = d.decision.storm_since or now
            sender.storm_id = await _new_episode(
                db, person, EpisodeKind.STORM, since, now, d.decision.storm_count
            )
            open_ids.add(sender.storm_id)
        elif d.decision.storm is StormStep.GROW and sender.storm_id in open_ids:
            grow(sender.storm_id, now)
    await db.many(
        "UPDATE episodes SET last_at = ?, count = count + ? WHERE id = ?",
        [(db.instant(last), count, episode_id) for episode_id, (count, last) in grown.items()],
    )


async def _new_episode(
    db: Db,
    person: Person,
    kind: EpisodeKind,
    started: datetime,
    last: datetime,
    count: int,
    next_notice_at: datetime | None = None,
) -> int:
    rows = await db.fetch(
        "INSERT INTO episodes (member_id, kind, sender_key, sender_label, started_at, last_at, "
        "count, next_notice_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id",
        [
            person.member.pk,
            kind,
            person.key,
            person.label,
            db.instant(started),
            db.instant(last),
            count,
            db.instant(next_notice_at),
        ],
    )
    episode_id: int = rows[0][0]
    return episode_id


# --- receive and read -------------------------------------------------------------------------


def unavailable(detail: str) -> web.Response:
    return error_response(
        503, "storage_unavailable", detail, **{"Retry-After": str(RETRY_AFTER_SECONDS)}
    )


class BodyError(Exception):
    def __init__(self, response: web.Response) -> None:
        self.response = response


async def read_body(request: web.Request, limit: int) -> bytes:
    """The body as sent (decoded from its content encoding), refused with 413 as soon as it is
    known to exceed `limit` bytes, 415 in an encoding Guardian does not read, 400 if it does
    not decode."""
    encoding = request.headers.get("Content-Encoding", "").strip().lower()
    if encoding not in ENCODINGS:
        raise BodyError(
            error_response(
                415, "unsupported_encoding", f"cannot read a body in {encoding[:40]!r} encoding"
            )
        )
    if request.content_length is not None and request.content_length > limit and not encoding:
        raise BodyError(error_response(413, "too_large", f"the body is over {limit} bytes"))
    chunks = []
    size = 0
    try:
        async for chunk in request.content.iter_chunked(64 * 1024):
            size += len(chunk)
            if size > limit:
                raise BodyError(error_response(413, "too_large", f"the body is over {limit} bytes"))
            chunks.append(chunk)
    except (RequestPayloadError, HttpProcessingError):  # a body that does not decode
        detail = f"the body does not decode as {encoding or 'it was sent'}"
        raise BodyError(error_response(400, "bad_request", detail)) from None
    return b"".join(chunks)


def checked(
    messages: Sequence[IncomingMessage], source: SourceView, view: HouseholdView
) -> list[IncomingMessage]:
    """Every message as the database can keep it, or a HookError naming what cannot be: an
    unknown or forbidden member, an id too long, an instant out of range. Text and names are
    cut to their columns; a third-party plugin may not bound them."""
    if len(messages) > MAX_MESSAGES:
        raise _TooMany(f"at most {MAX_MESSAGES} messages per request, got {len(messages)}")
    problems, forbidden, out = [], [], []
    for index, message in enumerate(messages):
        prefix = f"[{index}]." if len(messages) > 1 else ""
        member = message.to or source.member
        if member not in view.members:
            problems.append({"path": f"{prefix}to", "message": f"unknown member {message.to!r}"})
        elif member not in source.members:
            forbidden.append(member)
        for name, value, limit in (
            ("id", message.external_id, MAX_ID),
            ("from.id", message.sender_address, MAX_ADDRESS),
            ("conversation.id", message.conversation_id or "", MAX_ID),
            ("network", message.network, MAX_NETWORK),
        ):
            if len(value) > limit:
                problems.append(
                    {"path": f"{prefix}{name}", "message": f"longer than {limit} characters"}
                )
        if not message.external_id:
            problems.append({"path": f"{prefix}id", "message": "an id is required"})
        sent_at = message.sent_at
        if sent_at is not None and not _in_range(sent_at):
            problems.append(
                {"path": f"{prefix}sent_at", "message": "not an instant Guardian can keep"}
            )
            sent_at = None
        out.append(_bounded(message, sent_at))
    if forbidden:
        raise Forbidden(
            f"source {source.id!r} may write to {', '.join(source.members)} only, "
            f"not to {', '.join(sorted(set(forbidden)))}"
        )
    if problems:
        raise InvalidFields(problems)
    return out


def _in_range(instant: datetime) -> bool:
    try:
        return instant.utcoffset() is not None and EARLIEST <= instant.astimezone(UTC) <= LATEST
    except (OverflowError, ValueError):
        return False


def _bounded(message: IncomingMessage, sent_at: datetime | None) -> IncomingMessage:
    """The message as the database can keep it: no NUL characters (PostgreSQL refuses them in
    text), text and names cut to their columns."""

    def clean(value: str | None, limit: int) -> str | None:
        return value.replace("\x00", "")[:limit] if value else value

    external_id = message.external_id.replace("\x00", "")
    sender_id = message.sender_id.replace("\x00", "")
    text = clean(message.text, MAX_TEXT) or ""
    sender_name = clean(message.sender_name, MAX_NAME) or None
    conversation_id = clean(message.conversation_id, MAX_ID)
    conversation_title = clean(message.conversation_title, MAX_NAME) or None
    utc = sent_at.astimezone(UTC) if sent_at else None
    unchanged = (
        external_id == message.external_id
        and sender_id == message.sender_id
        and text == message.text
        and sender_name == message.sender_name
        and conversation_id == message.conversation_id
        and conversation_title == message.conversation_title
        and (sent_at is None or sent_at.tzinfo is UTC)
        and utc == message.sent_at
    )
    if unchanged:  # most messages: no new object
        return message
    return replace(
        message,
        external_id=external_id,
        sender_id=sender_id,
        text=text,
        sender_name=sender_name,
        conversation_id=conversation_id,
        conversation_title=conversation_title,
        sent_at=utc,
    )


def readable(
    messages: Sequence[IncomingMessage],
    source: SourceView,
    view: HouseholdView,
    plugin_log: logging.Logger,
) -> list[IncomingMessage]:
    """The messages of a pull batch that Guardian can keep, each checked as a pushed one is."""
    kept: list[IncomingMessage] = []
    for start in range(0, len(messages), MAX_MESSAGES):
        part = messages[start : start + MAX_MESSAGES]
        try:
            kept += checked(part, source, view)
            continue
        except HookError:
            pass
        for message in part:
            try:
                kept += checked([message], source, view)
            except HookError as error:
                plugin_log.warning(
                    "left out message %r: %s", message.external_id[:80], _said(error.detail)
                )
    return kept


def _said(detail: str | list[dict[str, str]]) -> str:
    if isinstance(detail, str):
        return detail
    return "; ".join(f"{d['path']}: {d['message']}" for d in detail)


class _TooMany(HookError):
    status, error = 413, "too_large"


class Forbidden(HookError):
    """403: a message for a member this source does not write to."""

    status, error = 403, "forbidden_member"


@dataclass
class Ingest:
    """What the hook handler needs, held by the app."""

    clock: Clock
    writer: Writer[Outcome]
    household: Callable[[], HouseholdView]
    plugins: Callable[[], Mapping[str, PushPlugin[Any]]]
    max_body_bytes: int
    request_timeout: timedelta
    wake: asyncio.Event
    counters: Counters
    events: Events
    #: Raises StorageUnavailable while storage must not be written (the database vanished).
    #: The writer calls it before every transaction; a request is refused up front only once
    #: a problem is known (`storage_problem`), without a look at the file per request.
    storage_check: Callable[[], None] = field(default=lambda: None)
    storage_problem: Callable[[], bool] = field(default=lambda: False)

    async def handle(self, request: web.Request) -> web.StreamResponse:
        view = self.household()
        source_id = request.match_info["source"]
        source = view.sources.get(source_id)
        if source is None:
            return error_response(404, "unknown_source", f"no source {source_id[:100]!r}")
        if not source.enabled:  # the network keeps what it could not deliver and tries again
            return error_response(
                503,
                "source_paused",
                "this source is paused; turn it on again on the dashboard",
                **{"Retry-After": str(PAUSED_RETRY_AFTER)},
            )
        plugin = self.plugins().get(source_id)
        if plugin is None:
            return error_response(
                503,
                "source_unavailable",
                f"the {source.plugin!r} plugin of this source is not loaded",
                **{"Retry-After": "60"},
            )
        if self.storage_problem():
            try:
                self.storage_check()
            except StorageUnavailable as error:
                return unavailable(str(error))
        try:
            body = await read_body(request, self.max_body_bytes)
        except BodyError as error:
            return error.response
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
            messages = checked(received.messages, source, view)
        except HookError as error:
            return error_response(error.status, error.error, error.detail)
        except Exception:  # a plugin bug on input it did not expect: refused, never a 500
            log.exception(
                "the %s plugin of source %s failed to read a request", source.plugin, source.id
            )
            return error_response(400, "bad_request", "the request could not be read")
        if messages:
            try:
                outcome = await self.arrive(Arrival(messages, source, now))
            except StorageUnavailable as error:
                return unavailable(f"nothing was stored: {error}")
            except Unstorable:
                return error_response(
                    422,
                    "invalid",
                    [{"path": "(root)", "message": "the database refused this request"}],
                )
        else:
            outcome = Outcome(0, 0, 0)
        if received.reply is not None:
            return received.reply
        return accepted_response(outcome.accepted, outcome.duplicates)

    async def pulled(
        self, source: SourceView, batch: PullBatch, owner: str, plugin_log: logging.Logger
    ) -> None:
        """Store a pull source's batch as a pushed request is stored, with its cursor.

        A network cannot be answered 422: a message Guardian cannot keep is logged (never its
        text) and left out, so that one bad message does not hold the source up for ever. More
        messages than one request may carry are stored in parts, the cursor with the last.
        """
        view = self.household()
        messages = readable(batch.messages, source, view, plugin_log)
        parts = [
            messages[start : start + MAX_MESSAGES]
            for start in range(0, len(messages), MAX_MESSAGES)
        ] or [[]]
        for index, part in enumerate(parts):
            cursor = batch.cursor if index == len(parts) - 1 else None
            pulled = PulledCursor(source.pk, cursor, owner, messages=bool(part))
            await self.arrive(Arrival(part, source, self.clock.now(), pulled))

    async def arrive(self, arrival: Arrival) -> Outcome:
        """Store one request's messages (pushed or pulled) and say what became of them."""
        outcome = await self.wait(Pending(arrival, rows=len(arrival.messages)))
        self.counters.accepted += outcome.accepted
        self.counters.duplicates += outcome.duplicates
        if outcome.pushed:
            self.wake.set()  # a forward goes out at once; held notifications can wait
        if outcome.accepted:
            self.events.publish("notification")
        return outcome

    async def wait(self, pending: Pending[Outcome]) -> Outcome:
        """Queue for the writer; past `request_timeout`, give up (StorageUnavailable) and make
        sure it is not stored after all.

        The expiry is a timer on the loop, cancelled when the answer comes: no task and no
        timeout context per request (what `asyncio.wait_for` costs)."""
        self.writer.queue(pending)
        loop = asyncio.get_running_loop()
        timer = loop.call_later(self.request_timeout.total_seconds(), self._expire, pending)
        try:
            return await asyncio.shield(pending.future)
        finally:
            timer.cancel()

    def _expire(self, pending: Pending[Outcome]) -> None:
        """The request's time is up: it is left out of any batch not yet committing; one that
        is committing gets COMMIT_GRACE for its answer."""
        if pending.future.done():
            return
        pending.abandoned = True
        if pending.committing:
            loop = asyncio.get_running_loop()
            loop.call_later(COMMIT_GRACE.total_seconds(), self._give_up, pending)
        else:
            self._give_up(pending)

    def _give_up(self, pending: Pending[Outcome]) -> None:
        if not pending.future.done():
            seconds = int(self.request_timeout.total_seconds())
            pending.future.set_exception(StorageUnavailable(f"not stored within {seconds} s"))


def _accepted_body(accepted: int, duplicates: int) -> bytes:
    return json.dumps({"accepted": accepted, "duplicates": duplicates}).encode()


#: The 202 bodies of requests without duplicates, encoded once.
_ACCEPTED = [_accepted_body(n, 0) for n in range(MAX_MESSAGES + 1)]


def accepted_response(accepted: int, duplicates: int) -> web.Response:
    """202 `{"accepted": n, "duplicates": d}`, as `web.json_response` would write it."""
    body = (
        _ACCEPTED[accepted]
        if duplicates == 0 and accepted <= MAX_MESSAGES
        else _accepted_body(accepted, duplicates)
    )
    return web.Response(body=body, status=202, content_type="application/json", charset="utf-8")
