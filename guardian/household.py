"""The household as the running service sees it: loaded from the database.

settings.toml's household part is a seed, imported on first start (`guardian.transfer.seed`);
after that the database is the truth (the dashboard edits it). `HouseholdView` is an immutable
snapshot read by ingest and the scheduler; it is rebuilt, not mutated, when the household
changes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import cached_property
from typing import Any
from zoneinfo import ZoneInfo

from guardian.contacts import contact_keys, match_keys
from guardian.i18n import DEFAULT_LANGUAGE
from guardian.models import (
    Contact,
    Household,
    Member,
    Policy,
    PolicyEpoch,
    QuietOverride,
    Source,
)
from guardian.policy_settings import PolicySettings
from guardian.windows import Override
from guardian.words import OverrideKind, Role

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MemberView:
    pk: int
    id: str
    name: str
    role: Role
    policy: PolicySettings
    channels: tuple[str, ...]
    policy_name: str | None = None
    #: What Guardian writes to this member is in this language: their own, or the household's.
    language: str = DEFAULT_LANGUAGE
    #: The member's own setting; None when they follow the household's language.
    own_language: str | None = None


@dataclass(frozen=True)
class ContactView:
    pk: int
    id: str
    name: str
    trust: str
    addresses: tuple[str, ...]


@dataclass(frozen=True)
class SourceView:
    pk: int
    id: str
    plugin: str
    member: str
    settings: dict[str, Any] = field(repr=False)
    #: Every member it may write to: its own first, then a hub's others.
    members: tuple[str, ...] = ()
    #: Off: paused on the dashboard or in settings.toml.
    enabled: bool = True


@dataclass(frozen=True)
class HouseholdView:
    id: str
    name: str
    zone: ZoneInfo
    members: dict[str, MemberView]
    contacts: dict[str, ContactView]
    sources: dict[str, SourceView]
    by_address: dict[str, ContactView]
    policies: dict[str, PolicySettings] = field(default_factory=dict)
    #: Raised by every admin change: decisions are made on the household as stored now.
    revision: int = 0
    language: str = DEFAULT_LANGUAGE

    def contact_for(self, address: str) -> ContactView | None:
        for key in match_keys(address):
            if key in self.by_address:
                return self.by_address[key]
        return None

    @cached_property
    def members_by_pk(self) -> dict[int, MemberView]:
        """The members by database key: the timer and the deliverer look one up per row."""
        return {m.pk: m for m in self.members.values()}

    @cached_property
    def contacts_by_pk(self) -> dict[int, ContactView]:
        return {c.pk: c for c in self.contacts.values()}

    def contact_by_pk(self, pk: int | None) -> ContactView | None:
        return self.contacts_by_pk.get(pk) if pk is not None else None

    def member_by_pk(self, pk: int) -> MemberView:
        return self.members_by_pk[pk]


async def load(household_id: str) -> HouseholdView:
    household = await Household.get(id=household_id)
    policies = {
        p.name: PolicySettings.model_validate(p.spec)
        for p in await Policy.filter(household=household)
    }
    overrides = await member_overrides(household.id)
    members = {
        m.slug: MemberView(
            pk=m.id,
            id=m.slug,
            name=m.name,
            role=Role(m.role),
            # The member's quiet-hours overrides count wherever the policy's windows do.
            policy=policies.get(m.policy or "", PolicySettings()).with_overrides(
                overrides.get(m.id, ())
            ),
            channels=tuple(m.channels),
            policy_name=m.policy,
            language=m.language or household.language,
            own_language=m.language,
        )
        for m in await Member.filter(household=household)
    }
    by_pk = {m.pk: m for m in members.values()}
    contacts = {
        c.slug: ContactView(
            pk=c.id, id=c.slug, name=c.name, trust=c.trust, addresses=tuple(c.addresses)
        )
        for c in await Contact.filter(household=household)
    }
    sources = {
        s.slug: SourceView(
            pk=s.id,
            id=s.slug,
            plugin=s.plugin,
            member=by_pk[s.member_id].id,
            settings=dict(s.settings),
            members=(by_pk[s.member_id].id, *s.members),
            enabled=s.enabled,
        )
        for s in await Source.filter(household=household)
    }
    return HouseholdView(
        id=household.id,
        name=household.name,
        zone=ZoneInfo(household.timezone),
        members=members,
        contacts=contacts,
        sources=sources,
        by_address={
            key: c for c in contacts.values() for a in c.addresses for key in contact_keys(a)
        },
        policies=policies,
        revision=household.revision,
        language=household.language,
    )


#: How long the policies members followed are kept: the activity chart goes back 31 days.
EPOCHS_KEPT = timedelta(days=32)


async def record_policies(
    before: HouseholdView, after: HouseholdView, now: datetime, members: Iterable[str]
) -> None:
    """Keep, for each member whose policy changed, the one in force until `now` (the activity
    chart shades past days with it). Admin changes and `guardian import` both record here."""
    for member_id in members:
        old, new = before.members.get(member_id), after.members.get(member_id)
        if old is None or new is None:
            continue
        spec_before, spec_after = (
            old.policy.model_dump(mode="json"),
            new.policy.model_dump(mode="json"),
        )
        if spec_before != spec_after:
            # Older than the longest activity chart (31 days): no longer needed.
            await PolicyEpoch.filter(member_id=new.pk, since__lt=now - EPOCHS_KEPT).delete()
            await PolicyEpoch.create(
                member_id=new.pk, since=now, before=spec_before, after=spec_after
            )


async def member_overrides(household_id: str) -> dict[int, tuple[Override, ...]]:
    """Each member's quiet-hours overrides (guardian.overrides), by member key, oldest first."""
    found: dict[int, list[Override]] = {}
    for row in await QuietOverride.filter(member__household_id=household_id).order_by("id"):
        found.setdefault(row.member_id, []).append(
            Override(OverrideKind.of(row.kind), row.start_at, row.end_at)
        )
    return {pk: tuple(rows) for pk, rows in found.items()}
