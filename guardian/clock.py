"""The one clock Guardian reads: real in `serve`, virtual in `simulate` and the tests."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol


class Clock(Protocol):
    def now(self) -> datetime:
        """The current instant, timezone-aware in UTC."""

    async def sleep(self, seconds: float) -> None:
        """Wait until `seconds` have passed on this clock (or it was moved past them)."""


class SystemClock:
    def now(self) -> datetime:
        return datetime.now(UTC)

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(seconds, 0.0))


class VirtualClock:
    """A clock that moves only when told to; sleepers wake when it passes their deadline."""

    def __init__(self, start: datetime) -> None:
        _require_aware(start)
        self._now = start.astimezone(UTC)
        self._moved = asyncio.Condition()

    def now(self) -> datetime:
        return self._now

    async def sleep(self, seconds: float) -> None:
        deadline = self._now + timedelta(seconds=max(seconds, 0.0))
        async with self._moved:
            await self._moved.wait_for(lambda: self._now >= deadline)

    async def set(self, instant: datetime) -> None:
        _require_aware(instant)
        instant = instant.astimezone(UTC)
        if instant < self._now:
            raise ValueError(f"a virtual clock never goes back ({instant} < {self._now})")
        self._now = instant
        async with self._moved:
            self._moved.notify_all()

    async def advance(self, delta: timedelta) -> None:
        await self.set(self._now + delta)


async def sleep_or(clock: Clock, seconds: float, *events: asyncio.Event) -> None:
    """Sleep on `clock` until `seconds` have passed or one of `events` is set.

    When the caller is cancelled, the cancellation goes on up, also if it arrives while the
    waits are being cleaned up (awaiting a cancelled wait inside `suppress(CancelledError)`
    would swallow it, and the caller would never stop).
    """
    waits: list[asyncio.Future[Any]] = [asyncio.ensure_future(clock.sleep(seconds))]
    waits += [asyncio.ensure_future(event.wait()) for event in events]
    try:
        await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for wait in waits:
            wait.cancel()
        await asyncio.wait(waits)


def _require_aware(instant: datetime) -> None:
    if instant.tzinfo is None or instant.utcoffset() is None:
        raise ValueError(f"naive datetime {instant!r}: Guardian only handles aware instants")
