"""Reading a pull plugin in tests as Guardian's runtime reads it."""

from __future__ import annotations

import asyncio
from contextlib import aclosing
from typing import Any

import pytest

from guardian.plugin import IncomingMessage, PullBatch, PullPlugin

WAIT = 10


class Reader:
    """A plugin's `pull(cursor)` run in a task as Guardian's runtime runs it, its batches
    collected as they come (the runtime asks for the next once it has stored one).

    Read them in order with `batch`, `messages` and `nothing_more` (a wait that times out
    leaves the plugin waiting: it is not cancelled, which would stop it), or take the first
    ones with `wait_for`; `failure` is what the plugin raised; `close` stops it as Guardian
    does (the wait cancelled, the generator closed)."""

    def __init__(self, plugin: PullPlugin[Any], cursor: str | None = None) -> None:
        self.plugin = plugin
        #: The cursor of the last batch read with `batch` or `messages` (at first, the one
        #: the plugin was given).
        self.cursor = cursor
        #: Every batch yielded so far.
        self.batches: list[PullBatch] = []
        self._read = 0
        self._grew = asyncio.Event()
        self._task = asyncio.create_task(self._run(cursor))

    async def _run(self, cursor: str | None) -> None:
        try:
            async with aclosing(self.plugin.pull(cursor)) as batches:  # type: ignore[type-var]
                async for batch in batches:
                    self.batches.append(batch)
                    self._grew.set()
        finally:
            self._grew.set()

    async def _more(self, count: int) -> None:
        """Until `count` batches were yielded; what the plugin raised if it stopped first."""
        while len(self.batches) < count:
            if self._task.done():
                self._task.result()  # the plugin's error, if it raised one
                raise AssertionError(f"pull ended after {len(self.batches)} batches")
            self._grew.clear()
            await self._grew.wait()

    async def batch(self, timeout: float = WAIT) -> PullBatch:
        """The next batch not read yet; TimeoutError if none comes within `timeout`."""
        try:
            async with asyncio.timeout(timeout):
                await self._more(self._read + 1)
        except TimeoutError:
            raise TimeoutError(f"no batch within {timeout} s") from None
        batch = self.batches[self._read]
        self._read += 1
        self.cursor = batch.cursor
        return batch

    async def messages(self, count: int, timeout: float = WAIT) -> list[IncomingMessage]:
        """The next `count` messages, over as many batches as they come in."""
        found: list[IncomingMessage] = []
        async with asyncio.timeout(timeout):
            while len(found) < count:
                found.extend((await self.batch(timeout)).messages)
        assert len(found) == count, found
        return found

    async def nothing_more(self, within: float = 0.5) -> None:
        """Nothing comes within `within` seconds (and the plugin is left waiting)."""
        with pytest.raises(TimeoutError):
            batch = await self.batch(within)
            pytest.fail(f"unexpected batch {batch}")

    async def wait_for(self, count: int, timeout: float = WAIT) -> list[PullBatch]:
        """The first `count` batches (read or not); raises what the plugin raised if it
        stopped before."""
        async with asyncio.timeout(timeout):
            await self._more(count)
        return self.batches[:count]

    async def failure(self, timeout: float = WAIT) -> BaseException:
        """What the plugin raised (it must raise within `timeout`)."""
        async with asyncio.timeout(timeout):
            await asyncio.wait([self._task])
        error = None if self._task.cancelled() else self._task.exception()
        assert error is not None, "pull did not raise"
        return error

    async def close(self) -> None:
        """Stop it as Guardian does, and wait until it has."""
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)

    stop = close


class TcpProxy:
    """A loopback TCP relay to a real server, which a test can cut off (a network outage):
    `fail` drops every connection and refuses new ones until `recover`."""

    def __init__(self, host: str, port: int) -> None:
        self.target = (host, port)
        self.port = 0
        self.broken = False
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()

    async def __aenter__(self) -> TcpProxy:
        self._server = await asyncio.start_server(self._relay, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.fail()
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    def fail(self) -> None:
        self.broken = True
        for writer in list(self._open):
            writer.transport.abort()
        self._open.clear()

    def recover(self) -> None:
        self.broken = False

    async def _relay(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self.broken:
            writer.transport.abort()
            return
        try:
            far_reader, far_writer = await asyncio.open_connection(*self.target)
        except OSError:
            writer.transport.abort()
            return
        self._open |= {writer, far_writer}

        async def pipe(src: asyncio.StreamReader, dst: asyncio.StreamWriter) -> None:
            try:
                while data := await src.read(65536):
                    dst.write(data)
                    await dst.drain()
            except (ConnectionError, OSError):
                pass
            finally:
                dst.transport.abort()

        await asyncio.gather(pipe(reader, far_writer), pipe(far_reader, writer))
        self._open -= {writer, far_writer}
