"""The conformance suite for pull plugins: the plugin run by Guardian's own pull runtime.

A pull plugin's author describes the network side in a `PullCase`: the plugin, and a way to
start a network for it (a real server, or a small fake built from the network's documented
format) that can make a message arrive, fail, and recover. Each check mounts a real Guardian
(`guardian.testing.mount`) with one source of the plugin, on a virtual clock that the checks
move on while they wait (so that polling plugins poll and backoffs run out), and looks at what
Guardian stored, as a household would see it:

    @pytest.fixture
    def pigeon_case(pigeon_loft) -> PullCase:
        return PullCase(PigeonPlugin, network=lambda: PigeonNetwork(pigeon_loft), secrets=[...])

    test_pull_conformance = pull_conformance_tests("pigeon_case")

The checks: a new source starts at "now"; the cursor goes round (stored with each batch, given
back after a restart, nothing read twice); what arrived while Guardian was stopped is read
after the restart; a stop while the plugin waits is prompt and clean; a failing network shows
as the source's error (without a secret) and is tried again with backoff until it recovers;
no secret in any log line, page or answer; settings errors name their field.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, Protocol

from guardian.models import PullState
from guardian.plugin import PullPlugin
from guardian.testing.harness import (
    CONFORMANCE_NOW,
    SETTINGS_CHECK,
    SOURCE_ID,
    Mounted,
    check_plugin_settings,
    chosen_checks,
    mount,
)

#: Virtual time the checks move on by at each step of a wait (20 ms of real time).
STEP = timedelta(seconds=1)
#: A stop must be over within this (real) time, the plugin closed.
STOP_WITHIN = 5.0


class PullNetwork(Protocol):
    """The network side of a case, played by the test: started by `PullCase.network`."""

    @property
    def settings(self) -> Mapping[str, Any]:
        """The source's settings (secrets included), pointing at this network (a plain
        attribute does: read-only here, so that a `dict` one matches too)."""

    async def send(self, key: str) -> None:
        """Make one new message arrive for the source's account; `key` is unique to it and
        appears in its text (or subject)."""

    async def fail(self) -> None:
        """Make the plugin's reads fail from now on (refuse its credentials, go away, answer
        errors), as a network does when it breaks."""

    async def recover(self) -> None:
        """Undo `fail`: the network works again."""


@dataclass(frozen=True)
class PullCase:
    """What the pull conformance suite needs to know about one pull plugin."""

    plugin: type[PullPlugin[Any]]
    #: Starts the network for one check and stops it after: `async with case.network() as n:`.
    network: Callable[[], AbstractAsyncContextManager[PullNetwork]]
    #: Values that must never appear in logs, pages, answers or the source's error.
    secrets: Sequence[str]
    #: How long (real seconds) a sent message may take to be read and stored.
    within: float = 15.0


@dataclass
class _Run:
    case: PullCase
    network: PullNetwork
    folder: Path
    #: Every log line, page and answer of the check, for the leak check at the end.
    seen: list[str]


_Check = Callable[[_Run], Awaitable[None]]


async def check_pull_conformance(
    case: PullCase, folder: Path, *, only: Sequence[str] | None = None
) -> None:
    """Run the pull checks (all, or those named in `only`), each on its own mounted app.

    Raises one AssertionError listing every check that failed, each with what was expected and
    what happened; a secret anywhere in a check's logs, pages or answers fails it.
    """

    names = chosen_checks(pull_conformance_checks(), only, "pull conformance checks", "there are")
    failures: list[str] = []
    for index, name in enumerate(names):
        async with case.network() as network:
            try:
                if name == SETTINGS_CHECK:
                    check_plugin_settings(case.plugin, network.settings, case.secrets)
                    continue
                run = _Run(case, network, folder / f"{index}-{name}", [])
                await _CHECKS[name](run)
                leaks = [s for s in case.secrets if s and any(s in text for text in run.seen)]
                _expect(not leaks, f"secrets seen in logs, pages or answers: {len(leaks)}")
            except AssertionError as error:
                failures.append(f"{name}: {error}")
    if failures:
        listed = "\n".join(f"  - {failure}" for failure in failures)
        raise AssertionError(
            f"{case.plugin.__name__} fails {len(failures)} pull conformance check(s):\n{listed}"
        )


def pull_conformance_checks() -> list[str]:
    """The names of the pull checks, in the order they run."""

    return [*_CHECKS, SETTINGS_CHECK]


def pull_conformance_tests(case_fixture: str) -> Callable[..., Awaitable[None]]:
    """One pytest test per pull check, for the case the fixture named returns:
    `test_pull_conformance = pull_conformance_tests("imap_case")`."""
    import pytest  # only here: the rest of the kit needs no test framework

    async def test_pull_conformance(check: str, tmp_path: Path, request: Any) -> None:
        case: PullCase = request.getfixturevalue(case_fixture)
        await check_pull_conformance(case, tmp_path, only=[check])

    test_pull_conformance.__doc__ = "The plugin passes Guardian's pull conformance suite."
    parametrized: Callable[..., Awaitable[None]] = pytest.mark.parametrize(
        "check", pull_conformance_checks()
    )(test_pull_conformance)
    return parametrized


# --- running the plugin in a mounted Guardian ---------------------------------------------------


def _mounted(run: _Run) -> AbstractAsyncContextManager[Mounted]:

    return mount(run.case.plugin, run.network.settings, now=CONFORMANCE_NOW, folder=run.folder)


async def _until(
    mounted: Mounted, condition: Callable[[], Awaitable[bool]], what: str, within: float
) -> None:
    """Wait for `condition`, moving the virtual clock on meanwhile."""
    deadline = time.monotonic() + within
    while not await condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {within:.0f} s")
        await mounted.clock.advance(STEP)
        await asyncio.sleep(0.02)


async def _state(mounted: Mounted) -> PullState | None:

    return await PullState.get_or_none(source__slug=SOURCE_ID)


async def _started(mounted: Mounted, within: float) -> PullState:
    async def has_cursor() -> bool:
        state = await _state(mounted)
        return state is not None and state.cursor is not None

    await _until(mounted, has_cursor, "the source's first cursor (its 'now') was stored", within)
    state = await _state(mounted)
    assert state is not None
    return state


async def _texts(mounted: Mounted) -> list[str]:
    return [n.text for n in await mounted.notifications()]


async def _read(mounted: Mounted, key: str, within: float) -> None:
    async def arrived() -> bool:
        return any(key in text for text in await _texts(mounted))

    await _until(mounted, arrived, f"the message {key!r} was read and stored", within)


async def _status(mounted: Mounted) -> str:
    from guardian import pull

    service = mounted.service
    view = service.household()
    statuses = await pull.statuses(view.id, mounted.clock.now())
    status: str = service.source_status(view.sources[SOURCE_ID], statuses)
    return status


def _seen(run: _Run, mounted: Mounted, *more: str) -> None:
    run.seen += [mounted.logs, *more]


# --- the checks ---------------------------------------------------------------------------------


async def _starts_at_now(run: _Run) -> None:
    await run.network.send("conformance-history")  # there before the source first runs
    async with _mounted(run) as mounted:
        await _started(mounted, run.case.within)
        await run.network.send("conformance-new")
        await _read(mounted, "conformance-new", run.case.within)
        texts = await _texts(mounted)
        _seen(run, mounted, *texts)
    _expect(
        not any("conformance-history" in text for text in texts),
        "a message from before the source first ran was imported: a new source starts at now "
        "(with cursor None, yield a first batch with no messages and a cursor for 'now')",
    )
    _expect(len(texts) == 1, f"one message sent, {len(texts)} stored")


async def _cursor_round_trip(run: _Run) -> None:
    async with _mounted(run) as mounted:
        first = (await _started(mounted, run.case.within)).cursor
        await run.network.send("conformance-one")
        await _read(mounted, "conformance-one", run.case.within)
        after = await _state(mounted)
        _seen(run, mounted)
    assert after is not None
    _expect(after.cursor is not None, "the cursor was cleared by a batch")
    _expect(after.cursor != first, "the cursor did not move past the message read")
    async with _mounted(run) as mounted:  # the stored cursor, given back
        await run.network.send("conformance-two")
        await _read(mounted, "conformance-two", run.case.within)
        await _settle(mounted)
        texts = await _texts(mounted)
        duplicates = mounted.service.counters.duplicates
        status = await _status(mounted)
        _seen(run, mounted, status)
    _expect(status == "ok", f"after a restart the source says {status!r}, not 'ok'")
    _expect(len(texts) == 2, f"two messages sent, {len(texts)} stored")
    _expect(
        duplicates == 0,
        f"after the restart {duplicates} message(s) were read again: the plugin must go on "
        "from the cursor it is given (deduplication is a safety net, not the cursor)",
    )


async def _settle(mounted: Mounted) -> None:
    """Give a plugin that would read something twice the time to do it."""
    for _ in range(10):
        await mounted.clock.advance(STEP)
        await asyncio.sleep(0.05)


async def _reads_what_came_while_stopped(run: _Run) -> None:
    async with _mounted(run) as mounted:
        await _started(mounted, run.case.within)
        _seen(run, mounted)
    await run.network.send("conformance-while-stopped")
    async with _mounted(run) as mounted:
        await _read(mounted, "conformance-while-stopped", run.case.within)
        await _settle(mounted)
        texts = await _texts(mounted)
        _seen(run, mounted)
    _expect(len(texts) == 1, f"one message sent while stopped, {len(texts)} stored")


async def _stops_cleanly(run: _Run) -> None:
    async with _mounted(run) as mounted:
        await _started(mounted, run.case.within)
        await _settle(mounted)  # the plugin is waiting for the network now
        pulls = mounted.service.pulls
        assert pulls is not None
        tasks = [running.task for running in pulls.running.values()]
        _expect(bool(tasks), "the source is not running")
        started = time.monotonic()
    took = time.monotonic() - started  # the app stopped, the plugin with it
    _seen(run, mounted)
    _expect(took < STOP_WITHIN, f"stopping took {took:.1f} s: a plugin must stop when cancelled")
    _expect(all(task.done() for task in tasks), "the plugin's task outlived the app")
    _expect(
        "Task was destroyed" not in mounted.logs and "never awaited" not in mounted.logs,
        "stopping left a task or coroutine behind",
    )


async def _backs_off_and_recovers(run: _Run) -> None:
    async with _mounted(run) as mounted:
        await _started(mounted, run.case.within)
        await run.network.fail()

        async def failing() -> bool:
            return (await _status(mounted)).startswith("failing:")

        await _until(mounted, failing, "a failing network shown as the source's error", 60)
        shown = await _status(mounted)
        state = await _state(mounted)
        assert state is not None

        async def retried() -> bool:
            again = await _state(mounted)
            return again is not None and again.failures >= 2

        await _until(mounted, retried, "the source tried again after a backoff", 60)
        again = await _state(mounted)
        assert again is not None and again.retry_at is not None
        await run.network.recover()
        await run.network.send("conformance-recovered")
        await _read(mounted, "conformance-recovered", 60)
        status = await _status(mounted)
        ready = await (await mounted.client.get("/readyz")).text()
        _seen(run, mounted, shown, status, ready)
    _expect(
        state.retry_at is not None and state.failed_at is not None,
        "a failure was not given a time to retry",
    )
    _expect(status == "ok", f"after the network recovered the source says {status!r}")


_CHECKS: dict[str, _Check] = {
    "starts-at-now": _starts_at_now,
    "cursor-round-trip": _cursor_round_trip,
    "reads-what-came-while-stopped": _reads_what_came_while_stopped,
    "stops-cleanly": _stops_cleanly,
    "backs-off-and-recovers": _backs_off_and_recovers,
}


def _expect(condition: bool, message: str) -> None:
    if not condition:
        raise AssertionError(message)
