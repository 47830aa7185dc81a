"""The admin API: the household itself, the audit log, API tokens, and simulate."""

from __future__ import annotations

import asyncio
import os
import re
import sys
import tempfile
from datetime import date, datetime, time, timedelta
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from guardian import accounts, audit, i18n
from guardian.admin import Admin, AdminError, audit_entries, not_found
from guardian.api import Call, Endpoints
from guardian.api.members import Language
from guardian.models import ApiToken, Household, User
from guardian.scenario import ControlEvent, Event, OverrideEvent, carried_overrides
from guardian.setting_types import SLUG
from guardian.transfer import export_household, to_toml
from guardian.windows import Ambiguity, resolve_local

endpoints = Endpoints("household")
SIMULATE_TIMEOUT = 60.0


class HouseholdOut(BaseModel):
    id: str
    name: str
    timezone: str
    language: Language = Field(
        description="What Guardian writes to members is in this language, unless theirs differs."
    )
    revision: int


class HouseholdPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    timezone: str | None = None
    language: Language | None = None

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str | None) -> str | None:
        if name is None:
            return None
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, KeyError):
            raise ValueError(f"not an IANA time zone: {name!r}") from None
        return name


async def household_out(admin: Admin) -> HouseholdOut:
    household = await Household.get(id=admin.view.id)
    return HouseholdOut(
        id=household.id,
        name=household.name,
        timezone=household.timezone,
        language=household.language,
        revision=household.revision,
    )


@endpoints.route("GET", "/household", response=HouseholdOut)
async def get_household(call: Call) -> HouseholdOut:
    """The household: name and time zone."""
    return await household_out(call.admin)


@endpoints.route("PATCH", "/household", response=HouseholdOut, body=HouseholdPatch)
async def patch_household(call: Call) -> HouseholdOut:
    """Rename the household, or change its time zone or language."""
    patch = call.body_as(HouseholdPatch)
    changes = patch.model_dump(exclude_none=True)
    admin = call.admin
    if changes:
        async with admin.change("household.update", admin.view.id) as change:
            await Household.filter(id=admin.view.id).update(**changes)
            change.detail = changes
            if "timezone" in changes:
                change.reschedule = set(admin.view.members)
    return await household_out(admin)


class AuditChangeOut(BaseModel):
    field: str
    label: str = Field(description="the field as a person reads it: `quiet hours`")
    before: str
    after: str


class AuditEntryOut(BaseModel):
    at: datetime
    actor: str
    action: str
    target: str
    detail: dict[str, Any]
    kind: str = Field(description="what was changed: contact, member, policy, ...")
    members: list[str] = Field(description="the members the change is about")
    before: dict[str, Any] | None = Field(
        description="the changed fields as they were (null: nothing was there, or not kept)"
    )
    after: dict[str, Any] | None = Field(description="the changed fields as they became")
    who: str = Field(description="who made the change, as a person reads it")
    sentence: str = Field(description="the change as a sentence: `Sam made Noor trusted`")
    changes: list[AuditChangeOut] = Field(description="each changed field, before → after")


class AuditLog(BaseModel):
    items: list[AuditEntryOut]


class AuditQuery(BaseModel):
    limit: int = Field(100, ge=1, le=1000)
    member: Annotated[str, Field(pattern=SLUG)] | None = Field(
        None, description="only changes about this member"
    )
    kind: Annotated[str, Field(pattern=r"^[a-z_]{1,32}$")] | None = Field(
        None, description="only this kind of change (contact, member, policy, ...)"
    )
    since: date | None = Field(None, description="from this local day on")
    until: date | None = Field(None, description="up to and including this local day")

    @model_validator(mode="after")
    def _in_order(self) -> AuditQuery:
        if self.since is not None and self.until is not None and self.until < self.since:
            raise ValueError("until: the last day comes before the first")
        return self


async def login_names(household_id: str) -> dict[str, str]:
    """Each login's username → the name of the member it belongs to."""
    users = await User.filter(household_id=household_id).prefetch_related("member")
    return {u.username: u.member.name for u in users if u.member is not None}


def _day_start(admin: Admin, day: date) -> datetime:
    return resolve_local(day, time(0), admin.view.zone, Ambiguity.EARLIER)


async def audit_log(
    admin: Admin,
    limit: int = 100,
    query: AuditQuery | None = None,
    t: i18n.Language = audit.ENGLISH,
) -> AuditLog:
    """The log as sentences in `t`'s language (the API's is English, as its other texts)."""
    query = query or AuditQuery(limit=limit)
    view = admin.view
    entries = await audit_entries(
        view.id,
        query.limit,
        member=query.member,
        kind=query.kind,
        since=_day_start(admin, query.since) if query.since else None,
        until=_day_start(admin, query.until + timedelta(days=1)) if query.until else None,
    )
    names = await login_names(view.id)
    items = []
    for e in entries:
        entry = audit.Entry(e.actor, e.action, e.target, e.detail or {}, e.before, e.after)
        told = audit.told(entry, names, view, t)
        items.append(
            AuditEntryOut(
                at=e.at,
                actor=e.actor,
                action=e.action,
                target=e.target,
                detail=e.detail,
                kind=audit.kind_of(e.action),
                members=audit.members_from_column(e.members),
                before=e.before,
                after=e.after,
                who=audit.actor_label(e.actor, names, t),
                sentence=told.sentence,
                changes=[AuditChangeOut(**vars(line)) for line in told.lines],
            )
        )
    return AuditLog(items=items)


@endpoints.route("GET", "/audit", response=AuditLog, query=AuditQuery)
async def get_audit(call: Call) -> AuditLog:
    """Every admin change, newest first, as sentences with before → after; filters by member,
    kind and local day."""
    return await audit_log(call.admin, query=call.query_as(AuditQuery))


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=100)]


class TokenOut(BaseModel):
    id: int
    name: str
    user: str
    created_at: datetime
    last_used_at: datetime | None


class NewToken(TokenOut):
    token: str = Field(description="The token itself, shown only in this answer.")


class TokenList(BaseModel):
    items: list[TokenOut]


async def token_list(admin: Admin) -> TokenList:
    tokens = await ApiToken.filter(user__household_id=admin.view.id).prefetch_related("user")
    return TokenList(
        items=[
            TokenOut(
                id=t.id,
                name=t.name,
                user=t.user.username,
                created_at=t.created_at,
                last_used_at=t.last_used_at,
            )
            for t in sorted(tokens, key=lambda t: t.id)
        ]
    )


@endpoints.route("GET", "/tokens", response=TokenList)
async def get_tokens(call: Call) -> TokenList:
    """The API tokens of the household (never their values)."""
    return await token_list(call.admin)


async def create_token(admin: Admin, name: str) -> NewToken:
    async with admin.audited("token.create", name) as change:
        value, token = await accounts.create_token(admin.principal.user_id, name, admin.now())
        change.detail = {"id": token.id}
    return NewToken(
        id=token.id,
        name=token.name,
        user=admin.principal.username,
        created_at=token.created_at,
        last_used_at=None,
        token=value,
    )


@endpoints.route("POST", "/tokens", response=NewToken, body=TokenIn, status=201)
async def post_token(call: Call) -> NewToken:
    """Create an API token for scripts; its value is shown once, in this answer."""
    return await create_token(call.admin, call.body_as(TokenIn).name)


async def revoke_token(admin: Admin, token_id: str) -> None:
    token = (
        await ApiToken.get_or_none(id=int(token_id), user__household_id=admin.view.id)
        if re.fullmatch(r"[0-9]{1,9}", token_id)
        else None
    )
    if token is None:
        raise not_found("token", token_id)
    async with admin.audited("token.revoke", token.name) as change:
        await ApiToken.filter(id=token.id).delete()
        change.detail = {"id": token.id}


@endpoints.route("DELETE", "/tokens/{token_id}", response=None)
async def delete_token(call: Call) -> None:
    """Revoke an API token."""
    await revoke_token(call.admin, call.path["token_id"])


class SimulateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    events: Annotated[
        list[Event | ControlEvent | OverrideEvent], Field(min_length=1, max_length=5000)
    ]
    until: AwareDatetime | None = Field(
        None, description="End of the replay; by default, once nothing is held any more."
    )


class SimulatedDeliveryOut(BaseModel):
    at: datetime
    member: str
    kind: str
    title: str
    body: str


class SimulateOut(BaseModel):
    deliveries: list[SimulatedDeliveryOut]


async def simulate(admin: Admin, scenario: SimulateIn) -> SimulateOut:
    """Replay `scenario` through the real pipeline, on the household as stored now.

    It runs `guardian simulate` in a child process: its throwaway database and virtual clock
    then share nothing with this server's database, whatever its backend.
    """
    messages = [e for e in scenario.events if isinstance(e, Event)]
    unknown = sorted({e.source for e in messages} - set(admin.view.sources))
    if unknown:
        raise AdminError(
            422,
            "invalid",
            f"unknown source: {', '.join(unknown)}",
            {"events": f"unknown source {unknown[0]!r}"},
        )
    stored = await export_household(admin.view.id)
    with tempfile.TemporaryDirectory(prefix="guardian-simulate-") as folder:
        config = Path(folder) / "settings.toml"
        config.touch(mode=0o600)  # the household's secrets are in it
        config.write_text(to_toml(stored), encoding="utf-8")
        lines = Path(folder) / "scenario.jsonl"
        # The quick controls in force now are not settings (not exported): carried as lines.
        carried = await carried_overrides(admin, min(e.at for e in scenario.events))
        lines.write_text(
            "\n".join(
                e.model_dump_json(by_alias=True, exclude_none=True)
                for e in [*carried, *scenario.events]
            ),
            encoding="utf-8",
        )
        command = [sys.executable, "-m", "guardian", "simulate", str(lines)]
        command += ["--config", str(config), "--json"]
        if scenario.until is not None:
            command += ["--until", scenario.until.isoformat()]
        process = await asyncio.create_subprocess_exec(
            *command,
            stdout=asyncio.subprocess.PIPE,
            stderr=asyncio.subprocess.PIPE,
            cwd=folder,
            env={k: v for k, v in os.environ.items() if not k.startswith("GUARDIAN_")},
        )
        try:
            out, err = await asyncio.wait_for(process.communicate(), SIMULATE_TIMEOUT)
        except TimeoutError:
            process.kill()
            await process.wait()
            raise AdminError(
                422, "too_long", f"the scenario did not finish in {SIMULATE_TIMEOUT:.0f} s"
            ) from None
    if process.returncode != 0:
        problems = [line.strip() for line in err.decode(errors="replace").splitlines()]
        detail = "; ".join(p for p in problems if p) or "the simulation failed"
        raise AdminError(422, "invalid", detail, {"events": detail})
    return SimulateOut(
        deliveries=[
            SimulatedDeliveryOut.model_validate_json(line)
            for line in out.decode().splitlines()
            if line.strip()
        ]
    )


@endpoints.route("POST", "/simulate", response=SimulateOut, body=SimulateIn)
async def post_simulate(call: Call) -> SimulateOut:
    """Replay a scenario on a throwaway copy of the household; answer the deliveries it makes."""
    return await simulate(call.admin, call.body_as(SimulateIn))
