"""A real `guardian serve` for the schemathesis run: its own SQLite file, the test household,
the guardian login `sam` with an API token, and a local receiver for Mia's channel.

Schemathesis sends its requests with a blocking HTTP client, so the server runs as a separate
process; its event loop is started and stopped here, outside any test's loop.
"""

from __future__ import annotations

import asyncio
import re
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from schemathesis import BaseSchema, engine
from schemathesis.engine import events

from guardian import accounts, transfer
from guardian.database import opened
from guardian.plugin import PluginRegistry
from guardian.settings import load_settings
from tests.admin import PASSWORD, USERNAME
from tests.conftest import SECRET, TOKEN, settings_toml
from tests.serve import Serve, start_serve

#: The password part of Mia's channel URL: a secret no answer may show.
CHANNEL_SECRET = "chan-pw-4e1d9b"


@dataclass
class ServedAPI:
    """The running server as the tests reach it, and what they must never see in an answer."""

    base: str
    token: str = field(repr=False)
    log: Path
    #: Every answer body the run received, checked for secrets at the end.
    bodies: list[str] = field(default_factory=list, repr=False)

    @property
    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    @property
    def secrets(self) -> tuple[str, ...]:
        return (SECRET, SECRET.removeprefix("whsec_"), TOKEN, CHANNEL_SECRET, PASSWORD, self.token)

    def problems_logged(self) -> list[str]:
        """The log records of errors the server did not expect (a 500 is logged with its
        traceback). aiohttp's own report of a request it could not even parse (schemathesis
        probes with a NUL byte in a header; the client gets a 400) is not one."""
        records = re.split(r"\n(?=\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+ )", self.log.read_text())
        return [
            record
            for record in records
            if re.search(r"unexpected error|Traceback", record, re.IGNORECASE)
            and not ("aiohttp.server" in record and "BadHttpMessage" in record)
        ]


class _Receiver(BaseHTTPRequestHandler):
    """Apprise's `json://` posts for Mia's channel: accepted and dropped."""

    def do_POST(self) -> None:
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"ok")

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def receiver() -> Iterator[str]:
    """A local HTTP endpoint; yields its `host:port`."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


async def _prepare(config: Path) -> str:
    """Seed the household into the database and create sam's login; return sam's API token."""
    settings = load_settings(config, PluginRegistry.discover().settings_models())
    now = datetime.now(UTC)
    async with opened(settings.database.url):
        await transfer.seed(settings, now)
        user = await accounts.add_user(settings.household.id, USERNAME, PASSWORD, now)
        token, _ = await accounts.create_token(user.id, "schemathesis", now)
    return token


@contextmanager
def served_api(folder: Path) -> Iterator[ServedAPI]:
    """`guardian serve` on a fresh SQLite file in `folder`, stopped (SIGTERM) at the end."""
    loop = asyncio.new_event_loop()
    serve: Serve | None = None
    with receiver() as mia_inbox:
        config = folder / "settings.toml"
        channel = f"json://guardian:{CHANNEL_SECRET}@{mia_inbox}/mia"
        config.write_text(settings_toml(folder / "guardian.db", mia_channels=[channel]))
        port = int(re.search(r"port = (\d+)", config.read_text()).group(1))  # type: ignore[union-attr]
        try:
            token = loop.run_until_complete(_prepare(config))
            serve = loop.run_until_complete(start_serve(config, port, folder / "serve.log"))
            yield ServedAPI(serve.base, token, serve.log)
        finally:
            if serve is not None and serve.process.returncode is None:
                try:
                    loop.run_until_complete(serve.sigterm(timeout=15))
                finally:
                    if serve.process.returncode is None:
                        loop.run_until_complete(serve.kill())
            loop.close()


# --- driving schemathesis' engine: every phase it runs by default, every failure collected ----


@dataclass(frozen=True)
class Finding:
    """One failed check: which operation, what went wrong, and the request that showed it."""

    operation: str
    check: str
    title: str
    message: str
    curl: str
    status: int | None
    body: str

    def __str__(self) -> str:
        answer = f"{self.status} {self.body[:300]}" if self.status is not None else "no answer"
        return (
            f"{self.operation}: {self.check}: {self.title}\n  {self.message.strip()}\n"
            f"  request: {self.curl}\n  answer: {answer}"
        )


@dataclass
class Run:
    findings: list[Finding] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    requests: int = 0
    seconds: float = 0.0
    stop_reason: str = ""

    def report(self) -> str:
        lines = [f"{len(self.findings)} failed checks, {len(self.errors)} errors:"]
        lines += [str(finding) for finding in self.findings]
        lines += [f"error: {error}" for error in self.errors]
        return "\n".join(lines)


def run_engine(schema: BaseSchema, bodies: list[str]) -> Run:
    """Run every phase schemathesis runs by default (examples, coverage, fuzzing, stateful).

    Each answer body is appended to `bodies`; each failed check becomes a `Finding` with the
    request (as curl, credentials masked) and the answer that failed it.
    """
    run = Run()
    seen: set[tuple[str, str, str]] = set()
    for event in engine.from_schema(schema).execute():
        if isinstance(event, events.ScenarioFinished):
            recorder = event.recorder
            for interaction in recorder.interactions.values():
                run.requests += 1
                if interaction.response is not None:
                    bodies.append(interaction.response.content.decode(errors="replace"))
            for case_id, checks in recorder.checks.items():
                for check in checks:
                    if check.failure_info is None:
                        continue
                    failure = check.failure_info.failure
                    key = (recorder.label, check.name, failure.title)
                    if key in seen:  # one example of each kind of failure is enough
                        continue
                    seen.add(key)
                    answered = recorder.interactions.get(case_id)
                    response = answered.response if answered else None
                    run.findings.append(
                        Finding(
                            operation=recorder.label,
                            check=check.name,
                            title=failure.title,
                            message=failure.message,
                            curl=check.failure_info.code_sample,
                            status=response.status_code if response else None,
                            body=response.content.decode(errors="replace") if response else "",
                        )
                    )
        elif isinstance(event, events.NonFatalError):
            run.errors.append(f"{event.label}: {event.info.title}: {event.info}")
        elif isinstance(event, events.FatalError):
            raise event.exception
        elif isinstance(event, events.EngineFinished):
            run.seconds = event.running_time
            run.stop_reason = str(event.stop_reason)
    return run
