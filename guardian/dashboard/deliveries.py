"""Dashboard pages: deliveries, per channel, as sent or at the member's privacy level for
guardians (guardian.privacy), and a retry for failed ones."""

from __future__ import annotations

from aiohttp import web
from pydantic import ValidationError

from guardian.admin import AdminError, invalid
from guardian.api.deliveries import (
    KINDS,
    STATUSES,
    DeliveryQuery,
    delivery_detail,
    delivery_list,
    retry_delivery,
)
from guardian.dashboard import admin_of, error_page, render
from guardian.privacy import ON_THE_DASHBOARD

routes = web.RouteTableDef()
FILTERS = ("member", "status", "kind", "before_id")

#: One word, and one badge colour, for each state: the colours mean the same on every page.
STATUS_WORDS = {
    "pending": ("waiting to send", "warn"),
    "sending": ("sending", "warn"),
    "sent": ("sent", "sent"),
    "failed": ("failed", "bad"),
}
CHANNEL_WORDS = {
    "SUCCESS": ("delivered", "sent"),
    "pending": ("waiting", "warn"),
    "TIMEOUT": ("no answer in time", "bad"),
    "FAILURE": ("failed", "bad"),
    "MISCONFIGURED": ("not set up right", "bad"),
    "NOMATCH": ("not understood", "bad"),
}
KIND_WORDS = {
    "forward": "Passed on",
    "summary": "Summary",
    "burst": "Burst notice",
    "breakthrough": "Urgent message",
    "report": "Guardian report",
    "storm": "Storm alert",
    "test": "Test",
}
#: Why a channel did not take a message, in a parent's words.
WHY_NOT = {
    "TIMEOUT": "the service did not answer in time",
    "FAILURE": "the service refused it or could not be reached",
    "MISCONFIGURED": "the channel is not set up right",
    "NOMATCH": "the channel's address is not understood",
}
WORDS = {
    "status_words": STATUS_WORDS,
    "channel_words": CHANNEL_WORDS,
    "kind_words": KIND_WORDS,
    "why_not": WHY_NOT,
}


@routes.get("/deliveries")
async def deliveries(request: web.Request) -> web.Response:
    admin = admin_of(request)
    # An empty choice in the filter form means "any".
    chosen = {key: request.query[key] for key in FILTERS if request.query.get(key)}
    context = {
        "filters": chosen,
        "members": list(admin.view.members.values()),
        "statuses": STATUSES,
        "kinds": KINDS,
        "items": [],
        "errors": {},
        "older": None,
        **WORDS,
    }
    try:
        query = DeliveryQuery.model_validate(chosen)
        found = await delivery_list(admin, query)
    except ValidationError as error:
        return render(request, "deliveries.html", {**context, "errors": _errors(error)}, 422)
    except AdminError as error:
        return render(request, "deliveries.html", {**context, "errors": _fields(error)}, 422)
    older = None
    if len(found.items) == query.limit:
        older = {**chosen, "before_id": str(found.items[-1].id)}
    return render(request, "deliveries.html", {**context, "items": found.items, "older": older})


def _errors(error: ValidationError) -> dict[str, str]:
    return _fields(invalid(error))


def _fields(error: AdminError) -> dict[str, str]:
    return {path.removeprefix("query."): message for path, message in error.fields.items()}


@routes.get("/deliveries/{delivery_id}")
async def delivery(request: web.Request) -> web.Response:
    return await _detail(request)


async def _detail(
    request: web.Request, status: int = 200, error: str | None = None
) -> web.Response:
    admin = admin_of(request)
    try:
        found = await delivery_detail(admin, request.match_info["delivery_id"])
    except AdminError as missing:
        return error_page(request, missing)
    member = admin.view.members.get(found.member)
    context = {
        "delivery": found,
        "privacy_note": ON_THE_DASHBOARD.get(found.shown_at, ""),
        "member_name": member.name if member else found.member,
        "retried": request.query.get("retried") == "1",
        "error": error,
        **WORDS,
    }
    return render(request, "delivery.html", context, status)


@routes.post("/deliveries/{delivery_id}/retry")
async def retry(request: web.Request) -> web.Response:
    delivery_id = request.match_info["delivery_id"]
    try:
        retried = await retry_delivery(admin_of(request), delivery_id)
    except AdminError as error:
        if error.status == 404:
            return error_page(request, error)
        return await _detail(request, error.status, error.detail)
    raise web.HTTPSeeOther(f"/deliveries/{retried.id}?retried=1")
