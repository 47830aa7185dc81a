"""`guardian simulate`: replay a scenario through the real pipeline on a virtual clock.

The same app as `serve` (storage, normalise, decide, group commit, scheduler, delivery) runs on
a throwaway SQLite database; only the clock is virtual and the sender records instead of
sending. The replay jumps from one due instant to the next, so a week takes milliseconds.
"""

from __future__ import annotations

import tempfile
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from aiohttp import web

from guardian.accounts import Principal
from guardian.clock import VirtualClock
from guardian.core import CORE, INGEST, Service, create_core
from guardian.delivery import RecordingSender
from guardian.ingest import Arrival, checked
from guardian.models import Delivery, Notification
from guardian.plugin import HookError, PluginRegistry
from guardian.scenario import (
    AnyEvent,
    ControlEvent,
    Event,
    OverrideEvent,
    ScenarioError,
    read_scenario,
)
from guardian.settings import DatabaseSettings, Settings
from guardian.windows import Override
from guardian.words import UNSENT, NotificationStatus, OverrideKind

#: Without --until, the replay stops once nothing is held, or this long after the last event.
HORIZON = timedelta(days=14)


@dataclass(frozen=True)
class SimulatedDelivery:
    at: datetime
    member: str
    kind: str
    title: str
    body: str

    def as_json(self) -> dict[str, Any]:
        return {
            "at": self.at.astimezone(UTC).isoformat().replace("+00:00", "Z"),
            "member": self.member,
            "kind": self.kind,
            "title": self.title,
            "body": self.body,
        }


async def simulate(
    settings: Settings,
    scenario: Path,
    *,
    until: datetime | None = None,
    registry: PluginRegistry | None = None,
) -> list[SimulatedDelivery]:
    events = read_scenario(scenario, settings)
    async with replay(settings, events, until=until, registry=registry) as guardian:
        return await _deliveries(guardian)


@asynccontextmanager
async def replay(
    settings: Settings,
    events: Sequence[AnyEvent],
    *,
    until: datetime | None = None,
    registry: PluginRegistry | None = None,
) -> AsyncIterator[Service]:
    """The app after replaying `events`, still open (its database can be read) in the block."""
    with tempfile.TemporaryDirectory(prefix="guardian-simulate-") as folder:
        throwaway = settings.model_copy(
            update={"database": DatabaseSettings(url=f"sqlite://{folder}/simulate.db")}
        )
        clock = VirtualClock(events[0].at)
        app = create_core(
            throwaway, clock, registry=registry, sender=RecordingSender(), run_scheduler=False
        )
        runner = web.AppRunner(app)
        await runner.setup()  # runs the same start-up as serve, without listening
        try:
            service = app[CORE]
            for number, event in enumerate(events, start=1):
                await run_until(service, clock, event.at)
                if isinstance(event, Event):
                    await _ingest(app, event, number)
                else:
                    await _quiet_change(service, event, number)
            await run_until(service, clock, until or await _quiet_end(service, clock))
            yield service
        finally:
            await runner.cleanup()


async def run_until(service: Service, clock: VirtualClock, target: datetime) -> None:
    """Move the clock to `target`, ticking at every due instant on the way."""
    scheduler = service.scheduler
    assert scheduler is not None
    while True:
        await scheduler.tick()
        due = await scheduler.next_due()
        if due is None or due > target:
            break
        await clock.set(max(due, clock.now()))
    if target > clock.now():
        await clock.set(target)
        await scheduler.tick()


async def _quiet_end(service: Service, clock: VirtualClock) -> datetime:
    """Without --until: run on until nothing is held or pending, within HORIZON."""
    scheduler = service.scheduler
    assert scheduler is not None
    limit = clock.now() + HORIZON
    while clock.now() < limit:
        held = await Notification.filter(status=NotificationStatus.HELD).exists()
        pending = await Delivery.filter(status__in=UNSENT).exists()
        if not held and not pending:
            break
        due = await scheduler.next_due()
        if due is None or due > limit:
            break
        await clock.set(max(due, clock.now()))
        await scheduler.tick()
    return clock.now()


async def _ingest(app: web.Application, event: Event, number: int) -> None:
    service = app[CORE]
    view = service.household()
    source = view.sources[event.source]
    try:
        messages = checked([event.message.incoming()], source, view)
    except HookError as error:
        raise ScenarioError([f"event {number}: {error.detail}"]) from None
    await app[INGEST].arrive(Arrival(messages, source, service.clock.now()))


#: Who changes quiet hours in a simulation, as the audit log of the throwaway database says.
SIMULATION = Principal(user_id=0, username="scenario", household_id="", via="simulate")


async def _quiet_change(service: Service, event: ControlEvent | OverrideEvent, number: int) -> None:
    """A quick control or a stored override, through the dashboard's own path (guardian.api.
    tonight): audited, taken up by the decisions and the timer at once."""
    from guardian.admin import Admin, AdminError
    from guardian.api.tonight import add_overrides, apply_control

    admin = Admin(service, SIMULATION)
    try:
        if isinstance(event, ControlEvent):
            c = event.control
            await apply_control(admin, c.member, c.do, c.until)
        else:
            o = event.override
            await add_overrides(
                admin,
                o.member,
                "carried",
                [Override(OverrideKind(o.kind), o.start.astimezone(UTC), o.end.astimezone(UTC))],
            )
    except AdminError as error:
        raise ScenarioError([f"event {number}: {error.detail}"]) from None


async def _deliveries(service: Service) -> list[SimulatedDelivery]:
    view = service.household()
    rows = await Delivery.filter(household_id=view.id).order_by("created_at", "id")
    return [
        SimulatedDelivery(
            at=d.sent_at or d.created_at,
            member=view.member_by_pk(d.member_id).id,
            kind=d.kind,
            title=d.title,
            body=d.body,
        )
        for d in rows
    ]
