"""The admin API: sources, the configured adapters, and rotating their secrets.

What a source shows is what an admin needs to set it up and watch it: the URL to paste into the
network, when it last delivered, whether its plugin runs, and the names of its secret settings,
never their values. Rotating a secret is the one answer that shows one, once. Push and pull
sources differ in what they show (a URL to paste, or how the last pull went), which is most of
this module's length.
"""

from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, get_args

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError
from tortoise.functions import Count

from guardian import pull, transfer
from guardian.admin import Admin, AdminError, not_found
from guardian.api import Call, Endpoints
from guardian.household import SourceView
from guardian.models import Notification, Source
from guardian.reports import last_messages, went_silent
from guardian.settings import SettingsError, loc_path

endpoints = Endpoints("sources")

#: The window of a source's recent count (`last_24h`).
RECENT = timedelta(hours=24)
#: Secrets the network issues: Guardian cannot make one up, the admin pastes the new value.
NETWORK_ISSUED = frozenset(
    {
        ("slack", "signing_secret"),
        ("twilio", "auth_token"),
        ("whatsapp", "app_secret"),
        ("sms_gateway", "signing_key"),
    }
)
WHSEC = "whsec_"


class SourceCounts(BaseModel):
    total: int
    last_24h: int


class SourceOut(BaseModel):
    id: str
    plugin: str
    member: str
    webhook_url: str = Field(description="The URL to configure in the network.")
    last_message_at: datetime | None
    notifications: SourceCounts
    status: str = Field(description='"ok", or why the source is not running.')
    silent: bool = Field(description="It had messages, but none in the last 24 hours.")
    secret_fields: list[str] = Field(description="The names of its secret settings.")
    kind: str = Field(description='"push" (the network calls the webhook URL) or "pull".')
    enabled: bool = Field(True, description="False: paused (status `paused`).")
    pull: PullOut | None = Field(None, description="A pull source's state; null for push.")


class PullOut(BaseModel):
    """How a pull source goes (Guardian reads it from the network)."""

    state: str = Field(
        description='"running", "failing" (retried at `next_retry_at`), or "waiting" (no '
        "instance runs it yet)."
    )
    last_poll_at: datetime | None = Field(description="When a batch was last read and stored.")
    last_message_at: datetime | None = Field(description="When a message was last read.")
    last_error: str | None = Field(description="Why its last attempt failed, while it fails.")
    next_retry_at: datetime | None


class SourceList(BaseModel):
    items: list[SourceOut]


class RotateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    field: str | None = Field(
        None, max_length=64, description="The secret setting; by default the source's first."
    )
    value: SecretStr | None = Field(
        None,
        min_length=1,
        max_length=1000,
        description="The new value; generated when left out (not for secrets the network "
        "issues, like Slack's signing secret: paste those).",
    )


class RotateOut(BaseModel):
    """The new secret, shown in this answer only and never again (not in the source, the audit
    log, pages or logs): paste it into the network now. Requests signed with the old secret are
    refused from now on."""

    source: str
    field: str
    secret: str = Field(description="The new secret value; shown once, in this answer only.")


# --- reading ---------------------------------------------------------------------------------


def secret_fields(model: type[BaseModel] | None) -> list[str]:
    """The settings of a plugin that are secrets (`SecretStr`), in declaration order."""
    if model is None:
        return []
    return [
        name
        for name, info in model.model_fields.items()
        if info.annotation is SecretStr or SecretStr in get_args(info.annotation)
    ]


def webhook_url(admin: Admin, source_id: str) -> str:
    server = admin.service.settings.server
    base = server.public_url or f"http://{server.host}:{server.port}"
    return f"{base.rstrip('/')}/hooks/{source_id}"


async def _activity(household_id: str, since: datetime) -> dict[int, tuple[int, int]]:
    """Per source pk: (all notifications, those since `since`)."""
    totals = (
        await Notification.filter(household_id=household_id)
        .annotate(n=Count("id"))
        .group_by("source_id")
        .values_list("source_id", "n")
    )
    recent = dict(
        await Notification.filter(household_id=household_id, received_at__gte=since)
        .annotate(n=Count("id"))
        .group_by("source_id")
        .values_list("source_id", "n")
    )
    return {int(pk): (int(n), int(recent.get(pk, 0))) for pk, n in totals}


@dataclass(frozen=True)
class _Seen:
    counts: dict[int, tuple[int, int]]
    last: dict[int, datetime]
    pulled: dict[int, pull.PullStatus]


async def _seen(admin: Admin) -> _Seen:
    household_id = admin.view.id
    return _Seen(
        await _activity(household_id, admin.now() - RECENT),
        await last_messages(household_id),
        await pull.statuses(household_id, admin.now()),
    )


def _out(admin: Admin, source: SourceView, seen: _Seen) -> SourceOut:
    service = admin.service
    total, last_24h = seen.counts.get(source.pk, (0, 0))
    last_at = seen.last.get(source.pk)
    model = service.registry.settings_models().get(source.plugin)
    pulling = source.plugin in service.registry.pulling()
    pulled = seen.pulled.get(source.pk)
    return SourceOut(
        id=source.id,
        plugin=source.plugin,
        member=source.member,
        webhook_url=webhook_url(admin, source.id),
        last_message_at=last_at,
        notifications=SourceCounts(total=total, last_24h=last_24h),
        status=service.source_status(source, seen.pulled),
        silent=went_silent(last_at, admin.now()),
        secret_fields=secret_fields(model),
        kind="pull" if pulling else "push",
        enabled=source.enabled,
        pull=PullOut(
            state=pulled.state if pulled else "waiting",
            last_poll_at=pulled.last_poll_at if pulled else None,
            last_message_at=pulled.last_message_at if pulled else None,
            last_error=pulled.last_error if pulled else None,
            next_retry_at=pulled.retry_at if pulled else None,
        )
        if pulling
        else None,
    )


async def source_list(admin: Admin) -> SourceList:
    view = admin.view
    seen = await _seen(admin)
    return SourceList(
        items=[_out(admin, s, seen) for s in sorted(view.sources.values(), key=lambda s: s.id)]
    )


def _source(admin: Admin, source_id: str) -> SourceView:
    source = admin.view.sources.get(source_id)
    if source is None:
        raise not_found("source", source_id)
    return source


async def source_out(admin: Admin, source_id: str) -> SourceOut:
    source = _source(admin, source_id)
    return _out(admin, source, await _seen(admin))


# --- rotating --------------------------------------------------------------------------------


def default_field(source: SourceView, fields: list[str]) -> str:
    """The first secret the source has set (a token-only webhook rotates its token)."""
    return next((f for f in fields if source.settings.get(f) is not None), fields[0])


def generated_secret(model: type[BaseModel], field: str, current: Any) -> str:
    info = model.model_fields[field]
    if (isinstance(current, str) and current.startswith(WHSEC)) or WHSEC in (
        info.description or ""
    ):
        return WHSEC + base64.b64encode(secrets.token_bytes(24)).decode()
    return secrets.token_urlsafe(32)


def _invalid(path: str, message: str) -> AdminError:
    return AdminError(422, "invalid", f"{path}: {message}", {path: message})


async def rotate_secret(admin: Admin, source_id: str, rotate: RotateIn) -> RotateOut:
    """Store a new secret for one of the source's settings; the plugin takes it up at once."""
    source = _source(admin, source_id)
    model = admin.service.registry.settings_models().get(source.plugin)
    if model is None:
        raise AdminError(
            409,
            "plugin_missing",
            f"the plugin {source.plugin!r} is not installed: a new secret cannot be checked",
        )
    fields = secret_fields(model)
    if not fields:
        raise AdminError(409, "no_secret", f"the plugin {source.plugin!r} has no secret settings")
    field = rotate.field or default_field(source, fields)
    if field not in fields:
        raise _invalid("field", f"not a secret of a {source.plugin} source: {', '.join(fields)}")
    if rotate.value is not None:
        # Pasting often brings a line break along; a secret never has inner spaces.
        value = rotate.value.get_secret_value().strip()
        if not value or not value.isprintable() or any(c.isspace() for c in value):
            raise _invalid("value", "only visible characters, without spaces")
    elif (source.plugin, field) in NETWORK_ISSUED:
        raise _invalid("value", f"{source.plugin} issues the {field}: paste the new one here")
    else:
        value = generated_secret(model, field, source.settings.get(field))
    settings = {**source.settings, field: value}
    try:
        model.model_validate(settings)
    except ValidationError as error:
        # Messages only: pydantic's `input` would carry the secret.
        problems = {
            "value" if loc_path(tuple(e["loc"])) in ("", field) else loc_path(tuple(e["loc"])): str(
                e["msg"]
            ).removeprefix("Value error, ")
            for e in error.errors(include_url=False, include_input=False)
        }
        detail = "; ".join(f"{path}: {message}" for path, message in problems.items())
        raise AdminError(422, "invalid", detail, problems) from None
    async with admin.change("source.rotate", source.id) as change:
        row = await Source.get(id=source.pk)
        row.settings = settings
        await row.save(update_fields=["settings"])
        change.detail = {"field": field}
    return RotateOut(source=source.id, field=field, secret=value)


# --- adding, editing, removing ----------------------------------------------------------------


class SourceIn(BaseModel):
    """A source as settings.toml's `[[sources]]` table has it, its plugin's settings apart."""

    model_config = ConfigDict(extra="forbid")

    id: str = Field(min_length=1, max_length=64, description="Lower case, digits, - and _.")
    plugin: str = Field(min_length=1, max_length=64, description="An installed plugin's name.")
    member: str = Field(min_length=1, max_length=64, description="The member it writes to.")
    members: list[str] = Field(
        [], max_length=50, description="Other members it may write to (a household hub)."
    )
    settings: dict[str, Any] = Field(
        {}, description="The plugin's own settings (see `guardian plugins` and docs/)."
    )
    enabled: bool = Field(True, description="False adds it paused.")


class SourceEdit(BaseModel):
    """What to change. Secret settings left out keep their stored values (so an edit never
    needs them typed again); `settings` replaces the others."""

    model_config = ConfigDict(extra="forbid")

    plugin: str | None = Field(None, min_length=1, max_length=64)
    member: str | None = Field(None, min_length=1, max_length=64)
    members: list[str] | None = Field(None, max_length=50)
    settings: dict[str, Any] | None = None
    enabled: bool | None = Field(None, description="False pauses it; true runs it again.")


def _entry(
    source_id: str,
    plugin: str,
    member: str,
    members: list[str],
    own: dict[str, Any],
    enabled: bool = True,
) -> dict[str, Any]:
    reserved = sorted(set(own) & {"id", "plugin", "member", "members", "enabled"})
    if reserved:
        raise _invalid(f"settings.{reserved[0]}", "set it beside settings, not inside")
    return {
        "id": source_id,
        "plugin": plugin,
        "member": member,
        **({"members": members} if members else {}),
        **({"enabled": False} if not enabled else {}),
        **own,
    }


async def _save(admin: Admin, action: str, source_id: str, entry: dict[str, Any] | None) -> None:
    """The household with this source added, replaced or (entry None) removed, checked and
    stored as settings.toml would be: the same rules, one transaction, audited."""
    data = await transfer.export_household(admin.view.id)
    index = next((i for i, s in enumerate(data["sources"]) if s["id"] == source_id), None)
    if entry is None:
        assert index is not None
        del data["sources"][index]
    elif index is None:
        data["sources"].append(entry)
        index = len(data["sources"]) - 1
    else:
        data["sources"][index] = entry
    async with admin.change(action, source_id) as change:
        try:
            await transfer.import_household(
                data,
                admin.now(),
                admin.actor,
                plugin_settings=admin.service.registry.settings_models(),
                audit=False,  # this change's own entry says what it was
            )
        except SettingsError as error:
            raise _settings_error(error, index) from None
        if entry is not None:
            change.detail = {
                "plugin": entry["plugin"],
                "member": entry["member"],
                "enabled": entry.get("enabled", True),
            }


def _settings_error(error: SettingsError, index: int) -> AdminError:
    """A settings error as the API says it: `sources[2].password: ...` → `settings.password`."""
    fields: dict[str, str] = {}
    prefix = f"sources[{index}]"
    for problem in error.errors:
        path, _, message = problem.partition(": ")
        if "still has" in problem:  # a removal that would lose held notifications
            return AdminError(409, "waiting_work", problem.removeprefix("sources: "))
        if path.startswith(prefix):
            rest = path.removeprefix(prefix).lstrip(".")
            own = rest in ("", "id", "plugin", "member", "enabled") or rest.startswith("members")
            fields[(rest or "(root)") if own else f"settings.{rest}"] = message
        else:
            fields[path] = message
    detail = "; ".join(f"{path}: {message}" for path, message in fields.items())
    return AdminError(422, "invalid", detail, fields)


async def create_source(admin: Admin, body: SourceIn) -> SourceOut:
    if body.id in admin.view.sources:
        raise AdminError(409, "exists", f"a source {body.id!r} exists already")
    entry = _entry(body.id, body.plugin, body.member, body.members, body.settings, body.enabled)
    await _save(admin, "source.add", body.id, entry)
    return await source_out(admin, body.id)


async def update_source(admin: Admin, source_id: str, edit: SourceEdit) -> SourceOut:
    source = _source(admin, source_id)
    plugin = edit.plugin or source.plugin
    own = dict(source.settings if edit.settings is None else edit.settings)
    if plugin == source.plugin and edit.settings is not None:
        model = admin.service.registry.settings_models().get(plugin)
        for name in secret_fields(model):
            if name not in own and name in source.settings:
                own[name] = source.settings[name]  # left out: kept, never typed again
    entry = _entry(
        source_id,
        plugin,
        edit.member or source.member,
        list(source.members[1:]) if edit.members is None else edit.members,
        own,
        source.enabled if edit.enabled is None else edit.enabled,
    )
    await _save(admin, "source.update", source_id, entry)
    return await source_out(admin, source_id)


async def remove_source(admin: Admin, source_id: str) -> None:
    _source(admin, source_id)
    await _save(admin, "source.remove", source_id, None)


# --- endpoints -------------------------------------------------------------------------------


@endpoints.route("GET", "/sources", response=SourceList)
async def sources_list(call: Call) -> SourceList:
    """Every source: its webhook URL, last message, counts, status; never a secret."""
    return await source_list(call.admin)


@endpoints.route("GET", "/sources/{source_id}", response=SourceOut)
async def sources_get(call: Call) -> SourceOut:
    """One source."""
    return await source_out(call.admin, call.path["source_id"])


@endpoints.route("POST", "/sources", response=SourceOut, body=SourceIn, status=201)
async def sources_create(call: Call) -> SourceOut:
    """Add a source; a pull source starts reading at once (from now, without its history).
    422 naming the field for settings its plugin refuses; 409 if the id is taken."""
    return await create_source(call.admin, call.body_as(SourceIn))


@endpoints.route("PUT", "/sources/{source_id}", response=SourceOut, body=SourceEdit)
async def sources_update(call: Call) -> SourceOut:
    """Change a source's plugin, member or settings; it runs with them at once. Secret
    settings left out keep their values."""
    return await update_source(call.admin, call.path["source_id"], call.body_as(SourceEdit))


@endpoints.route("DELETE", "/sources/{source_id}", response=None)
async def sources_delete(call: Call) -> None:
    """Remove a source (a pull source stops at once); 409 while notifications it brought are
    still held, waiting for a summary."""
    await remove_source(call.admin, call.path["source_id"])


@endpoints.route("POST", "/sources/{source_id}/rotate", response=RotateOut, body=RotateIn)
async def sources_rotate(call: Call) -> RotateOut:
    """Rotate a source's secret; the answer shows the new secret once, to paste into the network."""
    return await rotate_secret(call.admin, call.path["source_id"], call.body_as(RotateIn))
