"""Delivery through Apprise: claim a due delivery, send it outside any transaction, record it.

Each channel (Apprise URL) has its own Apprise object, built once and reused, and its own
result: a retry sends only to the channels that have not succeeded yet. A failed delivery is
retried with exponential backoff from the database, so retries survive a restart. A channel
that Apprise cannot parse, or that matches no service, is reported as misconfigured and not
retried; it is never counted as a success.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Protocol

import apprise

from guardian.durations import format_duration
from guardian.household import HouseholdView
from guardian.models import Delivery
from guardian.settings import DeliverySettings
from guardian.summary import render_failure_report

log = logging.getLogger(__name__)

SUCCESS = "SUCCESS"
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


def privacy_url(url: str) -> str:
    """The URL with its secrets masked, as Apprise prints it; never the raw URL."""
    service = apprise.Apprise.instantiate(url, suppress_exceptions=True)
    if not service:
        scheme = url.split("://", 1)[0] if "://" in url else "?"
        return f"{scheme}://… (not understood by Apprise)"
    masked: Any = service.url(privacy=True)  # type: ignore[no-untyped-call]
    return str(masked)


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


class AppriseSender:
    """Sends through one reusable Apprise object per channel URL."""

    def __init__(self, timeout: timedelta) -> None:
        self._timeout = timeout.total_seconds()
        self._objects: dict[str, apprise.Apprise | None] = {}

    def _apprise(self, url: str) -> apprise.Apprise | None:
        if url not in self._objects:
            instance = apprise.Apprise()
            self._objects[url] = instance if instance.add(url) else None
        return self._objects[url]

    async def send(self, url: str, message: Message) -> ChannelResult:
        instance = self._apprise(urgent_url(url) if message.urgent else url)
        if instance is None:
            return ChannelResult(MISCONFIGURED, "Apprise does not understand this URL")
        rich = message.markdown is not None and _renders_rich_text(instance)
        result = await instance.async_notify(
            body=message.markdown if rich else message.body,
            title=message.title,
            notify_type=message.notify_type,
            body_format=apprise.NotifyFormat.MARKDOWN if rich else apprise.NotifyFormat.TEXT,
            timeout=self._timeout,
        )
        status = result.status.name
        if status == "NOMATCH":
            return ChannelResult(status, "no Apprise service matched this channel")
        return ChannelResult(status, "" if result else f"{result.failed_count} service(s) failed")


def _renders_rich_text(instance: apprise.Apprise) -> bool:
    """Markdown for services that prefer Markdown or HTML (Apprise converts it to HTML);
    plain text where the service prefers text (a Markdown body would show its asterisks)."""
    services = list(instance)
    if not services:
        return False
    for service in services:
        formats = service.notify_format
        preferred = formats[0] if isinstance(formats, tuple) else formats
        if preferred == apprise.NotifyFormat.TEXT:
            return False
    return True


class RecordingSender:
    """Sends nothing; remembers what would have been sent (for `guardian simulate`)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, Message]] = []

    async def send(self, url: str, message: Message) -> ChannelResult:
        self.sent.append((url, message))
        return ChannelResult(SUCCESS)


@dataclass
class Deliverer:
    sender: Sender
    settings: DeliverySettings
    household: Callable[[], HouseholdView]
    rng: random.Random = field(default_factory=random.Random)

    def backoff(self, attempts: int) -> timedelta:
        """Exponential, capped, with jitter so that failing channels do not retry in lockstep."""
        base = self.settings.backoff * (1 << max(attempts - 1, 0))
        capped = min(base, self.settings.backoff_max)
        return capped * self.rng.uniform(0.8, 1.0)

    async def send_due(self, now: datetime) -> int:
        """Claim and send every delivery due at `now`; return how many were attempted."""
        # A worker that died mid-send (kill -9, here or on another instance) left its claim
        # behind: once the lease is over the delivery goes out again, without waiting for a
        # restart of this process.
        await release_stale_claims(now, self.settings.claim_lease)
        due = (
            await Delivery.filter(status="pending", next_attempt_at__lte=now)
            .order_by("next_attempt_at", "id")
            .limit(100)
        )
        limit = asyncio.Semaphore(self.settings.concurrency)

        async def one(delivery: Delivery) -> bool:
            async with limit:
                return await self.send_one(delivery, now)

        sent = await asyncio.gather(*(one(d) for d in due))
        return sum(sent)

    async def send_one(self, delivery: Delivery, now: datetime) -> bool:
        """Claim the delivery and attempt it; False if another worker claimed it first."""
        # A conditional update is the claim: two workers never send the same delivery.
        taken = await Delivery.filter(id=delivery.id, status="pending").update(
            status="sending", claimed_at=now
        )
        if taken:
            await self._attempt(delivery, now)
        return bool(taken)

    async def _attempt(self, delivery: Delivery, now: datetime) -> None:
        view = self.household()
        member = view.member_by_pk(delivery.member_id)  # type: ignore[attr-defined]
        states: dict[str, dict[str, Any]] = {s["id"]: s for s in delivery.channels}
        for url in member.channels:
            key = channel_id(url)
            state = states.setdefault(
                key, {"id": key, "channel": privacy_url(url), "status": "pending", "attempts": 0}
            )
            if state["status"] == SUCCESS or state["status"] in (MISCONFIGURED, "NOMATCH"):
                continue
            message = Message(
                delivery.title, delivery.body, delivery.body_markdown, delivery.notify_type
            )
            try:
                # Apprise bounds its own wait with `timeout`; this bounds any sender, so that a
                # hanging channel can never hold the scheduler's tick (and its lock) for long.
                result = await asyncio.wait_for(
                    self.sender.send(url, message), self.settings.timeout.total_seconds() + SLACK
                )
            except TimeoutError:
                log.warning("channel %s: no answer within the timeout", state["channel"])
                result = ChannelResult("TIMEOUT", "no answer within the timeout")
            except Exception as error:  # a channel plugin bug must not lose the delivery
                log.exception("channel %s raised", state["channel"])
                result = ChannelResult("FAILURE", type(error).__name__)
            state.update(
                status=result.status,
                detail=result.detail,
                attempts=state["attempts"] + 1,
                at=now.isoformat(),
            )
        current = {channel_id(url) for url in member.channels}
        results = [s for key, s in states.items() if key in current]
        delivery.channels = list(states.values())
        delivery.attempts += 1
        delivery.claimed_at = None
        failing = [s for s in results if s["status"] != SUCCESS]
        if not results:
            delivery.status, delivery.last_error = "failed", "the member has no channels"
        elif not failing:
            delivery.status, delivery.sent_at = "sent", now
            delivery.last_error = None  # type: ignore[assignment]  # a nullable column
        elif all(s["status"] in (MISCONFIGURED, "NOMATCH") for s in failing):
            delivery.status = "failed"
            delivery.last_error = "misconfigured channel: " + ", ".join(
                s["channel"] for s in failing
            )
        elif delivery.attempts >= self.settings.max_attempts:
            delivery.status = "failed"
            delivery.last_error = f"gave up after {delivery.attempts} attempts"
        elif now - delivery.created_at >= self.settings.max_age:
            delivery.status = "failed"
            delivery.last_error = f"gave up after {format_duration(now - delivery.created_at)}"
        else:
            delivery.status = "pending"
            delivery.next_attempt_at = now + self.backoff(delivery.attempts)
            delivery.last_error = "; ".join(f"{s['channel']}: {s['status']}" for s in failing)
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
        if delivery.status == "failed":
            await report_failure(delivery, member.name, view, now)
        level = logging.INFO if delivery.status == "sent" else logging.WARNING
        log.log(
            level,
            "delivery %s (%s to %s): %s",
            delivery.id,
            delivery.kind,
            member.id,
            delivery.status,
        )


FAILURE_PREFIX = "failed:"


async def report_failure(
    delivery: Delivery, member_name: str, view: HouseholdView, now: datetime
) -> None:
    """Tell the guardians, through their own channels, that a delivery was given up."""
    if delivery.kind == "test" or delivery.dedup_key.startswith(FAILURE_PREFIX):
        return  # a failing report about a failure is not reported again
    guardians = [
        m
        for m in view.members.values()
        if m.role == "guardian" and m.pk != delivery.member_id  # type: ignore[attr-defined]
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
                "kind": "report",
                "title": failure.title,
                "body": failure.body,
                "notify_type": "failure",
                "created_at": now,
                "next_attempt_at": now,
            },
        )


async def release_stale_claims(now: datetime, lease: timedelta) -> int:
    """Deliveries left `sending` by a crashed worker go back to pending (at most one repeat)."""
    return await Delivery.filter(status="sending", claimed_at__lt=now - lease).update(
        status="pending", claimed_at=None
    )


@apprise.decorators.notify(  # type: ignore[untyped-decorator, no-untyped-call]
    on="console", name="Guardian console (offline demo channel)"
)
def console_channel(
    body: str, title: str, notify_type: str, meta: dict[str, Any], *args: Any, **kwargs: Any
) -> bool:
    """`console://` prints each delivery; `console://?file=var/deliveries.log` also appends it."""
    block = f"── {title} ──\n{body}\n"
    print(block, flush=True)
    path = (meta.get("qsd") or {}).get("file")
    if path:
        with open(path, "a", encoding="utf-8") as out:
            out.write(block + "\n")
    return True
