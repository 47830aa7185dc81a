"""Plain SQL for the hot paths, on the driver connection of a tortoise transaction.

Ingest stores a whole batch in a fixed number of statements (`executemany`, `RETURNING`, row
locks), which the ORM cannot say. The SQL is written once, with `?` placeholders; for PostgreSQL
they become `$1, $2, ...`. Values are encoded here the way tortoise stores them, so that the
models read back what this wrote: instants in UTC (text on SQLite), UUIDs, JSON as text.
"""

from __future__ import annotations

import re
import sqlite3
import sys
import uuid
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from tortoise import connections
from tortoise.transactions import in_transaction


def postgres_errors(*names: str) -> tuple[type[BaseException], ...]:
    """asyncpg's exception classes of these names, once asyncpg is imported, else none.

    asyncpg is imported when PostgreSQL is used (by tortoise's client), and no error of it can
    exist before: a Guardian on SQLite never loads it (23 modules, 3 MiB). Use it in the
    `except` clause itself, which is evaluated when an exception is matched.
    """
    asyncpg = sys.modules.get("asyncpg")
    if asyncpg is None:
        return ()
    return tuple(getattr(asyncpg.exceptions, name) for name in names)


def conflicts() -> tuple[type[BaseException], ...]:
    """Unique violations: a race with another instance storing the same row (retried)."""
    return (sqlite3.IntegrityError, *postgres_errors("UniqueViolationError"))


@lru_cache(maxsize=256)
def _numbered(sql: str) -> str:
    count = iter(range(1, 1_000_000))
    return re.sub(r"\?", lambda _: f"${next(count)}", sql)


class Db:
    """One transaction's driver connection (aiosqlite or asyncpg), spoken to in one dialect."""

    def __init__(self, raw: Any, postgres: bool) -> None:
        self._raw = raw
        self.postgres = postgres

    def placeholders(self, count: int) -> str:
        return ", ".join("?" * count)

    @property
    def for_update(self) -> str:
        """Row locks where there are any: SQLite has one writer at a time anyway."""
        return " FOR UPDATE" if self.postgres else ""

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[Sequence[Any]]:
        """The rows of one query, as plain tuples (asyncpg records on PostgreSQL)."""
        if self.postgres:
            return list(await self._raw.fetch(_numbered(sql), *params))
        rows: list[Sequence[Any]] = await self._on_thread(_fetch_tuples, sql, params)
        return rows

    async def execute(self, sql: str, params: Sequence[Any] = ()) -> int:
        """Run one statement; return how many rows it changed."""
        if self.postgres:
            status: str = await self._raw.execute(_numbered(sql), *params)
            parts = status.split()
            return int(parts[-1]) if parts and parts[-1].isdigit() else 0
        changed: int = await self._on_thread(_execute, sql, params)
        return changed

    async def many(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        rows = list(rows)
        if not rows:
            return
        if self.postgres:
            await self._raw.executemany(_numbered(sql), rows)
        else:
            await self._on_thread(_execute_many, sql, rows)

    async def _on_thread(self, function: Callable[..., Any], *args: Any) -> Any:
        """Run `function(sqlite3_connection, *args)` on aiosqlite's thread, in one hop.

        aiosqlite's own calls take a hop to its thread and back for each step (execute, fetch,
        close the cursor), and build `sqlite3.Row` objects; on the hot path one hop per
        statement and plain tuples matter. `_execute` and `_conn` are aiosqlite 0.22's.
        """
        return await self._raw._execute(function, self._raw._conn, *args)

    def instant(self, value: datetime | None) -> Any:
        """An aware instant as the column holds it (tortoise's own text form on SQLite)."""
        if value is None:
            return None
        utc = value.astimezone(UTC)
        return utc if self.postgres else str(utc)

    def uuid(self, value: uuid.UUID) -> Any:
        return value if self.postgres else str(value)


def _fetch_tuples(connection: sqlite3.Connection, sql: str, params: Sequence[Any]) -> list[Any]:
    cursor = connection.cursor()
    try:
        cursor.row_factory = None
        return cursor.execute(sql, params).fetchall()
    finally:
        cursor.close()


def _execute(connection: sqlite3.Connection, sql: str, params: Sequence[Any]) -> int:
    cursor = connection.execute(sql, params)
    try:
        return cursor.rowcount
    finally:
        cursor.close()


def _execute_many(connection: sqlite3.Connection, sql: str, rows: list[Sequence[Any]]) -> int:
    cursor = connection.executemany(sql, rows)
    try:
        return cursor.rowcount
    finally:
        cursor.close()


def read_instant(value: Any) -> datetime:
    """An instant as a driver returns it: a datetime (PostgreSQL) or text (SQLite)."""
    if isinstance(value, datetime):
        return value.astimezone(UTC)
    parsed = datetime.fromisoformat(str(value))
    return parsed.replace(tzinfo=UTC) if parsed.tzinfo is None else parsed.astimezone(UTC)


@asynccontextmanager
async def transaction() -> AsyncIterator[Db]:
    """A tortoise transaction on the default connection, spoken to in plain SQL.

    On SQLite it takes the write lock first, waiting for it as long as `busy_timeout` allows:
    a transaction that read first and only then wrote would fail at once ("database is
    locked") whenever another process (an import, a backup) held the lock at that moment.
    """
    async with in_transaction() as tx, tx.acquire_connection() as raw:
        db = Db(raw, tx.capabilities.dialect == "postgres")
        if not db.postgres:
            await db.execute("UPDATE households SET revision = revision WHERE 0")
        yield db


@asynccontextmanager
async def statement() -> AsyncIterator[Db]:
    """The default connection outside any transaction: each statement commits by itself.

    For work that one statement does whole (a claim that selects and marks in one `UPDATE`),
    where a transaction would only add its `BEGIN` and `COMMIT`: two more round trips on
    PostgreSQL, for nothing.
    """
    client = connections.get("default")
    async with client.acquire_connection() as raw:
        yield Db(raw, client.capabilities.dialect == "postgres")
