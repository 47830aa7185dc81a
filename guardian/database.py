"""Opening the database: tortoise configuration, migrations, and the unavailable-storage error."""

from __future__ import annotations

import sqlite3
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from tortoise import Tortoise
from tortoise.context import TortoiseContext
from tortoise.exceptions import DBConnectionError, OperationalError, TransactionManagementError
from tortoise.migrations.api import migrate as run_migrations

APP = "guardian"
SQLITE_DEFAULTS = {"busy_timeout": "5000", "synchronous": "NORMAL"}


class StorageUnavailable(Exception):
    """The database cannot take writes right now (locked, full, gone); try again later."""


#: Errors that mean "storage unavailable", not "bad input".
STORAGE_ERRORS: tuple[type[BaseException], ...] = (
    OperationalError,
    DBConnectionError,
    TransactionManagementError,
    sqlite3.OperationalError,
    sqlite3.DatabaseError,
    OSError,
)


def tortoise_config(url: str) -> dict[str, Any]:
    return {
        "connections": {"default": _with_defaults(url)},
        "apps": {
            APP: {
                "models": ["guardian.models"],
                "migrations": "guardian.migrations",
                "default_connection": "default",
            }
        },
        "use_tz": True,
        "timezone": "UTC",
    }


def _with_defaults(url: str) -> str:
    """SQLite: create the file's folder, and add the pragmas Guardian relies on."""
    if not url.startswith("sqlite://"):
        return url
    parts = urlsplit(url)
    path = url[len("sqlite://") :].split("?", 1)[0]
    if path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    query = {**SQLITE_DEFAULTS, **dict(parse_qsl(parts.query))}
    return f"sqlite://{path}?{urlencode(query)}"


#: Used by `tortoise makemigrations` (see `[tool.tortoise]` in pyproject.toml).
MIGRATIONS_CONFIG = tortoise_config("sqlite://:memory:")


async def migrate(url: str) -> None:
    """Apply every pending migration, then drop the migration context."""
    try:
        await run_migrations(config=tortoise_config(url))
    finally:
        # A failed migration must not leave aiosqlite's thread behind (the process would hang).
        await Tortoise.close_connections()


@asynccontextmanager
async def opened(url: str, *, apply_migrations: bool = True) -> AsyncIterator[TortoiseContext]:
    """The ORM, migrated and open, for the lifetime of the block; closed through its context."""
    if apply_migrations:
        await migrate(url)
    context = await Tortoise.init(config=tortoise_config(url), _enable_global_fallback=True)
    try:
        yield context
    finally:
        await context.close_connections()
