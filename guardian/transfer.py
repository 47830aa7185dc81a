"""The household as settings.toml: `guardian export` writes it, `guardian import` reads it back.

The export is written the way a person writes the file (durations as `1h30m`, wall times as
`HH:MM`, defaults left out, items in id order), and it holds the secrets, because importing it
must restore the household exactly. An import is checked whole first and changes nothing if any
of it is wrong; then every row is updated in place in one transaction (notifications refer to
members and sources, so those are never dropped and recreated), and the household revision is
raised so that running instances reload it.

Export and import are one module because each is the other's check: what `export` writes,
`import` must read back to the same household (export → import → export is exact: tested).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import tomli_w
from pydantic import BaseModel
from tortoise.exceptions import IntegrityError
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from guardian import household as household_store
from guardian.database import SEED_LOCK
from guardian.models import (
    AuditEntry,
    Contact,
    Delivery,
    Household,
    Member,
    Notification,
    Policy,
    Schedule,
    Source,
)
from guardian.policy_settings import PolicySettings
from guardian.scheduler import reschedule
from guardian.settings import (
    ContactSettings,
    HouseholdSettings,
    MemberSettings,
    Settings,
    SettingsError,
    source_data,
    validated,
)
from guardian.words import UNSENT, WAITING, ScheduleKind

log = logging.getLogger(__name__)

#: The tables of settings.toml that make up the household; the others are server settings.
HOUSEHOLD_TABLES = ("household", "members", "contacts", "policies", "sources")
TABLES = ("policies", "members", "contacts", "sources")
#: What a member or source may not be removed with: it would be lost, not delivered.
WAITING_NOTIFICATIONS, WAITING_DELIVERIES = WAITING, UNSENT


@dataclass
class Counts:
    created: int = 0
    updated: int = 0
    removed: int = 0
    unchanged: int = 0

    @property
    def kept(self) -> int:
        return self.created + self.updated + self.unchanged


@dataclass
class ImportResult:
    household: str
    #: `created`, `updated` or `unchanged`: the household row itself (name, time zone).
    household_change: str
    counts: dict[str, Counts] = field(default_factory=lambda: {t: Counts() for t in TABLES})

    def total(self, what: str) -> int:
        return sum(getattr(c, what) for c in self.counts.values())

    def summary(self) -> str:
        """`imported household home: 2 members, ... (1 created, 6 updated, 0 removed)`."""
        sizes = ", ".join(
            _plural(self.counts[table].kept, singular)
            for table, singular in (
                ("members", "member"),
                ("contacts", "contact"),
                ("policies", "policy"),
                ("sources", "source"),
            )
        )
        return (
            f"imported household {self.household}: {sizes} ({self.total('created')} created, "
            f"{self.total('updated')} updated, {self.total('removed')} removed)"
        )


def _plural(n: int, word: str) -> str:
    if n == 1:
        return f"1 {word}"
    return f"{n} {word[:-1]}ies" if word.endswith("y") else f"{n} {word}s"


# Export.


async def export_household(household_id: str) -> dict[str, Any]:
    """The household part of settings.toml, as plain data, secrets included."""
    household = await Household.get_or_none(id=household_id)
    if household is None:
        raise LookupError(f"no household {household_id!r} in the database")
    members = await Member.filter(household=household).order_by("slug")
    slugs = {m.id: m.slug for m in members}
    data: dict[str, Any] = {
        "household": _without_defaults(
            {
                "id": household.id,
                "name": household.name,
                "timezone": household.timezone,
                "language": household.language,
            },
            HouseholdSettings,
        )
    }
    data["members"] = [
        _without_defaults(
            {
                "id": m.slug,
                "name": m.name,
                "role": m.role,
                "policy": m.policy,
                "channels": list(m.channels),
                "language": m.language,
            },
            MemberSettings,
        )
        for m in members
    ]
    data["contacts"] = [
        _without_defaults(
            {"id": c.slug, "name": c.name, "addresses": list(c.addresses), "trust": c.trust},
            ContactSettings,
        )
        for c in await Contact.filter(household=household).order_by("slug")
    ]
    data["policies"] = {
        p.name: _policy(PolicySettings.model_validate(p.spec))
        for p in await Policy.filter(household=household).order_by("name")
    }
    data["sources"] = [
        {
            "id": s.slug,
            "plugin": s.plugin,
            "member": slugs[s.member_id],
            **({"members": list(s.members)} if s.members else {}),
            **({"enabled": False} if not s.enabled else {}),
            **{key: s.settings[key] for key in sorted(s.settings)},
        }
        for s in await Source.filter(household=household).order_by("slug")
    ]
    return data


def _policy(policy: PolicySettings) -> dict[str, Any]:
    spec: dict[str, Any] = policy.model_dump(mode="json", exclude_defaults=True)
    if policy.quiet:  # `days = "daily"` is the default, but says more than its absence
        spec["quiet"] = [q.model_dump(mode="json") for q in policy.quiet]
    return spec


def _without_defaults(item: dict[str, Any], model: type[BaseModel]) -> dict[str, Any]:
    fields = model.model_fields
    return {
        key: value
        for key, value in item.items()
        if key == "id" or fields[key].is_required() or value != fields[key].get_default()
    }


def to_toml(data: Mapping[str, Any]) -> str:
    """settings.toml as a person writes it: one table per item, nested values inline."""
    top = "".join(f"{_key(k)} = {_inline(v)}\n" for k, v in data.items() if not _is_table(v))
    blocks = [top] if top else []
    for key, value in data.items():
        if isinstance(value, list) and _is_table(value):
            blocks += [_table(f"[[{_key(key)}]]", item) for item in value]
        elif isinstance(value, Mapping) and key == "policies":
            blocks += [_table(f"[{_key(key)}.{_key(name)}]", v) for name, v in value.items()]
        elif isinstance(value, Mapping):
            blocks.append(_table(f"[{_key(key)}]", value))
    return "\n".join(blocks)


def _is_table(value: Any) -> bool:
    """A table, or a non-empty array of tables: written as `[name]` or `[[name]]`."""
    if isinstance(value, list):
        return bool(value) and all(isinstance(v, Mapping) for v in value)
    return isinstance(value, Mapping)


def _table(header: str, items: Mapping[str, Any]) -> str:
    return header + "\n" + "".join(f"{_key(k)} = {_inline(v)}\n" for k, v in items.items())


def _key(key: str) -> str:
    return key if re.fullmatch(r"[A-Za-z0-9_-]+", key) else _inline(key)


def _inline(value: Any) -> str:
    if isinstance(value, Mapping):
        if not value:
            return "{}"
        return "{ " + ", ".join(f"{_key(k)} = {_inline(v)}" for k, v in value.items()) + " }"
    if isinstance(value, list | tuple):
        items = [_inline(v) for v in value]
        one_line = "[" + ", ".join(items) + "]"
        if len(one_line) <= 80 or len(items) < 2:
            return one_line
        return "[\n" + "".join(f"    {item},\n" for item in items) + "]"
    # Scalars as tomli_w writes them: its escaping of strings is exactly TOML's.
    return tomli_w.dumps({"v": value}).removeprefix("v = ").rstrip("\n")


# Import.


def check(
    data: Mapping[str, Any], plugin_settings: Mapping[str, type[BaseModel]] | None = None
) -> Settings:
    """The household part of `data`, checked as settings.toml is; SettingsError lists problems.

    The server tables (`server`, `database`, `delivery`) are ignored; any other unknown table
    is an error. Environment overrides are not applied here: `load_settings` does that.
    """
    part = {k: v for k, v in data.items() if k not in ("server", "database", "delivery")}
    return validated(part, plugin_settings)


def household_data(settings: Settings) -> dict[str, Any]:
    """The household part of loaded settings as plain data, secrets revealed, for an import."""
    return {
        "household": settings.household.model_dump(mode="json"),
        "members": [_member(m) for m in settings.members],
        "contacts": [c.model_dump(mode="json") for c in settings.contacts],
        "policies": {name: p.model_dump(mode="json") for name, p in settings.policies.items()},
        "sources": [source_data(s) for s in settings.sources],
    }


def _member(member: MemberSettings) -> dict[str, Any]:
    data = member.model_dump(mode="json", exclude={"channels"}, exclude_none=True)
    return {**data, "channels": [c.get_secret_value() for c in member.channels]}


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
        await _lock_households(connection)
        if await Household.filter(id=spec.id).exists():
            return False
        household = await Household.create(
            id=spec.id,
            name=spec.name,
            timezone=spec.timezone,
            language=spec.language,
            created_at=now,
        )
        await _write(household, settings, ImportResult(spec.id, "created").counts)
    log.info("seeded household %r from settings", spec.id)
    return True


async def _lock_households(connection: Any) -> None:
    """On PostgreSQL, seeding and imports by several instances take turns, until commit."""
    if connection.capabilities.dialect == "postgres":
        await connection.execute_query("SELECT pg_advisory_xact_lock($1)", [SEED_LOCK])


async def import_household(
    data: Mapping[str, Any],
    now: datetime,
    actor: str,
    *,
    plugin_settings: Mapping[str, type[BaseModel]] | None = None,
    audit: bool = True,
) -> ImportResult:
    """Make the database's household what `data` (settings.toml's household part) says.

    All or nothing: a problem in `data`, or a member or source to be removed while it still has
    notifications or deliveries waiting, raises SettingsError and changes nothing. `audit=False`
    leaves the audit entry to the caller (an admin change of one part, audited as that).
    """
    if plugin_settings is None:
        from guardian.plugin import PluginRegistry

        plugin_settings = PluginRegistry.discover().settings_models()
    settings = check(data, plugin_settings)
    spec = settings.household
    async with in_transaction() as connection:
        await _lock_households(connection)
        household = await Household.get_or_none(id=spec.id)
        if household is None:
            change = "created"
            household = await Household.create(
                id=spec.id,
                name=spec.name,
                timezone=spec.timezone,
                language=spec.language,
                created_at=now,
            )
        elif (household.name, household.timezone, household.language) != (
            spec.name,
            spec.timezone,
            spec.language,
        ):
            change = "updated"
            await Household.filter(id=spec.id).update(
                name=spec.name, timezone=spec.timezone, language=spec.language
            )
        else:
            change = "unchanged"
        result = ImportResult(household=spec.id, household_change=change)
        counts = result.counts
        await _refuse_losing_waiting_work(household, settings)
        before = await household_store.load(spec.id)
        await _write(household, settings, counts)
        # The policies in force until now, as an admin change keeps them (guardian.admin): the
        # activity chart shades the days before the import with them.
        after = await household_store.load(spec.id)
        await household_store.record_policies(before, after, now, after.members)
        await Household.filter(id=spec.id).update(revision=F("revision") + 1)
        if audit:
            await AuditEntry.create(
                household=household,
                at=now,
                actor=actor,
                action="household.import",
                target=spec.id,
                detail={
                    "household": change,
                    **{
                        table: {"created": c.created, "updated": c.updated, "removed": c.removed}
                        for table, c in counts.items()
                    },
                },
            )
    view = await household_store.load(spec.id)
    await reschedule(view, now)
    return result


async def _refuse_losing_waiting_work(household: Household, settings: Settings) -> None:
    problems: list[str] = []
    keep = {m.id for m in settings.members}
    for member in await Member.filter(household=household).order_by("slug"):
        if member.slug in keep:
            continue
        waiting = await _waiting(
            Notification.filter(member=member, status__in=WAITING_NOTIFICATIONS),
            Delivery.filter(member=member, status__in=WAITING_DELIVERIES),
        )
        if waiting:
            problems.append(f"members: {member.slug!r} is missing, but still has {waiting}")
    keep = {s.id for s in settings.sources}
    for source in await Source.filter(household=household).order_by("slug"):
        if source.slug in keep:
            continue
        waiting = await _waiting(
            Notification.filter(source=source, status__in=WAITING_NOTIFICATIONS), None
        )
        if waiting:
            problems.append(f"sources: {source.slug!r} is missing, but still has {waiting}")
    if problems:
        raise SettingsError(
            [f"{p}; keep it until they have been sent, then import again" for p in problems]
        )


async def _waiting(notifications: Any, deliveries: Any) -> str:
    """`3 held notifications and 1 pending delivery`, or "" when nothing waits."""
    parts: list[str] = []
    for status in WAITING_NOTIFICATIONS:
        n = await notifications.filter(status=status).count()
        if n:
            parts.append(f"{n} {status} notification" + ("s" if n != 1 else ""))
    if deliveries is not None:
        n = await deliveries.count()
        if n:
            parts.append(f"{n} unsent deliver" + ("ies" if n != 1 else "y"))
    return " and ".join(parts)


async def _write(household: Household, settings: Settings, counts: dict[str, Counts]) -> None:
    """Make the household's policies, members, contacts and sources those of `settings`."""
    _, _, gone_policies = await _upsert(
        Policy,
        household,
        "name",
        {name: {"spec": p.model_dump(mode="json")} for name, p in settings.policies.items()},
        counts["policies"],
    )
    members, new_members, gone_members = await _upsert(
        Member,
        household,
        "slug",
        {
            m.id: {
                "name": m.name,
                "role": m.role,
                "policy": m.policy,
                "channels": [c.get_secret_value() for c in m.channels],
                "language": m.language,
            }
            for m in settings.members
        },
        counts["members"],
    )
    for slug in new_members:
        await Schedule.create(member=members[slug], kind=ScheduleKind.SUMMARY, next_due_at=None)
    _, _, gone_contacts = await _upsert(
        Contact,
        household,
        "slug",
        {
            c.id: {"name": c.name, "trust": c.trust, "addresses": list(c.addresses)}
            for c in settings.contacts
        },
        counts["contacts"],
    )
    _, _, gone_sources = await _upsert(
        Source,
        household,
        "slug",
        {
            s.id: {
                "plugin": s.plugin,
                "member_id": members[s.member].id,
                "members": list(s.members),
                "settings": s.plugin_settings(),
                "enabled": s.enabled,
            }
            for s in settings.sources
        },
        counts["sources"],
    )
    # Sources first: removing a member would take its sources along uncounted.
    await _remove(Source, gone_sources, counts["sources"])
    await _remove(Member, gone_members, counts["members"])
    await _remove(Contact, gone_contacts, counts["contacts"])
    await _remove(Policy, gone_policies, counts["policies"])


async def _upsert(
    model: Any, household: Household, key: str, wanted: Mapping[str, dict[str, Any]], counts: Counts
) -> tuple[dict[str, Any], set[str], list[Any]]:
    """Make the household's rows of `model` match `wanted` (by `key`: slug or name), in place:
    a row that exists is updated, never recreated, because notifications point at it.
    Returns the wanted rows by key, the keys of those it created, and the existing rows that
    are not wanted."""
    existing = {getattr(row, key): row for row in await model.filter(household=household)}
    rows: dict[str, Any] = {}
    created: set[str] = set()
    for name, fields in wanted.items():
        row = existing.pop(name, None)
        if row is None:
            row = await model.create(household=household, **{key: name}, **fields)
            counts.created += 1
            created.add(name)
        elif _changed(row, fields):
            await model.filter(id=row.id).update(**fields)
            counts.updated += 1
        else:
            counts.unchanged += 1
        rows[name] = row
    return rows, created, list(existing.values())


def _changed(row: Any, fields: Mapping[str, Any]) -> bool:
    return any(getattr(row, key) != value for key, value in fields.items())


async def _remove(model: Any, rows: list[Any], counts: Counts) -> None:
    ids = [row.id for row in rows]
    if ids:
        await model.filter(id__in=ids).delete()
        counts.removed += len(ids)
