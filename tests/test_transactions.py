"""A task cancelled while its transaction begins gives the connection back.

tortoise's SQLite transaction takes the connection's one lock and only then sends BEGIN; a task
cancelled during that BEGIN (a timer at shutdown, a request that timed out) left the lock taken,
and every later query of the process waited for it forever: `guardian serve` hung at SIGTERM and
a test's teardown hung for 300 s in CI. The same race leaked a pooled PostgreSQL connection.
(tortoise/tortoise-orm#1757 reports the "transaction within a transaction" side of it.)
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from tortoise import connections
from tortoise.transactions import in_transaction

from guardian.database import opened
from guardian.models import Household
from guardian.sql import transaction

pytestmark = pytest.mark.filterwarnings("ignore::ResourceWarning")


@pytest.fixture(params=["sqlite", "postgres"])
async def database(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[str]:
    if request.param == "sqlite":
        url = f"sqlite://{tmp_path / 'guardian.db'}"
    else:
        postgres = request.getfixturevalue("postgres")
        url = postgres.create_database() + "?minsize=1&maxsize=1"
    async with opened(url):
        yield request.param


async def hold(begin: Any) -> None:
    async with begin():
        await asyncio.sleep(3600)


async def answers() -> int:
    """A query and a transaction still get through, within seconds."""
    async with asyncio.timeout(5):
        async with in_transaction():
            count = await Household.all().count()
        async with transaction() as db:
            await db.fetch("SELECT 1")
        return count


async def test_cancelled_while_sqlite_begins_the_lock_is_released(tmp_path: Path) -> None:
    async with opened(f"sqlite://{tmp_path / 'guardian.db'}"):
        lock = connections.get("default")._lock  # the one lock of tortoise's SQLite client
        for begin in (in_transaction, transaction):
            task = asyncio.create_task(hold(begin))
            while not lock.locked():  # it has the lock, and waits for BEGIN in SQLite's thread
                await asyncio.sleep(0)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert not lock.locked()
            assert await answers() == 0


async def test_cancelled_at_any_moment_of_a_transaction_the_database_still_answers(
    database: str,
) -> None:
    """Cancelled after every number of event-loop turns from 0 to 60, and after short real
    waits: before, during and after BEGIN, in the body, during the rollback."""
    delays: list[Any] = [("turns", n) for n in range(60)]
    delays += [("seconds", n / 2000) for n in range(20)]
    for kind, amount in delays:
        task = asyncio.create_task(hold(in_transaction))
        if kind == "turns":
            for _ in range(amount):
                await asyncio.sleep(0)
        else:
            await asyncio.sleep(amount)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        assert await answers() == 0, (database, kind, amount)


async def test_a_pooled_connection_goes_back_without_a_query_and_with_no_transaction(
    postgres: Any,
) -> None:
    """asyncpg's default reset sends `… RESET ALL` at every release: a round trip per
    statement run outside a transaction. Guardian's pool sends nothing, and a transaction left
    open still ends before the connection is used again."""
    import asyncpg

    from guardian.database import asyncpg_dsn

    url = postgres.create_database() + "?minsize=1&maxsize=1"
    async with opened(url):
        pool = connections.get("default")._pool
        async with pool.acquire() as connection:
            pid = connection.get_server_pid()
        watcher = await asyncpg.connect(asyncpg_dsn(url))
        try:
            await Household.all().count()
            last = await watcher.fetchval("SELECT query FROM pg_stat_activity WHERE pid = $1", pid)
            assert "RESET" not in last and "households" in last, last

            left_open = await pool.acquire()
            await left_open.execute("BEGIN")
            await left_open.execute(
                "INSERT INTO households (id, name, timezone, created_at) "
                "VALUES ('half', 'half', 'UTC', now())"
            )
            await pool.release(left_open)
            async with pool.acquire() as connection:
                assert connection.get_server_pid() == pid
                assert not connection.is_in_transaction()
            assert await answers() == 0  # the half-done insert was rolled back
        finally:
            await watcher.close()
