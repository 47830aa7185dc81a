"""What a plugin is, and how Guardian finds plugins: the entry-point group `guardian.plugins`.

A push plugin turns one HTTP request into `IncomingMessage`s (or refuses it with a `HookError`).
It is given its settings, a shared `aiohttp.ClientSession` and a logger, and nothing else: the
core owns the route, storage, the policy and delivery. Built-in plugins register through the
same entry points as third-party ones.
"""

from __future__ import annotations

import logging
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from importlib.metadata import EntryPoint, entry_points
from typing import Any, ClassVar, Generic, TypeVar

import aiohttp
from aiohttp import web
from multidict import CIMultiDictProxy, MultiMapping
from pydantic import BaseModel, ConfigDict

ENTRY_POINT_GROUP = "guardian.plugins"
log = logging.getLogger(__name__)


class PluginSettings(BaseModel):
    """Base of every plugin's settings model; declare secrets as `SecretStr`."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class IncomingMessage:
    """One message a plugin read from a network, before Guardian stores and decides on it."""

    external_id: str
    network: str
    sender_id: str
    sender_name: str | None = None
    text: str = ""
    sent_at: datetime | None = None
    conversation_id: str | None = None
    conversation_title: str | None = None
    group: bool = False
    #: The member it is for, when the network says so; the source's member otherwise.
    to: str | None = None

    @property
    def sender_address(self) -> str:
        return f"{self.network}:{self.sender_id}"


@dataclass(frozen=True)
class HookRequest:
    """The parts of an HTTP request a push plugin may read; the body is already read and bounded."""

    method: str
    url: str
    headers: CIMultiDictProxy[str]
    query: MultiMapping[str]
    body: bytes
    received_at: datetime


@dataclass(frozen=True)
class Received:
    """What a push plugin read: messages, and optionally the reply the network expects."""

    messages: Sequence[IncomingMessage] = ()
    #: Answered as-is instead of Guardian's 202 (a handshake, a challenge echo, empty TwiML).
    reply: web.StreamResponse | None = None


class HookError(Exception):
    """A request the plugin refuses; the core answers `status` with `{"error", "detail"}`."""

    status: ClassVar[int] = 400
    error: ClassVar[str] = "bad_request"

    def __init__(self, detail: str | list[dict[str, str]]) -> None:
        super().__init__(detail if isinstance(detail, str) else f"{len(detail)} invalid fields")
        self.detail = detail


class BadRequest(HookError):
    status, error = 400, "bad_request"


class Unauthorized(HookError):
    status, error = 401, "unauthorized"


class TooLarge(HookError):
    status, error = 413, "too_large"


class InvalidFields(HookError):
    """422; `detail` is a list of `{"path": ..., "message": ...}`."""

    status, error = 422, "invalid"


S = TypeVar("S", bound=PluginSettings)


@dataclass(frozen=True)
class PluginContext(Generic[S]):
    """Everything a plugin is given."""

    source_id: str
    settings: S
    session: aiohttp.ClientSession | None
    log: logging.Logger


class PushPlugin(ABC, Generic[S]):
    """A network that pushes to Guardian: one HTTP request in, messages out."""

    kind: ClassVar[str] = "push"
    settings_model: ClassVar[type[PluginSettings]]

    def __init__(self, context: PluginContext[S]) -> None:
        self.context = context
        self.settings: S = context.settings
        self.log = context.log

    @abstractmethod
    async def receive(self, request: HookRequest) -> Received:
        """Check the request's signature and read its messages; raise a HookError to refuse it."""

    def __repr__(self) -> str:
        return f"<{type(self).__name__} source={self.context.source_id!r}>"


@dataclass
class PluginInfo:
    name: str
    package: str
    version: str
    kind: str = "?"
    plugin: type[PushPlugin[Any]] | None = None
    error: str | None = None


@dataclass
class PluginRegistry:
    """Installed plugins by name; a plugin that fails to load is kept with its error."""

    plugins: dict[str, PluginInfo] = field(default_factory=dict)

    @classmethod
    def discover(cls, extra: Sequence[EntryPoint] = ()) -> PluginRegistry:
        registry = cls()
        for entry in [*entry_points(group=ENTRY_POINT_GROUP), *extra]:
            registry.plugins[entry.name] = _load(entry)
        return registry

    def loaded(self) -> dict[str, type[PushPlugin[Any]]]:
        return {name: i.plugin for name, i in self.plugins.items() if i.plugin is not None}

    def settings_models(self) -> Mapping[str, type[BaseModel]]:
        return {name: plugin.settings_model for name, plugin in self.loaded().items()}

    def broken(self) -> dict[str, str]:
        return {name: i.error for name, i in self.plugins.items() if i.error is not None}


def _load(entry: EntryPoint) -> PluginInfo:
    package = entry.dist.name if entry.dist else entry.module.split(".")[0]
    version = entry.dist.version if entry.dist else "?"
    info = PluginInfo(name=entry.name, package=package, version=version)
    try:
        plugin = entry.load()
        if not (isinstance(plugin, type) and issubclass(plugin, PushPlugin)):
            raise TypeError(f"{entry.value} is not a guardian PushPlugin class")
        info.plugin, info.kind = plugin, plugin.kind
    except Exception as error:  # a broken plugin must not take the others down
        info.error = f"{type(error).__name__}: {error}"
        log.error("plugin %s failed to load: %s", entry.name, info.error)
    return info
