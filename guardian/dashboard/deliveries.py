"""Dashboard pages: deliveries, per channel, as sent or at the member's privacy level for
guardians (guardian.privacy), and a retry for failed ones."""

from __future__ import annotations

import re

from aiohttp import web
from pydantic import ValidationError

from guardian.admin import AdminError, invalid
from guardian.api.deliveries import (
    KINDS,
    STATUSES,
    DeliveryOut,
    DeliveryQuery,
    delivery_detail,
    delivery_list,
    retry_delivery,
)
from guardian.dashboard import admin_of, error_page, page_language, render
from guardian.dashboard.channel_forms import describe
from guardian.i18n import N_, Language
from guardian.privacy import ON_THE_DASHBOARD
from guardian.words import DeliveryKind, DeliveryStatus

routes = web.RouteTableDef()
FILTERS = ("member", "status", "kind", "before_id")

#: One word, and one badge colour, for each state: the colours mean the same on every page.
STATUS_WORDS = {
    # Translators: the state of one message Guardian sends (a badge on the Deliveries pages).
    DeliveryStatus.PENDING: (N_("waiting to send"), "warn"),
    DeliveryStatus.SENDING: (N_("sending"), "warn"),
    DeliveryStatus.SENT: (N_("sent"), "sent"),
    DeliveryStatus.FAILED: (N_("failed"), "bad"),
}
CHANNEL_WORDS = {
    # Translators: how sending to one channel (a phone app, an inbox) went, in a few words.
    "SUCCESS": (N_("delivered"), "sent"),
    "pending": (N_("waiting"), "warn"),
    "TIMEOUT": (N_("no answer in time"), "bad"),
    "FAILURE": (N_("could not be reached"), "bad"),
    "MISCONFIGURED": (N_("not set up right"), "bad"),
    "NOMATCH": (N_("not understood"), "bad"),
}
KIND_WORDS = {
    # Translators: what kind of message Guardian sent: a message passed on to the member.
    DeliveryKind.FORWARD: N_("Passed on"),
    DeliveryKind.SUMMARY: N_("Summary"),
    # Translators: a notice that many messages came at once.
    DeliveryKind.BURST: N_("Many messages at once"),
    # Translators: a message that came through quiet hours.
    DeliveryKind.BREAKTHROUGH: N_("Urgent message"),
    DeliveryKind.REPORT: N_("Guardian report"),
    # Translators: guardians told that one person sent very many messages in a short time.
    DeliveryKind.STORM: N_("Alert: very many messages from one person"),
    DeliveryKind.TEST: N_("Test"),
}
#: Why a channel did not take a message, in a parent's words.
WHY_NOT = {
    "TIMEOUT": N_("the service did not answer in time"),
    "FAILURE": N_("the service refused it or could not be reached"),
    "MISCONFIGURED": N_("the channel is not set up right"),
    "NOMATCH": N_("the channel's address is not understood"),
}
N_("it was not delivered")  # a test's reason when its channel said nothing known
_GAVE_UP_TRIES = re.compile(r"gave up after (\d+) attempts")
_GAVE_UP_AFTER = re.compile(r"gave up after (\S+)")
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
    name = member.name if member else found.member
    t = page_language(request)
    context = {
        "delivery": found,
        "channel_names": {c.channel: channel_name(t, name, c.channel) for c in found.channels},
        "problem": problem(t, found, name),
        "privacy_note": ON_THE_DASHBOARD.get(found.shown_at, ""),
        "member_name": name,
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
        t = page_language(request)
        return await _detail(request, error.status, t.gettext(error.detail))
    raise web.HTTPSeeOther(f"/deliveries/{retried.id}?retried=1")


def channel_name(t: Language, member: str, channel: str) -> str:
    """A channel as a parent names it, from its masked address: `Mia’s ntfy`, `Mia’s E-mail`."""
    service, _ = describe(channel)
    # Translators: one channel of a member: {name} is the member, {service} the app or service
    # ("Mia’s Telegram", "Mia’s E-mail").
    return t.gettext("{name}’s {service}", name=member, service=t.gettext(service))


def problem(t: Language, delivery: DeliveryOut, member: str) -> str | None:
    """What went wrong, in plain words: which channel, and what happened to it there."""
    said = delivery.last_error
    if not said:
        return None
    if said == "the member has no channels":
        return t.gettext("{name} has no channels to send to.", name=member)
    if tries := _GAVE_UP_TRIES.fullmatch(said):
        n = int(tries[1])
        return t.ngettext("gave up after {n} attempt", "gave up after {n} attempts", n)
    if after := _GAVE_UP_AFTER.fullmatch(said):
        # Translators: {time} is how long Guardian kept trying, as settings write it (2h, 35m).
        return t.gettext("gave up after {time}", time=after[1])
    failing = [c for c in delivery.channels if c.status not in ("SUCCESS", "pending")]
    if not failing:
        return said
    # Translators: one channel and what happened there: "Mia’s ntfy: could not be reached".
    return "; ".join(
        t.gettext(
            "{channel}: {what}",
            channel=channel_name(t, member, c.channel),
            what=t.gettext(CHANNEL_WORDS.get(c.status, (N_("not delivered"), ""))[0]),
        )
        for c in failing
    )
