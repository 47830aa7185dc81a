"""Reading a pull plugin in tests as Guardian's runtime reads it."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from guardian.plugin import IncomingMessage, PullBatch, PullPlugin

WAIT = 10


class Reader:
    """A plugin's `pull`, read batch by batch as Guardian's runtime reads it: a wait that times
    out here leaves the plugin waiting (it is not cancelled, which would stop it)."""

    def __init__(self, plugin: PullPlugin[Any], cursor: str | None) -> None:
        self.plugin = plugin
        self.batches: AsyncIterator[PullBatch] = plugin.pull(cursor)
        self.cursor = cursor
        self._next: asyncio.Future[PullBatch] | None = None

    async def batch(self, timeout: float = WAIT) -> PullBatch:
        if self._next is None:
            self._next = asyncio.ensure_future(anext(self.batches))
        done, _ = await asyncio.wait([self._next], timeout=timeout)
        if not done:
            raise TimeoutError(f"no batch within {timeout} s")
        batch, self._next = self._next.result(), None
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

    async def close(self) -> None:
        """Stop it as Guardian does: cancel the wait, close the generator."""
        if self._next is not None:
            self._next.cancel()
            await asyncio.gather(self._next, return_exceptions=True)
        await self.batches.aclose()  # type: ignore[attr-defined]


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
