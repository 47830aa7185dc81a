"""tortoise's database clients with transactions that are safe to cancel while they begin.

tortoise's transaction first takes the connection (SQLite's one lock, a pooled PostgreSQL
connection), then sends BEGIN. A task cancelled during that BEGIN (a timer stopped at shutdown,
a request past its timeout) never reached the block whose end gives the connection back: on
SQLite every later query of the process waited for the lock forever; on PostgreSQL the pool
lost a connection each time. tortoise/tortoise-orm#1757 reports the other face of it
("cannot start a transaction within a transaction" after a cancellation).

Guardian names these modules as the `engine` of its connection (`database.tortoise_config`),
so every transaction is covered, also those tortoise opens itself (`get_or_create`). The module
names keep "sqlite" and "asyncpg": tortoise's migrations choose their SQL by them.
"""

from __future__ import annotations

import asyncio
from contextlib import suppress
from typing import Any

from tortoise.backends.base.client import TransactionalDBClient, TransactionContext


class CancelSafeTransaction(TransactionContext):
    """`inner`, ended properly also when the task is cancelled while it begins."""

    __slots__ = ("inner",)

    def __init__(self, inner: TransactionContext) -> None:
        self.inner = inner

    async def __aenter__(self) -> TransactionalDBClient:
        try:
            return await self.inner.__aenter__()
        except asyncio.CancelledError as error:
            # Both of tortoise's contexts set their token right after taking the connection,
            # with no wait in between, and before BEGIN: with a token, the connection is
            # ours, and ending the transaction as a failed block would (a rollback, queued
            # after whatever SQLite's thread is still doing) gives it back. Without one it
            # was cancelled while waiting for the connection, which holds nothing.
            if hasattr(self.inner, "token"):
                with suppress(Exception):
                    await self.inner.__aexit__(type(error), error, error.__traceback__)
            raise

    async def __aexit__(self, exc_type: Any, exc_val: Any, exc_tb: Any) -> None:
        await self.inner.__aexit__(exc_type, exc_val, exc_tb)
