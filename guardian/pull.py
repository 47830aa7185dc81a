"""Pull sources run here: each as its own task, on one instance at a time, from a stored cursor.

`Pulls` keeps the household's pull sources running. Every few seconds, and at once after an
edit, it compares the sources with what runs: a new source is started, an edited one started
again, a removed one stopped. A source runs on the instance holding its **lease** (a row of
`pull_state`, renewed every RENEW_EVERY, good for LEASE): with several instances on one
PostgreSQL each source runs on exactly one, and when that one dies another takes it over as
soon as the lease runs out.

A running source reads its plugin's batches (`PullPlugin.pull`) and hands each to ingest, the
same path pushed messages take (deduplicate, decide, store). The batch's cursor is written in
the writer's transaction that stores its notifications, and only while this instance still
holds the lease (`save_cursor`): a batch is stored whole, cursor included, or read again after
a restart, and an instance whose lease was taken stores nothing. An instance is named by its
host and port (no two live ones share them), so one restarted after a crash takes its sources
back at once. When the plugin fails, the failure is logged and shown (`/readyz`, the Sources
page, the API), and the plugin is started again from the stored cursor after a backoff that
doubles up to MAX_BACKOFF, with jitter; one failing source never touches the others or ingest.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import uuid
from collections.abc import AsyncGenerator, Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import aiohttp

from guardian.clock import Clock, sleep_or
from guardian.database import StorageUnavailable, storage_failure
from guardian.household import HouseholdView, SourceView
from guardian.plugin import PluginContext, PluginRegistry, PullBatch, PullPlugin, SourceError
from guardian.sql import Db, read_instant, transaction

log = logging.getLogger(__name__)

#: How long a lease holds without renewal: another instance takes a source over after this.
LEASE = timedelta(seconds=30)
#: How often leases are renewed and sources compared with the household.
RENEW_EVERY = timedelta(seconds=10)
FIRST_BACKOFF = timedelta(seconds=1)
MAX_BACKOFF = timedelta(minutes=5)


class LeaseLost(Exception):
    """Another instance runs this source now: this one stores nothing more of it."""


@dataclass(frozen=True)
class PulledCursor:
    """What an arrival from a pull source carries besides its messages."""

    source_pk: int
    #: The cursor past these messages; None for a part of a batch that is not its last.
    cursor: str | None
    #: The instance that read it: the cursor is written only while it holds the lease.
    owner: str
    messages: bool


async def save_cursor(db: Db, pulled: PulledCursor, now: datetime) -> None:
    """In the transaction that stores the batch: move the cursor on, if the lease is ours."""
    changed = await db.execute(
        "UPDATE pull_state SET cursor = COALESCE(?, cursor), last_poll_at = ?, "
        "last_message_at = CASE WHEN ? THEN ? ELSE last_message_at END, "
        "last_error = NULL, failed_at = NULL, retry_at = NULL, failures = 0 "
        "WHERE source_id = ? AND owner = ?",
        [
            pulled.cursor,
            db.instant(now),
            pulled.messages,
            db.instant(now),
            pulled.source_pk,
            pulled.owner,
        ],
    )
    if not changed:
        raise LeaseLost(f"source {pulled.source_pk} is run by another instance now")


@dataclass(frozen=True)
class PullStatus:
    """How a pull source goes, as stored (so every instance tells the same)."""

    state: str
    last_poll_at: datetime | None = None
    last_message_at: datetime | None = None
    last_error: str | None = None
    retry_at: datetime | None = None

    def describe(self) -> str:
        """One line for `/readyz`: "ok", or what is wrong."""
        if self.state == "running":
            return "ok"
        if self.state == "failing":
            when = f", retrying at {self.retry_at.isoformat()}" if self.retry_at else ""
            return f"failing: {self.last_error}{when}"
        return {"starting": "starting", "waiting": "not running on any instance yet"}.get(
            self.state, self.state
        )


async def statuses(household_id: str, now: datetime) -> dict[int, PullStatus]:
    """The status of each of the household's pull sources that ever ran, by source pk."""
    async with transaction() as db:
        rows = await db.fetch(
            "SELECT p.source_id, p.owner, p.lease_until, p.last_poll_at, p.last_message_at, "
            "p.last_error, p.retry_at FROM pull_state p JOIN sources s ON s.id = p.source_id "
            "WHERE s.household_id = ?",
            [household_id],
        )
    found = {}
    for pk, owner, until, polled, messaged, error, retry in rows:
        held = owner is not None and until is not None and read_instant(until) >= now
        state = ("failing" if error else "running") if held else "waiting"
        found[int(pk)] = PullStatus(
            state, _instant(polled), _instant(messaged), error, _instant(retry)
        )
    return found


def _instant(value: Any) -> datetime | None:
    return None if value is None else read_instant(value)


# --- leases ------------------------------------------------------------------------------------


async def _acquire(source: SourceView, owner: str, now: datetime) -> bool:
    """Take or renew the source's lease; False while another instance holds it."""
    async with transaction() as db:
        await db.execute(
            "INSERT INTO pull_state (source_id, plugin, failures) VALUES (?, ?, 0) "
            "ON CONFLICT (source_id) DO NOTHING",
            [source.pk, source.plugin],
        )
        changed = await db.execute(
            "UPDATE pull_state SET owner = ?, lease_until = ? WHERE source_id = ? AND "
            "(owner = ? OR owner IS NULL OR lease_until IS NULL OR lease_until < ?)",
            [owner, db.instant(now + LEASE), source.pk, owner, db.instant(now)],
        )
        if changed:
            # A source given another plugin: the old cursor means nothing to the new one.
            await db.execute(
                "UPDATE pull_state SET plugin = ?, cursor = NULL WHERE source_id = ? "
                "AND plugin <> ?",
                [source.plugin, source.pk, source.plugin],
            )
    return bool(changed)


async def _release(source_pk: int, owner: str) -> None:
    async with transaction() as db:
        await db.execute(
            "UPDATE pull_state SET owner = NULL, lease_until = NULL "
            "WHERE source_id = ? AND owner = ?",
            [source_pk, owner],
        )


async def _stored_cursor(source_pk: int) -> str | None:
    async with transaction() as db:
        rows = await db.fetch("SELECT cursor FROM pull_state WHERE source_id = ?", [source_pk])
    return rows[0][0] if rows else None


async def _failed(
    source_pk: int, owner: str, error: str, now: datetime, retry: datetime, failures: int
) -> None:
    async with transaction() as db:
        await db.execute(
            "UPDATE pull_state SET last_error = ?, failed_at = ?, retry_at = ?, failures = ? "
            "WHERE source_id = ? AND owner = ?",
            [error, db.instant(now), db.instant(retry), failures, source_pk, owner],
        )


# --- running ----------------------------------------------------------------------------------


#: Stores a batch of a source, with its cursor, for the instance named (`Ingest.pulled`).
Store = Callable[[SourceView, PullBatch, str, logging.Logger], Awaitable[None]]


@dataclass(eq=False)
class Running:
    """One pull source this instance runs."""

    source: SourceView
    task: asyncio.Task[None]
    failures: int = 0


@dataclass(eq=False)
class Pulls:
    """Runs the household's pull sources that this instance holds the lease of."""

    clock: Clock
    household: Callable[[], HouseholdView]
    registry: PluginRegistry
    store: Store
    session: Callable[[], aiohttp.ClientSession | None]
    #: This instance, as the leases name it: no two live instances may share a name.
    owner: str = field(default_factory=lambda: uuid.uuid4().hex)
    rng: random.Random = field(default_factory=random.Random)
    #: Set after an edit: compare sources with what runs at once.
    changed: asyncio.Event = field(default_factory=asyncio.Event)
    #: Sources whose settings the plugin refuses, with why (shown like a push source's).
    refused: Mapping[str, str] = field(default_factory=dict)
    running: dict[str, Running] = field(default_factory=dict)

    async def run(self) -> None:
        """Keep the sources running until cancelled; then stop them and give up their leases."""
        try:
            while True:
                self.changed.clear()
                await self.reconcile()
                await sleep_or(self.clock, RENEW_EVERY.total_seconds(), self.changed)
        finally:
            await asyncio.shield(self.stop_all())

    def wanted(self) -> dict[str, SourceView]:
        pulling = self.registry.pulling()
        return {
            source_id: source
            for source_id, source in self.household().sources.items()
            if source.plugin in pulling and source.enabled and source_id not in self.refused
        }

    async def reconcile(self) -> None:
        """Start, restart and stop tasks to match the household and the leases."""
        wanted = self.wanted()
        for source_id, running in list(self.running.items()):
            if wanted.get(source_id) != running.source or running.task.done():
                await self._stop(source_id, release=source_id not in wanted)
        for source_id, source in wanted.items():
            try:
                held = await _acquire(source, self.owner, self.clock.now())
            except Exception as error:  # what runs goes on; it cannot store meanwhile
                if not storage_failure(error):
                    raise
                log.warning("source %s: cannot renew its lease: %s", source_id, error)
                continue
            if held and source_id not in self.running:
                log.info("source %s: starting (%s)", source_id, source.plugin)
                task = asyncio.create_task(self._keep(source), name=f"pull:{source_id}")
                self.running[source_id] = Running(source, task)
            elif not held and source_id in self.running:
                log.warning("source %s: another instance took it over; stopping here", source_id)
                await self._stop(source_id, release=False)

    async def _stop(self, source_id: str, *, release: bool) -> None:
        running = self.running.pop(source_id)
        running.task.cancel()
        await asyncio.wait([running.task])
        if not running.task.cancelled() and running.task.exception() is not None:
            # A bug in the runtime itself: said once, and the source is started again.
            log.error("source %s: its task failed", source_id, exc_info=running.task.exception())
        if release:
            await _release(running.source.pk, self.owner)

    async def stop_all(self) -> None:
        """Stop every source and release the leases, so that another instance goes on at once."""
        for source_id in list(self.running):
            try:
                await self._stop(source_id, release=True)
            except Exception as error:  # the database may be gone: the lease then runs out
                log.warning("source %s: could not release its lease: %s", source_id, error)

    def backoff(self, failures: int) -> timedelta:
        base = min(FIRST_BACKOFF * (1 << min(failures - 1, 20)), MAX_BACKOFF)
        return base * self.rng.uniform(0.5, 1.0)

    async def _keep(self, source: SourceView) -> None:
        """Run the source's plugin from the stored cursor; on failure, again after a backoff."""
        running = self.running[source.id]
        while True:
            try:
                await self._pull(source, running)
                error = "its pull ended, which it never should"
                log.error("source %s: %s", source.id, error)
            except asyncio.CancelledError:
                raise
            except LeaseLost:
                log.warning("source %s: another instance runs it now; stopping here", source.id)
                self.changed.set()
                return
            except Exception as failure:
                error = _describe(failure)
                if _expected(failure):
                    log.warning("source %s failed: %s", source.id, error)
                else:
                    log.exception("source %s failed", source.id)
            running.failures += 1
            now = self.clock.now()
            delay = self.backoff(running.failures)
            log.info("source %s: trying again in %.0f s", source.id, delay.total_seconds())
            with contextlib.suppress(Exception):  # shown when storage is back
                await _failed(source.pk, self.owner, error, now, now + delay, running.failures)
            await self.clock.sleep(delay.total_seconds())

    async def _pull(self, source: SourceView, running: Running) -> None:
        plugin = self._plugin(source)
        cursor = await _stored_cursor(source.pk)
        batches = plugin.pull(cursor)
        try:
            async for batch in batches:
                await self.store(source, batch, self.owner, plugin.log)
                running.failures = 0
        finally:
            if isinstance(batches, AsyncGenerator):
                with contextlib.suppress(Exception):
                    await batches.aclose()

    def _plugin(self, source: SourceView) -> PullPlugin[Any]:
        plugin = self.registry.pulling()[source.plugin]
        context = PluginContext(
            source_id=source.id,
            settings=plugin.settings_model.model_validate(source.settings),
            session=self.session(),
            log=logging.getLogger(f"guardian.plugins.{source.plugin}.{source.id}"),
            clock=self.clock,
        )
        return plugin(context)


def _expected(error: BaseException) -> bool:
    """A failure of the network, its settings or storage, not a bug in a plugin."""
    return storage_failure(error) or isinstance(
        error, (SourceError, OSError, TimeoutError, aiohttp.ClientError)
    )


def _describe(error: BaseException) -> str:
    """The failure as shown: a SourceError's own words (written to be shown), or the type of
    any other (whose text may carry a URL with a token in it)."""
    if isinstance(error, SourceError | StorageUnavailable):
        return (str(error) or type(error).__name__)[:300]
    return type(error).__name__
