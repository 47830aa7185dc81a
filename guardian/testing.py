"""The test kit for plugin authors: a plugin mounted in a real Guardian, and the conformance suite.

`mount` starts the real app (`guardian.app.create_app`) on a virtual clock and a throwaway SQLite
file, with one member `mia` and one source `under-test` using the plugin, and serves it over real
HTTP on localhost: send it signed requests, read back what was stored. The plugin needs not be
installed. `check_conformance` runs the checks every plugin must pass against a `PluginCase`, and
`conformance_tests` turns them into one pytest test per check:

    CASE = PluginCase(plugin=PigeonpostPlugin, settings={...}, secrets=[...], message=..., ...)
    test_conformance = conformance_tests(CASE)

pytest is imported only by `conformance_tests`; the rest needs no test framework.
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
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
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

# The pull plugins' conformance suite lives in its own module; plugin authors import it here.
from guardian.conformance_pull import (
    PullCase,
    PullNetwork,
    check_pull_conformance,
    pull_conformance_tests,
)
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
from guardian.state import GUARDIAN, Guardian
from guardian.transfer import to_toml

__all__ = [
    "CONFORMANCE_NOW",
    "MEMBER_ID",
    "SOURCE_ID",
    "WRONG_SECRET",
    "Mounted",
    "PluginCase",
    "PullCase",
    "PullNetwork",
    "Reply",
    "Served",
    "SignedRequest",
    "Signing",
    "StoredNotification",
    "check_conformance",
    "check_plugin_settings",
    "check_pull_conformance",
    "check_settings_errors",
    "conformance_checks",
    "conformance_tests",
    "mount",
    "plugin_instance",
    "pull_batches",
    "pull_conformance_tests",
    "served",
    "settings_text",
]

SOURCE_ID = "under-test"
MEMBER_ID = "mia"
#: The instant the conformance suite runs at (on a virtual clock; plugins must check signature
#: timestamps against `HookRequest.received_at`, never the wall clock).
CONFORMANCE_NOW = datetime(2026, 11, 25, 22, 0, tzinfo=UTC)
#: How long after the first delivery the suite replays it, as a network retrying would.
REPLAY_AFTER = timedelta(seconds=30)
#: Added to a forged signature header, raw: `hmac.compare_digest` raises on a `str` that is not
#: ASCII, and aiohttp hands bytes that are not UTF-8 over as surrogates, which `str.encode()`
#: refuses; compare bytes made with `encode(errors="surrogateescape")` (or "replace").
GARBLE = "\u00fc\u2713".encode() + b"\xff\xfe"
#: Loggers of the infrastructure, kept at WARNING as `guardian serve` keeps them (their DEBUG
#: lines echo SQL and URLs, not what a plugin logs).
QUIET_LOGGERS = ("tortoise", "aiosqlite", "apprise", "asyncio", "aiohttp.access")
#: The secret the tampering table signs with where it signs with the wrong one.
WRONG_SECRET = "conformance-wrong-secret-4c1e"  # noqa: S105 - wrong on purpose


@dataclass(frozen=True)
class SignedRequest:
    """One HTTP request as a network would send it to `/hooks/{source}`."""

    method: str = "POST"
    #: Appended to `/hooks/{source}`; may carry a query string (`?hub.mode=subscribe&...`).
    path: str = ""
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""


#: One request the tampering table sends: made from the case's message (its unique string, and
#: the instant it is sent at).
Tampering = Callable[[str, datetime], SignedRequest]


@dataclass(frozen=True)
class Signing:
    """How a network signs its requests, for the tampering table (`PluginCase.signing`)."""

    #: The body signed at the instant with the secret (the case's own, or `WRONG_SECRET`) as
    #: the network signs it.
    sign: Callable[[bytes, datetime, str], SignedRequest]
    #: The secret the case's settings hold.
    secret: str
    #: The header that carries the signature (or the secret itself).
    header: str
    #: The header that carries the signed timestamp, and how far from the time of receipt it may
    #: be; both None where the network signs no timestamp.
    timestamp_header: str | None = None
    tolerance: timedelta | None = None
    #: False where the signature does not cover the body (a secret token, as Telegram's).
    covers_body: bool = True
    #: Tamperings particular to the network, by name: each request must get 401 (the check is
    #: called `{name}-401`).
    particular: Mapping[str, Tampering] = field(default_factory=dict)


@dataclass(frozen=True)
class PluginCase:
    """What the conformance suite needs to know about one plugin."""

    plugin: type[PushPlugin[Any]]
    #: Valid settings for a source of this plugin (with secrets).
    settings: Mapping[str, Any]
    #: Values that must never appear in repr, logs or error bodies.
    secrets: Sequence[str]
    #: A correctly signed request carrying exactly one message whose network id is derived from
    #: the given unique string, signed at the given instant.
    message: Callable[[str, datetime], SignedRequest]
    #: Signed requests (statuses, edits, joins, bot echoes, ...) that must yield no notification
    #: (answered 2xx).
    non_messages: Callable[[datetime], Sequence[SignedRequest]]
    #: The same request with a wrong signature: 401.
    forge: Callable[[SignedRequest], SignedRequest]
    #: The same request with its signature or secret header removed: 401.
    unsign: Callable[[SignedRequest], SignedRequest]
    #: A request signed too long before the given instant: 401. None where the network signs no
    #: timestamp (Telegram, Twilio, WhatsApp).
    stale: Callable[[str, datetime], SignedRequest] | None = None
    #: What the network expects on success (Twilio: 200 with empty TwiML).
    accepted_status: int = 202
    #: Any body, signed at the given instant as the network signs: lets a fuzz test feed the
    #: plugin mangled bodies that pass its signature check. None where it cannot be offered.
    sign: Callable[[bytes, datetime], SignedRequest] | None = None
    #: For signatures over the URL (Twilio): requests reach the plugin with `request.url` on this
    #: origin (`https://guardian.example.org`) or, when it has a path, as exactly this URL plus
    #: the request's path, as behind a reverse proxy. Alternatively the case sets the plugin's
    #: own `public_url` setting.
    public_url: str | None = None
    #: How the network signs: with it the suite runs its tampering table (a wrong secret, the
    #: body changed, the signature in another header, each tampered timestamp, and what is
    #: particular to the network), each tampered request answered 401 and storing nothing.
    signing: Signing | None = None


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
    def guardian(self) -> Guardian:
        """The running service's state."""
        return self.app[GUARDIAN]


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
        return self.guardian.plugins.get(self.source_id)

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


async def check_conformance(
    case: PluginCase, folder: Path, *, only: Collection[str] | None = None
) -> None:
    """Run the conformance checks (all, or those named in `only`) on one mounted plugin.

    Raises one AssertionError listing every check that failed, each with what was expected and
    what happened. No secret may appear in any log line of the whole run or any error body.
    """
    names = conformance_checks(case)
    if only is not None:
        unknown = sorted(set(only) - set(names))
        if unknown:
            raise ValueError(f"unknown conformance checks {unknown} (this case has {names})")
        names = [name for name in names if name in only]
    failures: list[str] = []
    if SETTINGS_CHECK in names:
        try:
            check_settings_errors(case)
        except AssertionError as error:
            failures.append(f"{SETTINGS_CHECK}: {error}")
    applicable = _checks(case)
    checks = [(name, applicable[name]) for name in names if name in applicable]
    if checks:
        async with mount(
            case.plugin,
            case.settings,
            now=CONFORMANCE_NOW,
            folder=folder,
            public_url=case.public_url,
        ) as mounted:
            for name, check in checks:
                try:
                    await check(case, mounted)
                except AssertionError as error:
                    failures.append(f"{name}: {error}")
        # After shutdown, so that the whole run's logs are checked.
        where = {"the logs": mounted.logs}
        where.update(
            {
                f"the error body #{n} ({reply.status})": reply.body.decode("utf-8", "replace")
                for n, reply in enumerate(mounted.error_replies, start=1)
            }
        )
        leaks = _leaks(case, where)
        if leaks:
            failures.append(f"{LEAK_CHECK}: {leaks}")
    if failures:
        listed = "\n".join(f"  - {failure}" for failure in failures)
        raise AssertionError(
            f"{case.plugin.__name__} fails {len(failures)} conformance check(s):\n{listed}"
        )


def conformance_checks(case: PluginCase) -> list[str]:
    """The names of the checks that apply to `case`, in the order they run."""
    return [*_checks(case), SETTINGS_CHECK]


def conformance_tests(
    case: PluginCase, *, known_failures: Mapping[str, str] | None = None
) -> Callable[[str, Path], None]:
    """One pytest test per conformance check: `test_conformance = conformance_tests(CASE)`.

    Each check runs on its own mounted app (in pytest's `tmp_path`) and reports its own leaks.
    `known_failures` maps check names to the reason they fail for now: those run as strict
    xfails, so the day they pass the test says to take them out.
    """
    import pytest  # only here: the rest of the kit needs no test framework

    known = dict(known_failures or {})
    names = conformance_checks(case)
    unknown = sorted(set(known) - set(names))
    if unknown:
        raise ValueError(f"unknown conformance checks {unknown} (this case has {names})")
    checks = [
        pytest.param(name, marks=pytest.mark.xfail(strict=True, reason=known[name]))
        if name in known
        else name
        for name in names
    ]

    @pytest.mark.parametrize("check", checks)
    def test_conformance(check: str, tmp_path: Path) -> None:
        asyncio.run(check_conformance(case, tmp_path, only=[check]))

    test_conformance.__doc__ = f"{case.plugin.__name__} passes Guardian's conformance suite."
    return test_conformance


# The checks. Each sends its own requests, with ids of its own, to the one mounted source.


async def _message_accepted(case: PluginCase, guardian: Mounted) -> None:
    before = {n.external_id for n in await guardian.notifications()}
    reply = await guardian.send(case.message("conformance-one", guardian.clock.now()))
    _expect(
        reply.status == case.accepted_status,
        f"a correctly signed message was answered {reply.describe()}, "
        f"expected {case.accepted_status}",
    )
    new = [n for n in await guardian.notifications() if n.external_id not in before]
    _expect(len(new) == 1, f"one message should store one notification, it stored {len(new)}")
    stored = new[0]
    _expect(
        stored.sender_address.startswith(f"{stored.network}:") and bool(stored.sender_id),
        f"the sender address {stored.sender_address!r} is not `network:id`",
    )
    _expect(stored.member == MEMBER_ID, f"stored for member {stored.member!r}, not the source's")


async def _replay_is_duplicate(case: PluginCase, guardian: Mounted) -> None:
    request = case.message("conformance-replay", guardian.clock.now())
    first = await guardian.send(request)
    _expect(
        first.status == case.accepted_status,
        f"a correctly signed message was answered {first.describe()}",
    )
    count = len(await guardian.notifications())
    await guardian.clock.advance(REPLAY_AFTER)
    again = await guardian.send(request)
    _expect(
        again.status == case.accepted_status,
        f"the same request again (a network's retry) was answered {again.describe()}, expected "
        f"{case.accepted_status}: a network retries what it does not see succeed",
    )
    stored = len(await guardian.notifications()) - count
    _expect(
        stored == 0,
        f"the same request again stored {stored} more notification(s): the external id must be "
        "the network's own message id, so that a retry is a duplicate",
    )


def _refused(what: str, make: Callable[[PluginCase, Mounted], SignedRequest]) -> _Check:
    async def check(case: PluginCase, guardian: Mounted) -> None:
        count = len(await guardian.notifications())
        reply = await guardian.send(make(case, guardian))
        _expect(reply.status == 401, f"{what} was answered {reply.describe()}, expected 401")
        stored = len(await guardian.notifications()) - count
        _expect(stored == 0, f"{what} stored {stored} notification(s)")

    return check


async def _garbled_signature(case: PluginCase, guardian: Mounted) -> None:
    original = case.message("conformance-garbled", guardian.clock.now())
    forged = case.forge(original)
    headers = [
        (name, value.encode() + (GARBLE if original.headers.get(name) != value else b""))
        for name, value in forged.headers.items()
    ]
    count = len(await guardian.notifications())
    reply = await guardian._send_raw(forged.method, forged.path, headers, forged.body)
    _expect(
        reply.status == 401,
        "the forged request with bytes that are not ASCII (nor UTF-8) added to the headers that "
        f"`forge` changed was answered {reply.describe()}, expected 401: bad input is never a 500",
    )
    stored = len(await guardian.notifications()) - count
    _expect(stored == 0, f"a garbled signature stored {stored} notification(s)")


async def _non_messages_store_nothing(case: PluginCase, guardian: Mounted) -> None:
    requests = case.non_messages(guardian.clock.now())
    for index, request in enumerate(requests):
        count = len(await guardian.notifications())
        reply = await guardian.send(request)
        what = f"non-message #{index} ({request.method} {request.path or '/'})"
        _expect(200 <= reply.status < 300, f"{what} was answered {reply.describe()}, expected 2xx")
        stored = len(await guardian.notifications()) - count
        _expect(stored == 0, f"{what} stored {stored} notification(s), expected none")


async def _secrets_stay_secret(case: PluginCase, guardian: Mounted) -> None:
    _expect(bool(case.secrets) and all(case.secrets), "the case lists no (or an empty) secret")
    model = case.plugin.settings_model.model_validate(case.settings)
    plain = [
        name
        for name, value in case.settings.items()
        if _plain(value) in case.secrets and not _is_secret_field(case.plugin, name)
    ]
    _expect(not plain, f"settings {plain} hold secrets but are not declared as SecretStr")
    leaks = _leaks(
        case,
        {
            "repr(plugin)": repr(guardian.plugin),
            "str(plugin)": str(guardian.plugin),
            "repr(settings)": repr(model),
            "str(settings)": str(model),
            "the settings as JSON": model.model_dump_json(),
        },
    )
    _expect(not leaks, f"secrets leaked: {leaks}")


async def _accepted_within_tolerance(case: PluginCase, guardian: Mounted) -> None:
    signing = _signing(case)
    tolerance = _tolerance(signing)
    now = guardian.clock.now()
    body = case.message("conformance-recent", now).body
    count = len(await guardian.notifications())
    reply = await guardian.send(
        signing.sign(body, now - tolerance + timedelta(seconds=1), signing.secret)
    )
    _expect(
        reply.status == case.accepted_status,
        f"a request signed a second less than {tolerance} ago was answered {reply.describe()}, "
        f"expected {case.accepted_status}",
    )
    stored = len(await guardian.notifications()) - count
    _expect(stored == 1, f"a request signed within the tolerance stored {stored} notification(s)")


def _tampered(what: str, make: Callable[[PluginCase, Signing, datetime], SignedRequest]) -> _Check:
    return _refused(what, lambda case, g: make(case, _signing(case), g.clock.now()))


def _wrong_secret(case: PluginCase, signing: Signing, now: datetime) -> SignedRequest:
    return signing.sign(case.message("conformance-wrong-secret", now).body, now, WRONG_SECRET)


def _body_changed(case: PluginCase, signing: Signing, now: datetime) -> SignedRequest:
    signed = case.message("conformance-body-signed", now)
    return replace(signed, body=case.message("conformance-body-sent", now).body)


def _in_another_header(case: PluginCase, signing: Signing, now: datetime) -> SignedRequest:
    signed = case.message("conformance-other-header", now)
    other = "X-Signature" if signing.header.lower() == "authorization" else "Authorization"
    return _with_headers(signed, {signing.header: None, other: _header(signed, signing.header)})


def _particular(name: str, make: Tampering) -> _Check:
    return _refused(
        f"the tampering {name!r} particular to the network",
        lambda case, g: make(f"conformance-{name}", g.clock.now()),
    )


def _signed_at(
    shift: Callable[[timedelta], timedelta], unique: str
) -> Callable[[PluginCase, Signing, datetime], SignedRequest]:
    """The message signed at now + `shift(tolerance)`."""

    def make(case: PluginCase, signing: Signing, now: datetime) -> SignedRequest:
        body = case.message(unique, now).body
        return signing.sign(body, now + shift(_tolerance(signing)), signing.secret)

    return make


def _timestamp_set(
    value: Callable[[str, Signing, datetime], str | None], unique: str
) -> Callable[[PluginCase, Signing, datetime], SignedRequest]:
    """The message correctly signed, then its timestamp header changed (None: removed)."""

    def make(case: PluginCase, signing: Signing, now: datetime) -> SignedRequest:
        signed = signing.sign(case.message(unique, now).body, now, signing.secret)
        header = _timestamp_header(signing)
        return _with_headers(signed, {header: value(_header(signed, header), signing, now)})

    return make


def _timestamp_of_another_instant(stamp: str, signing: Signing, now: datetime) -> str:
    later = signing.sign(b"", now + timedelta(seconds=1), signing.secret)
    return _header(later, _timestamp_header(signing))


_Check = Callable[[PluginCase, Mounted], Awaitable[None]]

#: The checks every case gets, in the order they run (stale only where the network signs a time).
_CHECKS: dict[str, _Check] = {
    "message-accepted": _message_accepted,
    "replay-is-duplicate": _replay_is_duplicate,
    "forged-signature-401": _refused(
        "a request with a wrong signature",
        lambda case, g: case.forge(case.message("conformance-forged", g.clock.now())),
    ),
    "missing-signature-401": _refused(
        "a request without its signature",
        lambda case, g: case.unsign(case.message("conformance-unsigned", g.clock.now())),
    ),
    "garbled-signature-401": _garbled_signature,
    "stale-signature-401": _refused(
        "a request signed too long ago",
        lambda case, g: _stale(case)("conformance-stale", g.clock.now()),
    ),
}
#: The tampering table, for cases that say how the network signs (`PluginCase.signing`).
_TAMPERING: dict[str, _Check] = {
    "wrong-secret-401": _tampered("a request signed with another secret", _wrong_secret),
    "signature-in-another-header-401": _tampered(
        "the signature sent in another header", _in_another_header
    ),
}
#: ... where the signature covers the body.
_BODY_TAMPERING: dict[str, _Check] = {
    "body-changed-401": _tampered(
        "a message's signature sent with another message's body", _body_changed
    ),
}
#: ... where the network signs a timestamp.
_TIMESTAMP_TAMPERING: dict[str, _Check] = {
    "missing-timestamp-401": _tampered(
        "a request without its timestamp",
        _timestamp_set(lambda stamp, signing, now: None, "conformance-no-timestamp"),
    ),
    "timestamp-not-a-number-401": _tampered(
        "a request whose timestamp is not a number",
        _timestamp_set(lambda stamp, signing, now: "soon", "conformance-timestamp-word"),
    ),
    "timestamp-not-an-integer-401": _tampered(
        "a request whose timestamp has a fraction added",
        _timestamp_set(lambda stamp, signing, now: f"{stamp}.5", "conformance-timestamp-fraction"),
    ),
    "timestamp-not-the-signed-one-401": _tampered(
        "a request whose timestamp is a second off the one signed",
        _timestamp_set(_timestamp_of_another_instant, "conformance-timestamp-other"),
    ),
    "signed-before-tolerance-401": _tampered(
        "a request signed a second more than the tolerance ago",
        _signed_at(lambda tolerance: -tolerance - timedelta(seconds=1), "conformance-too-old"),
    ),
    "signed-after-tolerance-401": _tampered(
        "a request signed a second more than the tolerance ahead",
        _signed_at(lambda tolerance: tolerance + timedelta(seconds=1), "conformance-too-new"),
    ),
    "signed-within-tolerance-accepted": _accepted_within_tolerance,
}
#: The last checks of every case.
_LAST_CHECKS: dict[str, _Check] = {
    "non-messages-store-nothing": _non_messages_store_nothing,
    "secrets-stay-secret": _secrets_stay_secret,
}


def _checks(case: PluginCase) -> dict[str, _Check]:
    """The checks that apply to `case` (but the settings check), by name, in the order they run."""
    checks = {
        name: check
        for name, check in _CHECKS.items()
        if name != "stale-signature-401" or case.stale is not None
    }
    signing = case.signing
    if signing is not None:
        checks.update(_TAMPERING)
        if signing.covers_body:
            checks.update(_BODY_TAMPERING)
        if signing.timestamp_header is not None:
            checks.update(_TIMESTAMP_TAMPERING)
        for name, tampering in signing.particular.items():
            check_name = f"{name}-401"
            if check_name in checks or check_name in _LAST_CHECKS:
                raise ValueError(f"the particular tampering {name!r} is one of the suite's own")
            checks[check_name] = _particular(name, tampering)
    checks.update(_LAST_CHECKS)
    return checks


SETTINGS_CHECK = "settings-errors-name-the-field"
#: The name under which a secret found in the run's logs or error bodies is reported.
LEAK_CHECK = "secrets-in-logs-or-error-bodies"


def check_settings_errors(case: PluginCase) -> None:
    """Settings errors name the field: a missing required setting, settings without any
    secret, an unknown setting; the valid settings are accepted; no message echoes a secret."""
    check_plugin_settings(case.plugin, case.settings, case.secrets)


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


# Helpers for plugin unit tests: a plugin instance without an app, and a pull plugin's batches.

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


# Internals.


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)


def _signing(case: PluginCase) -> Signing:
    assert case.signing is not None, "the tampering table runs only for cases with `signing`"
    return case.signing


def _tolerance(signing: Signing) -> timedelta:
    assert signing.tolerance is not None, "a signed timestamp needs `Signing.tolerance`"
    return signing.tolerance


def _timestamp_header(signing: Signing) -> str:
    assert signing.timestamp_header is not None, "the timestamp rows need `timestamp_header`"
    return signing.timestamp_header


def _header(request: SignedRequest, name: str) -> str:
    """A header of `request`, looked up as HTTP does: whatever its case."""
    found = CIMultiDict(request.headers).get(name)
    assert found is not None, f"the signed request has no {name} header: {dict(request.headers)}"
    return found


def _with_headers(request: SignedRequest, changes: Mapping[str, str | None]) -> SignedRequest:
    """The same request with headers set to new values, or removed where the value is None."""
    lowered = {name.lower() for name in changes}
    headers = {
        name: value for name, value in request.headers.items() if name.lower() not in lowered
    }
    headers.update({name: value for name, value in changes.items() if value is not None})
    return replace(request, headers=headers)


def _stale(case: PluginCase) -> Callable[[str, datetime], SignedRequest]:
    assert case.stale is not None, "the stale check runs only for cases with `stale`"
    return case.stale


def _leaks(case: PluginCase, where: Mapping[str, str]) -> list[str]:
    return _found(case.secrets, where)


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
