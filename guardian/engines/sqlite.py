"""tortoise's SQLite client, its transactions safe to cancel (see `guardian.engines`)."""

from __future__ import annotations

from tortoise.backends.base.client import TransactionContext
from tortoise.backends.sqlite.client import SqliteClient

from guardian.engines import CancelSafeTransaction


class CancelSafeSqliteClient(SqliteClient):
    def _in_transaction(self) -> TransactionContext:
        # The connection is open before anything asks for a transaction (`database.opened`
        # connects at once): the transaction never waits to connect while holding the lock.
        return CancelSafeTransaction(super()._in_transaction())


client_class = CancelSafeSqliteClient
