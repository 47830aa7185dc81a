"""Every route of the admin side: the login, the admin API, the dashboard pages.

The hook, health and metrics routes are the core's (guardian.core); this module adds the
rest, for guardian.app to mount on it: nothing of the core imports this side.
"""

from __future__ import annotations

from aiohttp import web

from guardian import api, auth, dashboard
from guardian.api import (
    activity,
    contacts,
    deliveries,
    household,
    members,
    people,
    sources,
    tonight,
    users,
)
from guardian.dashboard import activity as activity_pages
from guardian.dashboard import audit as audit_pages
from guardian.dashboard import contacts as contact_pages
from guardian.dashboard import deliveries as delivery_pages
from guardian.dashboard import language as language_pages
from guardian.dashboard import login as login_pages
from guardian.dashboard import members as member_pages
from guardian.dashboard import people as people_pages
from guardian.dashboard import source_edit as source_edit_pages
from guardian.dashboard import sources as source_pages
from guardian.dashboard import tonight as tonight_pages
from guardian.dashboard import transparency as transparency_pages

API_AREAS = (
    tonight.endpoints,
    household.endpoints,
    members.endpoints,
    people.endpoints,
    contacts.endpoints,
    sources.endpoints,
    deliveries.endpoints,
    activity.endpoints,
    users.endpoints,
)


def setup_admin(app: web.Application) -> None:
    auth.setup(app, dashboard.error_page)
    api.setup(app, API_AREAS)
    dashboard.setup(
        app,
        login_pages.routes,
        tonight_pages.routes,
        member_pages.routes,
        people_pages.routes,
        contact_pages.routes,
        source_edit_pages.routes,
        source_pages.routes,
        delivery_pages.routes,
        activity_pages.routes,
        transparency_pages.routes,
        audit_pages.routes,
        language_pages.routes,
    )
