"""What a plugin is, and how Guardian finds plugins: the entry-point group `guardian.plugins`.

Two kinds. A push plugin turns one HTTP request into `IncomingMessage`s (or refuses it with a
`HookError`); a pull plugin reads a network from a cursor and yields `PullBatch`es, each with the
cursor to store after it. Either is given its settings, a shared `aiohttp.ClientSession`, a
logger and the clock, and nothing else: the core owns the route, storage, the cursor, the policy
and delivery. Built-in plugins register through the same entry points as third-party ones, and a
plugin that fails to load is kept in the registry with its error instead of taking others down.
"""

from __future__ import annotations

import inspect
import json
import logging
from abc import ABC, abstractmethod
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any, ClassVar, Generic, TypeAlias, TypeVar

import aiohttp
from aiohttp import web
from multidict import CIMultiDictProxy, MultiMapping
from pydantic import BaseModel, ConfigDict, ValidationError
from pydantic.fields import FieldInfo

from guardian.clock import Clock, SystemClock
from guardian.settings import loc_path

ENTRY_POINT_GROUP = "guardian.plugins"
#: Messages one request (or one pull batch) may carry, whatever the network: more is refused.
MAX_MESSAGES = 500
log = logging.getLogger(__name__)


class PluginSettings(BaseModel):
    """Base of every plugin's settings model; declare secrets as `SecretStr`."""

    model_config = ConfigDict(extra="forbid", frozen=True)


@dataclass(frozen=True)
class IncomingMessage:
    """One message a plugin read from a network, before Guardian stores and decides on it."""

    #: The network's own id of the message: the same id from the same source is a duplicate.
    external_id: str
    #: The network's short name (`telegram`, `sms`); the sender's address is `network:sender_id`.
    network: str
    sender_id: str
    sender_name: str | None = None
    text: str = ""
    #: When the sender sent it (aware); the time of receipt when the network does not say.
    sent_at: datetime | None = None
    conversation_id: str | None = None
    conversation_title: str | None = None
    group: bool = False
    #: The member it is for, when the network says so; the source's member otherwise.
    to: str | None = None

    @property
    def sender_address(self) -> str:
        """`network:sender_id`, what contacts' addresses match."""
        return f"{self.network}:{self.sender_id}"


@dataclass(frozen=True)
class HookRequest:
    """The parts of an HTTP request a push plugin may read; the body is already read and bounded."""

    method: str
    #: The full URL as Guardian was reached (behind a proxy, see the plugin's `public_url`).
    url: str
    headers: CIMultiDictProxy[str]
    query: MultiMapping[str]
    #: The raw bytes, exactly as sent: verify signatures over these.
    body: bytes
    #: Guardian's clock at receipt: check signature timestamps against this, not the wall clock.
    received_at: datetime


@dataclass(frozen=True)
class Received:
    """What a push plugin read: messages, and optionally the reply the network expects."""

    messages: Sequence[IncomingMessage] = ()
    #: Answered as-is instead of Guardian's 202 (a handshake, a challenge echo, empty TwiML).
    reply: web.StreamResponse | None = None


@dataclass(frozen=True)
class PullBatch:
    """Messages a pull plugin read, and the cursor that points just past them."""

    messages: Sequence[IncomingMessage]
    #: Stored by Guardian in the same transaction as the messages; the next `pull` starts here.
    cursor: str


class HookError(Exception):
    """A request the plugin refuses; the core answers `status` with `{"error", "detail"}`."""

    status: ClassVar[int] = 400
    error: ClassVar[str] = "bad_request"

    def __init__(self, detail: str | list[dict[str, str]]) -> None:
        super().__init__(detail if isinstance(detail, str) else f"{len(detail)} invalid fields")
        self.detail = detail


class SourceError(Exception):
    """A pull source cannot read its network (refused credentials, an unknown account, an
    unreachable server): raise it with a message in plain words and without any secret. Guardian
    shows the message as the source's error and tries again later; any other exception is
    shown by its type only, and logged with its traceback as a bug."""


class BadRequest(HookError):
    """400: the body cannot be read (not JSON, not the network's format)."""

    status, error = 400, "bad_request"


class Unauthorized(HookError):
    """401: a missing, wrong or stale signature or secret."""

    status, error = 401, "unauthorized"


class TooLarge(HookError):
    """413: more than the plugin accepts in one request."""

    status, error = 413, "too_large"


class InvalidFields(HookError):
    """422; `detail` is a list of `{"path": ..., "message": ...}`."""

    status, error = 422, "invalid"


def field_errors(error: ValidationError) -> list[dict[str, str]]:
    """A pydantic error as InvalidFields' detail: `{"path": "[0].from.id", "message": ...}`."""
    return [
        {"path": loc_path(e["loc"]), "message": e["msg"].removeprefix("Value error, ")}
        for e in error.errors()
    ]


def json_object(body: bytes, what: str = "a JSON object") -> dict[str, Any]:
    """The body as a JSON object: 400 if it is not JSON, 422 if it is not an object."""
    try:
        document = json.loads(body)
    except RecursionError:
        raise BadRequest("the body is nested too deeply") from None
    except ValueError as error:  # also invalid UTF-8, and numbers of thousands of digits
        raise BadRequest(f"the body is not JSON: {str(error)[:200]}") from None
    if not isinstance(document, dict):
        raise InvalidFields([{"path": "(root)", "message": f"expected {what}"}])
    return document


M = TypeVar("M", bound=BaseModel)


def validated(model: type[M], document: Any) -> M:
    """`document` as `model`, or 422 naming each invalid field by its path."""
    try:
        return model.model_validate(document)
    except ValidationError as error:
        raise InvalidFields(field_errors(error)) from None


S = TypeVar("S", bound=PluginSettings)


@dataclass(frozen=True)
class PluginContext(Generic[S]):
    """Everything a plugin is given."""

    source_id: str
    settings: S
    #: Shared by all plugins for calls to the network; None only where no network is reached.
    session: aiohttp.ClientSession | None
    #: `guardian.plugins.<plugin>.<source>`: never log a secret through it (or any other).
    log: logging.Logger
    #: Guardian's clock: a pull plugin waits with `clock.sleep`, so tests can run it virtually.
    clock: Clock = field(default_factory=SystemClock)


class Plugin(ABC, Generic[S]):
    """What push and pull plugins share: a kind, a settings model, and the context given."""

    #: `push` or `pull`, shown by `guardian plugins`.
    kind: ClassVar[str]
    #: The pydantic model of a source's settings for this plugin.
    settings_model: ClassVar[type[PluginSettings]]
    #: The plugin's own catalogs, for its settings' labels and help on the dashboard, as gettext
    #: names them: `<locale_dir>/<code>/LC_MESSAGES/<gettext_domain>.po` (or `.mo`) per language.
    #: Without them (None), the settings read in English in every language.
    gettext_domain: ClassVar[str | None] = None
    locale_dir: ClassVar[Path | None] = None

    def __init__(self, context: PluginContext[S]) -> None:
        self.context = context
        self.settings: S = context.settings
        self.log = context.log

    def __repr__(self) -> str:
        return f"<{type(self).__name__} source={self.context.source_id!r}>"


class PushPlugin(Plugin[S]):
    """A network that pushes to Guardian: one HTTP request in, messages out."""

    kind: ClassVar[str] = "push"

    @abstractmethod
    async def receive(self, request: HookRequest) -> Received:
        """Check the request's signature and read its messages; raise a HookError to refuse it."""


class PullPlugin(Plugin[S]):
    """A network Guardian reads from: polled or streamed from a cursor that Guardian stores.

    Guardian calls `pull` with the cursor stored last (None the first time), stores each batch's
    messages and its cursor in one transaction, and only then asks for the next batch: a batch
    is either stored whole, cursor included, or read again after a restart. Neither loses nor
    repeats messages (a re-read batch is also deduplicated by external id). When `pull` raises,
    Guardian reports the source as failing and calls `pull` again from the stored cursor, with
    backoff; when Guardian stops, the iterator is closed (cancelled while it waits).
    """

    kind: ClassVar[str] = "pull"

    @abstractmethod
    def pull(self, cursor: str | None) -> AsyncIterator[PullBatch]:
        """Yield batches from `cursor` on, waiting for new messages between them; never return.

        Write it as an async generator (`async def pull(...)` with `yield`). `cursor` is None on
        a source's first run: start at what is new now, not at the network's whole history. A
        batch may have no messages, to move the cursor past events that are not messages.
        """


def setting_label(name: str, setting: FieldInfo) -> str:
    """A setting's label in English: its `Field(title=...)`, else its name in words
    (`access_token` is "Access token"). With its `description`, the message a catalog translates."""
    return setting.title or name.replace("_", " ").capitalize()


#: A plugin class of either kind, as the registry holds it.
PluginClass: TypeAlias = type[PushPlugin[Any]] | type[PullPlugin[Any]]


@dataclass
class PluginInfo:
    """One installed plugin: where it comes from, and its class or why it failed to load."""

    name: str
    package: str
    version: str
    kind: str = "?"
    plugin: PluginClass | None = None
    error: str | None = None


@dataclass
class PluginRegistry:
    """Installed plugins by name; a plugin that fails to load is kept with its error."""

    plugins: dict[str, PluginInfo] = field(default_factory=dict)

    @classmethod
    def discover(cls, extra: Sequence[EntryPoint] = ()) -> PluginRegistry:
        """Every plugin in the `guardian.plugins` entry-point group, plus `extra` ones."""
        registry = cls()
        for entry in [*entry_points(group=ENTRY_POINT_GROUP), *extra]:
            registry.plugins[entry.name] = _load(entry)
        return registry

    @classmethod
    def of(cls, plugins: Mapping[str, PluginClass]) -> PluginRegistry:
        """A registry of the given classes by name, as if they were installed (for tests)."""
        registry = cls()
        for name, plugin in plugins.items():
            package = plugin.__module__.split(".")[0]
            info = PluginInfo(name=name, package=package, version="?")
            try:
                info.plugin, info.kind = _check(plugin, f"{plugin.__module__}:{plugin.__name__}")
            except TypeError as error:
                info.error = f"TypeError: {error}"
            registry.plugins[name] = info
        return registry

    def loaded(self) -> dict[str, type[PushPlugin[Any]]]:
        """The push plugins that loaded, by name: what `/hooks/{source}` serves."""
        return {
            name: i.plugin
            for name, i in self.plugins.items()
            if i.plugin is not None and issubclass(i.plugin, PushPlugin)
        }

    def pulling(self) -> dict[str, type[PullPlugin[Any]]]:
        """The pull plugins that loaded, by name."""
        return {
            name: i.plugin
            for name, i in self.plugins.items()
            if i.plugin is not None and issubclass(i.plugin, PullPlugin)
        }

    def settings_models(self) -> Mapping[str, type[BaseModel]]:
        """Each loaded plugin's settings model (both kinds), to check sources' settings."""
        plugins = [(name, i.plugin) for name, i in self.plugins.items()]
        return {name: plugin.settings_model for name, plugin in plugins if plugin is not None}

    def broken(self) -> dict[str, str]:
        """The plugins that failed to load, with their errors."""
        return {name: i.error for name, i in self.plugins.items() if i.error is not None}


def _load(entry: EntryPoint) -> PluginInfo:
    package = entry.dist.name if entry.dist else entry.module.split(".")[0]
    version = entry.dist.version if entry.dist else "?"
    info = PluginInfo(name=entry.name, package=package, version=version)
    try:
        info.plugin, info.kind = _check(entry.load(), entry.value)
    except Exception as error:  # a broken plugin must not take the others down
        info.error = f"{type(error).__name__}: {error}"
        log.error("plugin %s failed to load: %s", entry.name, info.error)
    return info


def _check(plugin: object, where: str) -> tuple[PluginClass, str]:
    """The plugin class and its kind, or a TypeError saying what is wrong with it."""
    if not (isinstance(plugin, type) and issubclass(plugin, PushPlugin | PullPlugin)):
        raise TypeError(f"{where} is not a guardian PushPlugin or PullPlugin class")
    model = getattr(plugin, "settings_model", None)
    if not (isinstance(model, type) and issubclass(model, BaseModel)):
        raise TypeError(f"{where} has no settings_model (a guardian PluginSettings class)")
    if inspect.isabstract(plugin):
        missing = ", ".join(sorted(getattr(plugin, "__abstractmethods__", ())))
        raise TypeError(f"{where} does not implement {missing}")
    return plugin, plugin.kind
