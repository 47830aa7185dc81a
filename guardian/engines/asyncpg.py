"""tortoise's asyncpg client, its transactions safe to cancel (see `guardian.engines`), and its
pooled connections given back without a round trip.

asyncpg resets every connection given back to its pool with one more query (`SELECT
pg_advisory_unlock_all(); CLOSE ALL; UNLISTEN *; RESET ALL`), so every statement tortoise runs
outside a transaction cost two round trips: 5 % of a busy instance's samples on the timer's
path. Guardian keeps no session state on pooled connections (session advisory locks, LISTEN,
SET and cursors are never used on them: the migrations' lock has a connection of its own), so
giving a connection back only has to end a transaction left open, which asyncpg does
before it calls the pool's reset.
"""

from __future__ import annotations

from typing import Any

import asyncpg
from tortoise.backends.asyncpg.client import AsyncpgDBClient
from tortoise.backends.base.client import TransactionContext

from guardian.engines import CancelSafeTransaction


async def no_session_to_reset(connection: asyncpg.Connection) -> None:
    """The pool's reset, after asyncpg's own: that one rolls back a transaction left open and
    drops listeners, without a query unless a transaction was open; there is nothing more."""


class CancelSafeAsyncpgClient(AsyncpgDBClient):
    def _in_transaction(self) -> TransactionContext:
        return CancelSafeTransaction(super()._in_transaction())

    async def create_pool(self, **kwargs: Any) -> asyncpg.Pool:
        return await super().create_pool(reset=no_session_to_reset, **kwargs)


client_class = CancelSafeAsyncpgClient
