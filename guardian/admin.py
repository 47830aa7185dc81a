"""Changing the household: the one path every admin edit takes, from the API or a page.

`Admin.change()` runs the edit and its audit entry in one transaction, raises the household
revision (other instances reload on it), then takes up the change here at once: the household
view, the plugins, the schedules. No restart. `Admin.audited()` is the same without the
reload, for actions that change no household setting.
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

from guardian import privacy
from guardian.accounts import Principal
from guardian.app import Guardian
from guardian.household import HouseholdView, MemberView
from guardian.models import AuditEntry, Household
from guardian.scheduler import reschedule
from guardian.settings import Level, loc_path


class AdminError(Exception):
    """A change that cannot be made, answered as `{"error", "detail", "fields"}`."""

    def __init__(
        self, status: int, error: str, detail: str, fields: Mapping[str, str] | None = None
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.error = error
        self.detail = detail
        self.fields = dict(fields or {})


def not_found(what: str, key: str) -> AdminError:
    return AdminError(404, "not_found", f"no {what} {key!r}")


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


@dataclass(frozen=True)
class Admin:
    guardian: Guardian
    principal: Principal

    @property
    def view(self) -> HouseholdView:
        return self.guardian.household()

    @property
    def actor(self) -> str:
        return f"{self.principal.username} ({self.principal.via})"

    def now(self) -> datetime:
        return self.guardian.clock.now()

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
            await AuditEntry.create(
                household_id=self.view.id,
                at=self.now(),
                actor=self.actor,
                action=action,
                target=target,
                detail=change.detail,
            )

    @asynccontextmanager
    async def change(self, action: str, target: str) -> AsyncIterator[Change]:
        """Make an edit with its audit entry in one transaction, then take it up at once."""
        view = self.view
        now = self.now()
        async with self.audited(action, target) as change:
            # First: on PostgreSQL this locks the household row, so that ingest on any instance
            # waits for the edit and then decides by it (never halfway through it).
            await Household.filter(id=view.id).update(revision=F("revision") + 1)
            yield change
        await self.guardian.reload()
        if change.reschedule:
            await reschedule(self.view, now, change.reschedule)
        self.guardian.nudge()


async def audit_entries(household_id: str, limit: int = 100) -> list[AuditEntry]:
    """The latest entries, newest first. A detail key that starts with `_` is what a change kept
    for itself (a merge keeps what it moved, to be undone): never shown, in a page or the API."""
    entries = await AuditEntry.filter(household_id=household_id).order_by("-at", "-id").limit(limit)
    for entry in entries:
        entry.detail = {k: v for k, v in entry.detail.items() if not str(k).startswith("_")}
    return entries


def members_of_policy(view: HouseholdView, policy: str) -> Iterable[str]:
    return (m.id for m in view.members.values() if m.policy_name == policy)
