"""Live updates for the dashboard: what changed, published to every open event stream.

Only the kind of change travels (`notification`, `delivery`, `household`), never content: the
page fetches what it shows through the same access checks as any other request.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field

#: A slow reader loses old events, not memory: each one only says "something changed".
QUEUE_SIZE = 16
CLOSED = "closed"


@dataclass
class Events:
    _queues: set[asyncio.Queue[str]] = field(default_factory=set)

    def publish(self, kind: str) -> None:
        for queue in self._queues:
            if queue.full():
                with contextlib.suppress(asyncio.QueueEmpty):
                    queue.get_nowait()
            queue.put_nowait(kind)

    @contextlib.contextmanager
    def subscribed(self) -> Iterator[asyncio.Queue[str]]:
        queue: asyncio.Queue[str] = asyncio.Queue(QUEUE_SIZE)
        self._queues.add(queue)
        try:
            yield queue
        finally:
            self._queues.discard(queue)

    def close(self) -> None:
        """Ends every open stream: at shutdown, so that streams do not hold it up."""
        self.publish(CLOSED)
