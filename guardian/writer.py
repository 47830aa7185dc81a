"""Group commit: every request waiting when the writer wakes is stored in one transaction.

Ingest would be bound by one commit (an fsync) per request; instead requests queue here and one
writer task takes them all into a single transaction and commit, then answers each. Nothing that
one request carries can stop it: a batch that fails for a reason other than storage is split
until only the request that causes it fails; a request that gave up waiting is left out before
the commit, never stored after its 503; a household changed by another instance is taken up and
the batch decided again; a race with another instance over the same row is retried.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

from guardian.database import StorageUnavailable, storage_failure
from guardian.sql import Db, conflicts, postgres_errors, transaction

log = logging.getLogger(__name__)

#: Rows one transaction takes at most; what waits beyond goes in the next one.
MAX_ROWS_PER_COMMIT = 2000
#: Attempts for a batch that races another instance (a unique row, a deadlock) or a reload.
ATTEMPTS = 5


def retried() -> tuple[type[BaseException], ...]:
    """Another instance got there first, or PostgreSQL chose this transaction to break a
    deadlock: deciding again from what is stored now gives the right answer."""
    return (*conflicts(), *postgres_errors("TransactionRollbackError"))


class Stale(Exception):
    """The household changed since it was loaded: reload it and decide again."""


class Unstorable(Exception):
    """One request that the database refused for its content, not for being unavailable."""


R = TypeVar("R")


@dataclass(eq=False)
class Pending(Generic[R]):
    """One request's part of a batch, and where its answer goes."""

    #: Whatever the path stores (the messages of one request, or a pull batch).
    work: Any
    rows: int
    future: asyncio.Future[R] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )
    #: The request stopped waiting (its request_timeout): it must not be stored after all.
    abandoned: bool = False
    #: Its transaction is committing: the answer is moments away.
    committing: bool = False


Path = Callable[[Db, Sequence[Pending[R]]], Awaitable[Sequence[R]]]


class Writer(Generic[R]):
    def __init__(
        self,
        path: Path[R],
        *,
        before: Callable[[], None] = lambda: None,
        reload: Callable[[], Awaitable[None]] | None = None,
    ) -> None:
        """`path` stores a batch in the transaction it is given and returns each request's
        result; `before` raises StorageUnavailable when storage must not be written (the
        database file vanished); `reload` takes up a household that changed elsewhere."""
        self._path = path
        self._before = before
        self._reload = reload
        self._queue: asyncio.Queue[Pending[R]] = asyncio.Queue()
        self.batches = 0
        self.last_commit: datetime | None = None

    async def submit(self, pending: Pending[R]) -> R:
        await self._queue.put(pending)
        return await asyncio.shield(pending.future)

    def queue(self, pending: Pending[R]) -> None:
        self._queue.put_nowait(pending)

    async def run(self) -> None:
        batch: list[Pending[R]] = []
        try:
            while True:
                batch = [await self._queue.get()]
                size = batch[0].rows
                while not self._queue.empty() and size < MAX_ROWS_PER_COMMIT:
                    batch.append(self._queue.get_nowait())
                    size += batch[-1].rows
                await self._commit(batch)
                batch = []
        finally:
            # Stopped (or a bug): what it held is answered, never left waiting.
            for pending in batch:
                _fail(pending, StorageUnavailable("the writer stopped"))

    async def _commit(self, batch: list[Pending[R]]) -> None:
        batch = [p for p in batch if not p.abandoned and not p.future.done()]
        if not batch:
            return
        try:
            results = await self._store(batch)
        except Exception as error:
            if storage_failure(error):
                log.warning("storage unavailable, %d requests refused: %s", len(batch), error)
                for pending in batch:
                    _fail(pending, StorageUnavailable(str(error)))
                return
            if len(batch) > 1:
                # Only the request that causes it may fail: split until it is alone.
                half = len(batch) // 2
                await self._commit(batch[:half])
                await self._commit(batch[half:])
                return
            log.exception("a request could not be stored")
            _fail(batch[0], Unstorable(f"{type(error).__name__}: {error}"))
            return
        for pending, result in zip(batch, results, strict=True):
            if not pending.future.done():
                pending.future.set_result(result)

    async def _store(self, batch: list[Pending[R]]) -> Sequence[R]:
        for attempt in range(1, ATTEMPTS + 1):
            self._before()
            try:
                async with transaction() as db:
                    results = await self._path(db, batch)
                    if any(p.abandoned for p in batch):
                        raise _Abandoned
                    for pending in batch:
                        pending.committing = True
                self.batches += 1
                return results
            except _Abandoned:
                batch[:] = [p for p in batch if not p.abandoned]
                if not batch:
                    return []
            except Stale:
                if self._reload is None:
                    raise
                await self._reload()
            except retried() as error:
                if attempt == ATTEMPTS:
                    raise StorageUnavailable(f"gave up after {attempt} attempts: {error}") from None
                log.info("batch raced another writer (%s); deciding again", type(error).__name__)
            finally:
                for pending in batch:
                    pending.committing = False
        raise StorageUnavailable("the household kept changing while the batch was stored")


class _Abandoned(Exception):
    pass


def _fail(pending: Pending[Any], error: Exception) -> None:
    if not pending.future.done():
        pending.future.set_exception(error)
        # The handler may have stopped waiting: its answer was a 503 already.
        pending.future.exception()
