"""Only the database's own errors count as storage failures (issue 13).

A closed dashboard tab or a plugin's socket error is not "storage unavailable": it must not be
logged as one, nor answered 503 with Retry-After as if the database were down.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from typing import Any

import asyncpg  # type: ignore[import-untyped]
import pytest

from guardian.database import StorageUnavailable, storage_failure
from tests.admin import admin_client
from tests.conftest import at, free_port, message

EVENING = at("2026-11-24T22:00:00+01:00")  # inside mia's quiet hours


def _raised(error: BaseException) -> BaseException:
    try:
        raise error
    except BaseException as caught:
        return caught


def test_driver_and_orm_errors_are_storage_failures() -> None:
    assert storage_failure(_raised(sqlite3.OperationalError("database is locked")))
    assert storage_failure(_raised(StorageUnavailable("the disk is full")))


def test_an_oserror_raised_outside_the_database_is_not() -> None:
    assert not storage_failure(_raised(ConnectionResetError("Cannot write to closing transport")))
    assert not storage_failure(_raised(OSError("a plugin's socket")))
    assert not storage_failure(_raised(ValueError("bad input")))


async def test_a_postgres_server_that_refuses_is_a_storage_failure() -> None:
    # asyncpg lets the socket's ConnectionRefusedError through, and tortoise passes it on.
    with pytest.raises(OSError) as refused:
        await asyncpg.connect(f"postgres://postgres@127.0.0.1:{free_port()}/guardian", timeout=5)
    assert storage_failure(refused.value)


async def test_closing_the_dashboard_tab_is_not_a_storage_failure(
    write_settings: Any, start_guardian: Any, caplog: pytest.LogCaptureFixture
) -> None:
    running = await start_guardian(write_settings(), EVENING)
    admin = await admin_client(running)
    await admin.login()
    events = running.service.events
    stream = await running.client.get("/events")
    assert (await stream.content.readuntil(b"\n\n")).startswith(b"retry:")
    assert len(events._queues) == 1
    stream.close()  # the parent closes the tab
    caplog.set_level(logging.INFO)
    for i in range(3):  # each update is written to a stream whose reader is gone
        assert (await running.post(message(i))).status == 202
        await asyncio.sleep(0.1)
    for _ in range(50):
        if not events._queues:
            break
        await asyncio.sleep(0.05)
    assert not events._queues, "the closed tab's stream still holds its subscription"
    said = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert not [line for line in said if "storage unavailable" in line], said
