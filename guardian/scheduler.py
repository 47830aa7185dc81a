"""The timer: on each tick at `now`, build the summaries that are due, then send due deliveries.

The next due instant of every member's summary lives in the `schedules` table, so a restart
picks up exactly where the last run stopped: a window end missed during downtime is found
at start-up, and a summary already built is never built again (its schedule row was moved
forward in the same transaction that built it).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from tortoise.transactions import in_transaction

from guardian.clock import Clock
from guardian.database import STORAGE_ERRORS
from guardian.delivery import Deliverer, release_stale_claims
from guardian.household import HouseholdView, MemberView
from guardian.models import Delivery, Notification, Schedule
from guardian.policy import next_summary_time, summary_times
from guardian.summary import Item, render_summary

log = logging.getLogger(__name__)

POLL = timedelta(seconds=30)


def held_item(n: Notification, view: HouseholdView) -> Item:
    contact = next((c for c in view.contacts.values() if c.pk == n.contact_id), None)  # type: ignore[attr-defined]
    return Item(
        sender_key=f"contact:{contact.id}" if contact else n.sender_address,
        sender_label=contact.name if contact else (n.sender_name or n.sender_address),
        network=n.network,
        text=n.text,
        at=n.received_at,
        conversation=n.conversation_title,
    )


@dataclass
class Scheduler:
    clock: Clock
    deliverer: Deliverer
    household: Callable[[], HouseholdView]
    wake: asyncio.Event
    claim_lease: timedelta = timedelta(minutes=5)
    _lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    running: bool = False
    last_tick: datetime | None = None

    async def prepare(self, now: datetime) -> None:
        """Give every member a schedule row with its next due instant (kept if already set)."""
        view = self.household()
        for member in view.members.values():
            schedule, _ = await Schedule.get_or_create(member_id=member.pk, kind="summary")
            if schedule.next_due_at is None:
                schedule.next_due_at = next_summary_time(member.policy, view.zone, now)
                await schedule.save(update_fields=["next_due_at"])
        await release_stale_claims(now, self.claim_lease)

    async def tick(self, now: datetime | None = None) -> None:
        """Do everything due at `now` (the clock's now by default)."""
        async with self._lock:
            now = now or self.clock.now()
            view = self.household()
            due = await Schedule.filter(
                kind="summary", next_due_at__lte=now, member__household_id=view.id
            )
            for schedule in due:
                member = view.member_by_pk(schedule.member_id)  # type: ignore[attr-defined]
                await self._summarise(schedule, member, view, now)
            await self.deliverer.send_due(now)
            self.last_tick = now

    async def _summarise(
        self, schedule: Schedule, member: MemberView, view: HouseholdView, now: datetime
    ) -> None:
        assert schedule.next_due_at is not None
        first_due = schedule.next_due_at
        missed = summary_times(member.policy, view.zone, first_due - timedelta(microseconds=1), now)
        covered_until = missed[-1] if missed else first_due
        following = next_summary_time(member.policy, view.zone, now)
        async with in_transaction():
            # Moving the schedule on is the claim: only one tick (or instance) wins it.
            claimed = await Schedule.filter(id=schedule.id, next_due_at=first_due).update(
                next_due_at=following, last_due_at=covered_until
            )
            if not claimed:
                return
            held = await Notification.filter(
                member_id=member.pk, status="held", received_at__lte=covered_until
            ).order_by("received_at")
            if not held:
                return
            rendered = render_summary(
                [held_item(n, view) for n in held], member.policy.content, view.zone
            )
            delivery = await Delivery.create(
                household_id=view.id,
                member_id=member.pk,
                kind="summary",
                dedup_key=f"summary:{member.pk}:{covered_until.isoformat()}",
                title=rendered.title[:250],
                body=rendered.body,
                notify_type=rendered.notify_type,
                created_at=now,
                next_attempt_at=now,
            )
            await Notification.filter(id__in=[n.id for n in held]).update(
                status="summarised", delivery_id=delivery.id
            )
        log.info(
            "summary for %s: %d held notifications (window end %s, %d missed)",
            member.id,
            len(held),
            covered_until.isoformat(),
            len(missed),
        )

    async def next_due(self) -> datetime | None:
        """The earliest instant at which something is due: a summary or a delivery attempt."""
        view = self.household()
        schedule = (
            await Schedule.filter(
                kind="summary", next_due_at__isnull=False, member__household_id=view.id
            )
            .order_by("next_due_at")
            .first()
        )
        delivery = (
            await Delivery.filter(status="pending", household_id=view.id)
            .order_by("next_attempt_at")
            .first()
        )
        found = [
            instant
            for instant in (
                schedule.next_due_at if schedule else None,
                delivery.next_attempt_at if delivery else None,
            )
            if instant is not None
        ]
        return min(found) if found else None

    async def run(self) -> None:
        """Tick whenever something is due, woken early by ingest; never sleeps past POLL."""
        self.running = True
        try:
            while True:
                try:
                    await self.tick()
                    due = await self.next_due()
                except STORAGE_ERRORS as error:
                    log.warning("scheduler: storage unavailable, retrying: %s", error)
                    due = None
                now = self.clock.now()
                delay = POLL if due is None else min(POLL, max(due - now, timedelta(0)))
                await self._sleep(delay)
        finally:
            self.running = False

    async def _sleep(self, delay: timedelta) -> None:
        sleeper = asyncio.ensure_future(self.clock.sleep(delay.total_seconds()))
        waker = asyncio.ensure_future(self.wake.wait())
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleeper, waker):
                task.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await task
            self.wake.clear()
