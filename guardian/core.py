"""The service's core: `create_core(settings, clock)` wires storage, plugins, ingest, the timer
and the deliverer, and answers health and metrics. It knows nothing of the admin side (the API,
the dashboard, the login), which guardian.app mounts on it: they see the running `Service`
through `state.ServiceView`, under `state.SERVICE`; the core's own handlers under `CORE`.

Resources are opened in `cleanup_ctx`, whose cleanup half runs if and only if start-up finished;
background tasks are cancelled and awaited there, because aiohttp's graceful shutdown waits for
request handlers, not for tasks.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import aiohttp
from aiohttp import web
from pydantic import ValidationError

from guardian import household as household_store
from guardian import metrics as prometheus
from guardian import pull, transfer
from guardian.accounts import LoginLimiter, PasswordHashing
from guardian.clock import Clock, SystemClock
from guardian.database import StorageUnavailable, StorageWatch, opened, storage_failure
from guardian.delivery import AppriseSender, Deliverer, Sender
from guardian.errors import error_response
from guardian.events import Events
from guardian.household import HouseholdView, SourceView
from guardian.ingest import Ingest, accept
from guardian.logs import register_secrets
from guardian.models import Delivery, Household
from guardian.plugin import PluginContext, PluginRegistry, PushPlugin
from guardian.pull import Pulls
from guardian.scheduler import Scheduler
from guardian.secrets import secrets_in
from guardian.settings import Settings, format_validation_errors
from guardian.state import SERVICE
from guardian.supervise import Supervisor
from guardian.words import DeliveryStatus
from guardian.writer import Writer

log = logging.getLogger(__name__)

#: Ingest, under the app (the hook route's handler, and what simulate feeds).
INGEST = web.AppKey("ingest", Ingest)

#: How often an instance checks whether another one changed the household.
FOLLOW_EVERY = timedelta(seconds=5)


#: A paused source's status (`enabled = false`).
PAUSED = "paused"


@dataclass
class Service:
    """The running service's state: the core's (`CORE`); the admin side sees it as
    `state.ServiceView` (`SERVICE`)."""

    settings: Settings
    clock: Clock
    registry: PluginRegistry
    sender: Sender
    view: HouseholdView | None = None
    plugins: dict[str, PushPlugin[Any]] = field(default_factory=dict)
    plugin_errors: dict[str, str] = field(default_factory=dict)
    #: Wakes the timer: an edit may have made a summary due.
    wake: asyncio.Event = field(default_factory=asyncio.Event)
    counters: prometheus.Counters = field(default_factory=prometheus.Counters)
    scheduler: Scheduler | None = None
    deliverer: Deliverer | None = None
    events: Events = field(default_factory=Events)
    session: aiohttp.ClientSession | None = None
    login_limiter: LoginLimiter = field(default_factory=LoginLimiter)
    hashing: PasswordHashing = field(default_factory=PasswordHashing)
    supervisor: Supervisor | None = None
    storage: StorageWatch | None = None
    pulls: Pulls | None = None

    def household(self) -> HouseholdView:
        assert self.view is not None, "the household is loaded at start-up"
        return self.view

    @property
    def revision(self) -> int:
        return self.household().revision

    def nudge(self) -> None:
        """Something is due now (an edit, a retry): wake the timer and the deliverer."""
        self.wake.set()
        if self.deliverer is not None:
            self.deliverer.wake.set()

    def source_status(self, source: SourceView, pulled: Mapping[int, pull.PullStatus]) -> str:
        """`ok`, or why a source does not run (a pull source: how its last pull went, from
        `pull.statuses`)."""
        if not source.enabled:
            return PAUSED
        if source.id in self.plugin_errors:
            return self.plugin_errors[source.id]
        if source.id in self.plugins:
            return "ok"
        if self.supervisor is None or "pulls" not in self.supervisor.tasks:
            return "pull sources are not run by this process"
        status = pulled.get(source.pk)
        return status.describe() if status is not None else "starting"

    def check_storage(self) -> None:
        if self.storage is not None:
            self.storage.check()

    async def reload(self) -> None:
        """Take up the household as stored now: after an admin change here or elsewhere."""
        self.view = await household_store.load(self.settings.household.id)
        view = self.view
        register_secrets(
            secrets_in(
                (c for m in view.members.values() for c in m.channels),
                ((s.plugin, s.settings) for s in view.sources.values()),
                self.registry,
            )
        )
        if self.session is not None:
            self._start_plugins(self.session)
        if self.pulls is not None:
            self.pulls.changed.set()  # a pull source added, edited or removed: at once
        self.events.publish("household")

    def _start_plugins(self, session: aiohttp.ClientSession) -> None:
        """One plugin per push source; a source whose plugin is missing or broken, or refuses
        its settings, is isolated. Pull sources are run by `Pulls`, those with settings their
        plugin accepts."""
        loaded = self.registry.loaded()
        pulling = self.registry.pulling()
        plugins: dict[str, PushPlugin[Any]] = {}
        errors: dict[str, str] = {}
        for source in self.household().sources.values():
            if not source.enabled:
                continue  # paused: nothing runs, nothing is wrong
            if source.plugin in pulling:
                try:
                    pulling[source.plugin].settings_model.model_validate(source.settings)
                except ValidationError as error:
                    errors[source.id] = "; ".join(format_validation_errors(error))
                    log.error("source %s unavailable: %s", source.id, errors[source.id])
                continue
            plugin = loaded.get(source.plugin)
            if plugin is None:
                reason = self.registry.broken().get(source.plugin, "not installed")
                errors[source.id] = f"plugin {source.plugin!r}: {reason}"
                log.error("source %s unavailable: %s", source.id, errors[source.id])
                continue
            try:
                settings = plugin.settings_model.model_validate(source.settings)
                context = PluginContext(
                    source_id=source.id,
                    settings=settings,
                    session=session,
                    log=logging.getLogger(f"guardian.plugins.{source.plugin}.{source.id}"),
                    clock=self.clock,
                )
                plugins[source.id] = plugin(context)
            except Exception as error:  # isolate: the other sources keep running
                detail = (
                    "; ".join(format_validation_errors(error))
                    if isinstance(error, ValidationError)
                    else f"{type(error).__name__}: {error}"
                )
                errors[source.id] = detail
                log.error("source %s unavailable: %s", source.id, detail)
        self.plugins, self.plugin_errors = plugins, errors
        if self.pulls is not None:
            self.pulls.refused = errors


#: The running service, for the core's own handlers and tasks (and the tests).
CORE = web.AppKey("core", Service)


def create_core(
    settings: Settings,
    clock: Clock | None = None,
    *,
    registry: PluginRegistry | None = None,
    sender: Sender | None = None,
    run_scheduler: bool = True,
    run_pulls: bool | None = None,
) -> web.Application:
    """The service without its admin side: ingest, health, metrics and the background work.
    `run_scheduler` starts the timer, the deliverer and the follower; `run_pulls` (by default
    the same) the pull sources."""
    service = Service(
        settings=settings,
        clock=clock or SystemClock(),
        registry=registry or PluginRegistry.discover(),
        sender=sender or AppriseSender(settings.delivery.timeout),
    )
    service.storage = StorageWatch(settings.database.url)
    service.deliverer = Deliverer(
        service.sender, settings.delivery, service.household, clock=service.clock
    )
    writer = Writer(
        lambda db, batch: accept(db, batch, service.household()),
        before=service.check_storage,
        reload=service.reload,
    )
    app = web.Application(client_max_size=settings.server.max_body_bytes)
    app[CORE] = service
    app[SERVICE] = service
    app.cleanup_ctx.append(_storage)
    app.cleanup_ctx.append(_plugins)
    app.cleanup_ctx.append(
        _background(run_scheduler, run_scheduler if run_pulls is None else run_pulls)
    )
    ingest = Ingest(
        clock=service.clock,
        writer=writer,
        household=service.household,
        plugins=lambda: service.plugins,
        max_body_bytes=settings.server.max_body_bytes,
        request_timeout=settings.server.request_timeout,
        wake=service.deliverer.wake,
        counters=service.counters,
        events=service.events,
        storage_check=service.check_storage,
        storage_problem=lambda: service.storage is not None and service.storage.failed,
    )
    app[INGEST] = ingest
    service.pulls = Pulls(
        clock=service.clock,
        household=service.household,
        registry=service.registry,
        store=ingest.pulled,
        session=lambda: service.session,
        # Named by where it listens, which no other live instance can: restarted after a
        # crash, it takes its sources back at once instead of waiting out its own lease.
        owner=f"{socket.gethostname()}:{settings.server.port}"[:64],
    )
    app.router.add_route("*", "/hooks/{source}", ingest.handle)
    app.router.add_get("/healthz", healthz)
    app.router.add_get("/readyz", readyz)
    app.router.add_get("/metrics", metrics)
    app.middlewares.append(json_errors)
    app.on_shutdown.append(_close_streams)
    app.on_cleanup.append(_close_hashing)
    return app


async def _close_hashing(app: web.Application) -> None:
    app[CORE].hashing.close()


async def _close_streams(app: web.Application) -> None:
    """Open event streams would hold up a graceful shutdown until its timeout."""
    app[CORE].events.close()


async def _storage(app: web.Application) -> AsyncIterator[None]:
    service = app[CORE]
    async with opened(service.settings.database.url):
        now = service.clock.now()
        await transfer.seed(service.settings, now)
        await service.reload()
        if service.storage is not None:
            service.storage.start()
        yield
        log.info("stopping: closing the database")
    log.info("stopped")


async def _plugins(app: web.Application) -> AsyncIterator[None]:
    service = app[CORE]
    async with aiohttp.ClientSession() as session:
        service.session = session
        service._start_plugins(session)
        yield
        service.session = None


async def stored_revision(household_id: str) -> int:
    household = await Household.get(id=household_id).only("id", "revision")
    return household.revision


async def _follow(service: Service) -> None:
    """Take up admin changes made through another instance (they raise the revision)."""
    household_id = service.settings.household.id
    while True:
        await service.clock.sleep(FOLLOW_EVERY.total_seconds())
        try:
            if await stored_revision(household_id) != service.revision:
                log.info("household changed elsewhere: reloading")
                await service.reload()
        except Exception as error:
            if not storage_failure(error):
                raise
            log.warning("following household changes: storage unavailable: %s", error)


def _background(
    run_scheduler: bool, run_pulls: bool
) -> Callable[[web.Application], AsyncIterator[None]]:
    async def background(app: web.Application) -> AsyncIterator[None]:
        service = app[CORE]
        assert service.deliverer is not None
        supervisor = service.supervisor = Supervisor(service.clock)
        service.scheduler = Scheduler(
            service.clock,
            service.deliverer,
            service.household,
            service.wake,
            start_delay=service.settings.delivery.start_delay,
        )
        service.scheduler.on_tick = lambda: service.events.publish("delivery")
        await service.scheduler.prepare(service.clock.now())
        supervisor.start("writer", app[INGEST].writer.run)
        if run_scheduler:
            supervisor.start("scheduler", service.scheduler.run)
            supervisor.start("deliverer", service.deliverer.run)
            supervisor.start("follower", lambda: _follow(service))
        if run_pulls and service.pulls is not None:
            supervisor.start("pulls", service.pulls.run)
        yield
        log.info("stopping: background tasks")
        timers = [name for name in supervisor.tasks if name != "writer"]
        await supervisor.stop(timers)
        await service.deliverer.finish()
        await supervisor.stop()

    return background


@web.middleware
async def json_errors(
    request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
) -> web.StreamResponse:
    """Every error as JSON `{"error", "detail"}`; a failing database as 503, never a 500."""
    try:
        return await handler(request)
    except web.HTTPException as error:
        if error.status < 400:
            raise
        return error_response(
            error.status, error.reason.lower().replace(" ", "_"), error.text or error.reason
        )
    except Exception as error:
        if storage_failure(error):
            log.warning("storage unavailable while handling %s: %s", request.path, error)
            return error_response(
                503, "storage_unavailable", "the database is unavailable", **{"Retry-After": "5"}
            )
        if isinstance(error, ConnectionError) and _gone(request):
            raise  # the reader closed the page or the connection: nobody to answer
        # A bug, not bad input: logged in full, answered without internals.
        log.exception("unexpected error handling %s %s", request.method, request.path)
        return error_response(500, "internal", "an unexpected error; it has been logged")


def _gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "alive"})


async def metrics(request: web.Request) -> web.Response:
    service = request.app[CORE]
    text = await prometheus.render(service.counters, service.household(), service.clock.now())
    return prometheus.response(text)


async def readyz(request: web.Request) -> web.Response:
    """Ready when the database takes writes and every background task runs; each check says
    what is wrong where something is."""
    service = request.app[CORE]
    checks: dict[str, Any] = {}
    try:
        service.check_storage()
        await Household.filter(id=service.settings.household.id).exists()
        checks["database"] = "ok"
    except Exception as error:
        if not storage_failure(error):
            raise
        reason = str(error) if isinstance(error, StorageUnavailable) else type(error).__name__
        checks["database"] = f"unavailable: {reason}"
    tasks = service.supervisor.health() if service.supervisor else {}
    checks.update(tasks)
    checks.setdefault("scheduler", "stopped")
    if service.scheduler is not None and service.scheduler.failing:
        checks["failing_jobs"] = dict(service.scheduler.failing)
    view = service.household()
    pulled = {}
    if checks["database"] == "ok":
        pulled = await pull.statuses(view.id, service.clock.now())
    checks["sources"] = {
        source.id: service.source_status(source, pulled) for source in view.sources.values()
    }
    if checks["database"] == "ok":
        checks["failed_deliveries"] = await Delivery.filter(
            household_id=service.household().id, status=DeliveryStatus.FAILED
        ).count()
    ready = checks["database"] == "ok" and all(state == "running" for state in tasks.values())
    ready = ready and checks["scheduler"] == "running"
    return web.json_response(
        {"status": "ready" if ready else "not ready", "checks": checks},
        status=200 if ready else 503,
    )
