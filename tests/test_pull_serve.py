"""Pull sources in real `guardian serve` processes, reading a real Dovecot: killed with -9 under
a steady feed of mail, and taken over by another instance on one PostgreSQL when the one running
a source dies. Counted in the database: every mail is one notification, none lost, none twice.
"""

from __future__ import annotations

import asyncio
import contextlib
import sqlite3
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from email.message import EmailMessage
from email.utils import make_msgid
from pathlib import Path

import asyncpg  # type: ignore[import-untyped]
from aiohttp import web

from tests.conftest import free_port
from tests.dovecot import Dovecot
from tests.pg import Cluster
from tests.serve import Serve, start_serve, stopped_at_end
from tests.synapse import Synapse
from tests.test_faults import serve_toml

#: Long enough for a kill to land in the middle of the feed, short enough for the suite.
FEED = 60
BOT_TOKEN = "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw-test"


def imap_source(server: Dovecot, mailbox: str) -> str:
    return f"""
[[sources]]
id = "mia-mail"
plugin = "imap"
member = "mia"
host = "127.0.0.1"
port = {server.tls_port}
username = "{server.user.name}"
password = "{server.user.password}"
mailboxes = ["{mailbox}"]
"""


def mail(n: int) -> bytes:
    message = EmailMessage()
    message["From"] = "Sophie de Vries <sophie@example.org>"
    message["To"] = "mia@example.org"
    message["Subject"] = f"message {n}"
    message["Message-ID"] = make_msgid(f"feed{n}", domain="example.org")
    message.set_content("are you awake?")
    return bytes(message)


def fresh_mailbox(server: Dovecot) -> str:
    name = f"serve{datetime.now(UTC).strftime('%H%M%S%f')}"
    server.create(name)
    return name


async def feed(server: Dovecot, mailbox: str, numbers: range, every: float) -> None:
    for n in numbers:
        await asyncio.to_thread(server.deliver, mail(n), mailbox=mailbox)
        await asyncio.sleep(every)


async def until(condition: Callable[[], bool], what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


def sqlite_rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    with sqlite3.connect(db, timeout=10) as connection:
        return list(connection.execute(sql))


def first_cursor(db: Path) -> object:
    """The one pull source's stored cursor: set once it has started at "now"."""
    rows = sqlite_rows(db, "SELECT cursor FROM pull_state")
    return rows[0][0] if rows else None


@dataclass(frozen=True)
class Fed:
    """What a serve killed with -9 half-way through a feed stored."""

    #: How many notifications were stored when the kill landed.
    killed_at: int
    #: Every notification at the end: (external id, sender address, contact id or None).
    rows: list[tuple[object, ...]]
    log: Path


async def kill_9_under_a_feed(
    tmp_path: Path,
    source: str,
    send: Callable[[int], Awaitable[object]],
    count: int,
    *,
    env: dict[str, str] | None = None,
    every: float = 0.02,
) -> Fed:
    """A real serve with `source` (settings TOML) for Mia: once the source has started at
    "now", `send(n)` makes message n arrive, `count` times; half-way, once a third is stored,
    the serve is killed with -9 and started again. Returns what was stored once all of it
    was (after a second more, so that anything read twice would show) and the serve stopped."""
    db, port = tmp_path / "guardian.db", free_port()
    config = tmp_path / "settings.toml"
    config.write_text(serve_toml(f"sqlite://{db}", port, mia_channels=[], extra=source))
    log = tmp_path / "serve.log"
    serves: list[Serve] = []

    def stored() -> list[tuple[object, ...]]:
        return sqlite_rows(
            db,
            "SELECT n.external_id, n.sender_address, c.slug FROM notifications n "
            "LEFT JOIN contacts c ON c.id = n.contact_id",
        )

    async with stopped_at_end(serves):
        serves.append(await start_serve(config, port, log, env=env))
        await until(lambda: first_cursor(db) is not None, "the source's first cursor (now)")
        for n in range(count):
            await send(n)
            await asyncio.sleep(every)
            if n == count // 2:
                await until(lambda: len(stored()) >= count // 3, "a third stored")
                await serves[-1].kill()  # kill -9 while messages keep coming
                killed_at = len(stored())
                serves.append(await start_serve(config, port, log, env=env))
        await until(lambda: len(stored()) >= count, "every message", timeout=60)
        await asyncio.sleep(1)  # anything read twice would show by now
        rows = stored()
        assert serves[-1].process.returncode is None
        assert await serves[-1].sigterm() == 0
    return Fed(killed_at, rows, log)


async def test_kill_9_under_a_steady_feed_of_mail_neither_loses_nor_repeats_one(
    tmp_path: Path, imap_server: Dovecot
) -> None:
    mailbox = fresh_mailbox(imap_server)

    async def deliver(n: int) -> None:
        await asyncio.to_thread(imap_server.deliver, mail(n), mailbox=mailbox)

    fed = await kill_9_under_a_feed(
        tmp_path,
        imap_source(imap_server, mailbox),
        deliver,
        FEED,
        env={"SSL_CERT_FILE": str(imap_server.ca_file)},
        every=0.05,
    )
    ids = [row[0] for row in fed.rows]
    assert fed.killed_at < FEED, "the kill landed after the feed: nothing was tested"
    assert len(ids) == FEED and len(set(ids)) == FEED, (len(ids), len(set(ids)))
    assert "imap-test-password" not in fed.log.read_text()


async def test_on_postgresql_one_instance_runs_a_source_and_another_takes_over_when_it_dies(
    tmp_path: Path, imap_server: Dovecot, postgres: Cluster
) -> None:
    mailbox = fresh_mailbox(imap_server)
    url = postgres.create_database()
    ports = [free_port(), free_port()]
    env = {"SSL_CERT_FILE": str(imap_server.ca_file)}
    serves: list[Serve] = []
    connection = await asyncpg.connect(url.replace("postgres://", "postgresql://", 1))

    async def owner() -> str | None:
        value: str | None = await connection.fetchval("SELECT owner FROM pull_state")
        return value

    async def stored() -> list[str]:
        rows = await connection.fetch("SELECT external_id FROM notifications ORDER BY 1")
        return [row[0] for row in rows]

    async def waited(condition: Callable[[], object], what: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        while not await condition():  # type: ignore[misc]
            if time.monotonic() > deadline:
                raise AssertionError(f"timed out waiting for {what}")
            await asyncio.sleep(0.1)

    try:
        async with stopped_at_end(serves):
            for i, port in enumerate(ports):
                config = tmp_path / f"instance-{i}" / "settings.toml"
                config.parent.mkdir()
                config.write_text(
                    serve_toml(url, port, mia_channels=[], extra=imap_source(imap_server, mailbox))
                )
                serves.append(await start_serve(config, port, config.parent / "serve.log", env=env))

            async def has_cursor() -> bool:
                return bool(await connection.fetchval("SELECT cursor FROM pull_state"))

            await waited(has_cursor, "the source's first cursor", 30)
            first = await owner()
            await feed(imap_server, mailbox, range(5), every=0.05)

            async def five() -> bool:
                return len(await stored()) == 5

            await waited(five, "five mails", 30)
            # Exactly one instance reads the mailbox: the other one's log never starts it.
            logs = [(tmp_path / f"instance-{i}" / "serve.log").read_text() for i in range(2)]
            assert sum("source mia-mail: starting" in text for text in logs) == 1, logs
            running = next(i for i, text in enumerate(logs) if "mia-mail: starting" in text)

            await serves[running].kill()
            died = time.monotonic()
            await feed(imap_server, mailbox, range(5, 10), every=0.05)

            async def taken_over() -> bool:
                return (await owner()) not in (None, first)

            await waited(taken_over, "the other instance taking the source over", 60)

            async def ten() -> bool:
                return len(await stored()) == 10

            await waited(ten, "the mail sent while no instance read it", 60)
            took = time.monotonic() - died
            ids = await stored()
    finally:
        await connection.close()
    assert took < 60, took
    assert len(set(ids)) == 10


# --- Telegram by long polling, its offset the cursor -------------------------------------------


class BotApi:
    """A Bot API server as https://core.telegram.org/bots/api#getupdates describes getUpdates:
    updates wait until a call's `offset` is higher than their `update_id` (then they are
    "confirmed" and forgotten); a negative offset gives the last -offset updates and forgets
    the earlier ones; `timeout` is how long the call may wait for one."""

    def __init__(self) -> None:
        self.updates: list[dict[str, object]] = []
        self.confirmed = 0  # every update_id below this one is forgotten
        self.arrived = asyncio.Event()
        self.closing = False

    def close(self) -> None:
        """Answer every waiting long poll now (a killed client's would wait out its timeout)."""
        self.closing = True
        self.arrived.set()

    def send(self, n: int) -> None:
        self.updates.append(
            {
                "update_id": 1000 + n,
                "message": {
                    "message_id": n,
                    "from": {"id": 99887766, "is_bot": False, "first_name": "Sophie"},
                    "chat": {"id": 99887766, "type": "private", "first_name": "Sophie"},
                    "date": 1764100000 + n,
                    "text": f"message {n}",
                },
            }
        )
        self.arrived.set()

    async def handle(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params = await request.json() if request.can_read_body else {}
        if method == "getWebhookInfo":
            return web.json_response({"ok": True, "result": {"url": "", "pending_update_count": 0}})
        assert method == "getUpdates", method
        offset, timeout = int(params.get("offset", 0)), float(params.get("timeout", 0))
        if offset < 0:
            result = self.updates[offset:]
            if result:
                self.confirmed = max(self.confirmed, int(result[0]["update_id"]))  # type: ignore[call-overload]
            return web.json_response({"ok": True, "result": result})
        self.confirmed = max(self.confirmed, offset)
        deadline = time.monotonic() + timeout
        while True:
            pending = [u for u in self.updates if int(u["update_id"]) >= self.confirmed]  # type: ignore[call-overload]
            if pending or time.monotonic() >= deadline or self.closing:
                return web.json_response({"ok": True, "result": pending[:100]})
            self.arrived.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self.arrived.wait(), deadline - time.monotonic())


async def test_telegram_by_long_polling_survives_kill_9_under_a_steady_feed(
    tmp_path: Path,
) -> None:
    api = BotApi()
    app = web.Application()
    app.router.add_post("/bot{token}/{method}", api.handle)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    api_port = free_port()
    await web.TCPSite(runner, "127.0.0.1", api_port).start()
    source = f"""
[[sources]]
id = "mia-telegram"
plugin = "telegram_poll"
member = "mia"
bot_token = "{BOT_TOKEN}"
api_url = "http://127.0.0.1:{api_port}"
"""

    async def update(n: int) -> None:
        api.send(n)

    try:
        api.send(-1)  # history: pending before the source first runs, never imported
        fed = await kill_9_under_a_feed(tmp_path, source, update, FEED)
    finally:
        api.close()
        await runner.cleanup()
    ids = [str(row[0]) for row in fed.rows]
    assert fed.killed_at < FEED
    assert sorted(ids) == sorted(str(1000 + n) for n in range(FEED)), ids
    assert BOT_TOKEN not in fed.log.read_text()


# --- Matrix through a mautrix bridge, its next_batch the cursor ----------------------------------


async def test_matrix_bridged_whatsapp_survives_kill_9_and_matches_the_contact(
    tmp_path: Path, homeserver: Synapse
) -> None:
    """Sophie writes on WhatsApp, bridged into Mia's Matrix account by a (simulated) mautrix
    bridge: every message is one notification from Sophie, the contact whose SMS number her
    WhatsApp id is, across a kill -9 in the middle."""
    from tests.plugins.test_matrix import PHONE, portal

    mia = homeserver.register(homeserver.unique("mia"), "Mia")
    sophie = homeserver.ghost(f"whatsapp_{PHONE}", "Sophie (WA)")
    room = await asyncio.to_thread(portal, homeserver, "whatsapp", mia, [sophie])
    extra = f"""
[[contacts]]
id = "sophie"
name = "Sophie"
addresses = ["sms:+{PHONE}"]

[[sources]]
id = "mia-chats"
plugin = "matrix"
member = "mia"
homeserver = "{homeserver.url}"
access_token = "{mia.token}"
"""

    async def write(n: int) -> None:
        await asyncio.to_thread(sophie.send, room, f"message {n}")

    count = FEED // 2
    fed = await kill_9_under_a_feed(tmp_path, extra, write, count, every=0)
    rows = fed.rows
    assert fed.killed_at < count
    assert len(rows) == count and len({r[0] for r in rows}) == count, rows
    assert {(r[1], r[2]) for r in rows} == {(f"whatsapp:{PHONE}", "sophie")}
    assert mia.token not in fed.log.read_text()
