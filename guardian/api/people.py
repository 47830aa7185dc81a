"""The admin API: people, everyone who wrote to the household, newest first.

A person is what notifications name as their sender (`sender_key`): a contact once the
household knows them (`contact:<id>`), else the address they wrote from. Each is listed with
the names the networks showed, the addresses they wrote from and how often, to the members
whose privacy level lets the viewer see who writes to them (guardian.privacy); the others are
only named as left out. One request names, trusts, mutes or links a person: through the
contacts functions (guardian.api.contacts), so each is audited and taken up at once, and with
the addresses filled in from what was received.
"""

from __future__ import annotations

import re
import unicodedata
from collections import defaultdict
from datetime import UTC, datetime
from typing import Any, cast

from pydantic import BaseModel, ConfigDict, Field, ValidationError
from tortoise.functions import Count, Max, Min

from guardian import privacy
from guardian.admin import Admin, AdminError, invalid, not_found
from guardian.api import Call, Endpoints
from guardian.api.contacts import (
    MAX_ADDRESSES,
    ContactIn,
    ContactPatch,
    Name,
    Trust,
    create_contact,
    update_contact,
)
from guardian.api.contacts import _address as checked_address
from guardian.household import ContactView, MemberView
from guardian.models import Notification

endpoints = Endpoints("people")

CONTACT_PREFIX = "contact:"
#: The most people one answer lists (the newest).
MAX_PEOPLE = 500
#: A contact id made from a name that has no letter a-z in it (Arabic, emoji, ...).
FALLBACK_ID = "person"


class PersonOut(BaseModel):
    key: str = Field(
        description="who this is: `contact:<id>` for a contact, else the address they wrote from"
    )
    contact: str | None = Field(description="the contact's id, if the household knows them")
    name: str = Field(description="the contact's name, else the latest name a network showed")
    names: list[str] = Field(description="the names the networks showed, newest first")
    addresses: list[str] = Field(description="the addresses they wrote from, newest first")
    networks: list[str]
    trust: Trust
    messages: int = Field(description="messages stored from them, to the members listed")
    members: list[str] = Field(description="the members they wrote to")
    first_at: datetime
    last_at: datetime
    suggested_id: str = Field(description="the contact id naming them would make")


class PeopleList(BaseModel):
    items: list[PersonOut]
    unlisted: list[str] = Field(
        [],
        description="Members whose senders are left out: their privacy level (counts) does not "
        "let the signed-in guardian see who writes to them.",
    )


class PeopleQuery(BaseModel):
    limit: int = Field(200, ge=1, le=MAX_PEOPLE)


class PersonIn(BaseModel):
    """One step for one person: name them, set their trust, or link them to a contact."""

    model_config = ConfigDict(extra="forbid")

    person: str = Field(min_length=1, max_length=310, description="a person's `key`")
    name: Name | None = Field(None, description="their name (makes them a contact if need be)")
    trust: Trust | None = Field(None, description="trusted, normal or muted")
    link: str | None = Field(
        None,
        min_length=1,
        max_length=64,
        description="an existing contact (id) that they are: their addresses are added to it",
    )


# --- reading ---------------------------------------------------------------------------------


def _instant(value: Any) -> datetime:
    """An aggregate's datetime, which some backends give back as text."""
    instant = datetime.fromisoformat(value) if isinstance(value, str) else cast(datetime, value)
    return instant if instant.tzinfo is not None else instant.replace(tzinfo=UTC)


def contact_id_for(name: str, taken: set[str]) -> str:
    """A contact id from a name: `Noor El Amrani` → `noor-el-amrani`, unique in `taken`."""
    ascii_name = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    base = re.sub(r"[^a-z0-9]+", "-", ascii_name.lower()).strip("-")[:56].strip("-")
    base = base or FALLBACK_ID
    candidate, n = base, 2
    while candidate in taken:
        candidate, n = f"{base}-{n}", n + 1
    return candidate


def _clean_name(name: str) -> str:
    """A name as a network showed it, fit for a contact: printable, at most 200 characters."""
    printable = "".join(ch if ch.isprintable() else " " for ch in name)
    return " ".join(printable.split())[:200]


def _shown_members(admin: Admin) -> tuple[list[MemberView], list[MemberView]]:
    members = sorted(admin.view.members.values(), key=lambda m: m.pk)
    return privacy.who_wrote_to(admin.principal.member, members)


async def people(admin: Admin, limit: int = 200, only: str | None = None) -> PeopleList:
    """Everyone who wrote to the members whose senders the viewer may see, newest first."""
    view = admin.view
    shown, private = _shown_members(admin)
    unlisted = sorted(m.id for m in private)
    if not shown:
        return PeopleList(items=[], unlisted=unlisted)
    by_pk = {m.pk: m for m in shown}
    visible = Notification.filter(household_id=view.id, member_id__in=list(by_pk))
    if only is not None:
        visible = visible.filter(sender_key=only)
    groups = (
        await visible.annotate(n=Count("id"), first=Min("received_at"), last=Max("received_at"))
        .group_by("sender_key")
        .values("sender_key", "n", "first", "last")
    )
    groups = sorted(groups, key=lambda g: (_instant(g["last"]), g["sender_key"]), reverse=True)
    groups = groups[:limit]
    keys = [str(g["sender_key"]) for g in groups]
    details: dict[str, list[dict[str, Any]]] = defaultdict(list)
    if keys:
        seen = Notification.filter(
            household_id=view.id, member_id__in=list(by_pk), sender_key__in=keys
        )
        for row in (
            await seen.annotate(last=Max("received_at"))
            .group_by("sender_key", "sender_address", "sender_name", "network", "member_id")
            .values("sender_key", "sender_address", "sender_name", "network", "member_id", "last")
        ):
            details[str(row["sender_key"])].append(row)
    taken = set(view.contacts)
    items = []
    for group in groups:
        key = str(group["sender_key"])
        rows = sorted(details[key], key=lambda r: _instant(r["last"]), reverse=True)
        contact = (
            view.contacts.get(key.removeprefix(CONTACT_PREFIX))
            if key.startswith(CONTACT_PREFIX)
            else None
        )
        names = _unique(_clean_name(str(r["sender_name"])) for r in rows if r["sender_name"])
        addresses = _unique(str(r["sender_address"]) for r in rows)
        name = contact.name if contact else (names[0] if names else _address_label(key))
        items.append(
            PersonOut(
                key=key,
                contact=contact.id if contact else None,
                name=name,
                names=[n for n in names if n],
                addresses=addresses,
                networks=_unique(str(r["network"]) for r in rows),
                trust=cast(Trust, contact.trust) if contact else "normal",
                messages=int(group["n"]),
                members=sorted({by_pk[int(r["member_id"])].id for r in rows}),
                first_at=_instant(group["first"]),
                last_at=_instant(group["last"]),
                suggested_id=contact.id if contact else contact_id_for(name, taken),
            )
        )
    return PeopleList(items=items, unlisted=unlisted)


def _unique(values: Any) -> list[str]:
    return [v for v in dict.fromkeys(values) if v]


def _address_label(key: str) -> str:
    """`sms:+31600000666` → `+31600000666`; `whatsapp:name:Sophie` → `Sophie`."""
    _, _, ident = key.partition(":")
    return ident.removeprefix("name:") or key


async def person(admin: Admin, key: str) -> PersonOut:
    """One person, as the viewer may see them; 404 where they wrote to nobody the viewer may
    see the senders of (so that a guess tells nothing)."""
    found = (await people(admin, 1, only=key)).items
    if not found:
        raise not_found("person", key)
    return found[0]


# --- changing --------------------------------------------------------------------------------


def _received(person: PersonOut) -> list[str]:
    """The addresses they wrote from, as contact addresses; any a contact cannot hold (too
    long, unprintable) is left out."""
    addresses = []
    for address in person.addresses[:MAX_ADDRESSES]:
        try:
            addresses.append(checked_address(address))
        except ValueError:
            continue
    return list(dict.fromkeys(addresses))


def _link_target(admin: Admin, contact_id: str) -> ContactView:
    contact = admin.view.contacts.get(contact_id)
    if contact is None:
        message = f"no contact {contact_id!r}"
        raise AdminError(422, "invalid", f"link: {message}", {"link": message})
    return contact


def _validated(model: type[BaseModel], data: dict[str, Any]) -> Any:
    try:
        return model.model_validate(data)
    except ValidationError as error:
        raise invalid(error) from None


async def act(admin: Admin, step: PersonIn) -> PersonOut:
    """Name, trust, mute or link one person, in one audited change of their contact."""
    if step.link is not None and (step.name is not None or step.trust is not None):
        message = "linking keeps the contact's name and trust: give neither"
        raise AdminError(422, "invalid", f"link: {message}", {"link": message})
    if step.link is None and step.name is None and step.trust is None:
        message = "give a name, a trust or a contact to link to"
        raise AdminError(422, "invalid", f"body: {message}", {"body": message})
    who = await person(admin, step.person)
    if who.contact is not None:
        if step.link is not None:
            message = (
                f"{who.name} is the contact {who.contact!r} already: "
                "merge the two on the Contacts page"
            )
            raise AdminError(409, "conflict", message, {"link": message})
        patch = ContactPatch(name=step.name, trust=step.trust)
        await update_contact(admin, who.contact, patch)
        return await person(admin, f"{CONTACT_PREFIX}{who.contact}")
    addresses = _received(who)
    if not addresses:
        message = "none of the addresses they wrote from can be a contact's"
        raise AdminError(422, "invalid", message, {"person": message})
    if step.link is not None:
        target = _link_target(admin, step.link)
        merged = list(dict.fromkeys([*target.addresses, *addresses]))
        await update_contact(admin, target.id, _validated(ContactPatch, {"addresses": merged}))
        return await person(admin, f"{CONTACT_PREFIX}{target.id}")
    name = step.name or _clean_name(who.name) or _address_label(who.key)
    new = _validated(
        ContactIn,
        {
            "id": contact_id_for(name, set(admin.view.contacts)),
            "name": name,
            "trust": step.trust or "normal",
            "addresses": addresses,
        },
    )
    created = await create_contact(admin, new)
    return await person(admin, f"{CONTACT_PREFIX}{created.id}")


# --- endpoints -------------------------------------------------------------------------------


@endpoints.route("GET", "/people", response=PeopleList, query=PeopleQuery)
async def people_list(call: Call) -> PeopleList:
    """Everyone who wrote to the household, newest first, as contacts where known; only to
    members whose privacy level lets the viewer see who writes to them."""
    return await people(call.admin, call.query_as(PeopleQuery).limit)


@endpoints.route("POST", "/people/contact", response=PersonOut, body=PersonIn)
async def people_contact(call: Call) -> PersonOut:
    """Name, trust, mute or link a person in one step: they become (or stay) a contact, with
    the addresses they wrote from."""
    return await act(call.admin, call.body_as(PersonIn))
