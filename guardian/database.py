"""Opening the database: tortoise configuration, migrations, and the unavailable-storage error."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import logging
import os
import shutil
import sqlite3
import sys
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit

from tortoise import Tortoise
from tortoise.backends.base.config_generator import expand_db_url
from tortoise.backends.base.executor import EXECUTOR_CACHE
from tortoise.connection import get_connection
from tortoise.context import TortoiseContext
from tortoise.exceptions import DBConnectionError, OperationalError, TransactionManagementError
from tortoise.migrations.api import migrate as run_migrations
from tortoise.migrations.executor import MigrationExecutor

from guardian.sql import postgres_errors

log = logging.getLogger(__name__)

APP = "guardian"
SQLITE_DEFAULTS = {"busy_timeout": "5000", "synchronous": "NORMAL"}
#: The PostgreSQL advisory lock that serialises migrations and seeding across instances.
MIGRATION_LOCK = 0x6775_6172_6469  # "guardi"
#: Transaction-level advisory lock key for seeding the household.
SEED_LOCK = MIGRATION_LOCK + 1


class StorageUnavailable(Exception):
    """The database cannot take writes right now (locked, full, gone); try again later."""


#: Errors of the drivers and the ORM that mean "storage unavailable", not "bad input".
_STORAGE_ERRORS: tuple[type[BaseException], ...] = (
    StorageUnavailable,
    OperationalError,
    DBConnectionError,
    TransactionManagementError,
    sqlite3.OperationalError,
    sqlite3.DatabaseError,
)
#: PostgreSQL errors tortoise passes through untranslated: a deadlock or serialization failure
#: between instances (retry), a lost or refused connection, a server shutting down, a full disk
#: or too many connections (asyncpg's names: see `sql.postgres_errors`).
_POSTGRES_STORAGE_ERRORS = (
    "TransactionRollbackError",
    "PostgresConnectionError",
    "InterfaceError",
    "OperatorInterventionError",
    "InsufficientResourcesError",
)


def storage_errors() -> tuple[type[BaseException], ...]:
    """The errors that mean the database is unavailable, whatever raised them."""
    return (*_STORAGE_ERRORS, *postgres_errors(*_POSTGRES_STORAGE_ERRORS))


#: Where a socket or file error is the database's: a PostgreSQL server refusing or dropping the
#: connection surfaces as a bare OSError (ConnectionRefusedError, ConnectionResetError) from
#: asyncpg, which tortoise passes through; so does a SQLite file that cannot be opened.
_STORAGE_MODULES = ("asyncpg", "aiosqlite", "sqlite3", "tortoise", __name__, "guardian.sql")


def storage_failure(error: BaseException) -> bool:
    """Whether `error` means the database is unavailable (answered 503, retried later).

    A driver's or the ORM's error always is. An OSError is only when the database's own code
    raised it: a dashboard tab closed mid-answer or a plugin's socket error is not storage.
    """
    if isinstance(error, storage_errors()):
        return True
    if not isinstance(error, OSError):
        return False
    frame = error.__traceback__
    while frame is not None:
        module = frame.tb_frame.f_globals.get("__name__", "")
        if any(module == m or module.startswith(m + ".") for m in _STORAGE_MODULES):
            return True
        frame = frame.tb_next
    return False


def tortoise_config(url: str) -> dict[str, Any]:
    return {
        "connections": {"default": _connection(url)},
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


#: tortoise's clients with transactions that are safe to cancel (guardian/engines).
ENGINES = {
    "tortoise.backends.sqlite": "guardian.engines.sqlite",
    "tortoise.backends.asyncpg": "guardian.engines.asyncpg",
}


def _connection(url: str) -> dict[str, Any]:
    expanded: dict[str, Any] = expand_db_url(_with_defaults(url))
    expanded["engine"] = ENGINES.get(expanded["engine"], expanded["engine"])
    return expanded


def sqlite_path(url: str) -> str:
    return url[len("sqlite://") :].split("?", 1)[0]


def _with_defaults(url: str) -> str:
    """SQLite: create the file's folder, and add the pragmas Guardian relies on."""
    if not url.startswith("sqlite://"):
        return url
    parts = urlsplit(url)
    path = sqlite_path(url)
    if path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    query = {**SQLITE_DEFAULTS, **dict(parse_qsl(parts.query))}
    return f"sqlite://{path}?{urlencode(query)}"


#: Used by `tortoise makemigrations` (see `[tool.tortoise]` in pyproject.toml).
MIGRATIONS_CONFIG = tortoise_config("sqlite://:memory:")


#: A folder where a freshly migrated, empty SQLite database is kept, to be copied for each new
#: database instead of running every migration again (about a second each time). Test suites
#: and `guardian simulate` runs that start hundreds of databases set it; nothing else needs to.
SCHEMA_CACHE_ENV = "GUARDIAN_SCHEMA_CACHE"


async def migrate(url: str) -> None:
    """Apply every pending migration, then drop the migration context.

    On PostgreSQL several instances may start at once: a session advisory lock, held on a
    connection of its own, lets one migrate at a time (the others then find nothing to do).
    """
    cached = _schema_copy(url)
    if cached is not None:
        _start_from(cached, Path(sqlite_path(url)))
    async with _migration_lock(url):
        # Cached SQL is per connection name, not per backend: a process that used SQLite and
        # now uses PostgreSQL (or the other way round, as the test suite does) must drop it.
        EXECUTOR_CACHE.clear()
        try:
            pending = await _pending(url)
        finally:
            # A failed look must not leave aiosqlite's thread behind (the process would hang).
            await Tortoise.close_connections()
        if pending:
            await _apply_in_a_child(url)
    if cached is not None:
        _keep_schema(Path(sqlite_path(_with_defaults(url))), cached)


async def _pending(url: str) -> bool:
    """Whether any migration is still to be applied: a database without the migrations' own
    table (a new one), or one whose record of applied migrations lacks any (an upgrade)."""
    config = tortoise_config(url)
    await Tortoise.init(config=config, init_connections=False)
    executor = MigrationExecutor(get_connection("default"), {APP: config["apps"][APP]})
    try:
        return bool(await executor.plan())
    except storage_errors():
        # No record yet (a new database), or one we cannot read: the child migrates, and
        # says what is wrong if anything is.
        return True


async def _apply_in_a_child(url: str) -> None:
    """Apply the pending migrations in a child process.

    Applying them rebuilds every model at each of the migrations' states: tortoise keeps about
    20 MiB of model classes and filters alive for Guardian's ten, and once freed the memory
    stays with the process (a freshly created database left `guardian serve` 24 MiB larger
    than a restart on the same one). The URL goes on the child's stdin: a PostgreSQL password
    must not show in the process list.
    """
    path = os.environ.get("PYTHONPATH")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [_PACKAGE_ROOT, path]))}
    child = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "guardian.database",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    try:
        _, errors = await child.communicate(url.encode())
    except BaseException:  # cancelled: the child must not go on alone
        with contextlib.suppress(ProcessLookupError):
            child.kill()
        await child.wait()
        raise
    if child.returncode != 0:
        lines = errors.decode(errors="replace").strip().splitlines()
        raise MigrationFailed(lines[-1] if lines else f"exit status {child.returncode}")


#: Where this copy of `guardian` lives, so that the child imports the same one.
_PACKAGE_ROOT = str(Path(__file__).resolve().parent.parent)


class MigrationFailed(Exception):
    """The migrations could not be applied; the message is the child's last word on why."""


async def _apply_here(url: str) -> None:
    """The child's part: every pending migration, then the connections closed."""
    try:
        await run_migrations(config=tortoise_config(url))
    finally:
        await Tortoise.close_connections()


def _schema_copy(url: str) -> Path | None:
    """Where the empty, migrated schema for this set of migrations is kept, if anywhere."""
    folder = os.environ.get(SCHEMA_CACHE_ENV)
    if not folder or not is_sqlite(url) or sqlite_path(url) == ":memory:":
        return None
    if Path(sqlite_path(url)).exists():
        return None  # an existing database is migrated as it is
    migrations = sorted(Path(__file__).with_name("migrations").glob("*.py"))
    digest = hashlib.sha256(b"".join(p.read_bytes() for p in migrations)).hexdigest()[:16]
    return Path(folder) / f"schema-{digest}.db"


def _start_from(cached: Path, target: Path) -> None:
    """A new database as a copy of the cached schema, when there is one."""
    if cached.exists() and not target.exists():
        shutil.copyfile(cached, target)


def _keep_schema(fresh: Path, cached: Path) -> None:
    """Keep a copy of a database that was just created and migrated (it holds nothing yet)."""
    if cached.exists():
        return
    cached.parent.mkdir(parents=True, exist_ok=True)
    partial = cached.with_suffix(f".{os.getpid()}.tmp")
    with sqlite3.connect(fresh) as source, sqlite3.connect(partial) as copy:
        source.backup(copy)
    os.replace(partial, cached)  # atomic: several processes may race to keep it


@asynccontextmanager
async def _migration_lock(url: str) -> AsyncIterator[None]:
    if is_sqlite(url):
        yield  # one writer at a time anyway; SQLite serialises the schema change itself
        return
    import asyncpg  # only for PostgreSQL (see sql.postgres_errors)

    connection = await asyncpg.connect(asyncpg_dsn(url))
    try:
        await connection.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
        yield
    finally:
        # Closing the session releases the lock even if unlocking fails.
        await connection.close()


def asyncpg_dsn(url: str) -> str:
    """A tortoise `postgres://` (or `asyncpg://`) URL as a plain libpq DSN for asyncpg.connect.

    tortoise's query parameters (minsize, maxsize, ...) are pool settings asyncpg.connect does
    not take, so they are dropped.
    """
    parts = urlsplit(url)
    return parts._replace(scheme="postgresql", query="", fragment="").geturl()


@asynccontextmanager
async def opened(url: str, *, apply_migrations: bool = True) -> AsyncIterator[TortoiseContext]:
    """The ORM, migrated and open, for the lifetime of the block; closed through its context."""
    if apply_migrations:
        await migrate(url)
    EXECUTOR_CACHE.clear()
    context = await Tortoise.init(config=tortoise_config(url), _enable_global_fallback=True)
    try:
        # Connected now, not at the first query: tortoise connects a client lazily, while
        # holding its lock, and a task cancelled then would keep the lock (guardian/engines).
        await context.connections.get("default").execute_query("SELECT 1")
        yield context
    finally:
        await context.close_connections()


def is_sqlite(url: str) -> bool:
    return url.startswith("sqlite://")


def is_postgres(url: str) -> bool:
    return url.startswith(("postgres://", "asyncpg://"))


class StorageWatch:
    """Notices the SQLite database file deleted or replaced while Guardian serves.

    SQLite would go on writing into the file it opened, which nothing can read once its name is
    gone: everything stored from then on would be lost at the next start. So writes stop, with a
    503 and a reason in the log, and `/readyz` says not ready, until someone restarts Guardian.
    """

    def __init__(self, url: str) -> None:
        self.path = Path(sqlite_path(url)) if is_sqlite(url) else None
        if self.path is not None and str(self.path) == ":memory:":
            self.path = None
        self._identity: tuple[int, int] | None = None
        self.problem: str | None = None

    def start(self) -> None:
        if self.path is not None:
            stat = os.stat(self.path)
            self._identity = (stat.st_dev, stat.st_ino)

    @property
    def failed(self) -> bool:
        """Whether a check found the file gone or replaced (no look at the file)."""
        return self.problem is not None

    def check(self) -> None:
        """Raise StorageUnavailable if the file is not the one opened at start any more."""
        if self._identity is None or self.path is None:
            return
        if self.problem is None:
            try:
                stat = os.stat(self.path)
            except FileNotFoundError:
                self.problem = f"the database file {self.path} was deleted while serving"
            else:
                if (stat.st_dev, stat.st_ino) != self._identity:
                    self.problem = f"the database file {self.path} was replaced while serving"
            if self.problem is not None:
                log.error("%s: nothing more is stored until Guardian is restarted", self.problem)
        if self.problem is not None:
            raise StorageUnavailable(self.problem)


if __name__ == "__main__":
    # The child of `_apply_in_a_child`: the URL on stdin, only the error's words on stderr.
    try:
        asyncio.run(_apply_here(sys.stdin.read()))
    except Exception as error:
        print(f"{type(error).__name__}: {error}", file=sys.stderr)
        sys.exit(1)
