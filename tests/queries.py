"""Every SQL statement the app runs on its SQLite connection, for tests that count them."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from tortoise import connections


@asynccontextmanager
async def statements() -> AsyncIterator[list[str]]:
    """The statements run while inside, through the ORM and plain SQL (guardian.sql) alike."""
    raw: Any = connections.get("default")._connection  # type: ignore[attr-defined]
    seen: list[str] = []
    # On aiosqlite's own thread, where the sqlite3 connection lives (as guardian.sql calls it).
    await raw._execute(raw._conn.set_trace_callback, seen.append)
    try:
        yield seen
    finally:
        await raw._execute(raw._conn.set_trace_callback, None)
