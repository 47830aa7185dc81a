"""Background tasks that never stop silently.

Each runs under a supervisor: when it fails, the failure is logged once at ERROR with its
traceback, the task is started again after a backoff that grows with each failure in a row
(with jitter), and while it is down `/readyz` answers 503 naming it. A task that runs cleanly
for a while is forgiven its earlier failures.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from guardian.clock import Clock
from guardian.durations import format_duration

log = logging.getLogger(__name__)

FIRST_BACKOFF = timedelta(seconds=1)
MAX_BACKOFF = timedelta(minutes=1)
#: Running this long without failing resets the backoff.
HEALTHY_AFTER = timedelta(minutes=5)
#: How long a cancelled task may take to end before stopping goes on without it.
STOP_GRACE = timedelta(seconds=5)


@dataclass
class Supervised:
    """One supervised task as `/readyz` shows it."""

    name: str
    running: bool = False
    failures: int = 0
    last_error: str | None = None
    failed_at: datetime | None = None
    restart_at: datetime | None = None
    task: asyncio.Task[None] | None = field(default=None, repr=False)

    def health(self) -> str:
        if self.running:
            return "running"
        if self.last_error is None:
            return "stopped"
        when = f", restarting at {self.restart_at.isoformat()}" if self.restart_at else ""
        return f"failed: {self.last_error}{when}"


@dataclass
class Supervisor:
    clock: Clock
    rng: random.Random = field(default_factory=random.Random)
    tasks: dict[str, Supervised] = field(default_factory=dict)

    def start(self, name: str, run: Callable[[], Awaitable[None]]) -> Supervised:
        state = self.tasks[name] = Supervised(name)
        state.task = asyncio.create_task(self._keep(state, run), name=name)
        return state

    def backoff(self, failures: int) -> timedelta:
        base = min(FIRST_BACKOFF * (1 << min(failures - 1, 16)), MAX_BACKOFF)
        return base * self.rng.uniform(0.5, 1.0)

    async def _keep(self, state: Supervised, run: Callable[[], Awaitable[None]]) -> None:
        while True:
            started = self.clock.now()
            state.running, state.restart_at = True, None
            try:
                await run()
                error: str = "returned, which it never should"
                log.error("background task %s stopped: it %s", state.name, error)
            except asyncio.CancelledError:
                state.running = False
                raise
            except Exception as failure:
                error = f"{type(failure).__name__}: {failure}"[:300]
                log.exception("background task %s failed", state.name)
            now = self.clock.now()
            state.running = False
            if now - started >= HEALTHY_AFTER:
                state.failures = 0
            state.failures += 1
            state.last_error, state.failed_at = error, now
            delay = self.backoff(state.failures)
            state.restart_at = now + delay
            await self.clock.sleep(delay.total_seconds())
            log.info("background task %s: starting again (failure %d)", state.name, state.failures)

    def health(self) -> dict[str, str]:
        return {name: state.health() for name, state in self.tasks.items()}

    def down(self) -> list[str]:
        return [name for name, state in self.tasks.items() if not state.running]

    async def stop(self, names: list[str] | None = None, grace: timedelta = STOP_GRACE) -> None:
        """Cancel the tasks (all, or those named) and wait up to `grace` for them to end. One
        that does not is logged with where it waits, and left behind: a shutdown never hangs."""
        chosen = [self.tasks[n] for n in names] if names is not None else list(self.tasks.values())
        tasks = [state.task for state in chosen if state.task is not None]
        for task in tasks:
            task.cancel()
        if tasks:
            await stopped(tasks, grace, "background task")
        for state in chosen:
            state.running = False


async def stopped(tasks: Iterable[asyncio.Task[Any]], grace: timedelta, what: str) -> bool:
    """Wait up to `grace` for cancelled `tasks` to end; False (and an error naming each that
    did not, with the awaits it is stuck in) if some did not."""
    _, stuck = await asyncio.wait(list(tasks), timeout=grace.total_seconds())
    for task in stuck:
        log.error(
            "%s %s did not stop within %s of being cancelled; going on without it. "
            "It waits in:\n%s",
            what,
            task.get_name(),
            format_duration(grace),
            waiting_in(task),
        )
    return not stuck


def waiting_in(task: asyncio.Task[Any]) -> str:
    """The chain of awaits a task is suspended in, outermost first (a task's own stack shows
    only its outermost coroutine)."""
    lines = []
    awaited: Any = task.get_coro()
    while awaited is not None:
        frame = getattr(awaited, "cr_frame", None) or getattr(awaited, "gi_frame", None)
        if frame is not None:
            code = frame.f_code
            lines.append(f"  {code.co_filename}:{frame.f_lineno} in {code.co_name}")
        awaited = getattr(awaited, "cr_await", None) or getattr(awaited, "gi_yieldfrom", None)
    return "\n".join(lines) or f"  {task!r}"
