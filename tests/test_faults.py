"""Faults survived, each by a test: failing and hanging channels, `kill -9` mid-delivery,
SIGTERM under load, a locked and a full SQLite database, and secrets kept out of the logs.

Channels are Apprise `json://` URLs pointing at local aiohttp endpoints whose behaviour each test
controls; the subprocess tests run the real `python -m guardian serve` on real SQLite files.
Everything is on loopback, and every wait is bounded.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
import sqlite3
import textwrap
import threading
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, Sequence
from contextlib import asynccontextmanager, suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aiohttp import web
from tortoise import connections

from guardian import logs
from guardian.cli import known_secrets
from guardian.models import Delivery
from guardian.plugin import PluginRegistry
from guardian.settings import Settings
from guardian.signatures import signed_headers
from guardian.testing import settings_text
from tests.conftest import SECRET, TOKEN, Running, at, free_port, message
from tests.serve import Serve, start_serve, stopped_at_end

Start = Callable[[Settings, datetime], Awaitable[Running]]

NOON = at("2026-11-26T12:00:00+01:00")  # outside Mia's quiet hours: forwarded at once


# --- a channel endpoint whose behaviour the test controls -------------------------------------


@dataclass
class Endpoint:
    """An HTTP endpoint for Apprise's `json://`: it can fail, answer slowly, or hang."""

    url: str = ""
    #: Answer 500 to this many requests, then succeed.
    fail_first: int = 0
    #: Answer 500 to every request.
    always_fail: bool = False
    #: Seconds to wait before answering (a slow receiver).
    delay: float = 0.0
    #: While set, requests hang until it is cleared (or the endpoint is closed).
    hanging: bool = False
    #: Every request as it arrives: (path, body), whether or not it was answered.
    arrivals: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    #: Requests answered with success.
    received: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    failed: int = 0
    #: Requests being answered at each arrival: how many sends the channel got at once.
    concurrent: list[int] = field(default_factory=list)
    in_flight: int = 0
    release: asyncio.Event = field(default_factory=asyncio.Event)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def channel(self, path: str, credentials: str = "") -> str:
        return f"json://{credentials}{self.url.removeprefix('http://')}/{path}"

    def on(self, path: str, answered: bool = True) -> list[dict[str, Any]]:
        return [body for p, body in (self.received if answered else self.arrivals) if p == path]

    async def until(self, condition: Callable[[], bool], timeout: float = 10) -> None:
        async with asyncio.timeout(timeout):
            while not condition():
                self.changed.clear()
                await self.changed.wait()


@asynccontextmanager
async def endpoint() -> AsyncIterator[Endpoint]:
    state = Endpoint()

    async def handle(request: web.Request) -> web.Response:
        state.in_flight += 1
        state.concurrent.append(state.in_flight)
        try:
            return await answer(request)
        finally:
            state.in_flight -= 1

    async def answer(request: web.Request) -> web.Response:
        path = request.match_info["path"]
        body = await request.json()
        state.arrivals.append((path, body))
        state.changed.set()
        if state.hanging:
            with suppress(TimeoutError):
                await asyncio.wait_for(state.release.wait(), 30)
            return web.Response(status=504)
        if state.delay:
            await asyncio.sleep(state.delay)
        if state.always_fail or state.failed < state.fail_first:
            state.failed += 1
            state.changed.set()
            return web.Response(status=500)
        state.received.append((path, body))
        state.changed.set()
        return web.Response(text="ok")

    app = web.Application()
    app.router.add_post("/{path:.*}", handle)
    runner = web.AppRunner(app, shutdown_timeout=1)
    await runner.setup()
    port = free_port()
    site = web.TCPSite(runner, "127.0.0.1", port)
    await site.start()
    state.url = f"http://127.0.0.1:{port}"
    try:
        yield state
    finally:
        state.release.set()  # nothing hangs past the test
        await runner.cleanup()


# --- `guardian serve` as a subprocess -------------------------------------------------------


def serve_toml(
    db_url: str,
    port: int,
    *,
    mia_channels: list[str],
    sam_channels: Sequence[str] = (),
    quiet: bool = False,
    delivery: Mapping[str, Any] | None = None,
    extra: str = "",
) -> str:
    """Settings for a serve process. Quiet hours, if wanted, are a window around the real now
    (in UTC, daily), so a test does not depend on the time of day it runs at. `delivery` adds
    to the `[delivery]` settings; `extra` (TOML) is appended after the last source."""
    now = datetime.now(UTC)
    nights: dict[str, Any] = {}
    if quiet:
        start = (now - timedelta(hours=3)).strftime("%H:%M")
        end = (now + timedelta(hours=3)).strftime("%H:%M")
        nights["quiet"] = [{"days": "daily", "start": start, "end": end}]
    document = {
        "server": {"port": port, "shutdown_timeout": "5s"},
        "database": {"url": db_url},
        "delivery": {
            "backoff": "1s",
            "max_attempts": 5,
            "timeout": "5s",
            "start_delay": "0s",
            **(delivery or {}),
        },
        "household": {"name": "Fault household", "timezone": "UTC"},
        "members": [
            {
                "id": "mia",
                "name": "Mia",
                "role": "child",
                "policy": "nights",
                "channels": mia_channels,
            },
            {"id": "sam", "name": "Sam", "role": "guardian", "channels": list(sam_channels)},
        ],
        "policies": {"nights": {**nights, "content": "senders"}},
        "sources": [
            {"id": "mia-phone", "plugin": "webhook", "member": "mia", "secret": SECRET},
            {
                "id": "mia-bridge",
                "plugin": "webhook",
                "member": "mia",
                "members": ["sam"],
                "token": TOKEN,
            },
        ],
    }
    return settings_text(document) + textwrap.dedent(extra)


def rows(db: Path, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with sqlite3.connect(db, timeout=10) as connection:
        return list(connection.execute(sql, params))


async def poll(
    condition: Callable[[], bool],
    timeout: float = 10,
    what: str = "",
    state: Callable[[], object] = lambda: "",
) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what or condition}: {state()}")
        await asyncio.sleep(0.05)


def bearer() -> dict[str, str]:
    return {"Authorization": f"Bearer {TOKEN}"}


# --- 1. a channel that fails for a while, then recovers --------------------------------------


async def test_a_channel_failing_for_a_while_then_recovering_gets_exactly_one_delivery(
    write_settings: Callable[..., Settings], start_guardian: Start
) -> None:
    failures = 4
    async with endpoint() as channel:
        channel.fail_first = failures
        settings = write_settings(mia_channels=[channel.channel("mia")])
        settings = settings.model_copy(
            update={"delivery": settings.delivery.model_copy(update={"max_attempts": 10})}
        )
        guardian = await start_guardian(settings, NOON)
        await guardian.post(message(1))
        # Backoff 10 s, 20 s, 40 s, 80 s (less jitter): all retries are done within 5 minutes.
        await guardian.run_until(NOON + timedelta(minutes=5))
        await channel.until(lambda: len(channel.received) >= 1)
        await guardian.run_until(NOON + timedelta(hours=2))  # nothing more is due
        await asyncio.sleep(0.2)
        assert channel.failed == failures
        assert len(channel.received) == 1
        assert len(channel.arrivals) == failures + 1
        delivery = await Delivery.get(kind="forward")
        assert (delivery.status, delivery.attempts) == ("sent", failures + 1)
        assert delivery.channels[0]["attempts"] == failures + 1
        assert await Delivery.filter(kind="report").count() == 0  # it recovered: no alarm


# --- 2. a channel that hangs -----------------------------------------------------------------


def threads_of_our_own() -> int:
    """Threads but the idle workers of a thread pool (Apprise's shared one keeps them)."""
    return sum(1 for t in threading.enumerate() if not t.name.startswith("ThreadPoolExecutor"))


async def test_a_hanging_channel_times_out_and_blocks_no_other_delivery(
    write_settings: Callable[..., Settings], start_guardian: Start
) -> None:
    async with endpoint() as hung, endpoint() as healthy:
        hung.hanging = True
        settings = write_settings(
            mia_channels=[hung.channel("mia")], sam_channels=[healthy.channel("sam")]
        )
        settings = settings.model_copy(
            update={
                "delivery": settings.delivery.model_copy(update={"timeout": timedelta(seconds=1)})
            }
        )
        threads_before = threads_of_our_own()
        guardian = await start_guardian(settings, NOON)
        started = time.monotonic()
        await guardian.post(message(1))  # a forward to Mia: its channel hangs
        await hung.until(lambda: len(hung.arrivals) == 1, timeout=5)
        # While Mia's send hangs, a forward to Sam (a healthy channel) is accepted and goes out.
        answer = await guardian.post(message(2, to="sam"), source="family-sms")
        assert answer.status == 202
        await healthy.until(lambda: len(healthy.received) == 1, timeout=5)
        delivered_after = time.monotonic() - started
        assert delivered_after < 4, f"the healthy delivery waited {delivered_after:.1f} s"

        # Mia's attempt timed out, is recorded as such and retried later; no worker is stuck.
        async def mia_attempted() -> Delivery:
            async with asyncio.timeout(5):
                while True:
                    delivery = await Delivery.get(kind="forward", member__slug="mia")
                    if delivery.attempts:
                        return delivery
                    await asyncio.sleep(0.05)

        delivery = await mia_attempted()
        assert delivery.status == "pending"
        assert delivery.channels[0]["status"] in ("TIMEOUT", "FAILURE")
        assert delivery.next_attempt_at > NOON
        assert time.monotonic() - started < 5

        # The channel comes back: the retry gets through, once.
        hung.hanging = False
        hung.release.set()
        await guardian.tick_at(NOON + timedelta(seconds=11))
        await hung.until(lambda: len(hung.received) == 1, timeout=5)
        delivery = await Delivery.get(kind="forward", member__slug="mia")
        assert (delivery.status, delivery.attempts) == ("sent", 2)
        assert len(hung.on("mia")) == 1
        assert len(healthy.on("sam")) == 1
    # The abandoned send ends once the endpoint answers (Apprise's pool keeps its idle
    # workers, which the count leaves out: only the database's thread is new).
    await poll(lambda: hung.in_flight == 0, 10, "the abandoned send to end")
    await poll(lambda: threads_of_our_own() <= threads_before + 1, 10, "threads to end")


async def test_stopping_with_a_send_in_flight_is_bounded_even_if_the_database_hangs(
    write_settings: Callable[..., Settings],
    start_guardian: Start,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A send that hangs is stopped after the grace, and releasing its claim gives up after
    the grace too (its lease frees it later): a shutdown never waits on either for ever."""
    async with endpoint() as hung:
        hung.hanging = True
        guardian = await start_guardian(write_settings(mia_channels=[hung.channel("mia")]), NOON)
        await guardian.post(message(1))
        await hung.until(lambda: len(hung.arrivals) == 1, timeout=5)
        deliverer = guardian.service.deliverer
        assert deliverer is not None and deliverer.in_flight == 1
        lock = connections.get("default")._lock  # as if a query never gave it back
        await lock.acquire()
        loop = asyncio.get_running_loop()
        began = loop.time()
        try:
            with caplog.at_level(logging.INFO, "guardian.delivery"):
                await deliverer.finish(grace=timedelta(seconds=0.3))
        finally:
            lock.release()
        assert loop.time() - began < 3
        assert deliverer.in_flight == 0
        assert "stopping: 1 claims not released in time" in caplog.text
        hung.hanging = False
        hung.release.set()


# --- 3. kill -9 during delivery, then restart -------------------------------------------------


async def test_kill_9_during_delivery_then_restart_repeats_at_most_the_in_flight_send(
    tmp_path: Path,
) -> None:
    """A forward to Sam is in flight (the receiver takes a second to answer) when the process is
    killed. After a restart its stale `sending` claim is released once `claim_lease` is over and
    it is sent again: by design, a crash between send and record repeats that one delivery at
    most once (the receiver may already have it). Mia's summary, built and sent after the
    restart, is never built or sent a second time, by a further kill and restart either."""
    db = tmp_path / "guardian.db"
    port = free_port()
    config = tmp_path / "settings.toml"
    log = tmp_path / "serve.log"
    serves: list[Serve] = []
    async with endpoint() as receiver, stopped_at_end(serves):
        receiver.delay = 1.0
        config.write_text(
            serve_toml(
                f"sqlite://{db}",
                port,
                mia_channels=[receiver.channel("mia")],
                sam_channels=[receiver.channel("sam")],
                quiet=True,
                delivery={"claim_lease": "1s"},
            )
        )
        serves.append(await start_serve(config, port, log))
        async with aiohttp.ClientSession(headers=bearer()) as http:
            for n in range(5):  # held: Mia is in quiet hours
                url = f"{serves[-1].base}/hooks/mia-bridge"
                async with http.post(url, json=message(n)) as response:
                    assert response.status == 202
            url = f"{serves[-1].base}/hooks/mia-bridge"
            async with http.post(url, json=message("for-sam", to="sam")) as response:
                assert response.status == 202
        await receiver.until(lambda: len(receiver.on("sam", answered=False)) == 1)
        await serves[-1].kill()  # the receiver has not answered yet: the send is in flight
        [(status,)] = rows(db, "SELECT status FROM deliveries WHERE kind = 'forward'")
        assert status == "sending"
        assert receiver.on("mia", answered=False) == []

        # Downtime across the end of Mia's quiet hours: the window end passes while no process
        # runs (moved in the database, as a clock would move it; the format is tortoise's own).
        [(due,)] = rows(
            db,
            "SELECT s.next_due_at FROM schedules s JOIN members m ON m.id = s.member_id "
            "WHERE m.slug = 'mia' AND s.kind = 'summary'",
        )
        assert due is not None
        passed = datetime.now(UTC)  # after every held notification
        with sqlite3.connect(db) as connection:
            connection.execute(
                "UPDATE schedules SET next_due_at = ? WHERE kind = 'summary' AND member_id = "
                "(SELECT id FROM members WHERE slug = 'mia')",
                (passed.isoformat(sep=" "),),
            )

        serves.append(await start_serve(config, port, log))
        await poll(
            lambda: (
                rows(db, "SELECT count(*) FROM deliveries WHERE status != 'sent'") == [(0,)]
                and rows(db, "SELECT count(*) FROM deliveries WHERE kind = 'summary'") == [(1,)]
            ),
            15,
            "the forward and the catch-up summary to be sent",
            lambda: (
                rows(db, "SELECT kind, status, attempts, claimed_at FROM deliveries"),
                rows(db, "SELECT kind, next_due_at, last_due_at FROM schedules"),
                log.read_text()[-3000:],
            ),
        )
        await serves[-1].kill()  # a second crash, after the summary was recorded as sent
        serves.append(await start_serve(config, port, log))
        await asyncio.sleep(1.5)  # a catch-up tick ran at start (start_delay 0)
        assert await serves[-1].sigterm() == 0

    summaries = receiver.on("mia", answered=False)
    assert len(summaries) == 1, "Mia's summary was sent more than once"
    assert "5 messages" in summaries[0]["title"] + summaries[0]["message"]
    assert rows(db, "SELECT count(*) FROM deliveries WHERE kind = 'summary'") == [(1,)]
    assert rows(db, "SELECT count(*) FROM notifications WHERE status = 'held'") == [(0,)]
    to_sam = receiver.on("sam", answered=False)
    assert 1 <= len(to_sam) <= 2, "the in-flight forward may be repeated once, no more"
    [(attempts, status)] = rows(
        db, "SELECT attempts, status FROM deliveries WHERE kind = 'forward'"
    )
    assert (status, attempts) == ("sent", 1)  # the killed attempt was never recorded


async def test_sigterm_during_a_send_releases_its_claim_so_a_restart_sends_at_once(
    tmp_path: Path,
) -> None:
    """A routine restart while a breakthrough is being sent: the send gets a few seconds, then
    its claim is released; the next start sends it at once, not after the 5-minute lease."""
    db = tmp_path / "guardian.db"
    port = free_port()
    config = tmp_path / "settings.toml"
    log = tmp_path / "serve.log"
    serves: list[Serve] = []
    async with endpoint() as receiver, stopped_at_end(serves):
        receiver.hanging = True
        config.write_text(
            serve_toml(f"sqlite://{db}", port, mia_channels=[receiver.channel("mia")]).replace(
                'timeout = "5s"', 'timeout = "30s"'
            )
        )
        serves.append(await start_serve(config, port, log))
        async with aiohttp.ClientSession(headers=bearer()) as http:
            url = f"{serves[-1].base}/hooks/mia-bridge"
            async with http.post(url, json=message("urgent")) as response:
                assert response.status == 202
        await receiver.until(lambda: len(receiver.arrivals) == 1)
        assert rows(db, "SELECT status FROM deliveries") == [("sending",)]
        started = time.monotonic()
        assert await serves[-1].sigterm(timeout=20) == 0
        stopped_after = time.monotonic() - started
        assert stopped_after < 10, f"the shutdown took {stopped_after:.1f} s"
        assert rows(db, "SELECT status, claimed_at FROM deliveries") == [("pending", None)]
        assert "released for the next start" in log.read_text()

        receiver.hanging = False
        receiver.release.set()
        restarted = time.monotonic()
        serves.append(await start_serve(config, port, log))
        await receiver.until(lambda: len(receiver.received) >= 1, timeout=15)
        assert time.monotonic() - restarted < 10  # the lease (5 minutes) played no part
        await poll(lambda: rows(db, "SELECT status FROM deliveries") == [("sent",)], 10)
        assert await serves[-1].sigterm() == 0


async def test_a_deleted_database_is_noticed_and_nothing_more_is_accepted(
    tmp_path: Path,
) -> None:
    db = tmp_path / "guardian.db"
    port = free_port()
    config = tmp_path / "settings.toml"
    log = tmp_path / "serve.log"
    config.write_text(serve_toml(f"sqlite://{db}", port, mia_channels=[], quiet=True))
    serves = [await start_serve(config, port, log)]
    async with stopped_at_end(serves), aiohttp.ClientSession(headers=bearer()) as http:
        hook = f"{serves[0].base}/hooks/mia-bridge"
        async with http.post(hook, json=message("before")) as response:
            assert response.status == 202
        for path in tmp_path.glob("guardian.db*"):
            path.unlink()  # an operator's mistake: the files are gone, the process runs on
        async with http.post(hook, json=message("after")) as response:
            assert response.status == 503
            assert response.headers["Retry-After"].isdigit()
            body = await response.json()
        assert body["error"] == "storage_unavailable"
        assert "deleted" in body["detail"]
        async with http.get(f"{serves[0].base}/readyz") as response:
            assert response.status == 503
            ready = await response.json()
        assert "was deleted" in ready["checks"]["database"]
        assert await serves[0].sigterm() == 0
    assert "guardian.db was deleted while serving" in log.read_text()


async def test_a_request_past_its_timeout_gets_503_and_is_never_stored_afterwards(
    tmp_path: Path,
) -> None:
    db = tmp_path / "guardian.db"
    port = free_port()
    config = tmp_path / "settings.toml"
    log = tmp_path / "serve.log"
    text = serve_toml(f"sqlite://{db}?busy_timeout=4000", port, mia_channels=[], quiet=True)
    config.write_text(text.replace('shutdown_timeout = "5s"', 'request_timeout = "1s"'))
    serves = [await start_serve(config, port, log)]
    async with stopped_at_end(serves), aiohttp.ClientSession(headers=bearer()) as http:
        hook = f"{serves[0].base}/hooks/mia-bridge"
        blocker = sqlite3.connect(db, timeout=10, isolation_level=None)
        try:
            blocker.execute("BEGIN EXCLUSIVE")  # the writer waits for the lock (busy_timeout 4s)
            started = time.monotonic()
            async with http.post(hook, json=message("late")) as response:
                waited = time.monotonic() - started
                assert response.status == 503
                assert response.headers["Retry-After"].isdigit()
            assert 0.9 < waited < 3, waited
            await asyncio.sleep(0.5)
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        await asyncio.sleep(4)  # the writer's transaction has long got its lock by now
        async with http.post(hook, json=message("next")) as response:
            assert response.status == 202
        stored = {r[0] for r in rows(db, "SELECT external_id FROM notifications")}
        assert stored == {"msg-next"}, "a request answered 503 must not be stored after all"
        assert await serves[0].sigterm() == 0


# --- 4. SIGTERM under load -------------------------------------------------------------------


@dataclass
class Outcomes:
    answered: dict[str, int] = field(default_factory=dict)
    errors: list[str] = field(default_factory=list)
    unanswered: list[str] = field(default_factory=list)


async def post_until_refused(base: str, worker: int, outcomes: Outcomes) -> None:
    async with aiohttp.ClientSession(headers=bearer()) as session:
        for n in range(100_000):
            msg_id = f"w{worker}-{n}"
            try:
                async with session.post(
                    f"{base}/hooks/mia-bridge", json=message(msg_id)
                ) as response:
                    await response.read()  # a complete answer, or an error
                    outcomes.answered[f"msg-{msg_id}"] = response.status
            except (TimeoutError, aiohttp.ClientError) as error:
                outcomes.errors.append(type(error).__name__)
                outcomes.unanswered.append(f"msg-{msg_id}")
                return


async def test_sigterm_under_load_finishes_in_flight_requests_and_exits_0(
    tmp_path: Path,
) -> None:
    db = tmp_path / "guardian.db"
    port = free_port()
    config = tmp_path / "settings.toml"
    log = tmp_path / "serve.log"
    config.write_text(serve_toml(f"sqlite://{db}", port, mia_channels=[], quiet=True))
    serves = [await start_serve(config, port, log)]
    outcomes = Outcomes()
    async with stopped_at_end(serves):
        clients = [
            asyncio.create_task(post_until_refused(serves[0].base, w, outcomes)) for w in range(8)
        ]
        await poll(lambda: len(outcomes.answered) >= 300, 20, "300 answers")
        code = await serves[0].sigterm(timeout=15)
        await asyncio.wait_for(asyncio.gather(*clients), 15)
    assert code == 0
    accepted = {msg_id for msg_id, status in outcomes.answered.items() if status == 202}
    # Every answer was complete: 202, or a clean refusal while shutting down (never a 500).
    assert set(outcomes.answered.values()) <= {202, 503}, outcomes.answered.values()
    assert len(outcomes.errors) == 8  # each client stopped at its first refused connection
    stored = {row[0] for row in rows(db, "SELECT external_id FROM notifications")}
    assert accepted <= stored, f"lost {len(accepted - stored)} of {len(accepted)} answered 202"
    # A request cut off by the shutdown was never accepted: in-flight requests were finished.
    assert not set(outcomes.unanswered) & stored
    text = log.read_text()
    assert "Traceback" not in text
    assert "Task was destroyed" not in text


# --- 5. the database locked, and full ---------------------------------------------------------


async def test_locked_sqlite_answers_503_with_retry_after_then_202_once_released(
    tmp_path: Path,
) -> None:
    db = tmp_path / "guardian.db"
    port = free_port()
    config = tmp_path / "settings.toml"
    log = tmp_path / "serve.log"
    config.write_text(serve_toml(f"sqlite://{db}?busy_timeout=300", port, mia_channels=[]))
    serves = [await start_serve(config, port, log)]
    async with stopped_at_end(serves), aiohttp.ClientSession(headers=bearer()) as http:
        hook = f"{serves[0].base}/hooks/mia-bridge"
        async with http.post(hook, json=message("before")) as response:
            assert response.status == 202
        blocker = sqlite3.connect(db, timeout=10, isolation_level=None)
        try:
            blocker.execute("BEGIN EXCLUSIVE")
            async with http.post(hook, json=[message("a"), message("b")]) as response:
                assert response.status == 503
                assert response.headers["Retry-After"].isdigit()
                body = await response.json()
            assert body["error"] == "storage_unavailable"
            assert body["detail"]
        finally:
            blocker.execute("ROLLBACK")
            blocker.close()
        assert rows(db, "SELECT count(*) FROM notifications") == [(1,)]  # nothing half-written
        async with http.post(hook, json=[message("a"), message("b")]) as response:
            assert response.status == 202
            assert await response.json() == {"accepted": 2, "duplicates": 0}
        assert await serves[0].sigterm() == 0
    stored = {row[0] for row in rows(db, "SELECT external_id FROM notifications")}
    assert stored == {"msg-before", "msg-a", "msg-b"}


async def test_full_sqlite_database_answers_503_and_keeps_every_202(tmp_path: Path) -> None:
    """The disk is "full" through SQLite's own limit: `max_page_count` (a PRAGMA given in the
    database URL) caps the file a few pages above its size after migration, so inserts soon fail
    with SQLITE_FULL, just as on a full disk, without root or a tiny mount."""
    db = tmp_path / "guardian.db"
    port = free_port()
    config = tmp_path / "settings.toml"
    log = tmp_path / "serve.log"
    config.write_text(serve_toml(f"sqlite://{db}", port, mia_channels=[]))
    serves = [await start_serve(config, port, log)]
    async with stopped_at_end(serves):
        assert await serves[0].sigterm() == 0
        with sqlite3.connect(db) as connection:
            connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            [(pages,)] = list(connection.execute("PRAGMA page_count"))
        full_url = f"sqlite://{db}?max_page_count={pages + 16}"
        serves.append(
            await start_serve(config, port, log, env={"GUARDIAN_DATABASE__URL": full_url})
        )
        accepted: set[str] = set()
        refused: list[list[str]] = []
        async with aiohttp.ClientSession(headers=bearer()) as http:
            hook = f"{serves[-1].base}/hooks/mia-bridge"
            for batch in range(40):
                body = [message(f"{batch}-{n}", text="x" * 500) for n in range(10)]
                async with http.post(hook, json=body) as response:
                    if response.status == 202:
                        accepted |= {m["id"] for m in body}
                        continue
                    assert response.status == 503
                    assert "Retry-After" in response.headers
                    assert (await response.json())["error"] == "storage_unavailable"
                    refused.append([m["id"] for m in body])
                    if len(refused) >= 2:
                        break
            assert accepted, "the database was full from the start"
            assert refused, "the database never filled up"
            # The service is still up and says so; ingest is refused, not crashed.
            async with http.get(f"{serves[-1].base}/healthz") as response:
                assert response.status == 200
        assert await serves[-1].sigterm() == 0
    stored = {row[0] for row in rows(db, "SELECT external_id FROM notifications")}
    assert accepted <= stored
    for ids in refused:  # a refused request left nothing behind, not even part of its batch
        assert not set(ids) & stored
    assert rows(db, "PRAGMA integrity_check") == [("ok",)]


# --- 6. secrets never in the logs -------------------------------------------------------------


async def test_secrets_never_appear_in_debug_logs(tmp_path: Path) -> None:
    password = "s3cretpass"
    db = tmp_path / "guardian.db"
    port = free_port()
    config = tmp_path / "settings.toml"
    log = tmp_path / "serve.log"
    serves: list[Serve] = []
    async with endpoint() as failing, stopped_at_end(serves):
        failing.always_fail = True
        config.write_text(
            serve_toml(
                f"sqlite://{db}",
                port,
                mia_channels=[failing.channel("x", credentials=f"user:{password}@")],
                sam_channels=[failing.channel("sam", credentials=f"sam:{password}@")],
            )
        )
        env = {"GUARDIAN_DELIVERY__MAX_ATTEMPTS": "2"}
        serves.append(await start_serve(config, port, log, level="DEBUG", env=env))
        base = serves[0].base
        async with aiohttp.ClientSession() as http:

            async def post(headers: dict[str, str], body: bytes, source: str) -> int:
                async with http.post(f"{base}/hooks/{source}", data=body, headers=headers) as r:
                    await r.read()
                    return r.status

            good = json.dumps(message("signed")).encode()
            signed = signed_headers(SECRET, f"wh-{uuid.uuid4()}", datetime.now(UTC), good)
            assert await post(signed, good, "mia-phone") == 202
            assert await post(bearer(), json.dumps(message("token")).encode(), "mia-bridge") == 202
            forged = signed_headers(SECRET, "wh-forged", datetime.now(UTC), good)
            assert await post(forged, good + b" ", "mia-phone") == 401
            assert await post({"Authorization": "Bearer nope"}, good, "mia-bridge") == 401
            assert await post({"Authorization": f"Bearer {TOKEN}x"}, good, "mia-bridge") == 401
            assert await post(bearer(), b"{not json", "mia-bridge") == 400
            assert await post(bearer(), b'{"id": 1}', "mia-bridge") == 422
        # Both forwards fail twice, are given up, and Sam is told (through a failing channel).
        await poll(
            lambda: rows(db, "SELECT count(*) FROM deliveries WHERE status = 'failed'")[0][0] >= 3,
            20,
            "the failing deliveries to be given up",
        )
        assert await serves[0].sigterm() == 0
    assert failing.arrivals, "the channel was never tried"
    text = log.read_text()
    assert " DEBUG " in text and " WARNING " in text  # the log is not trivially empty
    encoded = SECRET.removeprefix("whsec_")
    secrets = {
        "webhook secret": SECRET,
        "webhook secret key": encoded,
        "webhook secret bytes": base64.b64decode(encoded).decode(),
        "token": TOKEN,
        "channel password": password,
        "basic auth": base64.b64encode(f"user:{password}".encode()).decode(),
    }
    for line in text.splitlines():
        for name, secret in secrets.items():
            assert secret not in line, f"the {name} is in the log: {line}"


def test_configured_secrets_are_redacted_whatever_their_shape(
    monkeypatch: pytest.MonkeyPatch, write_settings: Callable[..., Settings]
) -> None:
    """Patterns catch URL passwords, bearer and basic credentials and token parameters; the
    configured secrets themselves are redacted literally, also where no pattern could know them
    (a Telegram bot token is a URL's host and path)."""
    monkeypatch.setattr(logs, "_known", [])
    bot = "tgram://123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/987654"
    settings = write_settings(mia_channels=[bot, "json://user:s3cret%2Fpass@127.0.0.1:9/x"])
    logs.register_secrets(known_secrets(settings, PluginRegistry.discover()))
    line = logs.redact(
        f"sending to {bot} and 123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw; pass s3cret/pass; "
        f"{SECRET.removeprefix('whsec_')} {TOKEN} Authorization: Basic dXNlcjpwYXNz "
        "ntfys://host/topic?token=tk_abc123&x=1"
    )
    for secret in ("AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw", "s3cret", "dGVzdC1zZWNyZXQ", TOKEN):
        assert secret not in line
    assert "dXNlcjpwYXNz" not in line
    assert "tk_abc123" not in line
    assert "x=1" in line  # what is not secret stays readable
    assert logs.redact("127.0.0.1 mia sam") == "127.0.0.1 mia sam"  # nor are hosts or ids
