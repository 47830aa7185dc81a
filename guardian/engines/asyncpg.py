"""tortoise's asyncpg client, its transactions safe to cancel (see `guardian.engines`)."""

from __future__ import annotations

from tortoise.backends.asyncpg.client import AsyncpgDBClient
from tortoise.backends.base.client import TransactionContext

from guardian.engines import CancelSafeTransaction


class CancelSafeAsyncpgClient(AsyncpgDBClient):
    def _in_transaction(self) -> TransactionContext:
        return CancelSafeTransaction(super()._in_transaction())


client_class = CancelSafeAsyncpgClient
