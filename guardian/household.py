"""The household as the running service sees it: loaded from the database, seeded from settings.

settings.toml's household part is a seed: imported on first start, after which the database is
the truth (the dashboard edits it). `HouseholdView` is an immutable snapshot read by ingest and
the scheduler; it is rebuilt, not mutated, when the household changes.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from zoneinfo import ZoneInfo

from pydantic import SecretStr
from tortoise.exceptions import IntegrityError
from tortoise.transactions import in_transaction

from guardian.contacts import canonical, match_keys
from guardian.database import SEED_LOCK
from guardian.models import Contact, Household, Member, Policy, Schedule, Source
from guardian.settings import PolicySettings, Settings, SourceSettings

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class MemberView:
    pk: int
    id: str
    name: str
    role: str
    policy: PolicySettings
    channels: tuple[str, ...]
    policy_name: str | None = None


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

    def contact_for(self, address: str) -> ContactView | None:
        for key in match_keys(address):
            if key in self.by_address:
                return self.by_address[key]
        return None

    def contact_by_pk(self, pk: int | None) -> ContactView | None:
        return next((c for c in self.contacts.values() if c.pk == pk), None)

    def member_by_pk(self, pk: int) -> MemberView:
        return next(m for m in self.members.values() if m.pk == pk)


async def seed(settings: Settings, now: datetime) -> bool:
    """Import the household from settings if the database has none yet; True if it did.

    Several instances may start at once on one PostgreSQL: a transaction-level advisory lock
    makes them seed one after the other (the later ones find the household), and the unique
    keys turn any remaining race into an IntegrityError, meaning another instance seeded it.
    """
    try:
        return await _seed(settings, now)
    except IntegrityError:
        log.info("household %r was seeded by another instance", settings.household.id)
        return False


async def _seed(settings: Settings, now: datetime) -> bool:
    spec = settings.household
    async with in_transaction() as connection:
        if connection.capabilities.dialect == "postgres":
            await connection.execute_query("SELECT pg_advisory_xact_lock($1)", [SEED_LOCK])
        if await Household.filter(id=spec.id).exists():
            return False
        household = await Household.create(
            id=spec.id, name=spec.name, timezone=spec.timezone, created_at=now
        )
        for name, policy in settings.policies.items():
            await Policy.create(household=household, name=name, spec=policy.model_dump(mode="json"))
        members = {}
        for m in settings.members:
            members[m.id] = await Member.create(
                household=household,
                slug=m.id,
                name=m.name,
                role=m.role,
                policy=m.policy,
                channels=[c.get_secret_value() for c in m.channels],
            )
            await Schedule.create(member=members[m.id], kind="summary", next_due_at=None)
        for c in settings.contacts:
            await Contact.create(
                household=household, slug=c.id, name=c.name, trust=c.trust, addresses=c.addresses
            )
        for s in settings.sources:
            await Source.create(
                household=household,
                slug=s.id,
                plugin=s.plugin,
                member=members[s.member],
                settings=_plain(s),
            )
    log.info("seeded household %r from settings", spec.id)
    return True


def _plain(source: SourceSettings) -> dict[str, Any]:
    return {
        key: value.get_secret_value() if isinstance(value, SecretStr) else value
        for key, value in source.plugin_settings().items()
    }


async def load(household_id: str) -> HouseholdView:
    household = await Household.get(id=household_id)
    policies = {
        p.name: PolicySettings.model_validate(p.spec)
        for p in await Policy.filter(household=household)
    }
    members = {
        m.slug: MemberView(
            pk=m.id,
            id=m.slug,
            name=m.name,
            role=m.role,
            policy=policies.get(m.policy or "", PolicySettings()),
            channels=tuple(m.channels),
            policy_name=m.policy,
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
            member=by_pk[s.member_id].id,  # type: ignore[attr-defined]
            settings=dict(s.settings),
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
        by_address={canonical(a): c for c in contacts.values() for a in c.addresses},
        policies=policies,
    )
