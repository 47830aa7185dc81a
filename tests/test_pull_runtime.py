"""The pull runtime (guardian/pull.py): every pull source runs as its own task, from the cursor
Guardian stores with the notifications, on one instance at a time.

The network here is `Feed`, a pull plugin over an in-memory list of messages written for these
tests: what they look at is the runtime, not a network. The built-in plugins run against real
servers in tests/plugins/ and in test_pull_serve.py.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from pydantic import SecretStr

from guardian import pull
from guardian.models import AuditEntry, Notification, PullState, Source
from guardian.plugin import (
    IncomingMessage,
    PluginRegistry,
    PluginSettings,
    PullBatch,
    PullPlugin,
    SourceError,
)
from guardian.settings import Settings, load_settings
from guardian.sql import transaction
from guardian.testing import PullCase, check_pull_conformance
from guardian.transfer import household_data, import_household
from tests.admin import admin_client
from tests.conftest import Running, at, message, settings_toml
from tests.conftest import Start as StartGuardian

NOW = at("2026-03-03T12:00:00+01:00")  # a Tuesday afternoon: no quiet hours
PASSWORD = "feed-password-d41c9e"


# --- a network to pull from -----------------------------------------------------------------


@dataclass
class Network:
    """Messages waiting to be read, in order; a cursor is an index into them."""

    messages: list[IncomingMessage] = field(default_factory=list)
    #: Raised, one by one, where the plugin would read next.
    failures: list[BaseException] = field(default_factory=list)
    #: The cursor each `pull` started from, and how many ended (closed or failed).
    started: list[str | None] = field(default_factory=list)
    ended: int = 0
    #: The settings each plugin instance was made with.
    settings: list[FeedSettings] = field(default_factory=list)
    grew: asyncio.Event = field(default_factory=asyncio.Event)
    #: Every read fails while set (a network that is down).
    down: bool = False

    def send(self, *texts: str, sender: str = "+31612345678") -> None:
        for text in texts:
            n = len(self.messages)
            self.messages.append(
                IncomingMessage(external_id=f"feed-{n}", network="sms", sender_id=sender, text=text)
            )
        self.grew.set()

    def fail(self, error: BaseException) -> None:
        self.failures.append(error)
        self.grew.set()


NETWORKS: dict[str, Network] = {}


class FeedSettings(PluginSettings):
    network: str
    password: SecretStr


class Feed(PullPlugin[FeedSettings]):
    settings_model = FeedSettings

    async def pull(self, cursor: str | None) -> AsyncIterator[PullBatch]:  # type: ignore[override]
        network = NETWORKS[self.settings.network]
        network.started.append(cursor)
        network.settings.append(self.settings)
        try:
            if network.down:
                raise SourceError("the feed is down")
            if cursor is None:
                position = len(network.messages)
                yield PullBatch([], str(position))  # a new source starts at now
            else:
                position = int(cursor)
            while True:
                if network.down:
                    raise SourceError("the feed is down")
                if network.failures:
                    raise network.failures.pop(0)
                if position < len(network.messages):
                    batch = network.messages[position:]
                    position = len(network.messages)
                    yield PullBatch(batch, str(position))
                    continue
                network.grew.clear()
                await network.grew.wait()
        finally:
            network.ended += 1


def registry() -> PluginRegistry:
    found = PluginRegistry.discover()
    found.plugins.update(PluginRegistry.of({"feed": Feed}).plugins)
    return found


def feed_source(source_id: str = "mia-feed", network: str = "mia", member: str = "mia") -> str:
    return f"""
[[sources]]
id = "{source_id}"
plugin = "feed"
member = "{member}"
network = "{network}"
password = "{PASSWORD}"
"""


@pytest.fixture(autouse=True)
def networks() -> AsyncIterator[dict[str, Network]]:
    NETWORKS.clear()
    NETWORKS["mia"] = Network()
    NETWORKS["other"] = Network()
    yield NETWORKS
    NETWORKS.clear()


@pytest.fixture(autouse=True)
def password_stays_out_of_logs(caplog: pytest.LogCaptureFixture) -> Any:
    caplog.set_level(logging.DEBUG, logger="guardian")
    yield
    assert PASSWORD not in caplog.text


def write(tmp_path: Path, extra: str) -> Settings:
    path = tmp_path / "settings.toml"
    path.write_text(settings_toml(tmp_path / "guardian.db", extra=extra))
    return load_settings(path, registry().settings_models())


class App(Running):
    """The running Guardian, with what the pull tests read from it."""

    async def readyz(self) -> dict[str, Any]:
        response = await self.client.get("/readyz")
        body: dict[str, Any] = await response.json()
        return body

    async def source_status(self, source_id: str = "mia-feed") -> str:
        status: str = (await self.readyz())["checks"]["sources"][source_id]
        return status


Start = Callable[..., Awaitable[App]]


@pytest.fixture
def start(start_guardian: StartGuardian) -> Start:
    async def start(settings: Settings, now: datetime = NOW) -> App:
        running = await start_guardian(settings, now, registry=registry())
        return App(running.app, running.client, running.clock)

    return start


async def until(condition: Callable[[], Awaitable[bool]], what: str, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)


async def stored_ids() -> list[str]:
    return sorted(
        await Notification.all().order_by("external_id").values_list("external_id", flat=True)
    )


async def stored_cursor(source_id: str = "mia-feed") -> str | None:
    source = await Source.get(slug=source_id)
    state = await PullState.get_or_none(source_id=source.id)
    return state.cursor if state else None


async def count_is(n: int) -> bool:
    return await Notification.all().count() == n


# --- runs, from now, through the path pushed messages take ------------------------------------


async def test_a_new_source_starts_at_now_and_stores_new_messages_with_their_cursor(
    tmp_path: Path, start: Start, networks: dict[str, Network]
) -> None:
    networks["mia"].send("old news", "older news")  # history: never imported
    app = await start(write(tmp_path, feed_source()))
    await until(lambda: _eq(stored_cursor(), "2"), "the first cursor: now")
    assert networks["mia"].started == [None]

    networks["mia"].send("are you awake?", "hello?")
    await until(lambda: count_is(2), "two new messages")
    assert await stored_ids() == ["feed-2", "feed-3"]
    assert await stored_cursor() == "4"
    stored = await Notification.get(external_id="feed-2").prefetch_related("member", "contact")
    # Decided like a pushed message: Sophie is a contact; no quiet hours on a Tuesday noon.
    assert (stored.member.slug, stored.contact.slug, stored.status) == (
        "mia",
        "sophie",
        "forwarded",
    )
    assert await app.source_status() == "ok"
    ready = await app.readyz()
    assert ready["status"] == "ready", ready
    assert ready["checks"]["pulls"] == "running"


async def _eq(value: Awaitable[Any], expected: Any) -> bool:
    return await value == expected


async def test_a_restart_goes_on_from_the_stored_cursor_neither_losing_nor_repeating(
    tmp_path: Path, start: Start, networks: dict[str, Network], aiohttp_client: Any
) -> None:
    settings = write(tmp_path, feed_source())
    first = await start(settings)
    await until(lambda: _eq(stored_cursor(), "0"), "the first cursor")
    networks["mia"].send("one", "two")
    await until(lambda: count_is(2), "two messages")
    await first.client.close()  # stopped: the lease is given up at once

    networks["mia"].send("three (while Guardian was away)")
    second = await start(settings, NOW + timedelta(minutes=5))
    await until(lambda: count_is(3), "the message sent while away")
    networks["mia"].send("four")
    await until(lambda: count_is(4), "a new message")
    assert await stored_ids() == ["feed-0", "feed-1", "feed-2", "feed-3"]
    assert networks["mia"].started == [None, "2"]
    assert await second.source_status() == "ok"


async def test_a_batch_read_again_after_a_lost_commit_is_deduplicated(
    tmp_path: Path, start: Start, networks: dict[str, Network]
) -> None:
    """A cursor stored behind what was stored (a batch read again) repeats nothing."""
    app = await start(write(tmp_path, feed_source()))
    await until(lambda: _eq(stored_cursor(), "0"), "the first cursor")
    networks["mia"].send("one", "two", "three")
    await until(lambda: count_is(3), "three messages")
    async with transaction() as db:  # as if the last commit had been lost
        await db.execute("UPDATE pull_state SET cursor = '1'")
    networks["mia"].fail(SourceError("the server hung up"))
    await until(lambda: _failures(1), "the failure recorded")
    await app.clock.advance(timedelta(seconds=2))  # past the first backoff
    await until(lambda: _started(networks["mia"], 2), "a restart after the failure")
    await until(lambda: _eq(stored_cursor(), "3"), "the batch read again")
    assert await stored_ids() == ["feed-0", "feed-1", "feed-2"]
    assert app.service.counters.duplicates == 2


async def _started(network: Network, times: int) -> bool:
    return len(network.started) >= times


# --- failures: shown, retried with backoff, isolated ------------------------------------------


async def test_a_failing_source_is_shown_retried_with_backoff_and_isolated(
    tmp_path: Path, start: Start, networks: dict[str, Network]
) -> None:
    app = await start(write(tmp_path, feed_source() + feed_source("other-feed", "other")))
    app.service.pulls.rng.seed(7)  # type: ignore[union-attr]
    await until(lambda: _eq(stored_cursor(), "0"), "mia's first cursor")
    await until(lambda: _eq(stored_cursor("other-feed"), "0"), "the other's first cursor")

    for _ in range(3):
        networks["mia"].fail(SourceError("the server refused the password"))
    networks["mia"].grew.set()
    await until(
        lambda: _startswith(app.source_status(), "failing: the server refused the password"),
        "the failure shown",
    )
    ready = await app.readyz()
    assert ready["status"] == "ready"  # one source failing is not Guardian failing
    assert ready["checks"]["sources"]["other-feed"] == "ok"
    assert "retrying at" in ready["checks"]["sources"]["mia-feed"]

    # The other source, and pushed messages, go on meanwhile.
    networks["other"].send("meanwhile")
    await until(lambda: count_is(1), "the other source's message")

    # Each retry waits longer (1 s, 2 s, 4 s, halved at most by jitter).
    delays = []
    for attempt in (2, 3, 4):
        state = await PullState.get(source__slug="mia-feed")
        assert state.retry_at is not None and state.failed_at is not None
        delays.append((state.retry_at - state.failed_at).total_seconds())
        await app.clock.set(state.retry_at)
        await until(lambda n=attempt: _started(networks["mia"], n), f"attempt {attempt}")
        if attempt < 4:
            await until(lambda n=attempt: _failures(n), f"failure {attempt} recorded")
    assert 0.5 <= delays[0] <= 1 and 1 <= delays[1] <= 2 and 2 <= delays[2] <= 4, delays

    admin = await admin_client(app)
    shown = await (await admin.get("/sources/mia-feed")).json()
    assert shown["kind"] == "pull" and shown["status"].startswith("failing: the server refused")
    assert shown["pull"]["state"] == "failing"
    assert shown["pull"]["last_error"] == "the server refused the password"
    assert shown["pull"]["next_retry_at"] is not None

    networks["mia"].send("back")
    await until(lambda: count_is(2), "mia's message after recovery")
    assert await app.source_status() == "ok"
    shown = await (await admin.get("/sources/mia-feed")).json()
    assert shown["pull"]["state"] == "running" and shown["pull"]["last_error"] is None
    assert shown["pull"]["last_message_at"] is not None
    assert shown["pull"]["last_poll_at"] is not None
    assert PASSWORD not in str(shown)
    state = await PullState.get(source__slug="mia-feed")
    assert (state.failures, state.last_error, state.retry_at) == (0, None, None)


async def _startswith(value: Awaitable[str], prefix: str) -> bool:
    return (await value).startswith(prefix)


async def _failures(n: int) -> bool:
    state = await PullState.get(source__slug="mia-feed")
    return state.failures == n


async def test_a_plugin_bug_is_shown_by_its_type_only_and_logged_with_its_traceback(
    tmp_path: Path, start: Start, networks: dict[str, Network], caplog: pytest.LogCaptureFixture
) -> None:
    app = await start(write(tmp_path, feed_source()))
    await until(lambda: _eq(stored_cursor(), "0"), "the first cursor")
    networks["mia"].fail(KeyError("https://feed.example/?key=not-for-pages"))
    await until(lambda: _startswith(app.source_status(), "failing: KeyError"), "the failure")
    assert "not-for-pages" not in str(await app.readyz())
    assert any(r.exc_info and "source mia-feed failed" in r.message for r in caplog.records)


async def test_settings_the_plugin_refuses_are_shown_and_the_others_run(
    tmp_path: Path, start: Start, networks: dict[str, Network]
) -> None:
    settings = write(tmp_path, feed_source() + feed_source("other-feed", "other"))
    app = await start(settings)
    await until(lambda: _eq(stored_cursor("other-feed"), "0"), "the other source")
    async with transaction() as db:  # settings edited outside any check
        await db.execute(
            "UPDATE sources SET settings = ? WHERE slug = 'mia-feed'", ['{"network": "mia"}']
        )
    await app.service.reload()
    await until(lambda: _startswith(app.source_status(), "password:"), "the refusal shown")
    assert await app.source_status("other-feed") == "ok"
    await until(lambda: _eq(_ended(networks["mia"]), 1), "mia's source stopped")


async def _ended(network: Network) -> int:
    return network.ended


# --- edits take effect at once ------------------------------------------------------------------


async def test_adding_editing_and_removing_a_source_starts_restarts_and_stops_it(
    tmp_path: Path, start: Start, networks: dict[str, Network]
) -> None:
    settings = write(tmp_path, "")
    app = await start(settings)
    assert networks["mia"].started == []

    async def edit(extra: str) -> None:
        edited = write(tmp_path, extra)
        await import_household(
            household_data(edited),
            app.clock.now(),
            "test",
            plugin_settings=registry().settings_models(),
        )
        await app.service.reload()  # as an admin change (or the follower, for an import) does

    await edit(feed_source())
    await until(lambda: _eq(stored_cursor(), "0"), "the added source's first cursor")
    networks["mia"].send("hello")
    await until(lambda: count_is(1), "its message")

    await edit(feed_source(network="other"))  # the same source reads another account now
    await until(lambda: _started(networks["other"], 1), "restarted with the new settings")
    assert networks["mia"].ended == 1
    assert [s.network for s in networks["mia"].settings + networks["other"].settings] == [
        "mia",
        "other",
    ]

    await edit("")
    await until(lambda: _eq(_ended(networks["other"]), 1), "the removed source stopped")
    assert "mia-feed" not in app.service.pulls.running  # type: ignore[union-attr]
    assert await PullState.all().count() == 0  # removed with its source


# --- one instance at a time ---------------------------------------------------------------------


async def test_a_lease_lets_one_instance_run_a_source_and_another_take_over_when_it_dies(
    tmp_path: Path, start: Start
) -> None:
    app = await start(write(tmp_path, feed_source()))
    await until(lambda: _eq(stored_cursor(), "0"), "the first cursor")
    source = app.service.household().sources["mia-feed"]
    now = app.clock.now()
    mine = app.service.pulls.owner  # type: ignore[union-attr]
    other = "another-instance"
    assert not await pull._acquire(source, other, now)
    # The other instance's batches are refused while this one holds the lease.
    with pytest.raises(pull.LeaseLost):
        async with transaction() as db:
            await pull.save_cursor(db, pull.PulledCursor(source.pk, "9", other, False), now)
    # This one dies (stops renewing): past the lease, the other takes over...
    later = now + pull.LEASE + timedelta(seconds=1)
    assert await pull._acquire(source, other, later)
    # ...and this one's next batch stores nothing: its cursor stays where the other put it.
    with pytest.raises(pull.LeaseLost):
        async with transaction() as db:
            await pull.save_cursor(db, pull.PulledCursor(source.pk, "7", mine, False), later)
    assert await stored_cursor() == "0"
    statuses = await pull.statuses(app.service.household().id, later)
    assert statuses[source.pk].state == "running"


# --- the pull conformance suite passes a good plugin and catches bad ones -------------------------


class FeedNetwork:
    """The in-memory feed as a conformance case's network."""

    def __init__(self, name: str = "mia") -> None:
        self.network = NETWORKS[name] = Network()  # fresh for each check
        self.settings = {"network": name, "password": PASSWORD}

    async def __aenter__(self) -> FeedNetwork:
        return self

    async def __aexit__(self, *exc: object) -> None:
        pass

    async def send(self, key: str) -> None:
        self.network.send(f"message {key}")

    async def fail(self) -> None:
        self.network.down = True
        self.network.grew.set()

    async def recover(self) -> None:
        self.network.down = False
        self.network.grew.set()


class ImportsHistory(Feed):
    async def pull(self, cursor: str | None) -> AsyncIterator[PullBatch]:  # type: ignore[override]
        async for batch in super().pull(cursor or "0"):
            yield batch


class IgnoresCursor(Feed):
    async def pull(self, cursor: str | None) -> AsyncIterator[PullBatch]:  # type: ignore[override]
        async for batch in super().pull(None if cursor is None else "0"):
            yield batch


class WontStop(Feed):
    async def pull(self, cursor: str | None) -> AsyncIterator[PullBatch]:  # type: ignore[override]
        try:
            async for batch in super().pull(cursor):
                yield batch
        finally:
            await asyncio.shield(asyncio.sleep(6))  # a slow goodbye


class LogsItsPassword(Feed):
    async def pull(self, cursor: str | None) -> AsyncIterator[PullBatch]:  # type: ignore[override]
        self.log.debug("logging in with %s", self.settings.password.get_secret_value())
        async for batch in super().pull(cursor):
            yield batch


def feed_case(plugin: type[Feed] = Feed) -> PullCase:
    return PullCase(plugin, network=FeedNetwork, secrets=[PASSWORD], within=5)


async def test_the_pull_conformance_suite_passes_a_plugin_that_keeps_the_contract(
    tmp_path: Path,
) -> None:
    await check_pull_conformance(feed_case(), tmp_path)


@pytest.mark.parametrize(
    ("plugin", "check", "failing"),
    [
        (ImportsHistory, "starts-at-now", "a message from before the source first ran"),
        (IgnoresCursor, "cursor-round-trip", "after the restart 1 message(s) were read again"),
        (WontStop, "stops-cleanly", "stopping took"),
        (LogsItsPassword, "cursor-round-trip", "secrets seen in logs"),
    ],
)
async def test_the_pull_conformance_suite_catches_a_plugin_that_breaks_it(
    tmp_path: Path, plugin: type[Feed], check: str, failing: str
) -> None:
    with pytest.raises(AssertionError) as caught:
        await check_pull_conformance(feed_case(plugin), tmp_path, only=[check])
    assert failing in str(caught.value)
    assert PASSWORD not in str(caught.value)


# --- sources added, edited and removed through the admin API ----------------------------------


async def test_the_api_adds_edits_and_removes_a_pull_source_which_starts_and_stops_at_once(
    tmp_path: Path, start: Start, networks: dict[str, Network]
) -> None:
    app = await start(write(tmp_path, ""))
    admin = await admin_client(app)
    body = {
        "id": "mia-feed",
        "plugin": "feed",
        "member": "mia",
        "settings": {"network": "mia", "password": PASSWORD},
    }
    created = await admin.post("/sources", json=body)
    assert created.status == 201, await created.text()
    shown = await created.json()
    assert (shown["kind"], shown["plugin"], shown["member"]) == ("pull", "feed", "mia")
    assert PASSWORD not in await created.text()
    await until(lambda: _eq(stored_cursor(), "0"), "the new source reading from now")
    networks["mia"].send("hello")
    await until(lambda: count_is(1), "its message")

    again = await admin.post("/sources", json=body)
    assert again.status == 409

    # An edit that leaves the password out keeps it; the source runs with the new settings.
    edited = await admin.put("/sources/mia-feed", json={"settings": {"network": "other"}})
    assert edited.status == 200, await edited.text()
    await until(lambda: _started(networks["other"], 1), "restarted on the other account")
    assert networks["other"].settings[-1].password.get_secret_value() == PASSWORD
    stored = await Source.get(slug="mia-feed")
    assert stored.settings == {"network": "other", "password": PASSWORD}

    removed = await admin.delete("/sources/mia-feed")
    assert removed.status == 204, await removed.text()
    await until(lambda: _eq(_ended(networks["other"]), 1), "the removed source stopped")
    actions = [e.action async for e in AuditEntry.all().order_by("id")]
    assert actions[-3:] == ["source.add", "source.update", "source.remove"], actions


async def test_the_api_refuses_bad_sources_by_field_and_changes_nothing(
    tmp_path: Path, start: Start
) -> None:
    app = await start(write(tmp_path, ""))
    admin = await admin_client(app)
    base = {"id": "mia-feed", "plugin": "feed", "member": "mia", "settings": {"network": "mia"}}
    cases = [
        (base, 422, "settings.password"),
        ({**base, "plugin": "no-such-plugin"}, 422, "plugin"),
        ({**base, "member": "nobody"}, 422, "member"),
        ({**base, "id": "Not A Slug"}, 422, "id"),
        ({**base, "settings": {"network": "mia", "password": "x", "member": "sam"}}, 422, ""),
    ]
    for body, status, field_name in cases:
        response = await admin.post("/sources", json=body)
        text = await response.text()
        assert response.status == status, (body, text)
        assert field_name in text, (field_name, text)
    assert not await Source.filter(slug="mia-feed").exists()
    assert (await admin.put("/sources/nowhere", json={})).status == 404
    assert (await admin.delete("/sources/nowhere")).status == 404


# --- paused sources ------------------------------------------------------------------------------


async def test_a_paused_pull_source_stops_and_goes_on_from_its_cursor_when_turned_on(
    tmp_path: Path, start: Start, networks: dict[str, Network]
) -> None:
    app = await start(write(tmp_path, feed_source()))
    admin = await admin_client(app)
    await until(lambda: _eq(stored_cursor(), "0"), "the first cursor")
    networks["mia"].send("one")
    await until(lambda: count_is(1), "a message")

    paused = await admin.put("/sources/mia-feed", json={"enabled": False})
    assert paused.status == 200, await paused.text()
    assert (await paused.json())["enabled"] is False
    await until(lambda: _eq(_ended(networks["mia"]), 1), "the paused source stopped")
    assert await app.source_status() == "paused"
    state = await PullState.get(source__slug="mia-feed")
    assert state.owner is None  # released: no instance runs it
    networks["mia"].send("two (while paused)")
    await asyncio.sleep(0.2)
    assert await Notification.all().count() == 1

    resumed = await admin.put("/sources/mia-feed", json={"enabled": True})
    assert resumed.status == 200
    await until(lambda: count_is(2), "what came while paused, read on from the cursor")
    assert networks["mia"].started == [None, "1"]
    assert await app.source_status() == "ok"
    exported = await transfer_export(app)
    assert "enabled" not in exported["sources"][-1]


async def transfer_export(app: App) -> dict[str, Any]:
    from guardian.transfer import export_household

    return await export_household(app.service.household().id)


async def test_a_paused_push_source_asks_its_network_to_retry_and_stores_nothing(
    tmp_path: Path, start: Start
) -> None:
    extra = feed_source().replace('password = "', 'enabled = false\npassword = "')
    settings = write(tmp_path, extra)
    assert not next(s for s in settings.sources if s.id == "mia-feed").enabled
    app = await start(settings)
    assert await app.source_status() == "paused"  # a pull source paused in settings.toml
    admin = await admin_client(app)
    assert (await admin.put("/sources/mia-phone", json={"enabled": False})).status == 200
    running = app
    response = await running.post(message(1))
    assert response.status == 503
    assert response.headers["Retry-After"] == "600"
    assert (await response.json())["error"] == "source_paused"
    assert await Notification.all().count() == 0
    exported = await transfer_export(app)
    by_id = {s["id"]: s for s in exported["sources"]}
    assert by_id["mia-phone"]["enabled"] is False and by_id["mia-feed"]["enabled"] is False
    assert (await admin.put("/sources/mia-phone", json={"enabled": True})).status == 200
    assert (await running.post(message(2))).status == 202
