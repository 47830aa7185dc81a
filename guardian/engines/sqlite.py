"""tortoise's SQLite client, its transactions safe to cancel (see `guardian.engines`)."""

from __future__ import annotations

from typing import Any

from tortoise.backends.base.client import ConnectionWrapper, TransactionContext
from tortoise.backends.sqlite.client import SqliteClient

from guardian.engines import CancelSafeTransaction


class _ReleasingConnection(ConnectionWrapper[Any]):
    """tortoise's wrapper takes the client's one lock, then connects; when connecting fails
    (a file that is not a database) it kept the lock, and every later query of the process
    waited for it forever. This one gives the lock back."""

    __slots__ = ()

    async def __aenter__(self) -> Any:
        await self._lock.acquire()
        try:
            await self.ensure_connection()
        except BaseException:
            self._lock.release()
            raise
        return self.connection


class CancelSafeSqliteClient(SqliteClient):
    def acquire_connection(self) -> ConnectionWrapper[Any]:
        return _ReleasingConnection(self._lock, self)

    def _in_transaction(self) -> TransactionContext:
        # The connection is open before anything asks for a transaction (`database.opened`
        # connects at once): the transaction never waits to connect while holding the lock.
        return CancelSafeTransaction(super()._in_transaction())


client_class = CancelSafeSqliteClient
