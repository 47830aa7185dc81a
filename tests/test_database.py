"""Opening the database: a new SQLite database copied from the schema cache is the one that
running every migration makes, and an existing database is never replaced by the copy."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from guardian.database import SCHEMA_CACHE_ENV, migrate


def schema(path: Path) -> tuple[list[tuple[str, str]], list[tuple[str, ...]]]:
    with sqlite3.connect(path) as db:
        objects = db.execute(
            "SELECT type, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY type, name"
        ).fetchall()
        applied = db.execute("SELECT app, name FROM tortoise_migrations ORDER BY name").fetchall()
    return objects, applied


async def test_a_database_from_the_schema_cache_is_the_migrated_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv(SCHEMA_CACHE_ENV, raising=False)
    await migrate(f"sqlite://{tmp_path / 'plain.db'}")
    monkeypatch.setenv(SCHEMA_CACHE_ENV, str(tmp_path / "cache"))
    await migrate(f"sqlite://{tmp_path / 'first.db'}")  # migrated, then kept in the cache
    [kept] = (tmp_path / "cache").glob("schema-*.db")
    await migrate(f"sqlite://{tmp_path / 'copied.db'}")  # copied from the cache
    plain = schema(tmp_path / "plain.db")
    assert plain[1], "no migration was recorded"
    assert schema(tmp_path / "first.db") == plain
    assert schema(tmp_path / "copied.db") == plain
    assert schema(kept) == plain


async def test_an_existing_database_is_never_replaced_by_the_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv(SCHEMA_CACHE_ENV, str(tmp_path / "cache"))
    await migrate(f"sqlite://{tmp_path / 'first.db'}")
    mine = tmp_path / "mine.db"
    await migrate(f"sqlite://{mine}")
    with sqlite3.connect(mine) as db:
        db.execute("CREATE TABLE kept (x)")
    await migrate(f"sqlite://{mine}")
    with sqlite3.connect(mine) as db:
        assert db.execute("SELECT name FROM sqlite_master WHERE name = 'kept'").fetchone()
