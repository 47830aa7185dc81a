"""settings.toml, as pydantic-settings models: server settings and the household seed, read,
checked whole and cross-checked (a policy, contact or source named where it does not exist).

A bad file is refused whole, with every error named by its path. The value types and their
bounds are guardian.setting_types; a policy's tables guardian.policy_settings; the overrides
from the environment (`GUARDIAN_SERVER__PORT=9000`, `GUARDIAN_SOURCES__MIA_PHONE__SECRET=...`)
guardian.settings_sources.
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from contextvars import ContextVar
from datetime import timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_settings import (
    BaseSettings,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
)
from pydantic_settings import SettingsError as EnvParseError

from guardian import channels, proxies
from guardian.i18n import DEFAULT_LANGUAGE
from guardian.policy_settings import PolicySettings
from guardian.setting_types import (
    DAY,
    MAX_ADDRESS,
    MAX_ADDRESSES,
    MAX_CHANNEL_URL,
    MAX_CHANNELS,
    MINUTE,
    SECOND,
    Delay,
    Duration,
    LanguageCode,
    Name,
    ShortWait,
    Slug,
    Strict,
    between,
)
from guardian.settings_sources import ENV_PREFIX, EnvTables, TomlWithItemOverrides

DEFAULT_CONFIG = "settings.toml"


class ServerSettings(Strict):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    public_url: str | None = None
    max_body_bytes: int = Field(1024 * 1024, ge=1024, le=64 * 1024 * 1024)
    shutdown_timeout: ShortWait = timedelta(seconds=10)
    #: No request waits longer: past it, 503 with Retry-After and nothing half-stored.
    request_timeout: ShortWait = timedelta(seconds=30)
    #: Peers whose `X-Forwarded-For`/`Forwarded` is believed (addresses or CIDR networks).
    trusted_proxies: list[Annotated[str, AfterValidator(proxies.network)]] = Field(
        [], max_length=100
    )


class DatabaseSettings(Strict):
    # Not in repr: a postgres:// URL carries a password.
    url: str = Field("sqlite://var/guardian.db", repr=False)

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, url: str) -> str:
        if not re.match(r"^(sqlite|postgres|asyncpg)://", url):
            raise ValueError("use sqlite://PATH or postgres://user:pass@host/db")
        return url


class DeliverySettings(Strict):
    max_attempts: int = Field(8, ge=1, le=100)
    backoff: Annotated[Duration, between(SECOND, DAY)] = timedelta(seconds=30)
    backoff_max: Annotated[Duration, between(SECOND, 7 * DAY)] = timedelta(hours=1)
    #: Each channel's send: Apprise's connect and read timeouts, and the call's own bound.
    timeout: ShortWait = timedelta(seconds=30)
    #: Deliveries in flight at once, over all channels.
    concurrency: int = Field(4, ge=1, le=64)
    #: Sends in flight at once to one channel: a slow channel holds up only its own deliveries.
    per_channel: int = Field(2, ge=1, le=16)
    #: A delivery still failing after this long is given up (and reported to the guardians).
    max_age: Annotated[Duration, between(MINUTE, 30 * DAY)] = timedelta(hours=24)
    #: At start-up, wait this long before catching up, so that sources can replay first.
    start_delay: Delay = timedelta(seconds=5)
    #: A delivery left `sending` this long (its worker crashed mid-send) is sent again: at most
    #: one repeat. Keep it well above `timeout` times a member's number of channels.
    claim_lease: Annotated[Duration, between(SECOND, DAY)] = timedelta(minutes=5)


class HouseholdSettings(Strict):
    id: Slug = "home"
    name: Name
    timezone: str
    #: The language of what Guardian writes to members, unless a member has their own.
    language: LanguageCode = DEFAULT_LANGUAGE

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, name: str) -> str:
        try:
            ZoneInfo(name)
        except (ZoneInfoNotFoundError, ValueError, KeyError):
            raise ValueError(f"not an IANA time zone: {name!r}") from None
        return name

    @property
    def zone(self) -> ZoneInfo:
        return ZoneInfo(self.timezone)


def _safe_channel(url: SecretStr) -> SecretStr:
    reason = channels.refusal(url.get_secret_value())
    if reason is not None:
        raise ValueError(reason)
    return url


#: An Apprise URL that reaches a person, and nothing on this server (guardian.channels).
Channel = Annotated[SecretStr, Field(max_length=MAX_CHANNEL_URL), AfterValidator(_safe_channel)]


class MemberSettings(Strict):
    id: Slug
    name: Name
    role: Literal["guardian", "child"]
    policy: str | None = None
    channels: list[Channel] = Field([], max_length=MAX_CHANNELS)
    #: The member's own language; None: the household's.
    language: LanguageCode | None = None


class ContactSettings(Strict):
    id: Slug
    name: Name
    addresses: list[Annotated[str, Field(max_length=MAX_ADDRESS)]] = Field(
        [], max_length=MAX_ADDRESSES
    )
    trust: Literal["trusted", "normal", "muted"] = "normal"

    @field_validator("addresses")
    @classmethod
    def _network_address(cls, addresses: list[str]) -> list[str]:
        for address in addresses:
            if not re.fullmatch(r"[a-z0-9_]+:.+", address):
                raise ValueError(f"not a network:address pair: {address!r}")
        return addresses


class SourceSettings(BaseModel):
    """A source; its plugin's own settings (secrets) stay as extra keys, checked by the plugin.

    Guardian cannot tell which of them are secrets, so every string among them is kept as a
    `SecretStr` (never in a repr or a dump); `plugin_settings()` gives the plain values.
    """

    model_config = ConfigDict(extra="allow", frozen=True)

    id: Slug
    plugin: str = Field(min_length=1)
    member: str
    #: Other members this source may write to (`"to"`): a household hub, such as one SMS
    #: gateway phone for the family. Without it, a source writes to its own member only.
    members: list[str] = Field([], max_length=50)
    #: False pauses the source: a pull source is not read, a push source's requests are answered
    #: 503 (the network keeps and retries them), until it is turned on again.
    enabled: bool = True

    @model_validator(mode="before")
    @classmethod
    def _hide_plugin_strings(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        return {
            key: SecretStr(value)
            if key not in cls.model_fields and isinstance(value, str)
            else value
            for key, value in data.items()
        }

    def plugin_settings(self) -> dict[str, Any]:
        return {
            key: value.get_secret_value() if isinstance(value, SecretStr) else value
            for key, value in (self.model_extra or {}).items()
        }


_config_path: ContextVar[Path] = ContextVar("guardian_config_path")


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX, env_nested_delimiter="__", extra="forbid", frozen=True
    )

    server: ServerSettings = ServerSettings()
    database: DatabaseSettings = DatabaseSettings()
    delivery: DeliverySettings = DeliverySettings()
    household: HouseholdSettings
    members: list[MemberSettings] = []
    contacts: list[ContactSettings] = []
    policies: dict[str, PolicySettings] = {}
    sources: list[SourceSettings] = []

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        path = _config_path.get(None)
        sources: list[PydanticBaseSettingsSource] = [init_settings, EnvTables(settings_cls)]
        if path is not None:
            sources.append(TomlWithItemOverrides(settings_cls, toml_file=path))
        return tuple(sources)

    def member(self, member_id: str) -> MemberSettings | None:
        return next((m for m in self.members if m.id == member_id), None)

    def policy_of(self, member: MemberSettings) -> PolicySettings:
        return self.policies.get(member.policy or "", PolicySettings())


class SettingsError(Exception):
    """The settings could not be used; `errors` lists each problem as `path: message`."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = errors


def config_path(explicit: str | None = None) -> Path:
    return Path(explicit or os.environ.get("GUARDIAN_CONFIG") or DEFAULT_CONFIG)


def load_settings(
    path: Path, plugin_settings: Mapping[str, type[BaseModel]] | None = None
) -> Settings:
    """Read and check settings.toml (+ environment), or raise SettingsError with every problem.

    `plugin_settings` maps plugin names to their settings models, so each source's own settings
    are checked by its plugin; a plugin name missing from it is reported as unknown.
    """
    if not path.is_file():
        raise SettingsError([f"{path}: settings file not found"])
    token = _config_path.set(path)
    try:
        settings = Settings()
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise SettingsError([f"{path}: not valid TOML: {error}"]) from None
    except EnvParseError as error:
        message = str(error).split(" from source ")[0]  # the source is an internal name
        raise SettingsError([f"environment: {message}"]) from None
    except ValidationError as error:
        raw = TomlWithItemOverrides(Settings, toml_file=path)()
        raise SettingsError(_every_problem(error, raw, plugin_settings)) from None
    finally:
        _config_path.reset(token)
    return _cross_checked(settings, plugin_settings)


def validated(
    data: Mapping[str, Any], plugin_settings: Mapping[str, type[BaseModel]] | None = None
) -> Settings:
    """Plain `data` as Settings, checked as a settings file is, without the environment."""
    try:
        settings = Settings.model_validate(data)
    except ValidationError as error:
        raise SettingsError(_every_problem(error, data, plugin_settings)) from None
    return _cross_checked(settings, plugin_settings)


def _every_problem(
    error: ValidationError,
    raw: Mapping[str, Any],
    plugin_settings: Mapping[str, type[BaseModel]] | None,
) -> list[str]:
    """The field errors and the cross-table problems too, so that one run lists every error."""
    problems = format_validation_errors(error)
    return problems + [p for p in _cross_check_data(raw, plugin_settings) if p not in problems]


def _cross_checked(
    settings: Settings, plugin_settings: Mapping[str, type[BaseModel]] | None
) -> Settings:
    problems = cross_check(settings, plugin_settings)
    if problems:
        raise SettingsError(problems)
    return settings


def format_validation_errors(error: ValidationError, prefix: str = "") -> list[str]:
    return [f"{loc_path(e['loc'], prefix)}: {_message(e)}" for e in error.errors()]


def loc_path(loc: tuple[int | str, ...], prefix: str = "") -> str:
    path = prefix
    for part in loc:
        if isinstance(part, int):
            path += f"[{part}]"
        else:
            path += f".{part}" if path else str(part)
    return path or "(root)"


def _message(error: Mapping[str, Any]) -> str:
    message = str(error["msg"])
    return message.removeprefix("Value error, ")


def cross_check(
    settings: Settings, plugin_settings: Mapping[str, type[BaseModel]] | None
) -> list[str]:
    """Checks that span tables: references, unique ids, each source's plugin settings."""
    data = settings.model_dump(include={"members", "contacts", "policies"})
    data["sources"] = [source_data(s) for s in settings.sources]
    return _cross_check_data(data, plugin_settings)


def source_data(source: SourceSettings) -> dict[str, Any]:
    """A source as plain data, its plugin's settings (secrets) revealed."""
    data: dict[str, Any] = {"id": source.id, "plugin": source.plugin, "member": source.member}
    if source.members:
        data["members"] = list(source.members)
    if not source.enabled:
        data["enabled"] = False
    return {**data, **source.plugin_settings()}


def _cross_check_data(
    data: Mapping[str, Any], plugin_settings: Mapping[str, type[BaseModel]] | None
) -> list[str]:
    """`cross_check` on plain data, which may be invalid: whatever is malformed is skipped here
    (validation reports it), so that a bad file still gets every other problem listed."""
    problems: list[str] = []

    def items(table: str) -> list[tuple[int, Mapping[str, Any]]]:
        rows = data.get(table)
        if not isinstance(rows, list):
            return []
        return [(index, row) for index, row in enumerate(rows) if isinstance(row, Mapping)]

    def text(row: Mapping[str, Any], key: str) -> str | None:
        value = row.get(key)
        return value if isinstance(value, str) else None

    def unique(table: str) -> set[str]:
        seen: set[str] = set()
        for index, row in items(table):
            item_id = text(row, "id")
            if item_id is None:
                continue
            if item_id in seen:
                problems.append(f"{table}[{index}].id: duplicate id {item_id!r}")
            seen.add(item_id)
        return seen

    member_ids = unique("members")
    unique("contacts")
    unique("sources")
    policies = data.get("policies")
    policies = policies if isinstance(policies, Mapping) else {}
    for index, member in items("members"):
        policy_name = text(member, "policy")
        if policy_name is not None and policy_name not in policies:
            problems.append(f"members[{index}].policy: unknown policy {policy_name!r}")
    owner: dict[str, str] = {}
    for index, contact in items("contacts"):
        contact_id, addresses = text(contact, "id"), contact.get("addresses")
        if contact_id is None or not isinstance(addresses, list):
            continue
        for n, address in enumerate(addresses):
            if not isinstance(address, str):
                continue
            if address in owner and owner[address] != contact_id:
                problems.append(
                    f"contacts[{index}].addresses[{n}]: {address!r} already belongs to "
                    f"{owner[address]!r}"
                )
            owner.setdefault(address, contact_id)
    for index, source in items("sources"):
        member_id = text(source, "member")
        if member_id is not None and member_id not in member_ids:
            problems.append(f"sources[{index}].member: unknown member {member_id!r}")
        others = source.get("members")
        for n, other in enumerate(others if isinstance(others, list) else []):
            if isinstance(other, str) and other not in member_ids:
                problems.append(f"sources[{index}].members[{n}]: unknown member {other!r}")
        plugin = text(source, "plugin")
        if plugin_settings is None or not plugin:
            continue
        model = plugin_settings.get(plugin)
        if model is None:
            known = ", ".join(sorted(plugin_settings)) or "none"
            problems.append(
                f"sources[{index}].plugin: unknown plugin {plugin!r} (installed: {known})"
            )
            continue
        own = {k: v for k, v in source.items() if k not in SourceSettings.model_fields}
        try:
            model.model_validate(own)
        except ValidationError as error:
            problems.extend(format_validation_errors(error, f"sources[{index}]"))
    return problems
