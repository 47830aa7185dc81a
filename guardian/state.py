"""What the admin side may use of the running service (`ServiceView`), and the key it reads it
under (`SERVICE`): the API, the dashboard and the login import only this module of the core's,
so the core (guardian.core, whose `Service` this is a view of) never depends on them.

It is called the service, not "guardian": that word is the product's name and a member's role.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

from aiohttp import web

from guardian import pull
from guardian.accounts import LoginLimiter, PasswordHashing
from guardian.clock import Clock
from guardian.delivery import Sender
from guardian.events import Events
from guardian.household import HouseholdView, SourceView
from guardian.plugin import PluginRegistry
from guardian.settings import Settings


class ServiceView(Protocol):
    """The running service as the admin side sees it: the household and the settings, the
    plugins it can offer, taking up a change, and the accounts' locks."""

    settings: Settings
    clock: Clock
    registry: PluginRegistry
    sender: Sender
    events: Events
    #: The household as loaded (None only before start-up has loaded it).
    view: HouseholdView | None
    login_limiter: LoginLimiter
    hashing: PasswordHashing
    #: Why each source that does not run does not (by source id).
    plugin_errors: dict[str, str]

    def household(self) -> HouseholdView: ...

    async def reload(self) -> None:
        """Take up the household as stored now, after a change."""

    def nudge(self) -> None:
        """Something is due now: wake the timer and the deliverer."""

    def source_status(self, source: SourceView, pulled: Mapping[int, pull.PullStatus]) -> str: ...


SERVICE: web.AppKey[ServiceView] = web.AppKey("service")
