"""Opening the database: a new SQLite database copied from the schema cache is the one that
running every migration makes, and an existing database is never replaced by the copy."""

from __future__ import annotations

import asyncio
import gc
import sqlite3
import subprocess
import sys
from pathlib import Path

import pytest
from tortoise.models import Model

from guardian.database import SCHEMA_CACHE_ENV, MigrationFailed, migrate, storage_failure
from guardian.writer import retried


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


async def test_the_deliverer_reads_due_deliveries_from_an_index_of_the_pending_ones(
    tmp_path: Path,
) -> None:
    """Every delivery ever sent keeps its `next_attempt_at` in the past: read through an index of
    `next_attempt_at` alone, each claim skipped all of them (on PostgreSQL, 8,000 sent rows made a
    claim 6× slower: "Rows Removed by Filter: 8000"). The claim's and the next-due query's
    conditions are answered from (status, next_attempt_at), so sent rows are never read."""
    path = tmp_path / "plan.db"
    await migrate(f"sqlite://{path}")
    with sqlite3.connect(path) as db:
        [index] = [
            name
            for name, sql in db.execute("SELECT name, sql FROM sqlite_master WHERE type = 'index'")
            if sql and '"status","next_attempt_at"' in sql.replace(" ", "")
        ]
        for query, arguments in (
            (
                "SELECT id, member_id, channels FROM deliveries WHERE status = 'pending' "
                "AND next_attempt_at <= ? AND household_id = ? ORDER BY next_attempt_at, id "
                "LIMIT 20",
                ["2026-12-04", "h"],
            ),
            (
                "SELECT id FROM deliveries WHERE status = 'pending' AND household_id = ? "
                "ORDER BY next_attempt_at LIMIT 1",
                ["h"],
            ),
        ):
            plan = " ".join(row[-1] for row in db.execute(f"EXPLAIN QUERY PLAN {query}", arguments))
            assert f"USING INDEX {index} (status=?" in plan and "TEMP B-TREE" not in plan, plan


async def test_a_file_that_is_not_a_database_is_refused_with_its_reason_not_a_hang(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """tortoise's SQLite client takes its lock before it connects and kept it when connecting
    failed: every later query waited for it, and `guardian migrate` on a damaged file hung."""
    monkeypatch.delenv(SCHEMA_CACHE_ENV, raising=False)
    path = tmp_path / "garbage.db"
    path.write_bytes(bytes(range(256)) * 20)
    with pytest.raises(MigrationFailed, match="file is not a database"):
        await asyncio.wait_for(migrate(f"sqlite://{path}"), 60)
    assert path.read_bytes() == bytes(range(256)) * 20, "the file was changed"


async def test_a_new_database_is_migrated_without_keeping_the_migrations_in_memory(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Applying the migrations builds every model at each of their states (~20 MiB that stayed
    with the process): it happens in a child process, and this one only looks."""
    monkeypatch.delenv(SCHEMA_CACHE_ENV, raising=False)

    def models() -> int:
        gc.collect()
        return sum(1 for o in gc.get_objects() if isinstance(o, type) and issubclass(o, Model))

    before = models()
    path = tmp_path / "new.db"
    await migrate(f"sqlite://{path}")
    assert models() == before
    plain = schema(path)
    assert len(plain[1]) == len(list(Path("guardian/migrations").glob("0*.py")))


def test_a_guardian_on_sqlite_never_loads_the_postgresql_driver() -> None:
    """asyncpg is 23 modules and 3 MiB; on SQLite none of its errors can happen."""
    code = (
        "import sys, guardian.app, guardian.cli, guardian.writer;"
        "print(sorted(m for m in sys.modules if m.startswith('asyncpg')))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True
    )
    assert result.stdout.strip() == "[]"


def test_postgresql_errors_count_once_the_driver_is_loaded() -> None:
    import asyncpg

    assert storage_failure(asyncpg.exceptions.PostgresConnectionError("gone"))
    assert storage_failure(asyncpg.exceptions.TooManyConnectionsError("full"))
    assert asyncpg.exceptions.UniqueViolationError in retried()
    assert issubclass(asyncpg.exceptions.DeadlockDetectedError, retried())
    assert not storage_failure(asyncpg.exceptions.DataError("bad input"))
