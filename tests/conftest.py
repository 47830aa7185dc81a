"""Real parts for tests: a local JSON receiver and an SMTP server for Apprise, real SQLite files,
Guardian apps on a virtual clock behind pytest-aiohttp's real HTTP client."""

from __future__ import annotations

import asyncio
import json
import os
import socket
import textwrap
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator, Sequence
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiosmtpd.controller import Controller

from guardian.app import create_app
from guardian.clock import VirtualClock
from guardian.database import SCHEMA_CACHE_ENV
from guardian.logs import TEXT_FORMAT, RedactingFormatter
from guardian.plugin import PluginRegistry
from guardian.settings import Settings, load_settings
from guardian.signatures import signed_headers
from guardian.simulate import run_until
from guardian.testing import Served, served, settings_text

SECRET = "whsec_dGVzdC1zZWNyZXQtZm9yLWd1YXJkaWFuLXRlc3Rz"
TOKEN = "test-token-7f3a"
AMSTERDAM = "Europe/Amsterdam"
#: Mia's quiet hours in the test household.
SCHOOL_NIGHTS = {"days": "mon-thu,sun", "start": "21:30", "end": "07:00"}


#: Every secret the tests configure; no log line the suite produces may contain one.
TEST_SECRETS = (SECRET, TOKEN, SECRET.removeprefix("whsec_"))


@pytest.fixture(scope="session", autouse=True)
def schema_cache(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """Every new SQLite database of the run (in-process and in `guardian serve` subprocesses) is
    a copy of one freshly migrated schema, instead of running every migration again."""
    folder = tmp_path_factory.mktemp("schema")
    before = os.environ.get(SCHEMA_CACHE_ENV)
    os.environ[SCHEMA_CACHE_ENV] = str(folder)
    yield folder
    if before is None:
        os.environ.pop(SCHEMA_CACHE_ENV, None)
    else:
        os.environ[SCHEMA_CACHE_ENV] = before


@pytest.fixture(scope="session")
def postgres() -> Iterator[Any]:
    """One throwaway PostgreSQL cluster for the whole run (tests.pg); each test makes its own
    database in it with `postgres.create_database()`."""
    from tests.pg import cluster

    with cluster() as running:
        yield running


@pytest.fixture(scope="session")
def imap_server() -> Iterator[Any]:
    """One real Dovecot for the session (tests/dovecot.py): give each test its own mailbox."""
    from tests.dovecot import dovecot

    with dovecot() as server:
        yield server


@pytest.fixture(scope="session")
def homeserver() -> Iterator[Any]:
    """One real Synapse for the session (tests/synapse.py): register users per test."""
    from tests.synapse import synapse

    with synapse() as server:
        yield server


@pytest.fixture(autouse=True)
def no_secret_in_logs(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """Every log record of every test, formatted as Guardian formats it, is free of secrets."""
    yield
    formatter = RedactingFormatter(TEXT_FORMAT)
    for record in caplog.records:
        line = formatter.format(record)
        leaked = [secret for secret in TEST_SECRETS if secret in line]
        assert not leaked, f"a secret in the log: {line}"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Receiver:
    """A local HTTP endpoint that Apprise's json:// posts to; it can be told to fail."""

    url: str = ""
    received: list[dict[str, Any]] = field(default_factory=list)
    fail_with: int | None = None
    arrived: asyncio.Event = field(default_factory=asyncio.Event)

    def channel(self, path: str = "notify") -> str:
        return f"json://{self.url.removeprefix('http://')}/{path}"

    async def wait_for(self, count: int, timeout: float = 10) -> list[dict[str, Any]]:
        async with asyncio.timeout(timeout):
            while len(self.received) < count:
                self.arrived.clear()
                await self.arrived.wait()
        return self.received


@pytest.fixture
async def receiver(aiohttp_server: Any) -> Receiver:
    state = Receiver()

    async def handle(request: web.Request) -> web.Response:
        if state.fail_with:
            return web.Response(status=state.fail_with)
        state.received.append({**await request.json(), "_path": request.match_info["path"]})
        state.arrived.set()
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/{path:.*}", handle)
    server = await aiohttp_server(app)
    state.url = str(server.make_url("")).rstrip("/")
    return state


@dataclass
class Mailbox:
    port: int
    messages: list[Message] = field(default_factory=list)

    def channel(self, to: str = "mia@example.org") -> str:
        return f"mailto://127.0.0.1:{self.port}?from=guardian@example.org&to={to}&mode=insecure"

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"

    async def wait_for(self, count: int, timeout: float = 10) -> list[Message]:
        async with asyncio.timeout(timeout):
            while len(self.messages) < count:
                await asyncio.sleep(0.02)
        return self.messages


@pytest.fixture
def smtp() -> Iterator[Mailbox]:
    mailbox = Mailbox(port=free_port())
    controller = Controller(mailbox, hostname="127.0.0.1", port=mailbox.port)
    controller.start()
    try:
        yield mailbox
    finally:
        controller.stop()


def children_toml(count: int, policy: str, channels: bool = False) -> str:
    """`count` more children (kid0, kid1, ...) on `policy`, each with a webhook phone of its own;
    with `channels`, an explicit empty channel list."""
    listed = "channels = []\n" if channels else ""
    return "".join(
        f'\n[[members]]\nid = "kid{n}"\nname = "Kid {n}"\nrole = "child"\n'
        f'policy = "{policy}"\n{listed}'
        f'\n[[sources]]\nid = "kid{n}-phone"\nplugin = "webhook"\nmember = "kid{n}"\n'
        f'secret = "{SECRET}"\n'
        for n in range(count)
    )


def settings_document(
    db_path: Path,
    *,
    mia_channels: Sequence[str] = (),
    sam_channels: Sequence[str] = (),
) -> dict[str, Any]:
    """The test household: Mia (a child on school nights) and Sam (her guardian), Sophie as a
    contact, and three webhook sources of Mia's, on a SQLite file at `db_path`."""
    return {
        "server": {"port": free_port()},
        "database": {"url": f"sqlite://{db_path}"},
        "delivery": {"backoff": "10s", "max_attempts": 3, "timeout": "5s", "start_delay": "0s"},
        "household": {"name": "Test household", "timezone": AMSTERDAM},
        "members": [
            {
                "id": "mia",
                "name": "Mia",
                "role": "child",
                "policy": "school-night",
                "channels": list(mia_channels),
            },
            {"id": "sam", "name": "Sam", "role": "guardian", "channels": list(sam_channels)},
        ],
        "contacts": [
            {
                "id": "sophie",
                "name": "Sophie",
                "addresses": ["sms:+31612345678", "telegram:99887766"],
            }
        ],
        "policies": {
            "school-night": {
                "quiet": [SCHOOL_NIGHTS],
                "content": "senders",
            }
        },
        "sources": [
            {"id": "mia-phone", "plugin": "webhook", "member": "mia", "secret": SECRET},
            {"id": "mia-bridge", "plugin": "webhook", "member": "mia", "token": TOKEN},
            # A household hub (one SMS phone for the family): it may write to Sam too.
            {
                "id": "family-sms",
                "plugin": "webhook",
                "member": "mia",
                "members": ["sam"],
                "secret": SECRET,
            },
        ],
    }


def settings_toml(
    db_path: Path,
    *,
    mia_channels: Sequence[str] = (),
    sam_channels: Sequence[str] = (),
    extra: str = "",
) -> str:
    """The test household's settings file; `extra` (TOML) is appended: more tables, after the
    last source."""
    document = settings_document(db_path, mia_channels=mia_channels, sam_channels=sam_channels)
    return settings_text(document) + textwrap.dedent(extra)


@pytest.fixture
def write_settings(tmp_path: Path) -> Callable[..., Settings]:
    def write(**kwargs: Any) -> Settings:
        path = tmp_path / "settings.toml"
        path.write_text(settings_toml(tmp_path / "guardian.db", **kwargs))
        return load_settings(path, PluginRegistry.discover().settings_models())

    return write


def at(text: str) -> datetime:
    """An aware instant from ISO text with an offset."""
    instant = datetime.fromisoformat(text)
    assert instant.tzinfo is not None
    return instant.astimezone(UTC)


def message(n: int | str, text: str = "are you awake?", **fields: Any) -> dict[str, Any]:
    body = {
        "id": f"msg-{n}",
        "network": "sms",
        "from": {"id": "+31612345678", "name": "Sophie"},
        "text": text,
    }
    body.update(fields)
    return body


@dataclass
class Running(Served):
    """A Guardian app on a virtual clock, reached through a real HTTP client (the kit's
    `guardian.testing.served`), with what the tests send it and do with its clock."""

    async def post(
        self, body: Any, source: str = "mia-phone", headers: dict[str, str] | None = None
    ) -> Any:
        raw = json.dumps(body).encode()
        signed = signed_headers(SECRET, f"wh-{uuid.uuid4()}", self.clock.now(), raw)
        return await self.client.post(f"/hooks/{source}", data=raw, headers=headers or signed)

    async def run_until(self, instant: datetime) -> None:
        """Move the clock to `instant`, ticking at every due instant on the way."""
        await run_until(self.service, self.clock, instant)

    async def tick_at(self, instant: datetime) -> None:
        await self.clock.set(instant)
        scheduler = self.service.scheduler
        assert scheduler is not None
        await scheduler.tick()


#: Starts a Guardian on the settings at the instant (with the plugins of `registry`, if given).
Start = Callable[..., Awaitable[Running]]


@pytest.fixture
async def start_guardian() -> AsyncIterator[Start]:
    """Start a Guardian on `settings` at `now`; every app started is shut down after the test."""
    async with AsyncExitStack() as started:

        async def start(
            settings: Settings, now: datetime, *, registry: PluginRegistry | None = None
        ) -> Running:
            clock = VirtualClock(now)
            app = create_app(settings, clock, registry=registry)
            running = await started.enter_async_context(served(app, clock))
            return Running(running.app, running.client, clock)

        yield start
