"""The language switch in every page's header: a login chooses the dashboard's language, or
automatic (their member's, else the household's). Kept per login in the database, so it
follows them to another browser; a plain form, so it works without a script."""

from __future__ import annotations

from aiohttp import web

from guardian import i18n
from guardian.accounts import PRINCIPAL
from guardian.admin import AdminError
from guardian.auth import local_path
from guardian.dashboard import error_page, page_language
from guardian.models import User

routes = web.RouteTableDef()


@routes.post("/language")
async def switch_language(request: web.Request) -> web.StreamResponse:
    data = await request.post()
    choice = str(data.get("language", ""))
    if choice and choice not in i18n.LANGUAGES:
        t = page_language(request)
        return error_page(request, AdminError(422, "invalid", t.gettext("Choose a language.")))
    await User.filter(id=request[PRINCIPAL].user_id).update(language=choice or None)
    raise web.HTTPSeeOther(local_path(str(data.get("back", "/"))))
