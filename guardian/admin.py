"""Changing the household: the one path every admin edit takes, from the API or a page.

`Admin.change()` runs the edit and its audit entry in one transaction, raises the household
revision (other instances reload on it), then takes up the change here at once: the household
view, the plugins, the schedules. No restart. The entry keeps what changed, before and after,
and the members it is about (guardian.audit), from the household as loaded before the edit and
again inside its transaction. `Admin.audited()` is the same without the reload, for actions
that change no household setting.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from tortoise.expressions import F
from tortoise.transactions import in_transaction

from guardian import audit, privacy
from guardian import household as household_store
from guardian.accounts import Principal
from guardian.household import HouseholdView, MemberView
from guardian.i18n import N_
from guardian.models import AuditEntry, Household
from guardian.scheduler import reschedule
from guardian.setting_types import Level
from guardian.settings import loc_path
from guardian.state import ServiceView


class AdminError(Exception):
    """A change that cannot be made, answered as `{"error", "detail", "fields"}`.

    `said` is the detail as a page says it, in the reader's language: a catalog message and its
    values (the API's answer stays `detail`, in English).
    """

    def __init__(
        self,
        status: int,
        error: str,
        detail: str,
        fields: Mapping[str, str] | None = None,
        said: tuple[str, Mapping[str, object]] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = detail
        self.fields = dict(fields or {})
        self.said = said


#: What a page says when something is not there; {key} is the id asked for, in quotes.
NOT_FOUND = {
    # Translators: an error page: nothing has the id asked for; {key} is it, quoted ('mia').
    "member": N_("no member {key}"),
    "contact": N_("no contact {key}"),
    "delivery": N_("no delivery {key}"),
    "login": N_("no login {key}"),
    "merge": N_("no merge {key}"),
    "person": N_("no person {key}"),
    "policy": N_("no policy {key}"),
    "quiet-hours change": N_("no quiet-hours change {key}"),
    "source": N_("no source {key}"),
    "token": N_("no token {key}"),
}


def not_found(what: str, key: str) -> AdminError:
    said = (NOT_FOUND[what], {"key": repr(key)}) if what in NOT_FOUND else None
    return AdminError(404, "not_found", f"no {what} {key!r}", said=said)


def invalid(error: ValidationError, prefix: str = "") -> AdminError:
    """Field-level errors by path (`quiet[0].start`), as the settings file reports them."""
    fields: dict[str, str] = {}
    for problem in error.errors(include_url=False):
        path = loc_path(tuple(problem["loc"]), prefix) or prefix or "body"
        message = str(problem["msg"]).removeprefix("Value error, ")
        fields.setdefault(path, message)
    detail = "; ".join(f"{path}: {message}" for path, message in fields.items())
    return AdminError(422, "invalid", detail, fields)


@dataclass
class Change:
    """What an edit records in the audit log; never a secret."""

    detail: dict[str, Any] = field(default_factory=dict)
    #: Members whose schedules the change moves (a policy or quiet hours edit).
    reschedule: set[str] = field(default_factory=set)
    #: The members the change is about, for the audit log's filter; by default guardian.audit
    #: works them out from the action and its target.
    members: set[str] = field(default_factory=set)
    #: What changed, before and after, where guardian.audit cannot tell from the household
    #: (`Admin.change()` takes it from the household itself when these are left None).
    before: dict[str, Any] | None = None
    after: dict[str, Any] | None = None


@dataclass(frozen=True)
class Admin:
    service: ServiceView
    principal: Principal

    @property
    def view(self) -> HouseholdView:
        return self.service.household()

    @property
    def actor(self) -> str:
        return f"{self.principal.username} ({self.principal.via})"

    def now(self) -> datetime:
        return self.service.clock.now()

    def member(self, member_id: str) -> MemberView:
        member = self.view.members.get(member_id)
        if member is None:
            raise not_found("member", member_id)
        return member

    def level_for(self, member: MemberView) -> Level:
        """How much the signed-in guardian sees of `member`'s notifications (guardian.privacy)."""
        return privacy.level_for(self.principal.member, member)

    @asynccontextmanager
    async def audited(self, action: str, target: str) -> AsyncIterator[Change]:
        """An action and its audit entry in one transaction; for actions that change no
        household setting (a test send, a token, a retry), so nothing is reloaded."""
        change = Change()
        async with in_transaction():
            yield change
            await self._record(action, target, change, [self.view])

    @asynccontextmanager
    async def change(self, action: str, target: str) -> AsyncIterator[Change]:
        """Make an edit with its audit entry in one transaction, then take it up at once."""
        view = self.view
        now = self.now()
        change = Change()
        async with in_transaction():
            # First: on PostgreSQL this locks the household row, so that ingest on any instance
            # waits for the edit and then decides by it (never halfway through it).
            await Household.filter(id=view.id).update(revision=F("revision") + 1)
            yield change
            edited = await household_store.load(view.id)
            if change.before is None and change.after is None:
                change.before, change.after = audit.difference(
                    audit.snapshot(view, action, target), audit.snapshot(edited, action, target)
                )
            await self._record(action, target, change, [view, edited])
        await self.service.reload()
        if change.reschedule:
            await household_store.record_policies(view, self.view, now, change.reschedule)
            await reschedule(self.view, now, change.reschedule)
        self.service.nudge()

    async def _record(
        self, action: str, target: str, change: Change, views: list[HouseholdView]
    ) -> None:
        members = change.members or set(audit.members_of(action, target, views, change.detail))
        await AuditEntry.create(
            household_id=self.view.id,
            at=self.now(),
            actor=self.actor,
            action=action,
            target=target,
            detail=change.detail,
            members=audit.members_column(members),
            before=change.before,
            after=change.after,
        )


async def audit_entries(
    household_id: str,
    limit: int = 100,
    *,
    member: str | None = None,
    kind: str | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
) -> list[AuditEntry]:
    """The newest entries first; about `member`, of `kind` (`contact`: every `contact.*`),
    made at `since` or later and before `until`."""
    query = AuditEntry.filter(household_id=household_id)
    if member is not None:
        query = query.filter(members__contains=f",{member},")
    if kind is not None:
        query = query.filter(action__startswith=f"{kind}.")
    if since is not None:
        query = query.filter(at__gte=since)
    if until is not None:
        query = query.filter(at__lt=until)
    entries = await query.order_by("-at", "-id").limit(limit)
    # A detail key that starts with `_` is what a change kept for itself (a merge keeps what it
    # moved, to be undone): never shown, in a page or the API.
    for entry in entries:
        entry.detail = {k: v for k, v in entry.detail.items() if not str(k).startswith("_")}
    return entries


def members_of_policy(view: HouseholdView, policy: str) -> Iterable[str]:
    return (m.id for m in view.members.values() if m.policy_name == policy)
