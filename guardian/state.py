"""The running service's state (`Service`) and the key the app holds it under.

A leaf for the admin side: the API, the dashboard and the login read the state through
`request.app[SERVICE]` and import only this module, never the app that builds it
(guardian.app), so the core never depends on them. It is called the service, not "guardian":
that word is the product's name and a member's role.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from aiohttp import web
from pydantic import ValidationError

from guardian import household as household_store
from guardian import metrics as prometheus
from guardian import pull
from guardian.accounts import LoginLimiter, PasswordHashing
from guardian.clock import Clock
from guardian.database import StorageWatch
from guardian.delivery import Deliverer, Sender
from guardian.events import Events
from guardian.household import HouseholdView, SourceView
from guardian.logs import register_secrets
from guardian.plugin import PluginContext, PluginRegistry, PushPlugin
from guardian.pull import Pulls
from guardian.scheduler import Scheduler
from guardian.secrets import secrets_in
from guardian.settings import Settings, format_validation_errors
from guardian.supervise import Supervisor

log = logging.getLogger(__name__)

#: A paused source's status (`enabled = false`).
PAUSED = "paused"


@dataclass
class Service:
    """The running service's state, held by the app under the SERVICE key."""

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


SERVICE = web.AppKey("guardian", Service)
