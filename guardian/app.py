"""The one composition root: `create_app` is the core (guardian.core) with the admin side
(guardian.routes: the API, the dashboard, the login) mounted on it. The dependency goes one way:
the admin side reads the core's state through guardian.state and never imports this module."""

from __future__ import annotations

from aiohttp import web

from guardian.clock import Clock
from guardian.core import create_core
from guardian.delivery import Sender
from guardian.plugin import PluginRegistry
from guardian.routes import setup_admin
from guardian.settings import Settings


def create_app(
    settings: Settings,
    clock: Clock | None = None,
    *,
    registry: PluginRegistry | None = None,
    sender: Sender | None = None,
    run_scheduler: bool = True,
    run_pulls: bool | None = None,
) -> web.Application:
    """The whole service. `run_scheduler` starts the timer, the deliverer and the follower;
    `run_pulls` (by default the same) the pull sources."""
    app = create_core(
        settings,
        clock,
        registry=registry,
        sender=sender,
        run_scheduler=run_scheduler,
        run_pulls=run_pulls,
    )
    setup_admin(app)
    return app
