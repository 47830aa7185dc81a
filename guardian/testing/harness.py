"""A plugin mounted in a real Guardian: `mount` starts the real app (`guardian.app.create_app`) on
a virtual clock and a throwaway SQLite file, with one member `mia` and one source `under-test`
using the plugin, and serves it over real HTTP on localhost (`served`): send it signed requests,
read back what was stored. The plugin needs not be installed. Also what both conformance suites
share: the settings checks, the secret hunt in logs and answers, the settings file writer.
One module because it is what both suites stand on: neither imports the other.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import (
    AsyncIterator,
    Awaitable,
    Callable,
    Collection,
    Iterator,
    Mapping,
    Sequence,
)
from contextlib import asynccontextmanager, contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple, TypeVar, get_args

import aiohttp
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from aiohttp.typedefs import Middleware
from multidict import CIMultiDict, CIMultiDictProxy
from pydantic import SecretStr, ValidationError
from yarl import URL

from guardian.app import create_app
from guardian.clock import Clock, VirtualClock
from guardian.core import CORE, Service
from guardian.delivery import RecordingSender
from guardian.models import Notification
from guardian.plugin import (
    Plugin,
    PluginContext,
    PluginRegistry,
    PluginSettings,
    PullBatch,
    PullPlugin,
    PushPlugin,
)
from guardian.settings import format_validation_errors, load_settings
from guardian.transfer import to_toml

SOURCE_ID = "under-test"


MEMBER_ID = "mia"


#: The instant the conformance suite runs at (on a virtual clock; plugins must check signature
#: timestamps against `HookRequest.received_at`, never the wall clock).
CONFORMANCE_NOW = datetime(2026, 11, 25, 22, 0, tzinfo=UTC)


#: Loggers of the infrastructure, kept at WARNING as `guardian serve` keeps them (their DEBUG
#: lines echo SQL and URLs, not what a plugin logs).
QUIET_LOGGERS = ("tortoise", "aiosqlite", "apprise", "asyncio", "aiohttp.access")


@dataclass(frozen=True)
class SignedRequest:
    """One HTTP request as a network would send it to `/hooks/{source}`."""

    method: str = "POST"
    #: Appended to `/hooks/{source}`; may carry a query string (`?hub.mode=subscribe&...`).
    path: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""


class Reply(NamedTuple):
    """Guardian's answer to one request."""

    status: int
    headers: CIMultiDictProxy[str]
    body: bytes

    def describe(self) -> str:
        """The status and the start of the body, for assertion messages."""
        return f"{self.status} {self.body[:300]!r}"


@dataclass(frozen=True)
class StoredNotification:
    """A notification as Guardian stored it: what the plugin read, and what Guardian added."""

    external_id: str
    network: str
    sender_address: str
    sender_name: str | None
    text: str
    conversation_id: str | None
    conversation_title: str | None
    group: bool
    member: str
    sent_at: datetime
    received_at: datetime
    #: `held`, `forwarded`, ... (the kit's member is always in quiet hours: `held`).
    status: str

    @property
    def sender_id(self) -> str:
        """The sender's id on its network (the address without `network:`)."""
        return self.sender_address.partition(":")[2]


@dataclass
class Served:
    """A Guardian app on a virtual clock, reached through real HTTP on localhost; see `served`."""

    app: web.Application
    client: TestClient[web.Request, web.Application]
    clock: VirtualClock

    @property
    def service(self) -> Service:
        """The running service's state."""
        return self.app[CORE]


@asynccontextmanager
async def served(app: web.Application, clock: VirtualClock) -> AsyncIterator[Served]:
    """Serve `app` (made by `create_app` on `clock`) over real HTTP on localhost, with a client.

    The app's startup runs on entry and its cleanup on exit, for whatever started, even when
    starting failed. No access log: its lines carry query strings, where some handshakes put a
    secret.
    """
    client: TestClient[web.Request, web.Application] = TestClient(TestServer(app))
    try:
        await client.server.start_server(access_log=None)
        await client.start_server()
        yield Served(app, client, clock)
    finally:
        await client.close()


@dataclass
class Mounted(Served):
    """A plugin mounted in a running Guardian, reached through real HTTP; see `mount`."""

    source_id: str = SOURCE_ID
    public_url: str | None = None
    #: Every answer with a status of 400 or more, in order.
    error_replies: list[Reply] = field(default_factory=list)
    _log_lines: list[str] = field(default_factory=list)
    _served: URL = field(default_factory=URL)

    @property
    def plugin(self) -> PushPlugin[Any] | None:
        """The plugin instance serving the source; None if it could not start."""
        return self.service.plugins.get(self.source_id)

    @property
    def logs(self) -> str:
        """Every log line of the run so far (DEBUG and up), as text."""
        return "\n".join(self._log_lines)

    def url(self, path: str = "") -> str:
        """The full URL a request with this `path` reaches the plugin at (`request.url`)."""
        hook = f"/hooks/{self.source_id}{path}"
        if self.public_url is None:
            return str(self._served.join(URL(hook)))
        public = URL(self.public_url)
        if public.path in ("", "/"):
            return str(public.join(URL(hook)))
        return self.public_url + path

    async def send(self, request: SignedRequest) -> Reply:
        """Send one request to the source's hook; the answer with its body read."""
        async with self.client.request(
            request.method,
            f"/hooks/{self.source_id}{request.path}",
            headers=dict(request.headers),
            data=request.body or None,
        ) as response:
            reply = Reply(response.status, response.headers, await response.read())
        if reply.status >= 400:
            self.error_replies.append(reply)
        return reply

    async def _send_raw(
        self, method: str, path: str, headers: Sequence[tuple[str, bytes]], body: bytes
    ) -> Reply:
        """Send a request written byte by byte (the client refuses header bytes not UTF-8)."""
        host, port = self._served.host, self._served.port
        assert host is not None and port is not None, "the app is being served"
        head = [f"{method} /hooks/{self.source_id}{path} HTTP/1.1".encode()]
        head.append(f"Host: {host}:{port}".encode())
        head.append(f"Content-Length: {len(body)}".encode())
        head.append(b"Connection: close")
        skip = {"host", "content-length", "connection", "transfer-encoding"}
        head += [
            name.encode() + b": " + value for name, value in headers if name.lower() not in skip
        ]
        reader, writer = await asyncio.open_connection(host, port)
        try:
            writer.write(b"\r\n".join(head) + b"\r\n\r\n" + body)
            await writer.drain()
            answer = await reader.read()
        finally:
            writer.close()
            await writer.wait_closed()
        status_line, _, rest = answer.partition(b"\r\n")
        header_block, _, content = rest.partition(b"\r\n\r\n")
        fields = CIMultiDict[str]()
        for line in header_block.decode("latin-1").split("\r\n"):
            name, _, value = line.partition(":")
            fields.add(name.strip(), value.strip())
        reply = Reply(int(status_line.split()[1]), CIMultiDictProxy(fields), content)
        if reply.status >= 400:
            self.error_replies.append(reply)
        return reply

    async def notifications(self) -> list[StoredNotification]:
        """What Guardian stored from this source, oldest first."""
        rows = (
            await Notification.filter(source__slug=self.source_id)
            .order_by("received_at", "external_id")
            .prefetch_related("member")
        )
        return [
            StoredNotification(
                external_id=row.external_id,
                network=row.network,
                sender_address=row.sender_address,
                sender_name=row.sender_name,
                text=row.text,
                conversation_id=row.conversation_id,
                conversation_title=row.conversation_title,
                group=row.is_group,
                member=row.member.slug,
                sent_at=row.sent_at,
                received_at=row.received_at,
                status=row.status,
            )
            for row in rows
        ]


@asynccontextmanager
async def mount(
    plugin: type[PushPlugin[Any]] | type[PullPlugin[Any]],
    settings: Mapping[str, Any],
    *,
    now: datetime,
    folder: Path,
    source_id: str = SOURCE_ID,
    public_url: str | None = None,
) -> AsyncIterator[Mounted]:
    """Run a real Guardian with one source `source_id` of member `mia` served by `plugin` (a
    push plugin at `/hooks/{source_id}`; a pull plugin run by the pull runtime).

    The app runs on a `VirtualClock` at `now`, on a SQLite file in `folder`, with a registry that
    holds just `plugin` (as `under-test`) and the built-in `webhook`; the member is always in
    quiet hours, so what is accepted is held, and nothing is delivered anywhere. Every log line
    of the run is captured in `Mounted.logs`. The app is shut down through its cleanup on exit.
    """
    _require_valid(plugin, settings)
    from plugins.webhook import WebhookPlugin  # the reference plugin, shipped with Guardian

    registry = PluginRegistry.of({"under-test": plugin, "webhook": WebhookPlugin})
    path = _write_settings(folder, "under-test", settings, source_id)
    lines: list[str] = []
    with _captured_logs(lines):
        guardian_settings = load_settings(path, registry.settings_models())
        clock = VirtualClock(now)
        app = create_app(guardian_settings, clock, registry=registry, sender=RecordingSender())
        if public_url is not None:
            app.middlewares.append(_behind_proxy(public_url))
        async with served(app, clock) as running:
            yield Mounted(
                app,
                running.client,
                clock,
                source_id,
                public_url,
                _log_lines=lines,
                _served=running.client.make_url("/"),
            )


SETTINGS_CHECK = "settings-errors-name-the-field"


#: The name under which a secret found in the run's logs or error bodies is reported.
LEAK_CHECK = "secrets-in-logs-or-error-bodies"


def check_plugin_settings(
    plugin: type[Plugin[Any]], settings: Mapping[str, Any], secrets: Sequence[str]
) -> None:
    """`check_settings_errors` for a plugin of either kind, its valid settings and secrets."""
    model = plugin.settings_model
    valid = {name: _plain(value) for name, value in settings.items()}
    problems = _validation_problems(model, valid)
    _expect(not problems, f"the case's own settings are refused: {problems}")
    secret_fields = [
        name for name, value in valid.items() if value in secrets or _is_secret_field(plugin, name)
    ]
    tries: list[tuple[str, dict[str, Any], Sequence[str]]] = [
        (f"without the required {name!r}", _without(valid, [name]), [name])
        for name, info in model.model_fields.items()
        if info.is_required() and name in valid
    ]
    if secret_fields:
        tries.append((f"without any secret {secret_fields}", _without(valid, secret_fields), []))
    tries.append(
        ("with an unknown setting", {**valid, "no_such_setting": "x"}, ["no_such_setting"])
    )
    for what, tried, must_name in tries:
        try:
            model.model_validate(tried)
        except ValidationError as error:
            errors, messages = error.errors(), format_validation_errors(error)
        else:
            raise AssertionError(f"settings {what} were accepted")
        named = must_name or secret_fields
        _expect(
            any(_names(e, name) for e in errors for name in named),
            f"the error for settings {what} names none of {list(named)}: {messages}",
        )
        leaks = _found(secrets, {f"the error for settings {what}": str(messages)})
        _expect(not leaks, f"secrets leaked: {leaks}")


P = TypeVar("P", bound=Plugin[Any])


def plugin_instance(
    plugin: type[P],
    settings: Mapping[str, Any],
    *,
    source_id: str = SOURCE_ID,
    session: aiohttp.ClientSession | None = None,
    clock: Clock | None = None,
) -> P:
    """An instance of `plugin` with validated settings, as Guardian would make it."""
    context = PluginContext(
        source_id=source_id,
        settings=plugin.settings_model.model_validate(dict(settings)),
        session=session,
        log=logging.getLogger(f"guardian.plugins.under-test.{source_id}"),
        clock=clock or VirtualClock(CONFORMANCE_NOW),
    )
    return plugin(context)


async def pull_batches(
    plugin: PullPlugin[Any], cursor: str | None, count: int, *, within: float = 10
) -> list[PullBatch]:
    """The first `count` batches `plugin.pull(cursor)` yields, waiting at most `within`
    seconds in all; the iterator is closed after, as Guardian closes it when it stops."""
    batches: list[PullBatch] = []
    iterator = plugin.pull(cursor)
    try:
        async with asyncio.timeout(within):
            async for batch in iterator:
                batches.append(batch)
                if len(batches) >= count:
                    break
    finally:
        close = getattr(iterator, "aclose", None)
        if close is not None:
            await close()
    return batches


def chosen_checks(
    names: list[str], only: Collection[str] | None, what: str, among: str
) -> list[str]:
    """The checks of a suite to run: all of `names`, or those in `only`; a ValueError names any
    check in `only` the suite does not have (`unknown {what} [...] ({among} [...])`)."""
    if only is None:
        return names
    unknown = sorted(set(only) - set(names))
    if unknown:
        raise ValueError(f"unknown {what} {unknown} ({among} {names})")
    return [name for name in names if name in only]


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def _found(secrets: Sequence[str], where: Mapping[str, str]) -> list[str]:
    return [
        f"{_hint(secret)} in {place}"
        for place, text in where.items()
        for secret in secrets
        if secret and secret in text
    ]


def _hint(secret: str) -> str:
    """A secret named without showing it (the failure message is itself printed)."""
    return f"secret {secret[:3]}…({len(secret)} characters)"


def _plain(value: Any) -> Any:
    return value.get_secret_value() if isinstance(value, SecretStr) else value


def _is_secret_field(plugin: type[Plugin[Any]], name: str) -> bool:
    info = plugin.settings_model.model_fields.get(name)
    return info is not None and _mentions_secret(info.annotation)


def _mentions_secret(annotation: Any) -> bool:
    if isinstance(annotation, type) and issubclass(annotation, SecretStr):
        return True
    return any(_mentions_secret(arg) for arg in get_args(annotation))


def _names(error: Mapping[str, Any], name: str) -> bool:
    return name in [str(part) for part in error["loc"]] or name in str(error["msg"])


def _without(settings: Mapping[str, Any], names: Collection[str]) -> dict[str, Any]:
    return {key: value for key, value in settings.items() if key not in names}


def _validation_problems(model: type[PluginSettings], settings: Mapping[str, Any]) -> list[str]:
    try:
        model.model_validate(dict(settings))
    except ValidationError as error:
        return format_validation_errors(error)
    return []


def _require_valid(plugin: type[Plugin[Any]], settings: Mapping[str, Any]) -> None:
    plain = {name: _plain(value) for name, value in settings.items()}
    problems = _validation_problems(plugin.settings_model, plain)
    if problems:
        raise AssertionError(f"the settings for {plugin.__name__} are not valid: {problems}")


def settings_text(document: Mapping[str, Any]) -> str:
    """The text of a settings file holding `document`, written as `guardian export` writes one
    (`[[members]]`, `[policies.name]`, values inline; scalars by tomli-w): secrets
    (`SecretStr`) as their values, paths as text, and keys whose value is None left out."""
    return to_toml(_toml_ready(document))


def _toml_ready(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {key: _toml_ready(item) for key, item in value.items() if item is not None}
    if isinstance(value, list | tuple):
        return [_toml_ready(item) for item in value]
    if isinstance(value, Path):
        return str(value)
    return _plain(value)


def _write_settings(
    folder: Path, plugin_name: str, settings: Mapping[str, Any], source_id: str
) -> Path:
    """Minimal settings: a household in UTC, member `mia` always in quiet hours, one source."""
    folder.mkdir(parents=True, exist_ok=True)
    document = {
        "database": {"url": f"sqlite://{folder.resolve() / 'guardian.db'}"},
        "household": {"name": "Plugin test household", "timezone": "UTC"},
        "members": [{"id": MEMBER_ID, "name": "Mia", "role": "child", "policy": "always-quiet"}],
        "policies": {
            "always-quiet": {
                "quiet": [
                    {"days": "daily", "start": "00:00", "end": "12:00"},
                    {"days": "daily", "start": "12:00", "end": "00:00"},
                ]
            }
        },
        "sources": [{"id": source_id, "plugin": plugin_name, "member": MEMBER_ID, **settings}],
    }
    path = folder / "settings.toml"
    path.write_text(settings_text(document), encoding="utf-8")
    return path


class _Capture(logging.Handler):
    def __init__(self, lines: list[str]) -> None:
        super().__init__(logging.DEBUG)
        self.lines = lines
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.lines.append(self.format(record))
        except Exception:  # a bad log call must not break the run under test
            self.handleError(record)


@contextmanager
def _captured_logs(lines: list[str]) -> Iterator[None]:
    """Every log line at DEBUG and up into `lines`; the infrastructure's at WARNING and up."""
    root = logging.getLogger()
    quiet = [logging.getLogger(name) for name in QUIET_LOGGERS]
    levels = [root.level, *(logger.level for logger in quiet)]
    handler = _Capture(lines)
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    for logger in quiet:
        logger.setLevel(max(logger.level, logging.WARNING))
    try:
        yield
    finally:
        root.removeHandler(handler)
        for logger, level in zip([root, *quiet], levels, strict=True):
            logger.setLevel(level)


def _behind_proxy(public_url: str) -> Middleware:
    """A middleware that makes `request.url` what it would be behind a proxy at `public_url`."""
    public = URL(public_url)
    host = public.host_port_subcomponent or ""

    @web.middleware
    async def as_public(
        request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        rel_url = request.rel_url
        if public.path not in ("", "/"):
            rel_url = rel_url.with_path(public.path, keep_query=True)
        return await handler(request.clone(scheme=public.scheme, host=host, rel_url=rel_url))

    return as_public
