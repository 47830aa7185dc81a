"""Running a pull plugin as Guardian would, while a test plays the network's part."""

from __future__ import annotations

import asyncio
import contextlib
from contextlib import aclosing
from typing import Any

from guardian.plugin import PullBatch, PullPlugin


class Pulling:
    """`plugin.pull(cursor)` running in a task, its batches collected as they come."""

    def __init__(self, plugin: PullPlugin[Any], cursor: str | None = None) -> None:
        self.plugin = plugin
        self.batches: list[PullBatch] = []
        self._task = asyncio.create_task(self._run(cursor))

    async def _run(self, cursor: str | None) -> None:
        async with aclosing(self.plugin.pull(cursor)) as batches:  # type: ignore[type-var]
            async for batch in batches:
                self.batches.append(batch)

    async def wait_for(self, count: int, timeout: float = 5) -> list[PullBatch]:
        """The first `count` batches; raises what the plugin raised if it stopped."""
        async with asyncio.timeout(timeout):
            while len(self.batches) < count:
                if self._task.done():
                    self._task.result()
                    raise AssertionError(f"pull ended after {len(self.batches)} batches")
                await asyncio.sleep(0.01)
        return self.batches[:count]

    async def failure(self, timeout: float = 5) -> BaseException:
        """What the plugin raised (it must raise within `timeout`)."""
        async with asyncio.timeout(timeout):
            with contextlib.suppress(Exception):
                await asyncio.shield(self._task)
        error = self._task.exception()
        assert error is not None, "pull did not raise"
        return error

    @property
    def messages(self) -> list[Any]:
        return [message for batch in self.batches for message in batch.messages]

    async def stop(self) -> None:
        """Cancel it, as Guardian does when it stops, and wait until it has."""
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await self._task
