"""The admin API: members, their channels, and the policies they follow.

A member's channels are Apprise URLs, which are secrets: every answer shows them in Apprise's
privacy form only, and a channel is named by its position in the member's list.

A policy is read and written in the shape of settings.toml (`"10m"`, `"21:30"`): the API's
`PolicySpec` is the settings' `PolicySettings`, with its bounds and checks, so that errors carry
the same paths and messages (`quiet[0].start: not a time`) as the settings file's.
"""

from __future__ import annotations

import asyncio
import re
import uuid
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema

from guardian.admin import Admin, AdminError, members_of_policy, not_found
from guardian.api import Call, Endpoints
from guardian.channels import NO_ANSWER, refusal
from guardian.delivery import (
    SLACK,
    SUCCESS,
    ChannelResult,
    Message,
    channel_id,
    privacy_url,
    reading,
)
from guardian.household import MemberView
from guardian.i18n import LANGUAGES
from guardian.models import Delivery, Member, Policy
from guardian.policy_settings import PolicySettings
from guardian.setting_types import SLUG, LanguageCode
from guardian.summary import render_test
from guardian.windows import DAY_NAMES
from guardian.words import DeliveryKind, DeliveryStatus

endpoints = Endpoints("members")

MAX_URL = 2000
NOT_SENDABLE = "not an Apprise URL Guardian can send to"


#: A language Guardian writes in, as the API speaks it (the same check as settings.toml's).
Language = Annotated[
    LanguageCode, WithJsonSchema({"type": "string", "enum": list(LANGUAGES), "examples": ["nl"]})
]
#: A policy as the API reads and writes it: a `[policies.NAME]` table of settings.toml.
PolicySpec = PolicySettings


def days_text(days: frozenset[int]) -> str:
    """{0, 1, 2, 3, 6} → `mon-thu,sun`; all seven → `daily`."""
    if len(days) == 7:
        return "daily"
    runs: list[list[int]] = []
    for day in sorted(days):
        if runs and runs[-1][-1] == day - 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    return ",".join(
        DAY_NAMES[run[0]] if len(run) == 1 else f"{DAY_NAMES[run[0]]}-{DAY_NAMES[run[-1]]}"
        for run in runs
    )


# --- members -----------------------------------------------------------------------------------


class ChannelOut(BaseModel):
    index: int
    url: str = Field(description="The Apprise URL in its privacy form: secrets masked.")


class MemberOut(BaseModel):
    id: str
    name: str
    role: str
    policy: str | None
    language: Language | None = Field(
        description="The member's own language for what Guardian writes to them; "
        "null: the household's."
    )
    channels: list[ChannelOut]


class MemberList(BaseModel):
    items: list[MemberOut]


class MemberPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: Annotated[str, Field(min_length=1, max_length=200)] | None = None
    policy: Annotated[str, Field(max_length=64)] | None = Field(
        None, description="An existing policy's name, or null for none."
    )
    language: Language | None = Field(
        None, description="The member's own language, or null for the household's."
    )


class ChannelIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: Annotated[str, Field(min_length=1, max_length=MAX_URL)] = Field(
        description="An Apprise URL (a secret: it is never shown again, only its privacy form).",
        json_schema_extra={"pattern": "^[A-Za-z][A-Za-z0-9+.-]*://"},
    )


class ChannelTestOut(BaseModel):
    channel: str = Field(description="The channel's privacy form.")
    ok: bool
    status: str = Field(description="Apprise's result status (SUCCESS, FAILURE, ...).")
    detail: str


def member_out(member: MemberView) -> MemberOut:
    return MemberOut(
        id=member.id,
        name=member.name,
        role=member.role,
        policy=member.policy_name,
        language=member.own_language,
        channels=[ChannelOut(index=i, url=privacy_url(u)) for i, u in enumerate(member.channels)],
    )


def list_members(admin: Admin) -> MemberList:
    members = sorted(admin.view.members.values(), key=lambda m: m.pk)
    return MemberList(items=[member_out(m) for m in members])


def get_member(admin: Admin, member_id: str) -> MemberOut:
    return member_out(admin.member(member_id))


async def update_member(admin: Admin, member_id: str, patch: MemberPatch) -> MemberOut:
    """Rename a member, or change their policy or language; a policy change moves their
    schedules."""
    member = admin.member(member_id)
    changes = {key: getattr(patch, key) for key in patch.model_fields_set}
    if "name" in changes and changes["name"] is None:
        raise AdminError(422, "invalid", "name: a member needs a name", {"name": "required"})
    policy = changes.get("policy")
    if policy is not None and policy not in admin.view.policies:
        message = f"unknown policy {policy!r}"
        raise AdminError(422, "invalid", f"policy: {message}", {"policy": message})
    current = {"name": member.name, "policy": member.policy_name, "language": member.own_language}
    changes = {key: value for key, value in changes.items() if value != current[key]}
    if changes:
        async with admin.change("member.update", member.id) as change:
            await Member.filter(id=member.pk).update(**changes)
            change.detail = changes
            if "policy" in changes:
                change.reschedule = {member.id}
    return get_member(admin, member_id)


def sendable(url: str) -> bool:
    """Whether Apprise can send to `url` (the offline `console://` included)."""
    return reading(url).parsed is not None


async def add_channel(admin: Admin, member_id: str, url: str) -> MemberOut:
    member = admin.member(member_id)
    url = url.strip()
    refused = refusal(url)
    if refused is not None:
        raise AdminError(422, "invalid", f"url: {refused}", {"url": refused})
    if not sendable(url):
        raise AdminError(422, "invalid", f"url: {NOT_SENDABLE}", {"url": NOT_SENDABLE})
    if url in member.channels:
        raise AdminError(409, "conflict", f"{member.name} already has this channel")
    async with admin.change("channel.add", member.id) as change:
        row = await Member.get(id=member.pk)
        await Member.filter(id=member.pk).update(channels=[*row.channels, url])
        change.detail = {"channel": privacy_url(url)}
    return get_member(admin, member_id)


def _channel(admin: Admin, member_id: str, index: str) -> tuple[MemberView, int, str]:
    member = admin.member(member_id)
    if not re.fullmatch(r"[0-9]{1,4}", index) or int(index) >= len(member.channels):
        raise not_found(f"channel of {member_id}", index)
    return member, int(index), member.channels[int(index)]


async def remove_channel(admin: Admin, member_id: str, index: str) -> MemberOut:
    member, position, url = _channel(admin, member_id, index)
    async with admin.change("channel.remove", member.id) as change:
        row = await Member.get(id=member.pk)
        await Member.filter(id=member.pk).update(channels=[c for c in row.channels if c != url])
        change.detail = {"channel": privacy_url(url), "index": position}
    return get_member(admin, member_id)


async def test_channel(admin: Admin, member_id: str, index: str) -> ChannelTestOut:
    """Send a test message to one channel now (not queued), and record it as a `test` delivery."""
    member, position, url = _channel(admin, member_id, index)
    service = admin.service
    now = admin.now()
    test = render_test(member.name, this_channel=True, language=member.language)
    message = Message(test.title, test.body)
    timeout = service.settings.delivery.timeout.total_seconds() + SLACK
    try:
        result = await asyncio.wait_for(service.sender.send(url, message), timeout)
    except TimeoutError:
        result = ChannelResult("TIMEOUT", NO_ANSWER)
    except Exception as error:  # a channel plugin bug is a failed test, not a 500
        result = ChannelResult("FAILURE", type(error).__name__)
    shown = privacy_url(url)
    async with admin.audited("channel.test", member.id) as change:
        await Delivery.create(
            household_id=admin.view.id,
            member_id=member.pk,
            kind=DeliveryKind.TEST,
            dedup_key=f"test:{member.id}:{now.isoformat()}:{uuid.uuid4().hex[:12]}",
            title=message.title,
            body=message.body,
            status=DeliveryStatus.SENT if result.ok else DeliveryStatus.FAILED,
            attempts=1,
            created_at=now,
            next_attempt_at=now,
            sent_at=now if result.ok else None,
            channels=[
                {
                    "id": channel_id(url),
                    "channel": shown,
                    "status": result.status,
                    "detail": result.detail,
                    "attempts": 1,
                    "at": now.isoformat(),
                }
            ],
            last_error=None if result.ok else f"{shown}: {result.status}",
        )
        change.detail = {"channel": shown, "index": position, "status": result.status}
    return ChannelTestOut(channel=shown, ok=result.ok, status=result.status, detail=result.detail)


async def last_tests(admin: Admin, member: MemberView) -> dict[int, ChannelTestOut]:
    """The latest test result of each of `member`'s channels, by channel index."""
    keys = {channel_id(url): i for i, url in enumerate(member.channels)}
    found: dict[int, ChannelTestOut] = {}
    tests = (
        await Delivery.filter(member_id=member.pk, kind=DeliveryKind.TEST)
        .order_by("-id")
        .limit(100)
    )
    for delivery in tests:
        for state in delivery.channels:
            index = keys.get(state.get("id", ""))
            if index is not None and index not in found:
                status = str(state.get("status", ""))
                found[index] = ChannelTestOut(
                    channel=str(state.get("channel", "")),
                    ok=status == SUCCESS,
                    status=status,
                    detail=str(state.get("detail", "")),
                )
    return found


@endpoints.route("GET", "/members", response=MemberList)
async def members_list(call: Call) -> MemberList:
    """Every member: role, policy, and channels in their privacy form."""
    return list_members(call.admin)


@endpoints.route("GET", "/members/{member_id}", response=MemberOut)
async def members_get(call: Call) -> MemberOut:
    """One member."""
    return get_member(call.admin, call.path["member_id"])


@endpoints.route("PATCH", "/members/{member_id}", response=MemberOut, body=MemberPatch)
async def members_patch(call: Call) -> MemberOut:
    """Rename a member or choose their policy (null for none)."""
    return await update_member(call.admin, call.path["member_id"], call.body_as(MemberPatch))


@endpoints.route(
    "POST", "/members/{member_id}/channels", response=MemberOut, body=ChannelIn, status=201
)
async def members_add_channel(call: Call) -> MemberOut:
    """Add an Apprise URL to a member's channels."""
    return await add_channel(call.admin, call.path["member_id"], call.body_as(ChannelIn).url)


@endpoints.route("DELETE", "/members/{member_id}/channels/{index}", response=MemberOut)
async def members_remove_channel(call: Call) -> MemberOut:
    """Remove a channel, named by its index in the member's list."""
    return await remove_channel(call.admin, call.path["member_id"], call.path["index"])


@endpoints.route("POST", "/members/{member_id}/channels/{index}/test", response=ChannelTestOut)
async def members_test_channel(call: Call) -> ChannelTestOut:
    """Send a test message to one channel now, and answer how it went."""
    return await test_channel(call.admin, call.path["member_id"], call.path["index"])


# --- policies ----------------------------------------------------------------------------------


class PolicyOut(BaseModel):
    name: str
    members: list[str] = Field(description="Ids of the members who follow this policy.")
    spec: PolicySpec


class PolicyList(BaseModel):
    items: list[PolicyOut]


def _policy_out(admin: Admin, name: str, settings: PolicySettings) -> PolicyOut:
    return PolicyOut(
        name=name,
        members=sorted(members_of_policy(admin.view, name)),
        spec=settings,
    )


def list_policies(admin: Admin) -> PolicyList:
    policies = admin.view.policies
    return PolicyList(items=[_policy_out(admin, name, policies[name]) for name in sorted(policies)])


def get_policy(admin: Admin, name: str) -> PolicyOut:
    settings = admin.view.policies.get(name)
    if settings is None:
        raise not_found("policy", name)
    return _policy_out(admin, name, settings)


async def put_policy(admin: Admin, name: str, spec: PolicySpec) -> PolicyOut:
    """Create or replace a policy; the schedules of the members who follow it move at once."""
    if not re.fullmatch(SLUG, name):
        message = "not a policy name (use a-z, 0-9, - and _, up to 64)"
        raise AdminError(422, "invalid", f"name: {message}", {"name": message})
    stored = spec.model_dump(mode="json")
    household_id = admin.view.id
    async with admin.change("policy.update", name) as change:
        _, created = await Policy.update_or_create(
            household_id=household_id, name=name, defaults={"spec": stored}
        )
        change.detail = {"created": created, "spec": stored}
        change.reschedule = set(members_of_policy(admin.view, name))
    return get_policy(admin, name)


async def delete_policy(admin: Admin, name: str) -> None:
    get_policy(admin, name)
    users = sorted(members_of_policy(admin.view, name))
    if users:
        raise AdminError(409, "in_use", f"policy {name!r} is followed by {', '.join(users)}")
    async with admin.change("policy.delete", name) as change:
        await Policy.filter(household_id=admin.view.id, name=name).delete()
        change.detail = {"policy": name}


@endpoints.route("GET", "/policies", response=PolicyList)
async def policies_list(call: Call) -> PolicyList:
    """Every policy, with the members who follow it."""
    return list_policies(call.admin)


@endpoints.route("GET", "/policies/{name}", response=PolicyOut)
async def policies_get(call: Call) -> PolicyOut:
    """One policy, in the shape of settings.toml."""
    return get_policy(call.admin, call.path["name"])


@endpoints.route("PUT", "/policies/{name}", response=PolicyOut, body=PolicySpec)
async def policies_put(call: Call) -> PolicyOut:
    """Create or replace a policy (the whole of it); its members' schedules move at once."""
    return await put_policy(call.admin, call.path["name"], call.body_as(PolicySpec))


@endpoints.route("DELETE", "/policies/{name}", response=None)
async def policies_delete(call: Call) -> None:
    """Delete a policy that no member follows (409 otherwise)."""
    await delete_policy(call.admin, call.path["name"])
