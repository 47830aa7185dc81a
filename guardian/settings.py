"""settings.toml, as pydantic-settings models: server settings and the household seed.

Every value can be overridden from the environment: `GUARDIAN_SERVER__PORT=9000` for a table,
and, for the lists of tables, by the item's id: `GUARDIAN_SOURCES__MIA_PHONE__SECRET=whsec_...`,
`GUARDIAN_MEMBERS__MIA__CHANNELS='["ntfy://..."]'`. A bad file is refused whole, with every
error named by its path.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Mapping
from contextvars import ContextVar
from datetime import time, timedelta
from pathlib import Path
from typing import Annotated, Any, Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    PlainSerializer,
    SecretStr,
    ValidationError,
    field_validator,
)
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from guardian.durations import format_duration, parse_duration
from guardian.windows import DAY_NAMES, QuietWindow, parse_days

ENV_PREFIX = "GUARDIAN_"
DEFAULT_CONFIG = "settings.toml"
SLUG = r"^[a-z0-9][a-z0-9_-]{0,63}$"


def _wall_time(value: Any) -> time:
    if isinstance(value, time):
        return value
    match = re.fullmatch(r"(\d{1,2}):(\d{2})", str(value).strip())
    if not match or int(match[1]) > 23 or int(match[2]) > 59:
        raise ValueError("not a time (use HH:MM, 00:00-23:59)")
    return time(int(match[1]), int(match[2]))


def _duration(value: Any) -> timedelta:
    if isinstance(value, timedelta):
        return value
    return parse_duration(str(value))


WallTime = Annotated[
    time, BeforeValidator(_wall_time), PlainSerializer(lambda t: t.strftime("%H:%M"))
]
Duration = Annotated[timedelta, BeforeValidator(_duration), PlainSerializer(format_duration)]
Slug = Annotated[str, Field(pattern=SLUG)]
Level = Literal["counts", "senders", "preview"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerSettings(_Strict):
    host: str = "127.0.0.1"
    port: int = Field(8080, ge=0, le=65535)
    public_url: str | None = None
    max_body_bytes: int = Field(1024 * 1024, ge=1024)
    shutdown_timeout: Duration = timedelta(seconds=10)


class DatabaseSettings(_Strict):
    url: str = "sqlite://var/guardian.db"

    @field_validator("url")
    @classmethod
    def _known_scheme(cls, url: str) -> str:
        if not re.match(r"^(sqlite|postgres|asyncpg)://", url):
            raise ValueError("use sqlite://PATH or postgres://user:pass@host/db")
        return url


class DeliverySettings(_Strict):
    max_attempts: int = Field(8, ge=1)
    backoff: Duration = timedelta(seconds=30)
    backoff_max: Duration = timedelta(hours=1)
    timeout: Duration = timedelta(seconds=30)
    concurrency: int = Field(4, ge=1, le=64)


class HouseholdSettings(_Strict):
    id: Slug = "home"
    name: str = Field(min_length=1)
    timezone: str

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


class MemberSettings(_Strict):
    id: Slug
    name: str = Field(min_length=1)
    role: Literal["guardian", "child"]
    policy: str | None = None
    channels: list[SecretStr] = []


class ContactSettings(_Strict):
    id: Slug
    name: str = Field(min_length=1)
    addresses: list[str] = []
    trust: Literal["trusted", "normal", "muted"] = "normal"

    @field_validator("addresses")
    @classmethod
    def _network_address(cls, addresses: list[str]) -> list[str]:
        for address in addresses:
            if not re.fullmatch(r"[a-z0-9_]+:.+", address):
                raise ValueError(f"not a network:address pair: {address!r}")
        return addresses


class QuietWindowSettings(_Strict):
    days: str = "daily"
    start: WallTime
    end: WallTime

    @field_validator("days")
    @classmethod
    def _days(cls, days: str) -> str:
        parse_days(days)
        return days

    def window(self) -> QuietWindow:
        return QuietWindow(parse_days(self.days), self.start, self.end)


class BurstSettings(_Strict):
    limit: int = Field(ge=1)
    per: Duration
    notice_every: Duration


class RepeatedSettings(_Strict):
    count: int = Field(ge=2)
    within: Duration


class BreakthroughSettings(_Strict):
    keywords: list[str] = []
    repeated: RepeatedSettings | None = None


class StormSettings(_Strict):
    count: int = Field(ge=2)
    within: Duration
    alert_guardians: bool = False


class PolicySettings(_Strict):
    quiet: list[QuietWindowSettings] = []
    summaries: list[WallTime] = []
    burst: BurstSettings | None = None
    breakthrough: BreakthroughSettings = BreakthroughSettings()
    content: Level = "senders"
    guardian_view: Level = "counts"
    report: WallTime | None = None
    storm: StormSettings | None = None
    retention: int = Field(30, ge=1, description="days that metadata is kept")

    def windows(self) -> list[QuietWindow]:
        return [q.window() for q in self.quiet]


class SourceSettings(BaseModel):
    """A source; its plugin's own settings (secrets) stay as extra keys, checked by the plugin."""

    model_config = ConfigDict(extra="allow", frozen=True)

    id: Slug
    plugin: str = Field(min_length=1)
    member: str

    def plugin_settings(self) -> dict[str, Any]:
        return dict(self.model_extra or {})


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
        sources: list[PydanticBaseSettingsSource] = [init_settings, _EnvTables(settings_cls)]
        if path is not None:
            sources.append(_TomlWithItemOverrides(settings_cls, toml_file=path))
        return tuple(sources)

    def member(self, member_id: str) -> MemberSettings | None:
        return next((m for m in self.members if m.id == member_id), None)

    def policy_of(self, member: MemberSettings) -> PolicySettings:
        return self.policies.get(member.policy or "", PolicySettings())


_ITEM_TABLES = ("members", "contacts", "sources")


class _EnvTables(EnvSettingsSource):
    """Environment overrides for tables; the lists of tables are handled by item id below."""

    def __call__(self) -> dict[str, Any]:
        data = super().__call__()
        for table in _ITEM_TABLES:
            data.pop(table, None)
        return data


class _TomlWithItemOverrides(TomlConfigSettingsSource):
    def __call__(self) -> dict[str, Any]:
        data = super().__call__()
        _apply_item_overrides(data, os.environ)
        return data


def _env_key(slug: str) -> str:
    return re.sub(r"[^A-Z0-9]", "_", slug.upper())


def _apply_item_overrides(data: dict[str, Any], environ: Mapping[str, str]) -> None:
    for table in _ITEM_TABLES:
        items = data.get(table)
        if not isinstance(items, list):
            continue
        prefix = f"{ENV_PREFIX}{table.upper()}__"
        for item in items:
            if not isinstance(item, dict) or not isinstance(item.get("id"), str):
                continue
            item_prefix = f"{prefix}{_env_key(item['id'])}__"
            for name, value in environ.items():
                if name.startswith(item_prefix):
                    item[name[len(item_prefix) :].lower()] = _env_value(value)


def _env_value(value: str) -> Any:
    """JSON where the value is JSON (lists, numbers), the plain string otherwise."""
    if value[:1] in "[{":
        try:
            return json.loads(value)
        except ValueError:
            return value
    return value


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
    except tomllib.TOMLDecodeError as error:
        raise SettingsError([f"{path}: not valid TOML: {error}"]) from None
    except ValidationError as error:
        raise SettingsError(format_validation_errors(error)) from None
    finally:
        _config_path.reset(token)
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
    problems: list[str] = []

    def unique(table: str, ids: list[str]) -> None:
        seen: set[str] = set()
        for index, item_id in enumerate(ids):
            if item_id in seen:
                problems.append(f"{table}[{index}].id: duplicate id {item_id!r}")
            seen.add(item_id)

    unique("members", [m.id for m in settings.members])
    unique("contacts", [c.id for c in settings.contacts])
    unique("sources", [s.id for s in settings.sources])
    member_ids = {m.id for m in settings.members}
    for index, member in enumerate(settings.members):
        if member.policy is not None and member.policy not in settings.policies:
            problems.append(f"members[{index}].policy: unknown policy {member.policy!r}")
    owner: dict[str, str] = {}
    for index, contact in enumerate(settings.contacts):
        for n, address in enumerate(contact.addresses):
            if address in owner and owner[address] != contact.id:
                problems.append(
                    f"contacts[{index}].addresses[{n}]: {address!r} already belongs to "
                    f"{owner[address]!r}"
                )
            owner.setdefault(address, contact.id)
    for name, policy in settings.policies.items():
        for index, window in enumerate(policy.quiet):
            if window.start == window.end:
                problems.append(f"policies.{name}.quiet[{index}]: start and end are the same")
    for index, source in enumerate(settings.sources):
        if source.member not in member_ids:
            problems.append(f"sources[{index}].member: unknown member {source.member!r}")
        if plugin_settings is None:
            continue
        model = plugin_settings.get(source.plugin)
        if model is None:
            known = ", ".join(sorted(plugin_settings)) or "none"
            problems.append(
                f"sources[{index}].plugin: unknown plugin {source.plugin!r} (installed: {known})"
            )
            continue
        try:
            model.model_validate(source.plugin_settings())
        except ValidationError as error:
            problems.extend(format_validation_errors(error, f"sources[{index}]"))
    return problems


def weekday_names(days: frozenset[int]) -> str:
    return ",".join(DAY_NAMES[d] for d in sorted(days))
