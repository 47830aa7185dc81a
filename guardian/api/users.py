"""The admin API: dashboard logins (a guardian's, or a child's that opens only their own page),
who is signed in, and a member's own recent summaries.

A guardian gives a member a login here as `guardian user add` does; what a child's login may
open is decided in guardian.auth, for every route at once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, SecretStr

from guardian import accounts
from guardian.accounts import AccountError
from guardian.admin import Admin, AdminError, not_found
from guardian.api import Call, Endpoints
from guardian.models import Delivery, User
from guardian.privacy import Shown, seen_deliveries
from guardian.setting_types import SLUG
from guardian.words import DeliveryKind

endpoints = Endpoints("logins")

#: The summaries a member's own page lists.
RECENT_SUMMARIES = 20


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: Annotated[str, Field(min_length=1, max_length=64)]
    password: SecretStr = Field(description=f"at least {accounts.MIN_PASSWORD} characters")
    member: Annotated[str, Field(pattern=SLUG)] | None = Field(
        None,
        description="the member this login belongs to; a child's login sees only their own page",
    )


class UserOut(BaseModel):
    username: str
    member: str | None
    name: str | None = Field(description="the member's name")
    role: str = Field(description="guardian (the whole dashboard) or child (their own page)")
    created_at: datetime


class UserList(BaseModel):
    items: list[UserOut]


class MeOut(BaseModel):
    username: str
    member: str | None
    role: str
    own_page: str | None = Field(description="a child's own page, where their login goes")


class SummaryOut(BaseModel):
    id: int
    kind: str
    at: datetime
    status: str
    shown_at: Shown
    title: str
    body: str


class SummaryList(BaseModel):
    member: str
    items: list[SummaryOut]


def _out(user: User) -> UserOut:
    member = user.member
    return UserOut(
        username=user.username,
        member=member.slug if member else None,
        name=member.name if member else None,
        role=accounts.role_of(user),
        created_at=user.created_at,
    )


async def user_list(admin: Admin) -> UserList:
    users = await User.filter(household_id=admin.view.id).prefetch_related("member")
    return UserList(items=[_out(u) for u in sorted(users, key=lambda u: u.id)])


def _refused(error: AccountError) -> AdminError:
    message = str(error)
    field = "password" if "password" in message else "member" if "member" in message else "username"
    status = 409 if "already exists" in message else 422
    return AdminError(status, "conflict" if status == 409 else "invalid", message, {field: message})


async def add_login(admin: Admin, new: UserIn) -> UserOut:
    """A login for a member (or for a guardian without one), audited as `user.add`."""
    if new.member is not None and new.member not in admin.view.members:
        message = f"no member {new.member!r} in the household"
        raise AdminError(422, "invalid", f"member: {message}", {"member": message})
    try:
        checked = await accounts.new_user(
            admin.view.id,
            new.username,
            new.password.get_secret_value(),
            member=new.member,
            hashing=admin.service.hashing,
        )
        async with admin.audited("user.add", new.username) as change:
            user = await accounts.create_user(checked, admin.now())
            member = checked.member.slug if checked.member else None
            change.detail = {"member": member, "role": user.role}
            change.members = {member} if member else set()
    except AccountError as error:
        raise _refused(error) from None
    user.member = checked.member
    return _out(user)


async def remove_login(admin: Admin, username: str) -> None:
    user = await User.get_or_none(household_id=admin.view.id, username=username)
    if user is None:
        raise not_found("login", username)
    if user.id == admin.principal.user_id:
        raise AdminError(409, "conflict", "you cannot remove the login you are signed in with")
    await user.fetch_related("member")
    async with admin.audited("user.remove", username) as change:
        await User.filter(id=user.id).delete()
        member = user.member.slug if user.member else None
        change.detail = {"member": member}
        change.members = {member} if member else set()


async def recent_summaries(admin: Admin, member_id: str) -> SummaryList:
    """A member's latest summaries, as the viewer may see them (guardian.privacy): a child's
    own in full, as sent; another member's at their `guardian_view`."""
    member = admin.member(member_id)
    deliveries = (
        await Delivery.filter(member_id=member.pk, kind=DeliveryKind.SUMMARY)
        .order_by("-created_at", "-id")
        .limit(RECENT_SUMMARIES)
    )
    seen = await seen_deliveries(admin.view, admin.principal.member, deliveries)
    return SummaryList(
        member=member.id,
        items=[
            SummaryOut(
                id=d.id,
                kind=d.kind,
                at=d.sent_at or d.created_at,
                status=d.status,
                shown_at=s.shown_at,
                title=s.title,
                body=s.body,
            )
            for d, s in zip(deliveries, seen, strict=True)
        ],
    )


@endpoints.route("GET", "/me", response=MeOut)
async def me(call: Call) -> MeOut:
    """Who is signed in: their member and role, and a child's own page."""
    principal = call.admin.principal
    return MeOut(
        username=principal.username,
        member=principal.member,
        role=principal.role,
        own_page=principal.own_page,
    )


@endpoints.route("GET", "/users", response=UserList)
async def users_list(call: Call) -> UserList:
    """Every dashboard login: whose it is, and whether it is a child's."""
    return await user_list(call.admin)


@endpoints.route("POST", "/users", response=UserOut, body=UserIn, status=201)
async def users_add(call: Call) -> UserOut:
    """Add a dashboard login; a child's shows them only their own page and changes nothing."""
    return await add_login(call.admin, call.body_as(UserIn))


@endpoints.route("DELETE", "/users/{username}", response=None)
async def users_remove(call: Call) -> None:
    """Remove a dashboard login (its sessions end; not the one you are signed in with)."""
    await remove_login(call.admin, call.path["username"])


@endpoints.route("GET", "/members/{member_id}/summaries", response=SummaryList)
async def members_summaries(call: Call) -> SummaryList:
    """A member's latest summaries, at the viewer's privacy level (a child's own: as sent)."""
    return await recent_summaries(call.admin, call.path["member_id"])
