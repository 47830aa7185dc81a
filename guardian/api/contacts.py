"""The admin API: contacts, the people known across networks, and how far each is trusted.

A contact's addresses are stored in their canonical form (`guardian.contacts`), and one address
belongs to one contact. Notifications and bursts name their sender `contact:<id>` once the
sender is a contact: giving a contact an address adopts what that address sent before, merging
two contacts moves everything of one to the other, and deleting a contact gives its
notifications back their addresses. The in-memory sender history is rebuilt after each of these,
so that bursts and repeated contact count the person as the household now knows them.
Adopting, merging and deleting each move notifications, bursts and the contacts themselves
and rebuild the sender history, which is why this area is long.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated, Any, Literal, cast

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StringConstraints
from tortoise.exceptions import IntegrityError
from tortoise.expressions import F, Q
from tortoise.functions import Count

from guardian import senders
from guardian.admin import Admin, AdminError, not_found
from guardian.api import Call, Endpoints
from guardian.contacts import canonical, is_e164, signal_parts
from guardian.household import ContactView, HouseholdView, MemberView
from guardian.i18n import N_
from guardian.models import AuditEntry, Contact, Episode, Notification
from guardian.setting_types import Slug

endpoints = Endpoints("contacts")

Trust = Literal["trusted", "normal", "muted"]
TRUST_HELP = {
    # Translators: what a contact's trust means, shown as a button's tooltip and in the form.
    "trusted": N_("breaks through quiet hours and bursts"),
    "normal": N_("follows the policy"),
    "muted": N_("never pushed, always counted in the next summary"),
}
#: As long as a stored sender address may be.
MAX_ADDRESS = 300
MAX_ADDRESSES = 100
_ADDRESS = re.compile(r"[a-z0-9_]+:.+")


def _address(value: str) -> str:
    address = canonical(value.strip())
    if not _ADDRESS.fullmatch(address) or not address.isprintable():
        raise ValueError(f"not a network:address pair: {value!r}")
    if len(address) > MAX_ADDRESS:
        raise ValueError(f"longer than {MAX_ADDRESS} characters")
    return address


def _printable(name: str) -> str:
    if not name.isprintable():
        raise ValueError("only printable characters (no line breaks or control characters)")
    return name


def _unique(addresses: list[str]) -> list[str]:
    return list(dict.fromkeys(addresses))


#: `network:address`, canonical: `SMS:+31 6 1234 5678` is stored as `sms:+31612345678`.
Address = Annotated[str, AfterValidator(_address)]
Addresses = Annotated[list[Address], Field(max_length=MAX_ADDRESSES), AfterValidator(_unique)]
Name = Annotated[
    str,
    StringConstraints(strip_whitespace=True, min_length=1, max_length=200),
    AfterValidator(_printable),
]


class ContactIn(BaseModel):
    """A new contact, checked as `[[contacts]]` in settings.toml is."""

    model_config = ConfigDict(extra="forbid")

    id: Slug
    name: Name
    addresses: Addresses = []
    trust: Trust = "normal"


class ContactPatch(BaseModel):
    """What to change; `addresses` replaces the whole list."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    trust: Trust | None = None
    addresses: Addresses | None = None


class MergeIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    from_: str = Field(
        alias="from", min_length=1, description="The contact merged into this one, then deleted."
    )


class ContactOut(BaseModel):
    id: str
    name: str
    trust: Trust
    addresses: list[str]
    notifications: int = Field(
        description="Notifications stored from this contact, to the members whose privacy "
        "level lets the signed-in guardian see who wrote to them."
    )


class ContactList(BaseModel):
    items: list[ContactOut]
    uncounted: list[str] = Field(
        [],
        description="Members whose notifications the counts leave out: their privacy level "
        "(counts) does not let the signed-in guardian see who writes to them.",
    )


# --- reading ---------------------------------------------------------------------------------


def _uncounted(admin: Admin) -> list[MemberView]:
    """Members whose privacy level hides who writes to them from the signed-in guardian: at
    `counts` not even a contact's number of notifications may tell."""
    return [m for m in admin.view.members.values() if admin.level_for(m) == "counts"]


async def _counts(admin: Admin) -> dict[int, int]:
    """Notifications per contact, to the members whose senders the guardian may see."""
    view = admin.view
    hidden = {m.pk for m in _uncounted(admin)}
    visible = [m.pk for m in view.members.values() if m.pk not in hidden]
    rows = (
        await Notification.filter(
            household_id=view.id, contact_id__isnull=False, member_id__in=visible
        )
        .annotate(n=Count("id"))
        .group_by("contact_id")
        .values_list("contact_id", "n")
    )
    return {int(pk): int(n) for pk, n in rows}


def _out(contact: ContactView, counts: dict[int, int]) -> ContactOut:
    trust = cast(Trust, contact.trust if contact.trust in TRUST_HELP else "normal")
    return ContactOut(
        id=contact.id,
        name=contact.name,
        trust=trust,
        addresses=list(contact.addresses),
        notifications=counts.get(contact.pk, 0),
    )


async def contact_list(admin: Admin) -> ContactList:
    view = admin.view
    counts = await _counts(admin)
    contacts = sorted(view.contacts.values(), key=lambda c: (c.name.casefold(), c.id))
    return ContactList(
        items=[_out(c, counts) for c in contacts],
        uncounted=sorted(m.id for m in _uncounted(admin)),
    )


def _contact(admin: Admin, contact_id: str) -> ContactView:
    contact = admin.view.contacts.get(contact_id)
    if contact is None:
        raise not_found("contact", contact_id)
    return contact


async def contact_out(admin: Admin, contact_id: str) -> ContactOut:
    contact = _contact(admin, contact_id)
    return _out(contact, await _counts(admin))


# --- changing --------------------------------------------------------------------------------


def _check_addresses(view: HouseholdView, addresses: list[str], own: str | None) -> None:
    """409 for each address that already names another contact (a WhatsApp id names the
    phone number too)."""
    taken: dict[str, str] = {}
    for index, address in enumerate(addresses):
        owner = view.contact_for(address)
        if owner is not None and owner.id != own:
            taken[f"addresses[{index}]"] = f"{address!r} already belongs to {owner.id!r}"
    if taken:
        detail = "; ".join(f"{path}: {message}" for path, message in taken.items())
        raise AdminError(409, "conflict", detail, taken)


def _sender_forms(view: HouseholdView, address: str, own: str) -> list[str]:
    """The stored sender addresses that this contact address matches (see `match_keys`)."""
    forms = [address]
    network, _, ident = address.partition(":")
    if network == "sms" and ident.startswith("+") and ident[1:].isdigit():
        whatsapp = f"whatsapp:{ident[1:]}"
        owner = view.by_address.get(whatsapp)
        if owner is None or owner.id == own:
            forms.append(whatsapp)
    return forms


def _signal_senders(address: str, field: str) -> Q | None:
    """Stored Signal senders that name both a UUID and a number (`signal:<uuid>/+31...`) and
    that this contact address matches by either part; None where it matches none."""
    network, _, ident = address.partition(":")
    if network == "sms" and is_e164(ident):
        return Q(**{f"{field}__startswith": "signal:", f"{field}__endswith": f"/{ident}"})
    if network != "signal":
        return None
    account, number = signal_parts(ident)
    if number is not None and not account:
        return Q(**{f"{field}__startswith": "signal:", f"{field}__endswith": f"/{number}"})
    if account and number is None:
        return Q(**{f"{field}__startswith": f"signal:{account}/"})
    return None


def _senders(view: HouseholdView, contact: Contact, addresses: list[str], field: str) -> Q | None:
    """Everything stored under `field` that these contact addresses match."""
    forms = [form for a in addresses for form in _sender_forms(view, a, contact.slug)]
    exact: dict[str, Any] = {f"{field}__in": forms}
    matches = [Q(**exact)] if forms else []
    matches += [q for a in addresses if (q := _signal_senders(a, field)) is not None]
    return Q(*matches, join_type="OR") if matches else None


async def _adopt(admin: Admin, contact: Contact, addresses: list[str]) -> int:
    """Count what these addresses sent before they were the contact's as the contact's: their
    notifications, bursts and sender history become the contact's."""
    view = admin.view
    notifications = _senders(view, contact, addresses, "sender_address")
    episodes = _senders(view, contact, addresses, "sender_key")
    if notifications is None or episodes is None:
        return 0
    key = f"contact:{contact.slug}"
    adopting = Notification.filter(notifications, household_id=view.id, contact_id__isnull=True)
    renamed = [str(k) for k in await adopting.distinct().values_list("sender_key", flat=True)]
    adopted = await Notification.filter(
        notifications, household_id=view.id, contact_id__isnull=True
    ).update(contact_id=contact.id, sender_key=key)
    await Episode.filter(episodes, member_id__in=[m.pk for m in view.members.values()]).update(
        sender_key=key, sender_label=contact.name[:200]
    )
    if adopted:
        await senders.rebuild(view, [key, *renamed], admin.now())
    return adopted


def _taken_id(contact_id: str) -> AdminError:
    message = f"a contact {contact_id!r} exists already"
    return AdminError(409, "conflict", message, {"id": message})


async def create_contact(admin: Admin, new: ContactIn) -> ContactOut:
    view = admin.view
    if new.id in view.contacts:
        raise _taken_id(new.id)
    _check_addresses(view, new.addresses, None)
    try:
        async with admin.change("contact.create", new.id) as change:
            contact = await Contact.create(
                household_id=view.id,
                slug=new.id,
                name=new.name,
                trust=new.trust,
                addresses=new.addresses,
            )
            await _adopt(admin, contact, new.addresses)
            change.detail = {"name": new.name, "trust": new.trust, "addresses": new.addresses}
    except IntegrityError:  # created at the same moment by another request
        raise _taken_id(new.id) from None
    return await contact_out(admin, new.id)


async def update_contact(admin: Admin, contact_id: str, patch: ContactPatch) -> ContactOut:
    contact = _contact(admin, contact_id)
    view = admin.view
    changes = patch.model_dump(exclude_none=True)
    if patch.addresses is not None:
        _check_addresses(view, patch.addresses, contact.id)
    if not changes:
        return await contact_out(admin, contact_id)
    added = [a for a in patch.addresses or [] if a not in contact.addresses]
    async with admin.change("contact.update", contact.id) as change:
        await Contact.filter(id=contact.pk).update(**changes)
        row = await Contact.get(id=contact.pk)
        await _adopt(admin, row, added)
        change.detail = changes
    return await contact_out(admin, contact_id)


async def delete_contact(admin: Admin, contact_id: str) -> None:
    contact = _contact(admin, contact_id)
    view = admin.view
    key = f"contact:{contact.id}"
    async with admin.change("contact.delete", contact.id) as change:
        addresses = [
            str(address)
            for address in await Notification.filter(household_id=view.id, sender_key=key)
            .distinct()
            .values_list("sender_address", flat=True)
        ]
        # Its notifications are from their addresses again, as from any unknown sender.
        await Notification.filter(household_id=view.id, sender_key=key).update(
            sender_key=F("sender_address")
        )
        await Notification.filter(contact_id=contact.pk).update(contact_id=None)
        await Contact.filter(id=contact.pk).delete()
        await senders.rebuild(view, [key, *addresses], admin.now())
        change.detail = {"name": contact.name}


async def merge_contacts(admin: Admin, keep_id: str, from_id: str) -> ContactOut:
    """Move `from_id`'s addresses, notifications and bursts to `keep_id`; delete `from_id`."""
    keep = _contact(admin, keep_id)
    other = admin.view.contacts.get(from_id)
    if other is None:
        raise AdminError(
            422, "invalid", f"from: no contact {from_id!r}", {"from": f"no contact {from_id!r}"}
        )
    if other.id == keep.id:
        message = "a contact cannot be merged into itself"
        raise AdminError(422, "invalid", f"from: {message}", {"from": message})
    view = admin.view
    addresses = _unique([*keep.addresses, *other.addresses])
    old_key, new_key = f"contact:{other.id}", f"contact:{keep.id}"
    members = [m.pk for m in view.members.values()]
    async with admin.change("contact.merge", keep.id) as change:
        # What moves, kept in the audit entry so that the merge can be undone for a while.
        moved = await Notification.filter(
            Q(contact_id=other.pk) | Q(household_id=view.id, sender_key=old_key)
        ).values_list("id", flat=True)
        episodes = await Episode.filter(member_id__in=members, sender_key=old_key).values_list(
            "id", flat=True
        )
        await Contact.filter(id=other.pk).update(addresses=[])
        await Contact.filter(id=keep.pk).update(addresses=addresses)
        await Notification.filter(contact_id=other.pk).update(contact_id=keep.pk)
        await Notification.filter(household_id=view.id, sender_key=old_key).update(
            sender_key=new_key
        )
        await Episode.filter(member_id__in=members, sender_key=old_key).update(
            sender_key=new_key, sender_label=keep.name[:200]
        )
        await Contact.filter(id=other.pk).delete()
        await senders.rebuild(view, [old_key, new_key], admin.now())
        change.detail = {"from": other.id, "name": other.name, "addresses": list(other.addresses)}
        if len(moved) <= MAX_UNDO_ROWS:
            change.detail[UNDO] = {
                "trust": other.trust,
                "notifications": [str(n) for n in moved],
                "episodes": [int(cast(Any, e)) for e in episodes],
            }
    return await contact_out(admin, keep.id)


#: Where a merge's audit entry keeps what it moved (a `_` key is never shown: guardian.admin).
UNDO = "_undo"
#: A merge can be undone for this long (from the dashboard's Contacts page).
UNDO_MERGE = timedelta(minutes=15)
#: A merge that moved more notifications than this is not kept for undoing.
MAX_UNDO_ROWS = 20_000


@dataclass(frozen=True)
class UndoableMerge:
    """A recent merge that can still be undone: `entry` is its audit entry's id."""

    entry: int
    name: str  # the contact merged away
    into: str  # the contact kept (its id)
    until: datetime


async def undoable_merges(admin: Admin) -> list[UndoableMerge]:
    """The merges of the last `UNDO_MERGE` that can still be undone, newest first."""
    view, now = admin.view, admin.now()
    recent = await AuditEntry.filter(
        household_id=view.id,
        action__in=("contact.merge", "contact.unmerge"),
        at__gte=now - UNDO_MERGE,
    ).order_by("-at", "-id")
    undone = {e.detail.get("merge") for e in recent if e.action == "contact.unmerge"}
    return [
        UndoableMerge(e.id, str(e.detail.get("name", "")), e.target, e.at + UNDO_MERGE)
        for e in recent
        if e.action == "contact.merge"
        and e.id not in undone
        and isinstance(e.detail.get(UNDO), dict)
        and e.target in view.contacts
        and e.detail.get("from") not in view.contacts
    ]


async def undo_merge(admin: Admin, entry_id: int) -> ContactOut:
    """Take a merge apart again: the merged-away contact comes back with its addresses, and
    what the merge moved (notifications, bursts) is its own again; audited as `contact.unmerge`."""
    view = admin.view
    found = {m.entry: m for m in await undoable_merges(admin)}
    entry = await AuditEntry.get_or_none(id=entry_id, household_id=view.id, action="contact.merge")
    if entry is None:
        raise not_found("merge", str(entry_id))
    if entry_id not in found:
        minutes = int(UNDO_MERGE.total_seconds() // 60)
        raise AdminError(
            409,
            "conflict",
            f"this merge can no longer be undone: merges can be undone for {minutes} minutes, "
            "once, while both contacts' names are free",
        )
    keep = view.contacts[entry.target]
    detail = entry.detail
    other_id, name = str(detail["from"]), str(detail["name"])
    restored = [a for a in detail.get("addresses", []) if a in keep.addresses]
    members = [m.pk for m in view.members.values()]
    try:
        await _unmerge(admin, entry, keep, other_id, name, restored, members)
    except IntegrityError:  # undone (or the name taken) at the same moment by another request
        raise AdminError(409, "conflict", f"a contact {other_id!r} exists already") from None
    return await contact_out(admin, other_id)


async def _unmerge(
    admin: Admin,
    entry: AuditEntry,
    keep: ContactView,
    other_id: str,
    name: str,
    restored: list[str],
    members: list[int],
) -> None:
    view, undo = admin.view, entry.detail[UNDO]
    old_key, new_key = f"contact:{other_id}", f"contact:{keep.id}"
    async with admin.change("contact.unmerge", other_id) as change:
        keep_row = await Contact.get(id=keep.pk)
        await Contact.filter(id=keep.pk).update(
            addresses=[a for a in keep_row.addresses if a not in restored]
        )
        other = await Contact.create(
            household_id=view.id,
            slug=other_id,
            name=name,
            trust=str(undo.get("trust", "normal")),
            addresses=restored,
        )
        ids = [str(n) for n in undo.get("notifications", [])]
        parts = [Q(id__in=ids)] if ids else []
        if restored:  # what came from its addresses since the merge is its own too
            parts.append(Q(household_id=view.id, sender_address__in=restored))
        if parts:
            moved = Q(*parts, join_type="OR")
            await Notification.filter(moved, contact_id=keep.pk).update(contact_id=other.id)
            await Notification.filter(moved, household_id=view.id, sender_key=new_key).update(
                sender_key=old_key
            )
        episodes = [int(e) for e in undo.get("episodes", [])]
        if episodes:
            await Episode.filter(id__in=episodes, member_id__in=members, sender_key=new_key).update(
                sender_key=old_key, sender_label=name[:200]
            )
        await senders.rebuild(view, [old_key, new_key], admin.now())
        change.detail = {
            "merge": entry.id,
            "name": name,
            "into": keep.id,
            "into_name": keep.name,
            "addresses": restored,
        }


# --- endpoints -------------------------------------------------------------------------------


@endpoints.route("GET", "/contacts", response=ContactList)
async def contacts_list(call: Call) -> ContactList:
    """Every contact, with its addresses, trust and number of notifications."""
    return await contact_list(call.admin)


@endpoints.route("POST", "/contacts", response=ContactOut, body=ContactIn, status=201)
async def contacts_create(call: Call) -> ContactOut:
    """Add a contact; 409 if the id or one of the addresses is taken."""
    return await create_contact(call.admin, call.body_as(ContactIn))


@endpoints.route("GET", "/contacts/{contact_id}", response=ContactOut)
async def contacts_get(call: Call) -> ContactOut:
    """One contact."""
    return await contact_out(call.admin, call.path["contact_id"])


@endpoints.route("PATCH", "/contacts/{contact_id}", response=ContactOut, body=ContactPatch)
async def contacts_update(call: Call) -> ContactOut:
    """Rename a contact, change its trust or replace its addresses; takes effect at once."""
    return await update_contact(call.admin, call.path["contact_id"], call.body_as(ContactPatch))


@endpoints.route("DELETE", "/contacts/{contact_id}", response=None)
async def contacts_delete(call: Call) -> None:
    """Delete a contact; its notifications keep their sender addresses."""
    await delete_contact(call.admin, call.path["contact_id"])


@endpoints.route("POST", "/contacts/{contact_id}/merge", response=ContactOut, body=MergeIn)
async def contacts_merge(call: Call) -> ContactOut:
    """Merge another contact into this one: its addresses, notifications and bursts move here."""
    return await merge_contacts(call.admin, call.path["contact_id"], call.body_as(MergeIn).from_)
