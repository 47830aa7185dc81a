"""The admin API: deliveries, what was sent to whom and how it went, and retrying a failed one.

A delivery is shown as it was handed to Apprise (title, body, Markdown body) as far as the
signed-in guardian may see it, and otherwise at the member's privacy level (guardian.privacy:
a guardian's own deliveries in full, another member's at their `guardian_view`), with each
channel in its privacy form and its own result. Errors pass through the log redactor as well:
they are built from privacy-form URLs, and must stay secret-free even if that ever changes.
The details of the channels themselves are stored in privacy form only.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, Field

from guardian.admin import Admin, AdminError, not_found
from guardian.api import Call, Endpoints
from guardian.delivery import SUCCESS, channel_id, privacy_url
from guardian.logs import redact
from guardian.models import Delivery
from guardian.privacy import Seen, Shown, seen_deliveries
from guardian.words import UNSENT, DeliveryKind, DeliveryStatus

endpoints = Endpoints("deliveries")

Kind = Literal["forward", "summary", "burst", "breakthrough", "report", "storm", "test"]
Status = Literal["pending", "sending", "sent", "failed"]
#: The same words as the enums (tests/test_words.py checks it); the Literals make the OpenAPI
#: document's enums of the query.
KINDS: tuple[str, ...] = tuple(DeliveryKind)
STATUSES: tuple[str, ...] = tuple(DeliveryStatus)
#: Database ids are 64-bit; anything longer is not a delivery (and would overflow the query).
_ID = re.compile(r"[0-9]{1,18}")
MAX_ID = 2**62


class ChannelOut(BaseModel):
    """One channel of the member, in its privacy form, and how sending to it went."""

    channel: str
    status: str  # pending, or Apprise's result: SUCCESS, FAILURE, TIMEOUT, MISCONFIGURED, ...
    attempts: int
    detail: str | None = None
    at: datetime | None = None


class DeliveryOut(BaseModel):
    id: int
    member: str
    kind: str
    shown_at: Shown = Field(
        description="`sent`: title and body as sent; otherwise the member's privacy level "
        "they are shown at (a guardian sees another member's deliveries at its guardian_view)"
    )
    title: str
    body: str
    body_markdown: str | None
    notify_type: str
    status: str
    attempts: int
    created_at: datetime
    next_attempt_at: datetime
    sent_at: datetime | None
    last_error: str | None
    channels: list[ChannelOut]


class DeliveryList(BaseModel):
    items: list[DeliveryOut]


class DeliveryQuery(BaseModel):
    member: Annotated[str, Field(min_length=1, max_length=64)] | None = None
    status: Status | None = None
    kind: Kind | None = None
    limit: int = Field(50, ge=1, le=500)
    before_id: int | None = Field(None, ge=1, le=MAX_ID, description="page on: older than this id")


def _secret_free(text: str, privacy_forms: list[str]) -> str:
    """`text` through the log redactor, keeping the channels' privacy forms readable (the
    redactor would otherwise mask the part of a privacy form that equals a raw URL)."""
    marks = {f"\x00{n}\x00": form for n, form in enumerate(privacy_forms) if form}
    for mark, form in marks.items():
        text = text.replace(form, mark)
    text = redact(text)
    for mark, form in marks.items():
        text = text.replace(mark, form)
    return text


def _states(delivery: Delivery, member_channels: tuple[str, ...]) -> list[dict[str, Any]]:
    """What was recorded per channel, and the member's channels not tried yet as pending."""
    states: dict[str, dict[str, Any]] = {s["id"]: s for s in delivery.channels}
    if delivery.status in UNSENT:
        for url in member_channels:
            states.setdefault(
                channel_id(url),
                {"channel": privacy_url(url), "status": "pending", "attempts": 0},
            )
    return list(states.values())


def _member_id(admin: Admin, delivery: Delivery) -> str:
    member_pk: int = delivery.member_id
    member = next((m for m in admin.view.members.values() if m.pk == member_pk), None)
    return member.id if member else str(member_pk)


def delivery_out(admin: Admin, delivery: Delivery, seen: Seen) -> DeliveryOut:
    """`delivery` as the signed-in guardian sees it (`seen`, from guardian.privacy)."""
    member_pk: int = delivery.member_id
    member = next((m for m in admin.view.members.values() if m.pk == member_pk), None)
    # A test goes only to the channels it recorded (guardian.delivery): no other is pending.
    tested = delivery.kind == DeliveryKind.TEST and bool(delivery.channels)
    states = _states(delivery, member.channels if member and not tested else ())
    # Channels are stored in their privacy form only (guardian.delivery), never raw.
    forms = [str(s.get("channel", "")) for s in states]
    return DeliveryOut(
        id=delivery.id,
        member=member.id if member else str(member_pk),
        kind=delivery.kind,
        shown_at=seen.shown_at,
        title=seen.title,
        body=seen.body,
        body_markdown=seen.body_markdown,
        notify_type=delivery.notify_type,
        status=delivery.status,
        attempts=delivery.attempts,
        created_at=delivery.created_at,
        next_attempt_at=delivery.next_attempt_at,
        sent_at=delivery.sent_at,
        last_error=_secret_free(delivery.last_error, forms) if delivery.last_error else None,
        channels=[
            ChannelOut(
                channel=str(s.get("channel", "")),
                status=str(s.get("status", "pending")),
                attempts=int(s.get("attempts", 0)),
                detail=_secret_free(str(s["detail"]), forms) if s.get("detail") else None,
                at=datetime.fromisoformat(s["at"]) if s.get("at") else None,
            )
            for s in states
        ],
    )


async def delivery_list(admin: Admin, query: DeliveryQuery) -> DeliveryList:
    """Deliveries newest first, filtered by member, status and kind."""
    rows = Delivery.filter(household_id=admin.view.id)
    if query.member is not None:
        member = admin.view.members.get(query.member)
        if member is None:
            raise AdminError(
                422,
                "invalid",
                f"query.member: no member {query.member!r}",
                {"query.member": f"no member {query.member!r}"},
            )
        rows = rows.filter(member_id=member.pk)
    if query.status is not None:
        rows = rows.filter(status=query.status)
    if query.kind is not None:
        rows = rows.filter(kind=query.kind)
    if query.before_id is not None:
        rows = rows.filter(id__lt=query.before_id)
    found = await rows.order_by("-id").limit(query.limit)
    return DeliveryList(items=await _seen(admin, found))


async def _seen(admin: Admin, deliveries: list[Delivery]) -> list[DeliveryOut]:
    seen = await seen_deliveries(admin.view, admin.principal.member, deliveries)
    return [delivery_out(admin, d, s) for d, s in zip(deliveries, seen, strict=True)]


async def _delivery(admin: Admin, delivery_id: str) -> Delivery:
    found = None
    if _ID.fullmatch(delivery_id):
        found = await Delivery.get_or_none(id=int(delivery_id), household_id=admin.view.id)
    if found is None:
        raise not_found("delivery", delivery_id)
    return found


async def delivery_detail(admin: Admin, delivery_id: str) -> DeliveryOut:
    [shown] = await _seen(admin, [await _delivery(admin, delivery_id)])
    return shown


async def retry_delivery(admin: Admin, delivery_id: str) -> DeliveryOut:
    """Send a failed delivery again, at once, to the channels that have not had it yet."""
    delivery = await _delivery(admin, delivery_id)
    if delivery.status != DeliveryStatus.FAILED:
        raise AdminError(
            409,
            "conflict",
            f"delivery {delivery.id} is {delivery.status}; only a failed delivery can be retried",
        )
    # The deliverer skips channels that succeeded (no one gets it twice) and, otherwise for
    # good, misconfigured ones: a retry asked for by a person tries those again too.
    # The retried channels count their attempts afresh, like the delivery: one count.
    channels = [
        s if s.get("status") == SUCCESS else {**s, "status": "pending", "attempts": 0}
        for s in delivery.channels
    ]
    retried = [str(s.get("channel", "")) for s in delivery.channels if s.get("status") != SUCCESS]
    async with admin.audited("delivery.retry", f"delivery:{delivery.id}") as change:
        updated = await Delivery.filter(id=delivery.id, status=DeliveryStatus.FAILED).update(
            status=DeliveryStatus.PENDING,
            attempts=0,
            next_attempt_at=admin.now(),
            claimed_at=None,
            channels=channels,
            last_error=None,
        )
        if not updated:  # retried or removed by someone else meanwhile
            raise AdminError(409, "conflict", f"delivery {delivery.id} is no longer failed")
        change.detail = {
            "kind": delivery.kind,
            "member": _member_id(admin, delivery),
            "attempts_before": delivery.attempts,
            "last_error": _secret_free(delivery.last_error or "", retried),
            "channels": retried,
        }
    admin.service.nudge()  # due now: the deliverer sends it at once
    return await delivery_detail(admin, str(delivery.id))


@endpoints.route("GET", "/deliveries", response=DeliveryList, query=DeliveryQuery)
async def deliveries_list(call: Call) -> DeliveryList:
    """Deliveries, newest first: what was sent to whom, and how it went per channel."""
    return await delivery_list(call.admin, call.query_as(DeliveryQuery))


@endpoints.route("GET", "/deliveries/{delivery_id}", response=DeliveryOut)
async def deliveries_get(call: Call) -> DeliveryOut:
    """One delivery: title and body exactly as sent, each channel's result, the last error."""
    return await delivery_detail(call.admin, call.path["delivery_id"])


@endpoints.route("POST", "/deliveries/{delivery_id}/retry", response=DeliveryOut)
async def deliveries_retry(call: Call) -> DeliveryOut:
    """Retry a failed delivery now: attempts start again, succeeded channels are not resent."""
    return await retry_delivery(call.admin, call.path["delivery_id"])
