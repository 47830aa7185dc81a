"""A real, throwaway PostgreSQL cluster for the tests: Debian's server binaries, started as the
`postgres` user when the tests run as root, on a free loopback port, trust auth, stopped at the end.

Without the binaries the PostgreSQL tests are skipped with the reason, except under `CI=true`,
where they fail: CI (`.ci/run`) installs PostgreSQL and must not pass by skipping it.
"""

from __future__ import annotations

import glob
import os
import shutil
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import pytest

from tests.conftest import free_port

TIMEOUT = 60


def server_binaries() -> Path | None:
    """The folder holding initdb and pg_ctl (the newest Debian version first), or None."""
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"), reverse=True)
    if found:
        return Path(found[0]).parent
    initdb = shutil.which("initdb")
    if initdb and (Path(initdb).resolve().parent / "pg_ctl").exists():
        return Path(initdb).resolve().parent
    return None


def skip_or_fail(reason: str) -> None:
    """Skip with the reason; under CI=true, fail instead (CI must have PostgreSQL)."""
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"{reason} (CI=true: PostgreSQL is required here)", pytrace=False)
    pytest.skip(reason)


@dataclass
class Cluster:
    bin: Path
    data: Path
    port: int

    def url(self, database: str) -> str:
        return f"postgres://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self) -> str:
        """A fresh, empty database; returns its tortoise URL."""
        name = f"guardian_{uuid.uuid4().hex[:12]}"
        self.psql(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def psql(self, sql: str, database: str = "postgres") -> str:
        result = subprocess.run(
            [
                str(self.bin / "psql"),
                "-X",
                "-q",
                "-t",
                "-A",
                "-v",
                "ON_ERROR_STOP=1",
                "-h",
                "127.0.0.1",
                "-p",
                str(self.port),
                "-U",
                "postgres",
                "-d",
                database,
                "-c",
                sql,
            ],
            capture_output=True,
            text=True,
            timeout=TIMEOUT,
            check=False,
        )
        if result.returncode != 0:
            raise RuntimeError(f"psql {sql!r} failed: {result.stderr.strip()}")
        return result.stdout


def _as_postgres(command: list[str]) -> list[str]:
    """PostgreSQL refuses to run as root: run the server's tools as the `postgres` user."""
    if os.geteuid() == 0:
        return ["runuser", "-u", "postgres", "--", *command]
    return command


def _run(command: list[str], what: str) -> None:
    result = subprocess.run(
        _as_postgres(command), capture_output=True, text=True, timeout=TIMEOUT, check=False
    )
    if result.returncode != 0:
        raise RuntimeError(f"{what} failed ({result.returncode}): {result.stdout}{result.stderr}")


@contextmanager
def cluster() -> Iterator[Cluster]:
    """Start a cluster in a temporary folder; stop it and remove the folder, even on failure."""
    binaries = server_binaries()
    if binaries is None:
        skip_or_fail(
            "PostgreSQL server binaries (initdb, pg_ctl) not found; apt install postgresql"
        )
    assert binaries is not None
    if os.geteuid() == 0 and shutil.which("runuser") is None:
        skip_or_fail("running as root without runuser: cannot start PostgreSQL as `postgres`")
    # Not under pytest's tmp_path: its parents are private to root, and postgres must get in.
    root = Path(tempfile.mkdtemp(prefix="guardian-pg-"))
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
    data = root / "data"
    port = free_port()
    started = False
    try:
        _run(
            [
                str(binaries / "initdb"),
                "-D",
                str(data),
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-sync",
            ],
            "initdb",
        )
        options = " ".join(
            [
                f"-p {port}",
                "-c listen_addresses=127.0.0.1",
                f"-c unix_socket_directories={root}",
                "-c fsync=off",
                "-c max_connections=200",
            ]
        )
        _run(
            [
                str(binaries / "pg_ctl"),
                "-D",
                str(data),
                "-l",
                str(root / "server.log"),
                "-o",
                options,
                "-w",
                "-t",
                "30",
                "start",
            ],
            "pg_ctl start",
        )
        started = True
        yield Cluster(binaries, data, port)
    finally:
        if started:
            subprocess.run(
                _as_postgres(
                    [str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]
                ),
                capture_output=True,
                timeout=TIMEOUT,
                check=False,
            )
        shutil.rmtree(root, ignore_errors=True)
